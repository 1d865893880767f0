// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/bench_run.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "miglab/boot_block.h"
#include "miglab/guest_probe.h"
#include "miglab/host_pinning.h"
#include "miglab/poll.h"
#include "miglab/ram_hash.h"
#include "miglab/temp_dir.h"
#include "miglab/thread_cpu.h"
#include "miglab/trace_log.h"
#include "miglab/vmstate_load.h"

namespace miglab {

namespace {

using Clock = std::chrono::steady_clock;
constexpr Millis sample_period{100};
constexpr Millis baseline_period{2000};

// Samples the guest's work counter into a throughput timeline.
class Sampler {
public:
    Sampler(GuestProbe &probe, RunResult &r, Clock::time_point t0)
        : probe_(probe), r_(r), t0_(t0) {}
    void sample(QemuProcess &vm)
    {
        auto work = probe_.work_done(vm);
        double t = ms_since_start();
        if (!work) {
            return;
        }
        if (auto g = probe_.guest_clock_ms()) {
            r_.guest_clock.push_back({t, *g});
        }
        const auto read = probe_.reader_work();
        if (last_t_ >= 0 && t > last_t_) {
            r_.timeline.push_back({t, (*work - last_work_) * 1000.0 /
                                          (t - last_t_)});
            if (read && last_read_) {
                r_.reader_timeline.push_back(
                    {t, (*read - *last_read_) * 1000.0 / (t - last_t_)});
            }
        }
        last_t_ = t;
        last_work_ = *work;
        last_read_ = read;
    }
    double ms_since_start() const
    {
        return std::chrono::duration<double, std::milli>(Clock::now() - t0_)
            .count();
    }

private:
    GuestProbe &probe_;
    RunResult &r_;
    Clock::time_point t0_;
    double last_t_ = -1, last_work_ = 0;
    std::optional<double> last_read_;
};

double epoch_s()
{
    return std::chrono::duration<double>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The fork's x-query-dirty-ring, or null where the binary has no such
// command or the dirty ring is not in use.
Json dirty_ring_info(QemuProcess &vm)
{
    try {
        return vm.qmp().execute("x-query-dirty-ring");
    } catch (const QmpError &) {
        return nullptr;
    }
}

double json_count(const Json &j, const char *key)
{
    return static_cast<double>(j.value(key, 0ULL));
}

// Sum over all vCPUs of one KVM statistic (query-stats), if KVM has it.
std::optional<double> vcpu_stat_sum(QemuProcess &vm, const std::string &name)
{
    Json r = vm.qmp().execute("query-stats", {{"target", "vcpu"},
                                              {"providers",
                                               {{{"provider", "kvm"},
                                                 {"names", {name}}}}}});
    std::optional<double> sum;
    for (const auto &vcpu : r) {
        for (const auto &st : vcpu.value("stats", Json::array())) {
            if (st.value("name", "") == name && st["value"].is_number()) {
                sum = sum.value_or(0) + st["value"].get<double>();
            }
        }
    }
    return sum;
}

// kvm_dirty_ring_full lines between two epoch times in QEMU's trace log.
uint64_t count_ring_full(const std::filesystem::path &log, double from,
                         double to)
{
    uint64_t n = 0;
    for_each_trace_event(log, "kvm_dirty_ring_full", [&](const TraceLine &l) {
        n += l.t >= from && l.t <= to;
    });
    return n;
}

} // namespace

std::string linux_guest_cmdline(const Json &stress,
                                const std::string &kernel_args)
{
    std::string append = "console=ttyS0 quiet panic=-1";
    for (const auto &[k, v] : stress.items()) {
        std::string value;
        if (v.is_array()) {
            for (const auto &item : v) {
                value += (value.empty() ? "" : ",") +
                         (item.is_string() ? item.get<std::string>()
                                           : std::to_string(item.get<uint64_t>()));
            }
        } else if (v.is_boolean()) {
            value = v.get<bool>() ? "1" : "0";
        } else {
            value = std::to_string(v.get<uint64_t>());
        }
        append += " miglab_" + k + "=" + value;
    }
    if (!kernel_args.empty()) {
        append += " " + kernel_args;
    }
    return append;
}

std::vector<std::string> scenario_vm_args(const Scenario &s,
                                          const LabPaths &paths,
                                          const std::filesystem::path &dir)
{
    std::vector<std::string> a = pc_machine_args(s.accel, s.memory, s.smp);
    if (!s.numa.empty()) {
        auto numa = numa_args(s.numa, s.smp);
        a.insert(a.end(), numa.begin(), numa.end());
    }
    // The source's stop and the end of the destination's load
    // (guest_downtime()).
    std::vector<std::string> events{"runstate_set"};
    if (s.uses_kvm()) {
        // Ring-full exits, counted per migration window (trace-<pid>.log).
        events.push_back("kvm_dirty_ring_full");
    }
    if (!s.devices.empty()) {
        // The destination's non-iterable load (parse_load_window).
        auto load = load_trace_events();
        events.insert(events.end(), load.begin(), load.end());
    }
    auto devices = s.devices.args();
    a.insert(a.end(), devices.begin(), devices.end());
    if (!events.empty()) {
        auto t = trace_args(events, dir);
        a.insert(a.end(), t.begin(), t.end());
    }
    auto guest = s.kind().args(s, paths, dir);
    a.insert(a.end(), guest.begin(), guest.end());
    return a;
}

namespace {

// Waits until the guest reports work and that work grows.
void wait_for_guest(GuestProbe &probe, QemuProcess &vm)
{
    if (probe.unit().empty()) {
        return;
    }
    if (guest_makes_progress(probe, vm, std::chrono::seconds(300),
                             sample_period)) {
        return;
    }
    throw std::runtime_error("the guest reported no progress within 300 s "
                             "(serial log: " + vm.serial_path().string() + ")");
}

} // namespace

void fill_from_query_migrate(RunResult &r, const Json &info)
{
    r.total_time_ms = info.value("total-time", 0.0);
    r.downtime_ms = info.value("downtime", 0.0);
    r.setup_time_ms = info.value("setup-time", 0.0);
    if (info.contains("ram")) {
        r.transferred_bytes = info["ram"].value("transferred", 0ULL);
        r.dirty_sync_count = info["ram"].value("dirty-sync-count", 0ULL);
    }
}

void record_ram(RunResult &r, const RamDigest &src, const RamDigest *dst,
                uint64_t bandwidth)
{
    r.nonzero_ram_bytes = src.nonzero_pages() * RamDigest::page_size;
    r.lower_bound_ms = 1000.0 * static_cast<double>(r.nonzero_ram_bytes) /
                       static_cast<double>(bandwidth);
    if (!dst) {
        return;
    }
    auto diff = src.first_difference(*dst);
    r.ram_equal = !diff;
    r.differing_pages = static_cast<double>(src.count_differences(*dst));
    if (diff) {
        r.status = "error";
        r.error = "RAM differs after migration: " +
                  std::to_string(static_cast<uint64_t>(*r.differing_pages)) +
                  " pages, the first at guest-physical " + hex(*diff);
    }
}

namespace {

// KVM's counters over the migration window: guest page faults and, with
// the fork's dirty ring, kicks, flushes and the rings' dirty rate.
class KvmCounters {
public:
    void start(QemuProcess &vm)
    {
        faults_ = vcpu_stat_sum(vm, "pf_taken");
        ring_ = dirty_ring_info(vm);
    }
    // While migrating: one sample of the rings' dirty rate.
    void sample(QemuProcess &vm)
    {
        if (ring_.is_null()) {
            return;
        }
        Json ring = dirty_ring_info(vm);
        if (!ring.is_null()) {
            rates_.push_back(json_count(ring, "dirty-rate"));
        }
    }
    void finish(QemuProcess &vm, RunResult &r)
    {
        const double secs = r.migration_s();
        auto faults = vcpu_stat_sum(vm, "pf_taken");
        if (faults_ && faults) {
            r.faults_per_s = (*faults - *faults_) / secs;
        }
        Json ring = dirty_ring_info(vm);
        if (!ring_.is_null() && !ring.is_null()) {
            r.kick_alls = json_count(ring, "kick-alls") -
                          json_count(ring_, "kick-alls");
            r.flushes = json_count(ring, "flushes") - json_count(ring_, "flushes");
        }
        if (!rates_.empty()) {
            std::nth_element(rates_.begin(), rates_.begin() + rates_.size() / 2,
                             rates_.end());
            r.ring_dirty_rate = rates_[rates_.size() / 2];
        }
    }

private:
    std::optional<double> faults_;
    Json ring_;
    std::vector<double> rates_;
};

// One measured migration, phase by phase (run_once).
class OneRun {
public:
    OneRun(const Scenario &s, const Binary &binary, const LabPaths &paths,
           RunResult &r)
        : s_(s), r_(r), dir_("migbench"),
          pair_({binary.path, scenario_vm_args(s, paths, dir_.path())}, dir_.path()),
          probe_(s.kind().probe(dir_.path())), sampler_(*probe_, r, Clock::now())
    {
        r_.work_unit = probe_->unit();
    }

    // The guest works; its throughput before the migration, and the
    // slowest worker vCPU's rate.
    void baseline()
    {
        if (!s_.host_vcpu_cores.empty()) {
            const HostPinning pinning(s_.host_vcpu_cores);
            pinning.keep_off(pair_.source().pid());
            pinning.keep_off(pair_.destination().pid());
            pinning.pin_vcpus(pair_.source());
        }
        wait_for_guest(*probe_, pair_.source());
        sampler_.sample(pair_.source());
        const auto work0 = probe_->per_vcpu_work();
        const double t0 = sampler_.ms_since_start();
        auto end = Clock::now() + baseline_period;
        while (Clock::now() < end) {
            std::this_thread::sleep_for(sample_period);
            sampler_.sample(pair_.source());
        }
        r_.migration_start_ms = sampler_.ms_since_start();
        const auto work1 = probe_->per_vcpu_work();
        for (size_t i = 0; i < work0.size() && i < work1.size(); ++i) {
            double rate = (work1[i] - work0[i]) * 1000.0 /
                          (r_.migration_start_ms - t0);
            r_.min_vcpu_rate = std::min(r_.min_vcpu_rate.value_or(rate), rate);
        }
        probe_->reset_worst_pass();
    }

    // The fork's convergence estimate, every 500 ms or so.
    void sample_estimate(const Json &info)
    {
        const auto c = info.find("x-convergence");
        const double now = sampler_.ms_since_start();
        if (c == info.end() || !c->is_object() ||
            (!r_.estimates.empty() && now - r_.estimates.back().t_ms < 500)) {
            return;
        }
        EstimateSample e{now, std::nullopt,
                         c->value("first-pass-remaining", 1) == 0};
        if (c->contains("expected-time")) {
            e.expected_ms = c->value("expected-time", 0.0);
        }
        r_.estimates.push_back(e);
    }

    // Each vCPU's dirty limit (the user's, or in the fork the per-vCPU
    // auto-converge policy's), every 500 ms or so.
    void sample_vcpu_limits()
    {
        const double now = sampler_.ms_since_start();
        if (now - last_limits_ms_ < 500) {
            return;
        }
        last_limits_ms_ = now;
        Json limits;
        try {
            limits = pair_.source().qmp().execute("query-vcpu-dirty-limit");
        } catch (const QmpError &) {
            return;
        }
        // Stock has whole MiB/s only (256 pages of 4 KiB)
        for (const auto &l : limits) {
            r_.vcpu_limits.push_back(
                {now, l.value("cpu-index", 0),
                 l.value("x-current-pages-rate",
                         l.value("current-rate", 0.0) * 256),
                 l.value("x-limit-pages-rate",
                         l.value("limit-rate", 0.0) * 256),
                 l.value("x-throttle-ppm", 1.0)});
        }
    }

    // The migration, sampling the guest, the throttle and KVM's counters.
    void migrate()
    {
        const double epoch_start = epoch_s();
        KvmCounters kvm;
        if (s_.uses_kvm()) {
            kvm.start(pair_.source());
        }
        if (s_.stopped) {
            pair_.source().qmp().execute("stop");
        }
        ThreadCpu cpu(pair_.source().pid());
        const std::string uri = pair_.listen(s_.setup);
        const double migrate_sent_ms = sampler_.ms_since_start();
        pair_.migrate_to(uri);
        const auto suspend_at =
            Clock::now() + std::chrono::seconds(s_.suspend_after_s);
        bool suspended = false;
        MigrationResult m = pair_.wait(
            std::chrono::seconds(s_.time_limit_s),
            [&](const Json &info) {
                if (s_.suspend_after_s && !suspended &&
                    Clock::now() >= suspend_at) {
                    pair_.source().qmp().execute("stop");
                    suspended = true;
                }
                if (info.value("status", "") == "active") {
                    // Timed as close to the query as it can be
                    sample_estimate(info);
                    r_.throttle_pct = info.value("cpu-throttle-percentage",
                                                 r_.throttle_pct);
                    r_.throttle_timeline.push_back(
                        {sampler_.ms_since_start(),
                         info.value("cpu-throttle-percentage", 0)});
                    sampler_.sample(pair_.source());
                    kvm.sample(pair_.source());
                    sample_vcpu_limits();
                }
                cpu.sample();
            },
            sample_period);
        r_.migration_cpu_s = cpu.seconds("mig/src/main");
        r_.multifd_cpu_s = cpu.seconds("mig/src/send_");
        r_.iothread_cpu_s = cpu.seconds("IO ");
        r_.migration_end_ms = sampler_.ms_since_start();
        if (s_.uses_kvm() && r_.migration_s() > 0) {
            kvm.finish(pair_.source(), r_);
            if (s_.dirty_ring_size()) {
                auto log = trace_log_path(dir_.path(), pair_.source().pid());
                r_.ring_full_per_s =
                    static_cast<double>(
                        count_ring_full(log, epoch_start, epoch_s())) /
                    r_.migration_s();
            }
        }
        if (auto w = probe_->worst_pass_us()) {
            r_.worst_pass_ms = *w / 1000.0;
        }
        r_.status = m.status;
        r_.converged = m.converged();
        fill_from_query_migrate(r_, m.info);
        if (r_.converged && r_.total_time_ms > 0) {
            r_.completed_ms = migrate_sent_ms + r_.total_time_ms;
        }
        compute_estimate_error(r_);
        compute_vcpu_limits(r_);
        if (!r_.converged) {
            r_.total_time_ms = m.wall_ms;
            pair_.source().qmp().execute("stop");
        }
    }

    // The source's RAM against the destination's, and what the guest
    // kind checks beyond it.
    void integrity()
    {
        RamDigest src = RamDigest::of(pair_.source(), dir_.path());
        record_ram(r_, src, nullptr, s_.bandwidth());
        if (!r_.converged) {
            return;
        }
        RamDigest dst = RamDigest::of(pair_.destination(), dir_.path());
        record_ram(r_, src, &dst, s_.bandwidth());
        if (r_.ram_equal) {
            if (auto bad = s_.kind().check_destination(pair_.destination(),
                                                       dir_.path())) {
                r_.ram_equal = false;
                r_.status = "error";
                r_.error = *bad;
            }
        }
    }

    // From the source's stop to the end of the destination's load.
    void guest_downtime()
    {
        if (!r_.converged) {
            return;
        }
        auto stop = last_runstate_change(
            trace_log_path(dir_.path(), pair_.source().pid()), "",
            "finish-migrate");
        auto loaded = last_runstate_change(
            trace_log_path(dir_.path(), pair_.destination().pid()),
            "inmigrate", "");
        if (stop && loaded && *loaded >= *stop) {
            r_.guest_downtime_ms = (*loaded - *stop) * 1000.0;
        }
    }

    // The destination's non-iterable load (switchover scenarios).
    void load_window()
    {
        if (!r_.converged || s_.devices.empty()) {
            return;
        }
        if (auto w = parse_load_window(
                trace_log_path(dir_.path(), pair_.destination().pid()))) {
            r_.load_time_ms = w->load_ms;
            r_.load_flatviews = static_cast<double>(w->flatviews);
            r_.load_flushes = static_cast<double>(w->flushes);
        }
    }

    // What the migration cost the guest, from the samples.
    void impact()
    {
        compute_guest_impact(r_);
        compute_throttle_release(r_, {s_.stress.value("burst_ms", 0.0),
                                      s_.stress.value("idle_ms", 0.0)});
    }

private:
    const Scenario &s_;
    RunResult &r_;
    TempDir dir_;
    VmPair pair_;
    std::unique_ptr<GuestProbe> probe_;
    Sampler sampler_;
    double last_limits_ms_ = -1e9;
};

} // namespace

RunResult run_once(const Scenario &s, const Binary &binary, unsigned rep,
                   const LabPaths &paths)
{
    RunResult r;
    r.scenario = s.name;
    r.binary = binary.name;
    r.rep = rep;
    try {
        OneRun run(s, binary, paths, r);
        run.baseline();
        run.migrate();
        run.integrity();
        run.guest_downtime();
        run.load_window();
        run.impact();
    } catch (const std::exception &e) {
        r.status = "error";
        r.error = e.what();
    }
    return r;
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/fault_campaign.h"

#include <csignal>
#include <map>
#include <thread>

#include "miglab/interrupt.h"
#include "miglab/poll.h"
#include "miglab/ram_hash.h"

namespace miglab {

namespace {

const std::pair<Fault, const char *> fault_names[] = {
    {Fault::kill_destination, "kill-destination"},
    {Fault::cut, "cut"},
    {Fault::stall, "stall"},
    {Fault::cancel, "cancel"},
};

// How often the stream's progress is looked at: a fault strikes within
// about this much of its point.
constexpr Millis watch_period{10};
// How long a stalled stream stays stalled before the cancel.
constexpr Millis stall_time{2000};
// How long migrate_cancel may take to answer before the monitor is taken
// for blocked.
constexpr Millis cancel_timeout{10000};

bool ended(const std::string &status)
{
    return status == "completed" || status == "failed" ||
           status == "cancelled";
}

} // namespace

const char *fault_name(Fault f)
{
    if (f == Fault::none) {
        return "none";
    }
    for (const auto &[fault, name] : fault_names) {
        if (fault == f) {
            return name;
        }
    }
    return "?";
}

std::optional<Fault> fault_named(const std::string &name)
{
    for (const auto &[fault, n] : fault_names) {
        if (name == n) {
            return fault;
        }
    }
    return std::nullopt;
}

FaultCampaign::FaultCampaign(const Scenario &s, const Binary &binary,
                             const LabPaths &paths, uint64_t seed)
    : s_(s), dir_("migfault"),
      pair_({binary.path, scenario_vm_args(s, paths, dir_.path())}, dir_.path()),
      probe_(s.kind().probe(dir_.path())), rng_(seed)
{
    pair_.route_through(&relay_);
}

FaultCampaign::~FaultCampaign() = default;

uint64_t FaultCampaign::calibrate()
{
    if (!probe_->unit().empty() &&
        !guest_makes_progress(*probe_, pair_.source(), Millis(300000))) {
        throw std::runtime_error("the guest made no progress within 300 s");
    }
    FaultOutcome o;
    const uint64_t base = relay_.forwarded();
    retry(o);
    if (!o.error.empty()) {
        throw std::runtime_error("the first, healthy migration: " + o.error);
    }
    stream_bytes_ = relay_.forwarded() - base;
    return stream_bytes_;
}

std::string FaultCampaign::phase_now()
{
    const Json info = pair_.source().qmp().execute("query-migrate");
    const std::string status = info.value("status", "");
    if (ended(status)) {
        return "none";
    }
    if (status == "device" || status == "pre-switchover" ||
        pair_.source().run_state() == "finish-migrate") {
        return "switchover";
    }
    if (status != "active") {
        return "setup";
    }
    // The bulk pass: not every page has been looked at once yet (sent,
    // or found zero). The sync count would not say: the fork syncs every
    // throttle period from the first second on.
    if (!info.contains("ram")) {
        return "bulk";
    }
    const Json &ram = info["ram"];
    const uint64_t seen = (ram.value("normal", 0ULL) + ram.value("duplicate", 0ULL)) *
                          ram.value("page-size", 4096ULL);
    return seen < ram.value("total", 0ULL) ? "bulk" : "iterative";
}

std::string FaultCampaign::wait_for_point(uint64_t base, uint64_t point)
{
    // The phase of the last look before the stream passed the point: a cut
    // fails the migration at once, so what it is in after says nothing.
    std::string phase = "setup";
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(s_.time_limit_s);
    while (std::chrono::steady_clock::now() < deadline) {
        if (relay_.forwarded() - base >= point) {
            return phase;
        }
        const std::string now = phase_now();
        if (now == "none") {
            return relay_.forwarded() - base >= point ? phase : "none";
        }
        phase = now;
        std::this_thread::sleep_for(watch_period);
    }
    return "none";
}

FaultOutcome FaultCampaign::healthy(unsigned cycle)
{
    FaultOutcome o;
    o.cycle = cycle;
    o.fault = Fault::none;
    o.phase = "none";
    retry(o);
    o.source_running = o.guest_progresses = o.retry == "completed";
    return o;
}

void FaultCampaign::retry(FaultOutcome &o)
{
    relay_.clear();
    // A fault in the switchover set it (strike_in_switchover); the
    // scenario's own setup sets it again if it wants it.
    pair_.source().qmp().execute(
        "migrate-set-capabilities",
        {{"capabilities", {{{"capability", "pause-before-switchover"},
                            {"state", false}}}}});
    pair_.restart_destination();
    MigrationResult m =
        pair_.migrate(s_.setup, std::chrono::seconds(s_.time_limit_s));
    o.retry = m.status;
    if (!m.converged()) {
        o.error = "the migration after the fault ended " + m.status;
        if (pair_.source().run_state() != "running") {
            pair_.source().qmp().execute("cont");
        }
        return;
    }
    RamDigest src = RamDigest::of(pair_.source(), dir_.path());
    RamDigest dst = RamDigest::of(pair_.destination(), dir_.path());
    if (auto diff = src.first_difference(dst)) {
        o.error = "RAM differs after the migration: " +
                  std::to_string(src.count_differences(dst)) +
                  " pages, the first at guest-physical " + hex(*diff);
    } else if (auto bad = s_.kind().check_destination(pair_.destination(),
                                                      dir_.path())) {
        o.error = *bad;
    } else {
        o.ram_equal = true;
    }
    pair_.promote_destination();
}

bool FaultCampaign::cancel_or_yank()
{
    Qmp &qmp = pair_.source().qmp();
    try {
        qmp.execute("migrate_cancel", Json::object(), cancel_timeout);
    } catch (const QmpError &) {
        throw;
    } catch (const std::runtime_error &) {
        // No answer: the migration thread holds the BQL while it writes
        // to the stalled link (the switchover), so the main loop, and every
        // in-band command, waits for the link. yank runs out of band.
        qmp.execute_oob("yank", {{"instances", {{{"type", "migration"}}}}});
        wait_ended();
        return true;
    }
    wait_ended();
    return false;
}

void FaultCampaign::wait_ended()
{
    const bool over = poll_until(Millis(60000), Millis(20), [&] {
        return ended(pair_.source().qmp().execute("query-migrate")
                         .value("status", ""));
    });
    if (!over) {
        throw std::runtime_error("the migration did not end within 60 s of "
                                 "its cancel");
    }
}

void FaultCampaign::strike(Fault f, FaultOutcome &o)
{
    switch (f) {
    case Fault::kill_destination:
        ::kill(pair_.destination().pid(), SIGKILL);
        break;
    case Fault::stall:
        relay_.stall(true);
        std::this_thread::sleep_for(stall_time);
        o.yanked = cancel_or_yank();
        break;
    case Fault::cancel:
        // In the switchover the monitor may wait for the link: as a stall.
        o.yanked = cancel_or_yank();
        break;
    case Fault::cut:
    case Fault::none:
        break;
    }
}

std::string FaultCampaign::strike_in_switchover(Fault f, FaultOutcome &o)
{
    MigrationSetup setup = s_.setup;
    setup.capabilities.emplace_back("pause-before-switchover", true);
    pair_.start(setup);
    std::string status;
    poll_until(std::chrono::seconds(s_.time_limit_s), Millis(20), [&] {
        status = pair_.source().qmp().execute("query-migrate").value("status", "");
        return status == "pre-switchover" || ended(status);
    });
    if (status != "pre-switchover") {
        return "none";
    }
    // What is left: the final pass and the devices' state (about a MiB
    // with the lab's guests). The point falls anywhere in it.
    const Json ram = pair_.source().qmp().execute("query-migrate").value("ram", Json::object());
    const uint64_t left = ram.value("remaining", 0ULL) + (1ULL << 20);
    o.point = std::uniform_int_distribution<uint64_t>(0, left - 1)(rng_);
    const uint64_t base = relay_.forwarded();
    if (f == Fault::cut) {
        relay_.cut_after(o.point);
    }
    pair_.source().qmp().execute("migrate-continue", {{"state", "pre-switchover"}});
    // The source's monitor may not answer until the stream has gone (the
    // migration thread holds the BQL): watch the relay, and ask QEMU with
    // a short time-out only to learn that the migration ended first.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(s_.time_limit_s);
    for (unsigned n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
        if (relay_.forwarded() - base >= o.point) {
            strike(f, o);
            return "switchover";
        }
        if (n % 10 == 9) {
            try {
                status = pair_.source().qmp()
                             .execute("query-migrate", {}, Millis(200))
                             .value("status", "");
                if (ended(status)) {
                    return relay_.forwarded() - base >= o.point ? "switchover"
                                                                : "none";
                }
            } catch (const QmpError &) {
                throw;
            } catch (const std::runtime_error &) {
                // No answer yet: the switchover holds the monitor.
            }
        }
        std::this_thread::sleep_for(watch_period);
    }
    return "none";
}

FaultOutcome FaultCampaign::run(Fault f, unsigned cycle, bool in_switchover)
{
    FaultOutcome o;
    o.cycle = cycle;
    o.fault = f;
    try {
        relay_.clear();
        if (in_switchover) {
            o.phase = strike_in_switchover(f, o);
        } else {
            o.point = std::uniform_int_distribution<uint64_t>(
                0, std::max<uint64_t>(stream_bytes_, 1) - 1)(rng_);
            const uint64_t base = relay_.forwarded();
            if (f == Fault::cut) {
                relay_.cut_after(o.point);
            }
            pair_.start(s_.setup);
            o.phase = wait_for_point(base, o.point);
            if (o.phase != "none") {
                strike(f, o);
            }
        }
        if (f == Fault::stall &&
            pair_.source().qmp().execute("query-migrate").value("status", "") ==
                "completed") {
            // Everything was in the sockets' buffers before the stall: the
            // source (no return path) says completed, its destination will
            // never have it all. Management gives up on the destination.
            o.status = "completed, destination cut off";
            pair_.destination().stop();
        } else {
            MigrationResult m =
                pair_.wait(std::chrono::seconds(s_.time_limit_s));
            o.status = m.status;
        }
        if (o.status == "completed") {
            // It ended before the fault could strike: nothing to recover
            // from; the destination takes over as after a retry.
            o.phase = "none";
            o.source_running = o.guest_progresses = true;
            o.retry = "completed";
            o.ram_equal = true;
            pair_.promote_destination();
            return o;
        }
        // QEMU reports the migration failed or cancelled before it
        // restarts the source's vCPUs; a source that had sent everything
        // when its destination failed stays in postmigrate, and
        // management (libvirt) resumes it.
        std::string state;
        poll_until(Millis(30000), Millis(20), [&] {
            state = pair_.source().run_state();
            return state == "running" || state == "postmigrate";
        });
        if (state == "postmigrate") {
            pair_.source().qmp().execute("cont");
            o.resumed = true;
            state = pair_.source().run_state();
        }
        o.source_running = state == "running";
        o.guest_progresses =
            probe_->unit().empty() ||
            guest_makes_progress(*probe_, pair_.source(), Millis(60000));
        retry(o);
    } catch (const Interrupted &) {
        throw;
    } catch (const std::exception &e) {
        o.error = e.what();
        recover();
    }
    return o;
}

void FaultCampaign::recover()
{
    relay_.clear();
    if (!ended(pair_.source().qmp().execute("query-migrate").value("status", ""))) {
        cancel_or_yank();
    }
    if (pair_.source().run_state() != "running") {
        pair_.source().qmp().execute("cont");
    }
    pair_.restart_destination();
}

void write_fault_csv(std::ostream &o, const std::vector<FaultOutcome> &rows)
{
    o << "cycle,fault,point_bytes,phase,status,yanked,resumed,source_running,"
         "guest_progresses,retry,ram_equal,ok,error\n";
    for (const auto &r : rows) {
        std::string error = r.error;
        for (auto &c : error) {
            if (c == '"' || c == '\n' || c == ',') {
                c = c == '"' ? '\'' : ' ';
            }
        }
        o << r.cycle << "," << fault_name(r.fault) << "," << r.point << ","
          << r.phase << "," << r.status << "," << r.yanked << ","
          << r.resumed << ","
          << r.source_running << ","
          << r.guest_progresses << "," << r.retry << "," << r.ram_equal << ","
          << (r.struck() ? (r.ok() ? "1" : "0") : "") << "," << error << "\n";
    }
}

void write_fault_summary(std::ostream &o, const std::vector<FaultOutcome> &rows)
{
    struct Counts {
        unsigned tried = 0, struck = 0, yanked = 0, resumed = 0, running = 0,
                 progress = 0, retry = 0, equal = 0, ok = 0;
        std::map<std::string, unsigned> phases;
    };
    std::map<std::string, Counts> by_fault;
    for (const auto &r : rows) {
        Counts &c = by_fault[fault_name(r.fault)];
        ++c.tried;
        if (!r.struck()) {
            continue;
        }
        ++c.struck;
        ++c.phases[r.phase];
        c.yanked += r.yanked;
        c.resumed += r.resumed;
        c.running += r.source_running;
        c.progress += r.guest_progresses;
        c.retry += r.retry == "completed";
        c.equal += r.ram_equal;
        c.ok += r.ok();
    }
    o << "| fault | points | struck | phases | cancel hung, yanked | "
         "left paused, resumed | source running | guest progresses | "
         "next migration completes | RAM equal | all right |\n"
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for (const auto &[name, c] : by_fault) {
        std::string phases;
        for (const auto &[p, n] : c.phases) {
            phases += (phases.empty() ? "" : ", ") + p + " " + std::to_string(n);
        }
        o << "| " << name << " | " << c.tried << " | " << c.struck << " | "
          << phases << " | " << c.yanked << " | " << c.resumed << " | " << c.running << " | " << c.progress << " | "
          << c.retry << " | " << c.equal << " | " << c.ok << "/" << c.struck
          << " |\n";
    }
}

void write_soak_summary(std::ostream &o, const std::vector<FaultOutcome> &rows)
{
    unsigned completed = 0, equal = 0;
    for (const auto &r : rows) {
        completed += r.retry == "completed";
        equal += r.ram_equal;
    }
    o << "| migrations | completed | RAM equal |\n| --- | --- | --- |\n| "
      << rows.size() << " | " << completed << " | " << equal << " |\n";
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/libvirt_bench.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "miglab/guest_probe.h"
#include "miglab/poll.h"
#include "miglab/report.h"
#include "miglab/virsh_migration.h"

namespace miglab {

namespace {

// As migbench's direct runs: the guest works this long before it moves.
constexpr Millis warm_up{2000};
// Each poll is two virsh runs (query-migrate, domjobinfo): on two cores
// more often would take CPU from the guest being measured.
constexpr Millis poll_period{500};

} // namespace

LibvirtBench::LibvirtBench(LabPaths paths) : paths_(std::move(paths)) {}

std::optional<std::string> LibvirtBench::unsupported(const Scenario &s)
{
    if (auto why = s.kind().libvirt_unsupported(s)) {
        return why;
    }
    if (!s.numa.empty() || s.devices.count()) {
        return "NUMA nodes and extra devices are not in the lab's domains";
    }
    if (s.stopped) {
        return "'stopped' (virsh migrate --offline is not a live migration)";
    }
    for (const auto &[cap, on] : s.setup.capabilities) {
        if (cap != "auto-converge" && cap != "events" && on) {
            return "capability '" + cap + "' has no virsh migrate option here";
        }
    }
    for (const auto &[param, value] : s.setup.parameters.items()) {
        if (param != "max-bandwidth" && param != "downtime-limit") {
            return "parameter '" + param + "' has no virsh command here";
        }
    }
    if (!s.setup.both_sides_parameters.empty()) {
        return "parameters for both sides have no virsh command here";
    }
    return std::nullopt;
}

RunResult LibvirtBench::run_once(const Scenario &s, const Binary &b,
                                 unsigned rep)
{
    RunResult r;
    r.scenario = s.name;
    r.binary = b.name;
    r.rep = rep;
    std::string dom;
    auto scratch = dir_.path() / (s.name + "-" + b.name + "-" + std::to_string(rep));
    std::filesystem::create_directories(scratch);
    try {
        if (auto why = unsupported(s)) {
            throw std::runtime_error("not through libvirt: " + *why);
        }
        LibvirtDomainFile d = s.kind().libvirt_domain(
            s, std::filesystem::canonical(b.path), paths_);
        dom = d.name;
        auto xml = scratch / "domain.xml";
        write_file(xml, d.xml);
        a_.virsh().run({"create", xml.string()});
        std::unique_ptr<GuestProbe> probe = s.kind().probe(scratch);
        auto vm = a_.domain(dom, d.serial);
        if (!guest_makes_progress(*probe, vm, Millis(300000))) {
            throw std::runtime_error("the guest never reported progress: " +
                                     a_.qemu_log_tail(dom, 1000));
        }
        std::this_thread::sleep_for(warm_up);

        VirshMigrationPlan plan;
        plan.domain = dom;
        plan.serial = d.serial;
        plan.auto_converge = std::any_of(
            s.setup.capabilities.begin(), s.setup.capabilities.end(),
            [](const auto &c) { return c.first == "auto-converge" && c.second; });
        plan.downtime_ms = s.setup.parameters.value("downtime-limit", 300u);
        // virsh takes MiB/s: 1 GB/s becomes 953 MiB/s (0.07% less).
        plan.start_mib_s = static_cast<unsigned>(s.bandwidth() >> 20);
        if (s.suspend_after_s) {
            plan.extra = {"--timeout", std::to_string(s.suspend_after_s),
                          "--timeout-suspend"};
        }
        plan.time_limit = std::chrono::seconds(s.time_limit_s);
        plan.poll_period = poll_period;
        plan.scratch = scratch;
        VirshMigrationOutcome o = migrate_via_virsh(a_, b_, plan);

        r.status = o.status;
        r.converged = o.status == "completed" && o.virsh_ok;
        fill_from_query_migrate(r, o.final_info);
        if (!r.converged) {
            r.total_time_ms = o.wall_ms;
        }
        r.migration_end_ms = o.wall_ms;
        if (!o.throttle.empty()) {
            r.throttle_pct = o.throttle.back().pct;
        }
        r.throttle_timeline = o.throttle;
        r.completed_throttle_pct =
            virsh_percent(o.completed, "Auto converge throttle").value_or(0);
        if (o.src_ram) {
            record_ram(r, *o.src_ram, o.dst_ram ? &*o.dst_ram : nullptr,
                       s.bandwidth());
        }
        if (o.status == "completed" && !o.virsh_ok) {
            r.status = "error";
            r.error = "QEMU completed, virsh migrate failed: " + o.virsh_output;
        }
    } catch (const std::exception &e) {
        r.status = "error";
        r.error = e.what();
    }
    // The domain is transient: destroyed, it is gone from whichever daemon
    // has it.
    // After Ctrl-C the daemons stop with this object, their QEMUs with them.
    if (!dom.empty() && !interrupt_signal()) {
        a_.virsh().try_run({"destroy", dom});
        b_.virsh().try_run({"destroy", dom});
    }
    return r;
}

} // namespace miglab

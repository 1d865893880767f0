// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/virsh_migration.h"

#include <chrono>
#include <stdexcept>
#include <sys/wait.h>

#include "miglab/poll.h"

namespace miglab {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool ended(const std::string &status)
{
    return status == "completed" || status == "failed" || status == "cancelled";
}

} // namespace

std::optional<int> virsh_percent(const std::map<std::string, std::string> &info,
                                 const std::string &key)
{
    auto it = info.find(key);
    if (it == info.end()) {
        return std::nullopt;
    }
    return std::stoi(it->second);
}

std::optional<int> VirshMigrationOutcome::final_throttle() const
{
    if (status != "completed" ||
        !final_info.contains("cpu-throttle-percentage")) {
        return std::nullopt;
    }
    return final_info["cpu-throttle-percentage"].get<int>();
}

std::unique_ptr<BackgroundCommand>
start_virsh_migrate(const LibvirtDaemon &from, const LibvirtDaemon &to,
                    const std::string &domain,
                    const std::vector<std::string> &extra,
                    const std::filesystem::path &log, bool auto_converge)
{
    std::vector<std::string> args{"migrate", "--live", "--p2p"};
    if (auto_converge) {
        args.push_back("--auto-converge");
    }
    args.insert(args.end(),
                {"--suspend", "--migrateuri",
                 "tcp://127.0.0.1:" + std::to_string(free_loopback_port())});
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {domain, to.uri()});
    return std::make_unique<BackgroundCommand>(from.virsh().argv(args), log);
}

void wait_transferring(const LibvirtDaemon &from, const std::string &domain,
                       BackgroundCommand &migrate)
{
    Virsh src = from.virsh();
    bool going = poll_until(Millis(120000), Millis(100), [&] {
        if (!migrate.running()) {
            return true;
        }
        auto info = src.domjobinfo(domain);
        return info["Operation"] == "Outgoing migration" &&
               info.count("Memory processed") &&
               info["Memory processed"].rfind("0.000 B", 0) != 0;
    });
    if (!going) {
        throw std::runtime_error("the migration of " + domain +
                                 " never got going in 120 s");
    }
    if (!migrate.running()) {
        throw std::runtime_error("virsh migrate ended before it transferred "
                                 "anything: " + migrate.output());
    }
}

VirshMigrationOutcome migrate_via_virsh(LibvirtDaemon &from, LibvirtDaemon &to,
                                        const VirshMigrationPlan &plan)
{
    VirshMigrationOutcome o;
    auto step = [&](const std::string &what) {
        if (plan.step) {
            plan.step(from.hostname() + " -> " + to.hostname() + ": " + what);
        }
    };
    const std::string &dom = plan.domain;
    Virsh src = from.virsh(), dst = to.virsh();
    src.run({"migrate-setmaxdowntime", dom, std::to_string(plan.downtime_ms)});
    src.run({"migrate-setspeed", dom, std::to_string(plan.start_mib_s)});
    auto migrate = start_virsh_migrate(from, to, dom, plan.extra,
                                       plan.scratch / ("migrate-" + dom + ".log"),
                                       plan.auto_converge);
    step("virsh migrate started");
    wait_transferring(from, dom, *migrate);
    const auto t0 = Clock::now();
    auto hold = to.hold();
    step("transferring; destination daemon held");
    if (plan.while_held) {
        plan.while_held();
    }

    // Until the source's QEMU has sent everything (the destination daemon
    // cannot finish meanwhile, so the source QEMU stays).
    bool aborted = false;
    bool done = poll_until(plan.time_limit + Millis(60000), plan.poll_period, [&] {
        if (!migrate->running()) {
            return true;
        }
        o.final_info = src.qmp(dom, "query-migrate");
        o.status = o.final_info.value("status", "");
        if (o.status == "active") {
            int pct = virsh_percent(src.domjobinfo(dom), "Auto converge throttle")
                          .value_or(0);
            o.max_throttle = std::max(o.max_throttle, pct);
            o.throttle.push_back({ms_since(t0), pct});
            if (plan.watch_source_state && src.domstate(dom) == "paused") {
                o.source_paused_before_end = true;
            }
        }
        if (!aborted && !ended(o.status) &&
            ms_since(t0) > static_cast<double>(plan.time_limit.count())) {
            step("no end after the time limit: virsh domjobabort");
            src.try_run({"domjobabort", dom});
            aborted = true;
        }
        return ended(o.status);
    });
    o.wall_ms = ms_since(t0);
    if (!done) {
        o.status = "hung";
    }
    step("source QEMU " + o.status + ", throttle seen " +
         std::to_string(o.max_throttle) + "%");
    if (o.status == "completed") {
        auto vm = from.domain(dom, plan.serial);
        o.source_state = vm.execute("query-status").value("status", "");
        o.src_ram = RamDigest::of(vm, plan.scratch, plan.digest_chunk);
        step("source RAM digested");
    }
    hold->release();
    if (aborted) {
        o.status = "timeout";
    }

    auto exit = migrate->wait(Millis(120000));
    o.virsh_ok = exit && WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0;
    o.virsh_output = migrate->output();
    if (!o.src_ram || !o.virsh_ok) {
        return o;
    }
    step("virsh migrate done");
    // The destination (--suspend) holds the source's RAM, paused.
    o.dst_state = dst.domstate(dom);
    auto dvm = to.domain(dom, plan.serial);
    o.dst_ram = RamDigest::of(dvm, plan.scratch, plan.digest_chunk);
    step("destination RAM digested");
    o.completed = dst.domjobinfo(dom, true);
    dst.run({"resume", dom});
    return o;
}

} // namespace miglab

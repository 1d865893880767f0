// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/vm_pair.h"

#include <algorithm>
#include <thread>

#include "miglab/poll.h"

namespace miglab {

std::vector<std::string> pc_machine_args(const std::string &accel,
                                         const std::string &memory,
                                         unsigned smp)
{
    return {"-machine", "pc", "-accel", accel, "-m", memory,
            "-smp", std::to_string(smp), "-display", "none", "-nodefaults"};
}

std::vector<std::string> numa_args(const std::vector<unsigned> &node_mib,
                                   unsigned smp)
{
    std::vector<std::string> a;
    const size_t n = node_mib.size();
    for (size_t i = 0; i < n; ++i) {
        const std::string id = "miglab-node" + std::to_string(i);
        std::string node = "node,nodeid=" + std::to_string(i) + ",memdev=" + id;
        for (unsigned cpu = i; cpu < smp; cpu += n) {
            node += ",cpus=" + std::to_string(cpu);
        }
        a.insert(a.end(), {"-object", "memory-backend-ram,id=" + id +
                                          ",size=" +
                                          std::to_string(node_mib[i]) + "M",
                           "-numa", node});
    }
    return a;
}

VmPair::VmPair(VmSpec spec, const std::filesystem::path &workdir)
    : spec_(std::move(spec)), workdir_(workdir)
{
    source_ = start_vm("source", false);
    destination_ = start_vm("destination", true);
}

std::unique_ptr<QemuProcess> VmPair::start_vm(const std::string &name,
                                              bool incoming)
{
    std::vector<std::string> args = spec_.args;
    std::string n = name;
    if (incoming) {
        args.insert(args.end(), {"-incoming", "defer", "-S"});
        n += "-" + std::to_string(generation_++);
    }
    // Each VM's serial console goes to its own file (QemuProcess::serial_path).
    args.insert(args.end(),
                {"-chardev",
                 "file,id=miglab-serial,path=" +
                     (workdir_ / (n + ".serial")).string(),
                 "-serial", "chardev:miglab-serial"});
    return std::make_unique<QemuProcess>(spec_.binary, args, workdir_, n);
}

void VmPair::restart_destination()
{
    destination_.reset();
    destination_ = start_vm("destination", true);
}

void VmPair::promote_destination()
{
    destination_->qmp().execute("cont");
    source_ = std::move(destination_);
    destination_ = start_vm("destination", true);
}

static Json capability_list(const MigrationSetup &setup)
{
    Json caps = Json::array();
    for (const auto &[name, state] : setup.capabilities) {
        caps.push_back({{"capability", name}, {"state", state}});
    }
    return caps;
}

void VmPair::start(const MigrationSetup &setup)
{
    migrate_to(listen(setup));
}

std::string VmPair::listen(const MigrationSetup &setup)
{
    Json caps = capability_list(setup);
    for (QemuProcess *vm : {source_.get(), destination_.get()}) {
        if (!caps.empty()) {
            vm->qmp().execute("migrate-set-capabilities",
                              {{"capabilities", caps}});
        }
        if (!setup.both_sides_parameters.empty()) {
            vm->qmp().execute("migrate-set-parameters",
                              setup.both_sides_parameters);
        }
    }
    if (!setup.parameters.empty()) {
        source_->qmp().execute("migrate-set-parameters", setup.parameters);
    }
    if (!setup.destination_parameters.empty()) {
        destination_->qmp().execute("migrate-set-parameters",
                                    setup.destination_parameters);
    }
    destination_->qmp().execute("migrate-incoming",
                                {{"uri", "tcp:127.0.0.1:0"}});
    Json info = destination_->qmp().execute("query-migrate");
    std::string port;
    for (const auto &addr : info.value("socket-address", Json::array())) {
        if (addr.value("type", "") == "inet") {
            port = addr.value("port", "");
        }
    }
    if (port.empty()) {
        throw std::runtime_error("destination listens on no TCP port: " +
                                 info.dump());
    }
    if (relay_) {
        relay_->set_target(static_cast<uint16_t>(std::stoul(port)));
        port = std::to_string(relay_->port());
    }
    return "tcp:127.0.0.1:" + port;
}

void VmPair::migrate_to(const std::string &uri)
{
    started_ = std::chrono::steady_clock::now();
    source_->qmp().execute("migrate", {{"uri", uri}});
}

MigrationResult VmPair::wait(Millis limit,
                             const std::function<void(const Json &)> &progress,
                             Millis poll)
{
    MigrationResult result;
    auto deadline = started_ + limit;
    for (;;) {
        Json info = source_->qmp().execute("query-migrate");
        if (progress) {
            progress(info);
        }
        std::string status = info.value("status", "");
        // A cancelled migration reports no statistics: keep the last ones.
        if (info.contains("ram") || status == "completed") {
            result.info = info;
        }
        if (status == "completed" || status == "failed" ||
            status == "cancelled") {
            result.status = status;
            if (!result.info.contains("status")) {
                result.info = info;
            }
            result.info["status"] = status;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            cancel();
            result.status = "timeout";
            break;
        }
        std::this_thread::sleep_for(poll);
    }
    result.wall_ms = std::chrono::duration<double, std::milli>(
        std::chrono::steady_clock::now() - started_).count();
    if (result.status == "completed") {
        result.destination_status = wait_destination(
            std::max<Millis>(Millis(60000), limit / 2));
        if (result.destination_status != "completed") {
            result.status = "failed";
            result.info["status"] = "failed";
            result.info["destination-status"] = result.destination_status;
        }
    }
    return result;
}

std::string VmPair::wait_destination(Millis limit)
{
    std::string status;
    bool ended = poll_until(limit, Millis(20), [&] {
        if (!destination_->running()) {
            status = "failed";
            return true;
        }
        try {
            status = destination_->qmp().execute("query-migrate")
                         .value("status", "");
        } catch (const QmpError &) {
            return false;
        } catch (const std::runtime_error &) {
            // The socket went away: it exited (reported on the next poll).
            return false;
        }
        return status == "completed" || status == "failed";
    });
    if (!ended) {
        throw std::runtime_error("the destination did not finish loading "
                                 "within " + std::to_string(limit.count()) +
                                 " ms (its status: " + status + ")");
    }
    return status;
}

MigrationResult VmPair::migrate(const MigrationSetup &setup, Millis limit)
{
    start(setup);
    return wait(limit);
}

void VmPair::cancel()
{
    source_->qmp().execute("migrate_cancel");
    bool stopped = poll_until(Millis(30000), Millis(50), [&] {
        std::string s = source_->qmp().execute("query-migrate")
                            .value("status", "");
        return s == "cancelled" || s == "failed" || s == "completed";
    });
    if (!stopped) {
        throw std::runtime_error("migration did not stop after migrate_cancel");
    }
}

} // namespace miglab

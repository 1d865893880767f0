// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "miglab/fault_relay.h"
#include "miglab/qemu_process.h"

namespace miglab {

// What to run on both sides: the binary and the guest's command line
// (machine, accelerator, memory, devices). The pair adds QMP, a serial
// console file per VM, and -incoming defer -S for the destination.
struct VmSpec {
    std::filesystem::path binary;
    std::vector<std::string> args;
};

// The base command line of every lab VM: an i440fx PC with no default
// devices and no display, on the given accelerator.
std::vector<std::string> pc_machine_args(const std::string &accel,
                                         const std::string &memory,
                                         unsigned smp = 1);

// NUMA nodes, each on its own memory-backend-ram object (so each is its
// own RAM block, as on users' NUMA guests), node i of node_mib[i] MiB;
// vCPUs go round-robin over the nodes. The sizes must add up to -m.
std::vector<std::string> numa_args(const std::vector<unsigned> &node_mib,
                                   unsigned smp);

// Capabilities go to both sides; parameters to the source, those in
// both_sides_parameters (multifd channels, zero-page detection...) to both
// and destination_parameters (its TLS credentials) to the destination.
struct MigrationSetup {
    std::vector<std::pair<std::string, bool>> capabilities;
    Json parameters = Json::object();
    Json both_sides_parameters = Json::object();
    Json destination_parameters = Json::object();
};

struct MigrationResult {
    // completed, failed, cancelled, or timeout (did not converge in time;
    // the migration was cancelled and the source kept running).
    std::string status;
    Json info;          // the source's last query-migrate
    double wall_ms = 0; // from `migrate` to the end
    // The destination's own end of the load: "completed", "failed" (it
    // reported a failure or exited), or empty when the source did not
    // complete.
    std::string destination_status;
    bool converged() const { return status == "completed"; }
};

// A source VM and a destination started with -incoming defer -S, migrated
// over loopback TCP.
class VmPair {
public:
    VmPair(VmSpec spec, const std::filesystem::path &workdir);

    QemuProcess &source() { return *source_; }
    QemuProcess &destination() { return *destination_; }
    // A fresh destination (after a cancelled or failed migration).
    void restart_destination();
    // After a completed migration: the destination resumes and becomes
    // the source, the old source is stopped, and a fresh destination
    // waits (migrations back and forth without booting again).
    void promote_destination();
    // Migrations from now on go through relay (which must outlive them);
    // nullptr: straight to the destination.
    void route_through(FaultRelay *relay) { relay_ = relay; }

    // Configures both sides and starts the migration: listen(), then
    // migrate_to() its URI.
    void start(const MigrationSetup &setup);
    // Configures both sides and has the destination listen; the URI the
    // source is to migrate to (through the relay, if any).
    std::string listen(const MigrationSetup &setup);
    // The source's migrate command to uri; wait() counts from here.
    void migrate_to(const std::string &uri);
    // Polls query-migrate every poll_ms until the migration ends or limit
    // passes (then cancels it). progress sees every query-migrate reply.
    // When the source completes, also waits for the destination's own end
    // of the load: without the return path the source reports completed
    // as soon as it has sent everything, while the destination may still
    // be loading device state. A destination that fails makes the result
    // "failed".
    MigrationResult wait(Millis limit,
                         const std::function<void(const Json &)> &progress = {},
                         Millis poll = Millis(100));
    MigrationResult migrate(const MigrationSetup &setup, Millis limit);
    void cancel();
    // Waits until the destination's query-migrate says the load ended
    // ("completed" or "failed"); "failed" also when the destination exited.
    std::string wait_destination(Millis limit);

private:
    std::unique_ptr<QemuProcess> start_vm(const std::string &name,
                                          bool incoming);

    VmSpec spec_;
    std::filesystem::path workdir_;
    unsigned generation_ = 0;
    std::unique_ptr<QemuProcess> source_;
    std::unique_ptr<QemuProcess> destination_;
    std::chrono::steady_clock::time_point started_;
    FaultRelay *relay_ = nullptr;
};

} // namespace miglab

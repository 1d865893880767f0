// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "miglab/libvirt.h"
#include "miglab/ram_hash.h"
#include "miglab/run_result.h"

namespace miglab {

// Starts `virsh migrate --live --p2p [--auto-converge] --suspend
// --migrateuri tcp://127.0.0.1:PORT [extra] DOMAIN DEST-URI` against
// daemon from; its output goes to log.
std::unique_ptr<BackgroundCommand>
start_virsh_migrate(const LibvirtDaemon &from, const LibvirtDaemon &to,
                    const std::string &domain,
                    const std::vector<std::string> &extra,
                    const std::filesystem::path &log,
                    bool auto_converge = true);

// Waits until the source's job moves memory: the destination has prepared
// (its QEMU listens) and the source's QEMU sends. Throws when it never
// does or virsh ended first.
void wait_transferring(const LibvirtDaemon &from, const std::string &domain,
                       BackgroundCommand &migrate);

// How to run one migration through virsh and what to watch.
struct VirshMigrationPlan {
    std::string domain;
    std::filesystem::path serial;        // its console, inside the namespace
    std::vector<std::string> extra;      // more `virsh migrate` options
    bool auto_converge = true;           // virsh migrate --auto-converge
    unsigned downtime_ms = 300;          // virsh migrate-setmaxdowntime
    unsigned start_mib_s = 32;           // virsh migrate-setspeed before it
    // Runs once memory moves, with the destination daemon held: the
    // migration cannot finish (libvirt-wise) meanwhile.
    std::function<void()> while_held;
    // The source's job is aborted (virsh domjobabort) after this long.
    Millis time_limit{300000};
    Millis poll_period{200};
    bool watch_source_state = false;     // virsh domstate on every poll
    std::filesystem::path scratch;       // logs and RAM digest chunks
    uint64_t digest_chunk = 512ULL << 20;
    // Progress lines ("source QEMU completed", ...), if wanted.
    std::function<void(const std::string &)> step;
};

// What the migration did, seen through virsh.
struct VirshMigrationOutcome {
    // The source QEMU's last query-migrate status; "timeout" when it was
    // aborted at the time limit.
    std::string status;
    Json final_info = Json::object();    // that query-migrate
    std::string source_state;            // QEMU's after completion
    int max_throttle = 0;                // domjobinfo while it ran
    std::vector<ThrottleSample> throttle; // ms since memory began to move
    double wall_ms = 0;                  // from then until QEMU ended
    bool source_paused_before_end = false;
    bool virsh_ok = false;
    std::string virsh_output;
    std::optional<RamDigest> src_ram, dst_ram;
    std::string dst_state;               // before it is resumed
    // The destination's `virsh domjobinfo --completed`.
    std::map<std::string, std::string> completed;

    // cpu-throttle-percentage in the source's completed query-migrate.
    std::optional<int> final_throttle() const;
};

// One migration from -> to of a running domain, end to end: speed and
// downtime set through virsh, virsh migrate started, the destination
// daemon held once memory moves (so the source QEMU stays after it
// completes: libvirt kills it in the Confirm phase), the source's
// query-migrate and domjobinfo polled until QEMU ends, its RAM digested,
// the destination released; once virsh returns, the destination (paused:
// --suspend) is digested, its completed job read, and resumed.
VirshMigrationOutcome migrate_via_virsh(LibvirtDaemon &from, LibvirtDaemon &to,
                                        const VirshMigrationPlan &plan);

// The percentage virsh prints for key ("Auto converge throttle: 99 %").
std::optional<int> virsh_percent(const std::map<std::string, std::string> &info,
                                 const std::string &key);

} // namespace miglab

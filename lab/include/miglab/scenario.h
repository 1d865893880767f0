// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "miglab/guest_kind.h"
#include "miglab/vm_pair.h"
#include "miglab/vmstate_load.h"

namespace miglab {

// A benchmark scenario, read from a JSON file:
//
// {
//   "name": "demo",
//   "description": "what it shows",
//   "guest": {"kind": "bootblock", "memory": "512M", "smp": 1, "accel": "tcg"},
//   "migration": {
//     "capabilities": {"auto-converge": true},
//     "parameters": {"max-bandwidth": 134217728, "downtime-limit": 300},
//     "time_limit_s": 120,
//     "stopped": false,
//     "suspend_after_s": 0
//   },
//   "repetitions": 3
// }
//
// Guest kinds: "idle" (firmware only, nothing dirties memory),
// "bootblock" (QEMU's migration-test guest: one byte per page over
// 1-100 MiB, every pass), "linux" (Debian's kernel with miglab-stress
// as /init; "guest.stress" sets it: mem_mib, writers, rate, rates (per
// writer), hot_pct, hot_share, reader, modules; see lab/guest/stress.cpp)
// and "bare" (the lab's ring-3 stress guest, for KVM paths; "guest.stress"
// sets it: ws_mib, hot_pct, hot_share, rate, rates (per vCPU), readers;
// see lab/guest/bare/bare.cpp). "guest.devices" adds virtio devices for
// switchover scenarios (see DeviceSet). "guest.kernel_args" adds words
// to the Linux guest's kernel command line (e.g. "init_on_alloc=0").
// "guest.numa" lists NUMA node
// sizes in MiB, each node its own RAM block (they must add up to
// "guest.memory"). "guest.host_vcpu_cores" gives vCPUs a host core of
// their own ({"1": 1}: vCPU 1 alone on core 1, QEMU's other threads on
// the other cores; see HostPinning). "migration.stopped" stops the
// source just before the migration (non-live): the same guest and RAM
// moved without a guest competing for the host, the floor this machine
// sets for any throttle. "migration.suspend_after_s" stops the source
// when the live migration has run that long (what `virsh migrate
// --timeout N --timeout-suspend` does): the migration ends with the guest
// paused, so pages it dirtied since the last sync must all be found by
// the final one. Every error names the file and the field.
struct Scenario {
    std::string name;
    std::string description;
    std::string guest_kind = "idle";
    std::string memory;
    unsigned smp = 1;
    std::string accel;
    Json stress = Json::object(); // linux and bare guests' settings
    std::string kernel_args;      // linux guest: more kernel command line
    std::vector<unsigned> numa;   // node sizes, MiB; empty: one RAM block
    // vCPU index -> a host core of its own (HostPinning); empty: none
    std::map<unsigned, unsigned> host_vcpu_cores;
    DeviceSet devices;
    MigrationSetup setup;
    unsigned time_limit_s = 120;
    bool stopped = false; // non-live: stop the source before migrating
    unsigned suspend_after_s = 0; // stop the source after this long; 0: never
    unsigned repetitions = 3;

    static Scenario load(const std::filesystem::path &file);
    // max-bandwidth in bytes/s (QEMU's default when not set).
    uint64_t bandwidth() const;
    // guest.memory in MiB.
    uint64_t memory_mib() const;
    // Whether guest.accel is KVM.
    bool uses_kvm() const;
    // guest.accel's dirty-ring-size=N; 0 without a dirty ring.
    unsigned dirty_ring_size() const;
    // Why accel is no accelerator the lab runs (tcg[,...] or kvm[,...]),
    // or nullopt.
    static std::optional<std::string> bad_accel(const std::string &accel);
    // What guest_kind names (std::logic_error for an unknown name: load()
    // accepts none).
    const GuestKind &kind() const;
};

} // namespace miglab

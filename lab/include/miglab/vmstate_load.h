// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace miglab {

// Extra virtio devices for switchover (non-iterable load) scenarios,
// "guest.devices" in a scenario:
//   {"virtio_net": 8, "net_queues": 16, "virtio_blk": 16, "blk_queues": 4}
// virtio-net gets a tap backend (multi-queue needs one; QEMU picks a
// free tapN name and the device goes away with QEMU), virtio-blk a
// null-co block node. The Linux guest must load virtio_net and virtio_blk
// (guest.stress.modules) so that the drivers set the queues up.
//
// "balloon": "on" adds a virtio-balloon; "hint" one with free page hints
// (free-page-hint=on, in its own iothread, as the feature requires): at
// the start of a migration QEMU asks the guest for its free pages and
// skips them. The guest must load virtio_balloon to answer; one that
// does not is a guest that never answers.
struct DeviceSet {
    enum class Balloon { off, on, hint };

    unsigned virtio_net = 0;
    unsigned net_queues = 1;
    unsigned virtio_blk = 0;
    unsigned blk_queues = 1;
    Balloon balloon = Balloon::off;

    // No device whose load the switchover scenarios measure (the balloon
    // is not one of them).
    bool empty() const { return virtio_net == 0 && virtio_blk == 0; }
    unsigned count() const
    {
        return virtio_net + virtio_blk + (balloon != Balloon::off);
    }
    std::vector<std::string> args() const;
};

// The trace events parse_load_window() reads; all exist in stock QEMU
// except the fork's memory_region_transaction_flush (a pattern, so stock
// accepts it).
std::vector<std::string> load_trace_events();

// The destination's non-iterable load, from its trace log: from the first
// device section (QEMU_VM_SECTION_FULL) after the last iterable END
// section to the end of qemu_loadvm_state_main(); the flat views rendered
// and the fork's early commits (flushes) within it.
struct LoadWindow {
    double load_ms = 0;
    uint64_t sections = 0;
    uint64_t flatviews = 0;
    uint64_t flushes = 0;
};
std::optional<LoadWindow> parse_load_window(const std::filesystem::path &log);

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
//
// miglab-stress's settings, read from the kernel command line, and the
// page choice they drive: kept out of stress.cpp (the guest's /init) so
// the lab's tests can check them on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace miglab::stress {

struct Settings {
    size_t mem_mib = 256;
    unsigned writers = 0;
    uint64_t rate = 0;
    std::vector<uint64_t> rates;
    std::vector<std::string> modules;
    unsigned hot_pct = 0;
    unsigned hot_share = 90;
    bool reader = false;
    uint64_t burst_ms = 0;
    uint64_t idle_ms = 0;
    // Before the working set is mapped: alloc_mib MiB allocated and written (with
    // zeros when alloc_zero), then free_mib MiB of it given back to the
    // kernel; the rest stays held.
    size_t alloc_mib = 0;
    size_t free_mib = 0;
    bool alloc_zero = false;
    // Writers (and the reporting thread) run SCHED_FIFO, so the guest
    // kernel's own work (kworkers, the balloon driver) gets only what
    // the kernel's RT throttling leaves: about 5% of each CPU.
    bool writers_rt = false;
    // Each thread on a CPU of its own: the reader on the last CPU, the
    // writers round the others (all CPUs without a reader).
    bool pin = false;
};

struct ParsedSettings {
    Settings settings;
    std::vector<std::string> warnings; // unknown keys: ignored
    std::vector<std::string> errors;   // bad values: the guest must not run
};

// The miglab_<key>=<value> words of a kernel command line (see
// stress.cpp's header); writers defaults to cpus. A value that is not a
// number, or out of its range (hot_pct and hot_share above 100, mem_mib
// 0, free_mib above alloc_mib), is an error that names the setting.
ParsedSettings parse_settings(const std::string &cmdline, unsigned cpus);

// How many of a writer's pages form the hot set: 0 for hot_pct 0
// (uniform), else at least 1 and at most pages.
size_t hot_pages(size_t pages, unsigned hot_pct);

// The page a writer writes for the random word r: hot_share % of writes
// go to the hot set [0, hot), the rest to the cold part [hot, pages);
// every write to the hot set when it is the whole set. Always < pages.
size_t pick_page(uint64_t r, size_t pages, size_t hot, unsigned hot_share);

} // namespace miglab::stress

// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace miglab {

// QEMU's trace log as the lab asks for it: the "log" backend with
// -msg timestamp=on, one file per QEMU process.

// QEMU options that log the given trace events to trace_log_path(dir, pid).
std::vector<std::string> trace_args(const std::vector<std::string> &events,
                                    const std::filesystem::path &dir);

// Extra events asked for in MIGLAB_TRACE (comma-separated QEMU trace
// event names or patterns), for a post-mortem with MIGLAB_KEEP_TMP=1;
// empty when unset.
std::vector<std::string> extra_trace_events();

// The log of the QEMU with that pid.
std::filesystem::path trace_log_path(const std::filesystem::path &dir,
                                     pid_t pid);

// One line, "pid@sec.usec:event args".
struct TraceLine {
    double t = 0; // seconds since the epoch
    std::string event;
    std::string args;
    // false for lines that are not trace events
    static bool parse(const std::string &line, TraceLine &out);
};

// Calls f with each line of the trace log at log that event wrote, in
// order.
void for_each_trace_event(const std::filesystem::path &log, const std::string &event,
                          const std::function<void(const TraceLine &)> &f);

// When the last runstate_set line of a trace log left run state from
// for run state to (QEMU's names, e.g. "inmigrate", "finish-migrate";
// empty: any), in seconds since the epoch; nothing when no line did.
std::optional<double> last_runstate_change(const std::filesystem::path &log,
                                           const std::string &from,
                                           const std::string &to);

} // namespace miglab

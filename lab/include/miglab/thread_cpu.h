// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <map>
#include <optional>
#include <string>
#include <sys/types.h>

namespace miglab {

// CPU time (user + system) of a process's threads since the object was
// made, by thread name (QEMU names its threads with -name
// ...,debug-threads=on: "mig/src/main", "mig/src/send_0", "IO <id>"...).
// The migration's threads exit when it ends and take their counts with
// them, so the counts are sampled while it runs: each thread keeps the
// last value seen, which may be one sampling period short of its total.
class ThreadCpu {
public:
    // Reads the threads there are now: they count from here.
    explicit ThreadCpu(pid_t pid);
    // Reads every thread's count now (threads that are gone keep theirs).
    void sample();
    // The CPU seconds of the threads whose name starts with prefix, or
    // nullopt when no such thread was seen.
    std::optional<double> seconds(const std::string &prefix) const;

    // user + system clock ticks from one /proc/<pid>/task/<tid>/stat line,
    // whatever the name in it holds (spaces, parentheses); nullopt for a
    // line that is not one.
    static std::optional<unsigned long long> ticks(const std::string &stat);

private:
    struct Seen {
        std::string name;
        unsigned long long base = 0; // at construction; 0 for later threads
        unsigned long long ticks = 0;
    };
    pid_t pid_;
    bool constructing_ = true;
    std::map<pid_t, Seen> threads_;
};

} // namespace miglab

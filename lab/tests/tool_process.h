// SPDX-License-Identifier: GPL-2.0-or-later
//
// One of the lab's own programs (migbench, mkinitrd) run to its end by a
// test, its output in a file. Tests that watch a tool while it runs use
// BackgroundCommand directly.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "miglab/command.h"

namespace miglab::test {

// Runs a tool to its end (at most 120 s); its exit code, or -1 when it did
// not exit by itself (killed at the limit or by a signal).
inline int run_tool(const std::vector<std::string> &argv,
                    const std::filesystem::path &output,
                    const std::vector<std::string> &env = {})
{
    BackgroundCommand t(argv, output, env);
    auto st = t.wait(std::chrono::seconds(120));
    return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

} // namespace miglab::test

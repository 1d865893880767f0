// SPDX-License-Identifier: GPL-2.0-or-later
//
// One of the lab's own programs (migbench, migfault, mkinitrd) run to its
// end by a test, its output in a file. Tests that watch a tool while it
// runs use BackgroundCommand directly.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>

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

// Runs tool (argv[0]) with argv and expects it to refuse them: exit
// status 2 and "PROGRAM: message" in its output (program: the name it
// prints).
inline void expect_refused(const std::vector<std::string> &argv,
                           const std::string &program,
                           const std::string &message,
                           const std::filesystem::path &log)
{
    BackgroundCommand tool(argv, log);
    auto st = tool.wait(std::chrono::seconds(60));
    ASSERT_TRUE(st.has_value()) << program << " still runs";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << message;
    EXPECT_NE(tool.output().find(program + ": " + message), std::string::npos)
        << tool.output();
}

} // namespace miglab::test

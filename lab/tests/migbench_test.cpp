// SPDX-License-Identifier: GPL-2.0-or-later
//
// migbench as a user runs it.
#include <csignal>
#include <fstream>

#include "lab_env.h"
#include "miglab/poll.h"
#include "miglab/temp_dir.h"
#include "tool_process.h"

using namespace miglab;

namespace {

namespace fs = std::filesystem;

// Every entry of dir, for messages.
std::string listing(const fs::path &dir)
{
    std::string s;
    for (const auto &e : fs::recursive_directory_iterator(dir)) {
        s += e.path().string() + " ";
    }
    return s;
}

// The scratch directory of a run whose destination QEMU has started, if any.
std::optional<fs::path> run_with_destination(const fs::path &tmp)
{
    for (const auto &d : fs::directory_iterator(tmp)) {
        if (d.path().filename().string().rfind("migbench.", 0) != 0) {
            continue;
        }
        for (const auto &f : fs::directory_iterator(d.path())) {
            const std::string n = f.path().filename().string();
            if (n.rfind("destination", 0) == 0 && f.path().extension() == ".qmp") {
                return d.path();
            }
        }
    }
    return std::nullopt;
}

} // namespace

// SIGTERM (or Ctrl-C) in the middle of a run: migbench stops its QEMUs
// and removes the run's scratch directory before it exits.
TEST(Migbench, SigtermMidRunLeavesNoScratchDirectory)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    const fs::path tmp = dir.path() / "tmp";
    fs::create_directory(tmp);
    // An idle guest migrated at 1 KiB/s: the run lasts until stopped.
    const fs::path scenario = dir.path() / "slow.json";
    std::ofstream(scenario) << R"({"name": "slow", "repetitions": 1,
        "guest": {"kind": "idle", "memory": "64M"},
        "migration": {"parameters": {"max-bandwidth": 1024},
                      "time_limit_s": 600}})";
    test::ToolProcess mb({MIGLAB_MIGBENCH, "--only", "fork", "--fork",
                          test::qemu_binary().string(), "--out",
                          (dir.path() / "out").string(), scenario.string()},
                         {"TMPDIR=" + tmp.string(), "MIGLAB_KEEP_TMP=0"},
                         dir.path() / "migbench.log");
    ASSERT_TRUE(mb.started());
    std::optional<fs::path> scratch;
    ASSERT_TRUE(poll_until(std::chrono::seconds(120), Millis(20), [&] {
        scratch = run_with_destination(tmp);
        return scratch.has_value() || mb.wait(Millis(0));
    }) && scratch) << "the run never started its destination: " << mb.output();

    ASSERT_EQ(::kill(mb.pid(), SIGTERM), 0);
    auto st = mb.wait(std::chrono::seconds(120));
    ASSERT_TRUE(st.has_value()) << "migbench still runs after SIGTERM";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 128 + SIGTERM)
        << "wait status " << *st << ": " << mb.output();
    EXPECT_NE(mb.output().find("migbench: interrupted by"), std::string::npos)
        << mb.output();
    EXPECT_TRUE(fs::is_empty(tmp)) << "left behind: " << listing(tmp);
}

// --reps takes whole numbers only (it used to read 2.5 as 2).
TEST(Migbench, RepsMustBeAWholeNumber)
{
    TempDir dir;
    for (const char *reps : {"2.5", "0", "3x", "-1"}) {
        test::ToolProcess mb({MIGLAB_MIGBENCH, "--reps", reps, "none.json"},
                             {}, dir.path() / "migbench.log");
        auto st = mb.wait(std::chrono::seconds(60));
        ASSERT_TRUE(st.has_value());
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << reps;
        EXPECT_NE(mb.output().find(std::string("--reps must be a positive "
                                               "integer, got '") + reps + "'"),
                  std::string::npos)
            << mb.output();
    }
}

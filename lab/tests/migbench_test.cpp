// SPDX-License-Identifier: GPL-2.0-or-later
//
// migbench as a user runs it.
#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>

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

// The comma-separated fields of one CSV line (the lab quotes none).
std::vector<std::string> fields(const std::string &line)
{
    std::vector<std::string> out;
    std::stringstream in(line);
    for (std::string f; std::getline(in, f, ',');) {
        out.push_back(f);
    }
    return out;
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
    BackgroundCommand mb({MIGLAB_MIGBENCH, "--only", "fork", "--fork",
                          test::qemu_binary().string(), "--out",
                          (dir.path() / "out").string(), scenario.string()},
                         dir.path() / "migbench.log",
                         {"TMPDIR=" + tmp.string(), "MIGLAB_KEEP_TMP=0"});
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
        test::expect_refused({MIGLAB_MIGBENCH, "--reps", reps, "none.json"},
                             "migbench",
                             std::string("--reps must be a positive integer, "
                                         "got '") + reps + "'",
                             dir.path() / "migbench.log");
    }
}

// --binary NAME=PATH: a malformed or repeated one, or --only naming none
// of them, is a usage error that says which.
TEST(Migbench, BinaryListErrors)
{
    TempDir dir;
    const std::string scenario = MIGLAB_SCENARIO_DIR "/demo.json";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--binary", "a"}, "--binary takes NAME=PATH, got 'a'"},
        {{"--binary", "=/x"}, "--binary takes NAME=PATH, got '=/x'"},
        {{"--binary", "a=/x", "--binary", "a=/y"}, "--binary a given twice"},
        {{"--binary", "a=/nonexistent"}, "no a binary at /nonexistent"},
        {{"--binary", "a=/bin/true", "--only", "b"},
         "--only b names no binary of this run"},
    };
    for (const auto &[args, message] : cases) {
        std::vector<std::string> argv{MIGLAB_MIGBENCH};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(scenario);
        test::expect_refused(argv, "migbench", message,
                             dir.path() / "migbench.log");
    }
}

// docs/lab.md lists the CSV's columns as migbench --columns prints them
// from the report's column table: the docs cannot drift from the code.
TEST(Migbench, DocsListTheColumns)
{
    TempDir dir;
    BackgroundCommand mb({MIGLAB_MIGBENCH, "--columns"},
                         dir.path() / "columns.md");
    auto st = mb.wait(std::chrono::seconds(60));
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << mb.output();
    const std::string columns = mb.output();
    EXPECT_NE(columns.find("| `completed_throttle_pct` | % |"), std::string::npos);
    std::ifstream in(MIGLAB_TOP "/docs/lab.md");
    std::stringstream doc;
    doc << in.rdbuf();
    EXPECT_NE(doc.str().find(columns), std::string::npos)
        << "docs/lab.md does not list the columns as migbench --columns "
           "prints them:\n" << columns;
}

// A whole run as a user starts it, on the smallest guest: one repetition
// per binary (the fork stands in for both, as make check builds no stock
// twin), and every report file written with a row per run.
TEST(Migbench, SmokeRunWritesTheReport)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    const fs::path scenario = dir.path() / "smoke.json";
    std::ofstream(scenario) << R"({"name": "smoke", "repetitions": 1,
        "guest": {"kind": "idle", "memory": "64M"},
        "migration": {"time_limit_s": 60}})";
    const std::string qemu = test::qemu_binary().string();
    BackgroundCommand mb({MIGLAB_MIGBENCH, "--stock", qemu, "--fork", qemu,
                          "--out", (dir.path() / "out").string(),
                          scenario.string()},
                         dir.path() / "migbench.log");
    auto st = mb.wait(std::chrono::seconds(300));
    ASSERT_TRUE(st.has_value()) << "migbench still runs: " << mb.output();
    ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << mb.output();

    const fs::path out = dir.path() / "out" / "smoke";
    // (No throughput plot: an idle guest has no guest throughput to plot.)
    for (const char *f : {"results.csv", "results.md", "smoke-total-time.svg"}) {
        EXPECT_TRUE(fs::exists(out / f)) << f << ": " << listing(dir.path());
    }
    std::ifstream csv(out / "results.csv");
    std::string line;
    ASSERT_TRUE(std::getline(csv, line));
    const std::vector<std::string> header = fields(line);
    auto column = [&](const std::string &name) {
        return std::find(header.begin(), header.end(), name) - header.begin();
    };
    const size_t converged = column("converged"), ram = column("ram_equal");
    ASSERT_LT(std::max(converged, ram), header.size()) << line;
    std::vector<std::string> binaries;
    while (std::getline(csv, line)) {
        const std::vector<std::string> row = fields(line);
        ASSERT_EQ(row.size(), header.size()) << line;
        EXPECT_EQ(row[0], "smoke");
        EXPECT_EQ(row[converged], "yes") << line;
        EXPECT_EQ(row[ram], "yes") << line;
        binaries.push_back(row[1]);
    }
    std::sort(binaries.begin(), binaries.end());
    EXPECT_EQ(binaries, (std::vector<std::string>{"fork", "stock"}));
}

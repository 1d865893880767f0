// SPDX-License-Identifier: GPL-2.0-or-later
//
// migfault as a user runs it: one point of each fault on the boot-block
// guest, and its refusals of bad options.
#include <fstream>
#include <sstream>

#include "lab_env.h"
#include "miglab/report.h"
#include "miglab/temp_dir.h"
#include "tool_process.h"

using namespace miglab;

namespace {

namespace fs = std::filesystem;

} // namespace

TEST(Migfault, OnePointOfEachFaultThenEverythingChecks)
{
    MIGLAB_REQUIRE_QEMU();
    if (!fs::exists(test::qemu_source())) {
        GTEST_SKIP() << "no QEMU source at " << test::qemu_source();
    }
    TempDir dir;
    const fs::path scenario = dir.path() / "faults.json";
    std::ofstream(scenario) << R"({"name": "faults",
        "guest": {"kind": "bootblock", "memory": "128M"},
        "migration": {"capabilities": {"auto-converge": true},
                      "parameters": {"max-bandwidth": 1073741824,
                                     "downtime-limit": 300},
                      "time_limit_s": 120}})";
    BackgroundCommand mf({MIGLAB_MIGFAULT, "--points", "1", "--binary",
                          test::qemu_binary().string(), "--qemu-src",
                          test::qemu_source().string(), "--out",
                          (dir.path() / "out").string(), scenario.string()},
                         dir.path() / "migfault.log");
    auto st = mf.wait(std::chrono::seconds(500));
    ASSERT_TRUE(st.has_value()) << "migfault still runs: " << mf.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << mf.output();
    EXPECT_NE(mf.output().find(", seed "), std::string::npos) << mf.output();

    const std::string csv = read_file(dir.path() / "out" / "faults" / "faults.csv");
    for (const char *f : {",kill-destination,", ",cut,", ",stall,", ",cancel,"}) {
        EXPECT_NE(csv.find(f), std::string::npos) << f << " missing:\n" << csv;
    }
    const std::string md = read_file(dir.path() / "out" / "faults" / "faults.md");
    EXPECT_NE(md.find("| cut | "), std::string::npos) << md;
}

TEST(Migfault, OnePointOfEachFaultInTheSwitchover)
{
    MIGLAB_REQUIRE_QEMU();
    if (!fs::exists(test::qemu_source())) {
        GTEST_SKIP() << "no QEMU source at " << test::qemu_source();
    }
    TempDir dir;
    const fs::path scenario = dir.path() / "faults.json";
    std::ofstream(scenario) << R"({"name": "faults",
        "guest": {"kind": "bootblock", "memory": "128M"},
        "migration": {"capabilities": {"auto-converge": true},
                      "parameters": {"max-bandwidth": 1073741824,
                                     "downtime-limit": 300},
                      "time_limit_s": 120}})";
    BackgroundCommand mf({MIGLAB_MIGFAULT, "--switchover", "--points", "1",
                          "--binary", test::qemu_binary().string(),
                          "--qemu-src", test::qemu_source().string(), "--out",
                          (dir.path() / "out").string(), scenario.string()},
                         dir.path() / "migfault.log");
    auto st = mf.wait(std::chrono::seconds(500));
    ASSERT_TRUE(st.has_value()) << "migfault still runs: " << mf.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << mf.output();
    const std::string md = read_file(dir.path() / "out" / "faults" / "faults.md");
    for (const char *f : {"| cut | ", "| stall | ", "| cancel | ", "| kill-destination | "}) {
        EXPECT_NE(md.find(f), std::string::npos) << f << " missing:\n" << md;
    }
    EXPECT_NE(md.find("switchover 1"), std::string::npos) << md;
}

TEST(Migfault, SoakMigratesBackAndForthWithEqualRam)
{
    MIGLAB_REQUIRE_QEMU();
    if (!fs::exists(test::qemu_source())) {
        GTEST_SKIP() << "no QEMU source at " << test::qemu_source();
    }
    TempDir dir;
    const fs::path scenario = dir.path() / "soak.json";
    std::ofstream(scenario) << R"({"name": "soak",
        "guest": {"kind": "bootblock", "memory": "128M"},
        "migration": {"capabilities": {"auto-converge": true},
                      "parameters": {"max-bandwidth": 1073741824,
                                     "downtime-limit": 300},
                      "time_limit_s": 120}})";
    BackgroundCommand mf({MIGLAB_MIGFAULT, "--soak", "3", "--binary",
                          test::qemu_binary().string(), "--qemu-src",
                          test::qemu_source().string(), "--out",
                          (dir.path() / "out").string(), scenario.string()},
                         dir.path() / "migfault.log");
    auto st = mf.wait(std::chrono::seconds(300));
    ASSERT_TRUE(st.has_value()) << "migfault still runs: " << mf.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << mf.output();
    const std::string md = read_file(dir.path() / "out" / "soak" / "soak.md");
    EXPECT_NE(md.find("| 3 | 3 | 3 |"), std::string::npos) << md;
    const std::string csv = read_file(dir.path() / "out" / "soak" / "soak.csv");
    EXPECT_NE(csv.find("\n3,none,"), std::string::npos) << csv;
}

TEST(Migfault, BadOptionsAreRefusedByName)
{
    TempDir dir;
    const std::pair<std::vector<std::string>, std::string> cases[] = {
        {{"--faults", "cut,melt", "x.json"}, "--faults: no fault 'melt'"},
        {{"--points", "2.5", "x.json"}, "--points takes a whole number"},
        {{"--points"}, "--points needs a value"},
        {{"--melt", "x.json"}, "unknown option --melt"},
        {{"--points", "0", "x.json"}, "--points must be at least 1"},
        {{"--soak", "0", "x.json"}, "--soak must be at least 1"},
        {{"--seed", "-1", "x.json"}, "--seed takes a whole number"},
        {{}, "no scenario given"},
    };
    for (const auto &[args, message] : cases) {
        std::vector<std::string> argv{MIGLAB_MIGFAULT};
        argv.insert(argv.end(), args.begin(), args.end());
        test::expect_refused(argv, "migfault", message,
                             dir.path() / "migfault.log");
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//
// guestperf (QEMU's tests/migration-stress with the series' patches) as
// tools/guestperf runs it on this checkout: a short migration under the
// accelerator a Linux guest can use here, one that guestperf cancels,
// and the lab's reading of its reports (guestperf-summary).
//
// Each guestperf runs in PID and mount namespaces of its own (unshare
// --kill-child --mount-proc): when the test stops it, by PID, its QEMUs
// go with it.
#include <fstream>

#include "lab_env.h"
#include "miglab/guestperf_report.h"
#include "miglab/temp_dir.h"
#include "tool_process.h"

using namespace miglab;

namespace {

namespace fs = std::filesystem;

// tools/guestperf with args; its report in dir/report.json.
struct GuestperfRun {
    std::optional<int> status;
    std::string output;
    Json report;
};

GuestperfRun guestperf(const fs::path &dir, std::vector<std::string> args)
{
    // Its own /proc too: guestperf reads its QEMUs' threads there by the
    // IDs QEMU reports, which are the namespace's.
    std::vector<std::string> argv{"/usr/bin/unshare", "--pid", "--fork",
                                  "--kill-child", "--mount-proc",
                                  MIGLAB_TOP "/tools/guestperf",
                                  "--qemu", test::qemu_binary().string(),
                                  "--output", (dir / "report.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    BackgroundCommand gp(argv, dir / "guestperf.log");
    GuestperfRun r;
    // A bound on a hang, not a measurement.
    r.status = gp.wait(std::chrono::seconds(400));
    r.output = gp.output();
    std::ifstream in(dir / "report.json");
    if (in) {
        r.report = Json::parse(in, nullptr, false);
    }
    return r;
}

#define REQUIRE_GUESTPERF()                                                    \
    do {                                                                       \
        MIGLAB_REQUIRE_QEMU();                                                 \
        MIGLAB_REQUIRE_LINUX_GUEST();                                          \
        if (geteuid() != 0) {                                                  \
            GTEST_SKIP() << "guestperf runs in a PID namespace: needs root";  \
        }                                                                      \
    } while (0)

Json report_of(const std::string &scenario, bool success,
               const std::string &status, const Json &history)
{
    return {{"scenario", {{"name", scenario}}},
            {"progress_history", history},
            {"result", {{"success", success}, {"status", status},
                        {"reason", success ? "" : "No completion after 2 seconds"}}}};
}

} // namespace

TEST(GuestperfReport, ReadAsALabRun)
{
    Json history = Json::array();
    history.push_back({{"duration", 1000}, {"downtime", 0},
                       {"throttle_pcent", 20},
                       {"ram", {{"transferred_bytes", 1}, {"iterations", 1}}}});
    history.push_back({{"duration", 5120}, {"downtime", 210},
                       {"setup_time", 3}, {"throttle_pcent", 0},
                       {"ram", {{"transferred_bytes", 3u << 30},
                                {"iterations", 9}}}});
    RunResult r = run_of_guestperf_report(
        report_of("auto-converge-1gbs-fork", true, "completed", history), 2);
    EXPECT_EQ(r.scenario, "auto-converge-1gbs");
    EXPECT_EQ(r.binary, "fork");
    EXPECT_EQ(r.rep, 2u);
    EXPECT_TRUE(r.converged);
    EXPECT_EQ(r.status, "completed");
    EXPECT_EQ(r.total_time_ms, 5120);
    EXPECT_EQ(r.downtime_ms, 210);
    EXPECT_EQ(r.transferred_bytes, 3ULL << 30);
    EXPECT_EQ(r.dirty_sync_count, 9u);
    EXPECT_EQ(r.throttle_pct, 20); // the highest, not the last

    RunResult c = run_of_guestperf_report(
        report_of("x-stock", false, "cancelled", history), 1);
    EXPECT_FALSE(c.converged);
    EXPECT_EQ(c.status, "cancelled");
    EXPECT_EQ(c.error, "No completion after 2 seconds");
}

TEST(GuestperfReport, RefusesWhatIsNotAReport)
{
    Json history = Json::array({{{"duration", 1}}});
    EXPECT_THROW(run_of_guestperf_report(Json::object(), 1), std::runtime_error);
    EXPECT_THROW(run_of_guestperf_report(
                     report_of("nolabel", true, "completed", history), 1),
                 std::runtime_error);
    EXPECT_THROW(run_of_guestperf_report(
                     report_of("a-fork", true, "completed", Json::array()), 1),
                 std::runtime_error);
    TempDir dir;
    EXPECT_THROW(run_of_guestperf_report(dir.path() / "none.json", 1),
                 std::runtime_error);
}

// A short migration that converges: auto-converge over a 1000 MiB/s link,
// with the fork's throttle policy chosen by name (not the default).
TEST(Guestperf, ShortMigrationWritesItsReport)
{
    REQUIRE_GUESTPERF();
    TempDir dir("miglab-guestperf");
    GuestperfRun r = guestperf(
        dir.path(), {"--cpus", "1", "--mem", "1", "--sleep", "3",
                     "--auto-converge", "--cpu-throttle-policy", "computed",
                     "--bandwidth", "1000", "--downtime", "300",
                     "--max-iters", "1000", "--max-time", "120"});
    ASSERT_TRUE(r.status && WIFEXITED(*r.status) && WEXITSTATUS(*r.status) == 0)
        << r.output;
    ASSERT_TRUE(r.report.is_object()) << r.output;
    EXPECT_EQ(r.report["result"].value("success", false), true) << r.output;
    EXPECT_EQ(r.report["result"].value("status", ""), "completed");
    EXPECT_FALSE(r.report["progress_history"].empty());
    EXPECT_EQ(r.report["scenario"].value("cpu_throttle_policy", ""), "computed");
    const std::string accel = r.report["hardware"].value("accel", "");
    EXPECT_TRUE(accel == "tcg" || accel == "kvm") << accel;
}

// A migration guestperf cancels (it cannot end in 2 s at 5 MiB/s): the
// report is still written, marked not completed, with the reason.
TEST(Guestperf, CancelledRunLeavesAReport)
{
    REQUIRE_GUESTPERF();
    TempDir dir("miglab-guestperf");
    GuestperfRun r = guestperf(dir.path(),
                               {"--cpus", "1", "--mem", "1", "--sleep", "3",
                                "--bandwidth", "5", "--max-time", "2"});
    ASSERT_TRUE(r.status && WIFEXITED(*r.status) && WEXITSTATUS(*r.status) == 0)
        << r.output;
    ASSERT_TRUE(r.report.is_object()) << r.output;
    EXPECT_EQ(r.report["result"].value("success", true), false);
    EXPECT_EQ(r.report["result"].value("status", ""), "cancelled") << r.output;
    EXPECT_EQ(r.report["result"].value("reason", ""),
              "No completion after 2 seconds");
    EXPECT_NE(r.output.find("Migration not completed: cancelled"),
              std::string::npos)
        << r.output;
}

// SPDX-License-Identifier: GPL-2.0-or-later
//
// The report's files: a write that fails (a full disk, /dev/full) is an
// error naming the file, never a truncated result.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "miglab/report.h"
#include "miglab/temp_dir.h"

using namespace miglab;

namespace {

Report one_run()
{
    RunResult r;
    r.scenario = "s";
    r.binary = "fork";
    r.rep = 1;
    r.status = "completed";
    r.total_time_ms = 1000;
    r.migration_end_ms = 1000;
    r.timeline = {{100, 5}, {200, 6}};
    return Report({r});
}

// The message a throwing call gives, or "" when it does not throw.
template <typename F>
std::string error_of(F f)
{
    try {
        f();
    } catch (const std::exception &e) {
        return e.what();
    }
    return "";
}

// Makes dir/name a link to /dev/full, where every write fails (ENOSPC).
std::filesystem::path full_disk_at(const std::filesystem::path &dir,
                                   const std::string &name)
{
    std::filesystem::create_symlink("/dev/full", dir / name);
    return dir / name;
}

} // namespace

TEST(ReportFiles, WritesEveryFile)
{
    TempDir dir;
    Report rep = one_run();
    rep.write_csv(dir.path() / "results.csv");
    auto svgs = rep.write_svgs(dir.path());
    EXPECT_EQ(svgs.size(), 2u);
    std::ifstream in(dir.path() / "results.csv");
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_NE(ss.str().find("\ns,fork,1,no,1000,"), std::string::npos)
        << ss.str();
    write_file(dir.path() / "results.md", "text\n");
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "results.md"), 5u);
}

TEST(ReportFiles, AFullDiskIsAnErrorThatNamesTheFile)
{
    TempDir dir;
    Report rep = one_run();
    std::string e = error_of([&] { rep.write_csv("/dev/full"); });
    EXPECT_NE(e.find("/dev/full"), std::string::npos) << e;
    EXPECT_NE(e.find("No space left on device"), std::string::npos) << e;

    auto md = full_disk_at(dir.path(), "results.md");
    e = error_of([&] { write_file(md, "text\n"); });
    EXPECT_NE(e.find(md.string()), std::string::npos) << e;

    for (const char *svg : {"s-total-time.svg", "s-throughput.svg"}) {
        TempDir d;
        auto f = full_disk_at(d.path(), svg);
        e = error_of([&] { rep.write_svgs(d.path()); });
        EXPECT_NE(e.find(f.string()), std::string::npos) << svg << ": " << e;
    }
}

// estimates.csv: what was left is known for a run that converged (to when
// QEMU completed, and to when the harness saw it), "n/a" for one that did
// not; "never" where the fork said it would not converge.
TEST(ReportFiles, EstimatesSayWhatWasLeftOnlyForARunThatConverged)
{
    TempDir dir;
    RunResult done;
    done.scenario = "s";
    done.binary = "fork";
    done.rep = 1;
    done.converged = true;
    done.migration_start_ms = 1000;
    done.migration_end_ms = 11000;
    done.completed_ms = 10500;
    done.estimates = {{6000, 5000.0, true}};
    RunResult stuck = done;
    stuck.rep = 2;
    stuck.converged = false;
    stuck.estimates = {{6000, std::nullopt, false}};
    Report rep({done, stuck});
    auto files = rep.write_estimates(dir.path());
    ASSERT_FALSE(files.empty());
    std::ifstream in(dir.path() / "estimates.csv");
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_NE(ss.str().find("\n\"s\",\"fork\",1,5.00,5.00,4.50,1,5.00\n"),
              std::string::npos) << ss.str();
    EXPECT_NE(ss.str().find("\n\"s\",\"fork\",2,5.00,never,n/a,0,n/a\n"),
              std::string::npos) << ss.str();
}

// Runs through libvirt add a table of what domjobinfo reported; other runs
// do not get it.
TEST(ReportMarkdown, LibvirtThrottleTableOnlyForLibvirtRuns)
{
    const std::string title = "domjobinfo --completed throttle %";
    RunResult r;
    r.scenario = "s";
    r.binary = "fork";
    r.rep = 1;
    r.status = "completed";
    r.converged = true;
    r.total_time_ms = 1000;
    r.throttle_pct = 97;
    EXPECT_EQ(Report({r}).markdown("").find(title), std::string::npos);

    RunResult stock = r;
    stock.binary = "stock";
    stock.completed_throttle_pct = 0; // libvirt printed no throttle line
    r.completed_throttle_pct = 95;
    std::string md = Report({stock, r}).markdown("");
    EXPECT_NE(md.find("| binary | " + title +
                      " | domjobinfo throttle % (last while running) |"),
              std::string::npos)
        << md;
    EXPECT_NE(md.find("| stock | 0 | 97 |"), std::string::npos) << md;
    EXPECT_NE(md.find("| fork | 95 | 97 |"), std::string::npos) << md;
}

// The binaries are the runs' own (migbench --binary NAME=PATH): stock
// first, each other one compared with it.
TEST(ReportMarkdown, AnyBinariesStockFirst)
{
    auto run = [](const std::string &binary, double ms) {
        RunResult r;
        r.scenario = "s";
        r.binary = binary;
        r.rep = 1;
        r.status = "completed";
        r.converged = true;
        r.total_time_ms = ms;
        return r;
    };
    std::string md =
        Report({run("fork-a", 500), run("stock", 2000), run("fork-b", 1000)})
            .markdown("");
    auto stock = md.find("| stock | 1/1 | 2000 |");
    auto a = md.find("| fork-a | 1/1 | 500 |");
    auto b = md.find("| fork-b | 1/1 | 1000 |");
    ASSERT_NE(stock, std::string::npos) << md;
    ASSERT_NE(a, std::string::npos) << md;
    ASSERT_NE(b, std::string::npos) << md;
    EXPECT_LT(stock, a);
    EXPECT_LT(a, b);
    EXPECT_NE(md.find("fork-a/stock median total time: 0.25"), std::string::npos)
        << md;
    EXPECT_NE(md.find("fork-b/stock median total time: 0.50"), std::string::npos)
        << md;
    // Without stock there is nothing to compare with.
    EXPECT_EQ(Report({run("x", 1), run("y", 2)}).markdown("").find("/stock"),
              std::string::npos);
}

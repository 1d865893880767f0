// SPDX-License-Identifier: GPL-2.0-or-later
//
// The report writer against golden files: synthetic runs (two binaries,
// two repetitions, every optional metric set in some run and missing in
// another, a failed run, a bursty guest, runs through libvirt) must give
// exactly lab/tests/golden/*. A change to the report's format shows up
// here as a diff; regenerate the files on purpose with
// MIGLAB_UPDATE_GOLDEN=1 and review them.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "miglab/report.h"
#include "miglab/temp_dir.h"

using namespace miglab;

namespace {

namespace fs = std::filesystem;

const fs::path golden_dir = MIGLAB_GOLDEN_DIR;

std::string slurp(const fs::path &f)
{
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

RunResult synthetic(const std::string &scenario, const std::string &binary,
                    unsigned rep, double scale)
{
    RunResult r;
    r.scenario = scenario;
    r.binary = binary;
    r.rep = rep;
    r.status = "completed";
    r.converged = true;
    r.ram_equal = true;
    r.total_time_ms = 4000 * scale;
    r.downtime_ms = 120 + rep;
    r.setup_time_ms = 7;
    r.transferred_bytes = static_cast<uint64_t>(3e9 * scale);
    r.dirty_sync_count = static_cast<uint64_t>(10 * scale);
    r.throttle_pct = binary == "fork" ? 95 : 80;
    r.nonzero_ram_bytes = 1ULL << 30;
    r.lower_bound_ms = 1074;
    r.work_unit = "pages written";
    r.migration_start_ms = 2000;
    r.migration_end_ms = 2000 + r.total_time_ms;
    for (double t = 100; t <= r.migration_end_ms + 2000; t += 250) {
        bool migrating = t > r.migration_start_ms && t <= r.migration_end_ms;
        r.timeline.push_back({t, migrating ? 40.0 / scale : 100.0});
        if (migrating) {
            r.throttle_timeline.push_back({t, r.throttle_pct});
        }
    }
    compute_guest_impact(r);
    r.min_vcpu_rate = 48.5;
    r.worst_pass_ms = 310 * scale;
    if (binary == "fork") {
        r.ring_full_per_s = 1.5 * rep;
        r.faults_per_s = 2000;
        r.ring_dirty_rate = 51234;
        r.kick_alls = 2;
        r.flushes = 9;
        r.differing_pages = 0;
    }
    return r;
}

std::vector<RunResult> synthetic_runs()
{
    std::vector<RunResult> runs;
    for (unsigned rep = 1; rep <= 2; ++rep) {
        runs.push_back(synthetic("steady", "stock", rep, 6.0 + rep));
        runs.push_back(synthetic("steady", "fork", rep, 1.0 + 0.1 * rep));
    }
    // A run that failed, with its reason.
    RunResult failed = synthetic("steady", "stock", 3, 30);
    failed.status = "timeout";
    failed.converged = false;
    failed.ram_equal = false;
    failed.error = "no convergence in 120 s";
    runs.push_back(failed);
    // A switchover scenario (load window) through libvirt, bursty.
    for (const char *b : {"stock", "fork"}) {
        RunResult r = synthetic("switch", b, 1, b[0] == 'f' ? 1 : 2);
        r.load_time_ms = b[0] == 'f' ? 12.5 : 40.25;
        r.load_flatviews = b[0] == 'f' ? 3 : 48;
        r.load_flushes = b[0] == 'f' ? 2 : 0;
        r.guest_downtime_ms = b[0] == 'f' ? 30 : 95;
        r.throttle_release_ms = b[0] == 'f' ? 800 : 5000;
        r.completed_throttle_pct = b[0] == 'f' ? 94 : 0;
        runs.push_back(r);
    }
    return runs;
}

// Compares produced with golden_dir/name, or writes it there when asked.
void expect_golden(const fs::path &produced, const std::string &name)
{
    const fs::path golden = golden_dir / name;
    if (std::getenv("MIGLAB_UPDATE_GOLDEN")) {
        fs::copy_file(produced, golden, fs::copy_options::overwrite_existing);
        return;
    }
    ASSERT_TRUE(fs::exists(golden)) << golden << " is missing";
    EXPECT_EQ(slurp(produced), slurp(golden))
        << name << " differs from " << golden
        << " (if the change is meant: MIGLAB_UPDATE_GOLDEN=1, then review)";
}

} // namespace

TEST(ReportGolden, CsvMarkdownAndSvgs)
{
    TempDir dir;
    Report rep(synthetic_runs());
    rep.write_csv(dir.path() / "results.csv");
    write_file(dir.path() / "results.md", rep.markdown("Machine: synthetic."));
    auto svgs = rep.write_svgs(dir.path());
    EXPECT_EQ(svgs.size(), 4u);
    expect_golden(dir.path() / "results.csv", "results.csv");
    expect_golden(dir.path() / "results.md", "results.md");
    for (const auto &f : svgs) {
        expect_golden(f, f.filename().string());
    }
}

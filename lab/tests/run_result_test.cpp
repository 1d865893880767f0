// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include "miglab/run_result.h"

using namespace miglab;

namespace {

// A guest that does 100 units/s for 2 s, then @during units/s for the
// @window_ms that the migration lasts, then 100 units/s again.
RunResult migrated_guest(double during, double window_ms)
{
    RunResult r;
    r.migration_start_ms = 2000;
    r.migration_end_ms = 2000 + window_ms;
    for (double t = 100; t <= 4000 + window_ms; t += 100) {
        bool migrating = t > r.migration_start_ms && t <= r.migration_end_ms;
        r.timeline.push_back({t, migrating ? during : 100.0});
    }
    compute_guest_impact(r);
    return r;
}

} // namespace

TEST(GuestImpact, FractionAndSecondsOfWorkLost)
{
    RunResult r = migrated_guest(25, 2000);
    EXPECT_DOUBLE_EQ(*r.baseline_rate, 100);
    EXPECT_DOUBLE_EQ(*r.perf_drop_ms, 2000);
    EXPECT_DOUBLE_EQ(*r.work_lost, 0.75);
    EXPECT_DOUBLE_EQ(*r.lost_work_s, 1.5);
    EXPECT_DOUBLE_EQ(*r.rate_during_ratio(), 0.25);
}

TEST(GuestImpact, AShortHardSlowdownLosesLessWorkThanALongMildOne)
{
    // 90% slower for 1 s vs 50% slower for 6 s: a larger fraction of the
    // window lost, less work lost.
    RunResult hard = migrated_guest(10, 1000);
    RunResult mild = migrated_guest(50, 6000);
    EXPECT_GT(*hard.work_lost, *mild.work_lost);
    EXPECT_LT(*hard.lost_work_s, *mild.lost_work_s);
    EXPECT_DOUBLE_EQ(*hard.lost_work_s, 0.9);
    EXPECT_DOUBLE_EQ(*mild.lost_work_s, 3.0);
}

TEST(GuestImpact, NoSamplesBeforeTheMigrationMeansNoFigures)
{
    RunResult r;
    r.migration_start_ms = 0;
    r.migration_end_ms = 1000;
    r.timeline.push_back({500, 10});
    compute_guest_impact(r);
    EXPECT_FALSE(r.work_lost.has_value());
    EXPECT_FALSE(r.lost_work_s.has_value());
}

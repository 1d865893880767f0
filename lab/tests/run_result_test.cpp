// SPDX-License-Identifier: GPL-2.0-or-later
#include <cmath>

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

TEST(GuestImpact, TheReaderIsMeasuredApartFromTheWriters)
{
    // Writers slowed to a quarter, the reader to 95% of its 400 pages/s.
    RunResult r;
    r.migration_start_ms = 2000;
    r.migration_end_ms = 4000;
    for (double t = 100; t <= 6000; t += 100) {
        bool migrating = t > r.migration_start_ms && t <= r.migration_end_ms;
        r.timeline.push_back({t, migrating ? 25.0 : 100.0});
        r.reader_timeline.push_back({t, migrating ? 380.0 : 400.0});
    }
    compute_guest_impact(r);
    EXPECT_DOUBLE_EQ(*r.rate_during_ratio(), 0.25);
    EXPECT_DOUBLE_EQ(*r.reader_baseline_rate, 400);
    EXPECT_DOUBLE_EQ(*r.reader_rate_ratio(), 0.95);
}

namespace {

// A migration from 2000 to 4000 ms; the reader at 400 pages/s before and
// after it, at half speed in its first second, at 90% from 3000 ms on.
RunResult reader_slowed_then_held()
{
    RunResult r;
    r.migration_start_ms = 2000;
    r.migration_end_ms = 4000;
    for (double t = 100; t <= 6000; t += 100) {
        bool migrating = t > r.migration_start_ms && t <= r.migration_end_ms;
        r.reader_timeline.push_back(
            {t, !migrating ? 400.0 : t <= 3000 ? 200.0 : 360.0});
    }
    return r;
}

} // namespace

TEST(GuestImpact, TheReaderWhileThrottledIsMeasuredApart)
{
    // The reader at half speed for the first second of the migration,
    // unthrottled, then at 90% once the throttle is on.
    RunResult r = reader_slowed_then_held();
    r.throttle_timeline = {{2500, 0}, {3000, 99}};
    compute_guest_impact(r);
    EXPECT_DOUBLE_EQ(*r.reader_rate_ratio(), 0.7);
    EXPECT_DOUBLE_EQ(*r.reader_ratio_throttled(), 0.9);
}

TEST(GuestImpact, TheReaderWhileADirtyLimitHoldsAVcpuIsMeasuredApart)
{
    // A dirty limit the user set: query-migrate reports no throttle, vCPU
    // 0 is held from 3000 ms on; the reader at half speed before, at 90%
    // from then.
    RunResult r = reader_slowed_then_held();
    r.throttle_timeline = {{2500, 0}, {3500, 0}};
    r.vcpu_limits = {{2500, 0, 9000, 256, 0}, {2500, 1, 10, 256, 0},
                     {3000, 0, 256, 256, 2}, {3000, 1, 10, 256, 0}};
    compute_guest_impact(r);
    EXPECT_DOUBLE_EQ(*r.reader_rate_ratio(), 0.7);
    EXPECT_DOUBLE_EQ(*r.reader_ratio_throttled(), 0.9);
}

TEST(VcpuLimits, RatesPerVcpuAndTheHeldVcpuAgainstItsLimit)
{
    RunResult r;
    // vCPU 0 held to 256 pages/s (1 MiB/s), vCPU 1 dirtying under it;
    // the first sample with vCPU 0's throttle still shows the rate of
    // the period before it acted (512), twice, and does not count
    r.vcpu_limits = {{500, 0, 512, 256, 0},       {500, 1, 10, 256, 0},
                     {750, 0, 512, 256, 990000},  {750, 1, 10, 256, 0},
                     {1000, 0, 512, 256, 990000}, {1000, 1, 10, 256, 0},
                     {1250, 0, 230, 256, 990000}, {1250, 1, 12, 256, 0},
                     {1500, 0, 256, 256, 980000}, {1500, 1, 14, 256, 0},
                     {2000, 0, 300, 256, 970000}, {2000, 1, 12, 256, 0}};
    compute_vcpu_limits(r);
    EXPECT_EQ(r.vcpu_dirty_rates, "0:2.00 1:0.05");
    EXPECT_DOUBLE_EQ(*r.limit_ratio, 1.0);
}

TEST(VcpuLimits, AThrottleLiftedAndSetAgainSkipsItsFirstRateAgain)
{
    RunResult r;
    r.vcpu_limits = {{500, 0, 9000, 256, 990000}, {1000, 0, 256, 256, 990000},
                     {1500, 0, 9000, 256, 0},     {2000, 0, 8000, 256, 990000},
                     {2500, 0, 512, 256, 990000}};
    compute_vcpu_limits(r);
    EXPECT_DOUBLE_EQ(*r.limit_ratio, 2.0);
}

TEST(VcpuLimits, NoLimitMeansNoFigures)
{
    RunResult r;
    compute_vcpu_limits(r);
    EXPECT_EQ(r.vcpu_dirty_rates, "");
    EXPECT_FALSE(r.limit_ratio.has_value());
}

TEST(GuestImpact, NoReaderMeansNoReaderFigures)
{
    RunResult r = migrated_guest(25, 2000);
    EXPECT_FALSE(r.reader_rate_ratio().has_value());
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

namespace {

// A bursty guest (1 s bursts, 2 s idle, on a guest clock that runs 500 ms
// behind the run's) migrated from 1000 to 7000 ms, with the throttle at
// @pct_in_burst during each burst and @pct_idle otherwise. The guest's
// lines arrive late while throttled, never early.
RunResult bursty_run(int pct_in_burst, int pct_idle, double idle_lag_ms)
{
    RunResult r;
    r.migration_start_ms = 1000;
    r.migration_end_ms = 7000;
    for (double t = 500; t < 8000; t += 100) {
        const double guest = t - 500;
        const bool burst = std::fmod(guest, 3000) < 1000;
        r.guest_clock.push_back({t + (burst ? 400 : 0), guest});
        if (t >= r.migration_start_ms && t < r.migration_end_ms) {
            // The throttle follows the phase idle_lag_ms late.
            const double seen = std::fmod(guest - idle_lag_ms + 3000, 3000);
            r.throttle_timeline.push_back(
                {t, seen < 1000 ? pct_in_burst : pct_idle});
        }
    }
    return r;
}

} // namespace

TEST(ThrottleRelease, TimeFromTheEndOfABurstUntilTheThrottleIsLow)
{
    RunResult r = bursty_run(90, 0, 700);
    compute_throttle_release(r, {1000, 2000});
    ASSERT_TRUE(r.throttle_release_ms.has_value());
    EXPECT_NEAR(*r.throttle_release_ms, 700, 100.1);
}

TEST(ThrottleRelease, AThrottleThatStaysUpCountsUntilTheMigrationEnds)
{
    RunResult r = bursty_run(90, 50, 0);
    compute_throttle_release(r, {1000, 2000});
    ASSERT_TRUE(r.throttle_release_ms.has_value());
    // The first burst end inside the migration is at 1500 ms (guest 1000).
    EXPECT_NEAR(*r.throttle_release_ms, 7000 - 1500, 100.1);
}

TEST(ThrottleRelease, OnlyForBurstyGuests)
{
    RunResult r = bursty_run(90, 0, 0);
    compute_throttle_release(r, {});
    EXPECT_FALSE(r.throttle_release_ms.has_value());
}

// A migration from 1 s to 11 s; estimates every second from 2 s. Before
// the first pass ends (t < 5 s) they do not count; after it, the fork
// expected 6, 5, 5, 4, 3, 2 s where 6, 5, 4, 3, 2, 1 s were left: errors
// 0%, 0%, 25%, 33%, 50%, 100%, median (the upper of the two middle ones)
// 33%.
TEST(Estimate, MedianRelativeErrorAfterTheFirstPass)
{
    RunResult r;
    r.converged = true;
    r.migration_start_ms = 1000;
    r.migration_end_ms = 11000;
    r.estimates = {{2000, 1000.0, false}, {3000, 1000.0, false},
                   {4000, 1000.0, false}, {5000, 6000.0, true},
                   {6000, 5000.0, true},  {7000, 5000.0, true},
                   {8000, 4000.0, true},  {9000, 3000.0, true},
                   {10000, 2000.0, true}};
    compute_estimate_error(r);
    ASSERT_TRUE(r.estimate_error_pct);
    EXPECT_NEAR(*r.estimate_error_pct, 100.0 / 3, 1e-9);
    EXPECT_FALSE(r.never_converge_ms);
}

// The same migration, which QEMU completed at 10.5 s; the harness saw it
// at 11 s. The time left counts to 10.5 s: 5.5, 4.5, 3.5, 2.5, 1.5 and
// 0.5 s after the first pass, against 6, 5, 5, 4, 3, 2 s expected:
// errors 9%, 11%, 43%, 60%, 100%, 300%, median (the upper) 60%.
TEST(Estimate, TimeLeftCountsToWhenQemuCompleted)
{
    RunResult r;
    r.converged = true;
    r.migration_start_ms = 1000;
    r.migration_end_ms = 11000;
    r.completed_ms = 10500;
    r.estimates = {{5000, 6000.0, true}, {6000, 5000.0, true},
                   {7000, 5000.0, true}, {8000, 4000.0, true},
                   {9000, 3000.0, true}, {10000, 2000.0, true}};
    compute_estimate_error(r);
    ASSERT_TRUE(r.estimate_error_pct);
    EXPECT_NEAR(*r.estimate_error_pct, 60, 1e-9);
    EXPECT_DOUBLE_EQ(r.time_left_ms(10000), 500);
}

TEST(Estimate, WillNotConvergeIsTimedFromTheMigrationsStart)
{
    RunResult r;
    r.migration_start_ms = 1000;
    r.migration_end_ms = 61000;
    r.estimates = {{1500, 9000.0, false}, {2500, std::nullopt, false},
                   {3000, std::nullopt, false}};
    compute_estimate_error(r);
    ASSERT_TRUE(r.never_converge_ms);
    EXPECT_DOUBLE_EQ(*r.never_converge_ms, 1500);
    // Not converged: no error to measure
    EXPECT_FALSE(r.estimate_error_pct);
}

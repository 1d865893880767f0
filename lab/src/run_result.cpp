// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/run_result.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace miglab {

void compute_guest_impact(RunResult &r)
{
    std::vector<double> before;
    for (const auto &s : r.timeline) {
        if (s.t_ms < r.migration_start_ms) {
            before.push_back(s.rate);
        }
    }
    if (before.empty()) {
        return;
    }
    std::nth_element(before.begin(), before.begin() + before.size() / 2,
                     before.end());
    double base = before[before.size() / 2];
    r.baseline_rate = base;
    if (base <= 0) {
        return;
    }
    double drop = 0, expected = 0, done = 0, prev_t = r.migration_start_ms;
    for (const auto &s : r.timeline) {
        if (s.t_ms <= r.migration_start_ms || s.t_ms > r.migration_end_ms) {
            continue;
        }
        double dt = s.t_ms - prev_t;
        prev_t = s.t_ms;
        if (s.rate < 0.5 * base) {
            drop += dt;
        }
        expected += base * dt;
        done += s.rate * dt;
    }
    r.perf_drop_ms = drop;
    double span = prev_t - r.migration_start_ms;
    if (span > 0) {
        r.rate_during = done / span;
    }
    r.work_lost = expected > 0 ? std::max(0.0, (expected - done) / expected)
                               : 0;
    r.lost_work_s = std::max(0.0, (expected - done) / base / 1000.0);
}

void compute_estimate_error(RunResult &r)
{
    std::vector<double> errors;
    for (const auto &e : r.estimates) {
        if (!e.expected_ms) {
            if (!r.never_converge_ms) {
                r.never_converge_ms = e.t_ms - r.migration_start_ms;
            }
            continue;
        }
        const double left = r.migration_end_ms - e.t_ms;
        if (r.converged && e.first_pass_done && left > 0) {
            errors.push_back(std::abs(*e.expected_ms - left) / left * 100);
        }
    }
    if (!errors.empty()) {
        std::nth_element(errors.begin(), errors.begin() + errors.size() / 2,
                         errors.end());
        r.estimate_error_pct = errors[errors.size() / 2];
    }
}

void compute_throttle_release(RunResult &r, const BurstSchedule &b)
{
    if (!b.bursty() || r.guest_clock.empty()) {
        return;
    }
    // A line reaches the console late while the guest is throttled, never
    // early: the smallest run-minus-guest time is the closest mapping.
    double offset = r.guest_clock.front().t_ms - r.guest_clock.front().guest_ms;
    for (const auto &c : r.guest_clock) {
        offset = std::min(offset, c.t_ms - c.guest_ms);
    }
    constexpr int released_pct = 10;
    const double cycle = b.burst_ms + b.idle_ms;
    double worst = 0;
    const double first = std::max(0.0, r.migration_start_ms - offset);
    for (double end = std::floor(first / cycle) * cycle + b.burst_ms;
         end + offset < r.migration_end_ms; end += cycle) {
        const double t = end + offset;
        if (t < r.migration_start_ms) {
            continue;
        }
        int pct_at_end = 0;
        std::optional<double> released;
        for (const auto &s : r.throttle_timeline) {
            if (s.t_ms <= t) {
                pct_at_end = s.pct;
            } else if (s.pct <= released_pct) {
                released = s.t_ms;
                break;
            }
        }
        if (pct_at_end <= released_pct) {
            continue;
        }
        worst = std::max(worst, released.value_or(r.migration_end_ms) - t);
    }
    r.throttle_release_ms = worst;
}

} // namespace miglab

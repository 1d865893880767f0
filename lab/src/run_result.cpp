// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/run_result.h"

#include <algorithm>

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

} // namespace miglab

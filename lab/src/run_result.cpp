// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/run_result.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

namespace miglab {

namespace {

// A timeline's median rate before the migration, and what it did while
// the migration ran.
struct TimelineImpact {
    double base = 0;
    double drop_ms = 0;  // time below half of base
    double expected = 0; // work at base rate over the migration
    double done = 0;     // work done over the migration
    double span_ms = 0;
};

std::optional<TimelineImpact> impact_of(const std::vector<ThroughputSample> &timeline,
                                        double start_ms, double end_ms)
{
    std::vector<double> before;
    for (const auto &s : timeline) {
        if (s.t_ms < start_ms) {
            before.push_back(s.rate);
        }
    }
    if (before.empty()) {
        return std::nullopt;
    }
    std::nth_element(before.begin(), before.begin() + before.size() / 2,
                     before.end());
    TimelineImpact im;
    im.base = before[before.size() / 2];
    double prev_t = start_ms;
    for (const auto &s : timeline) {
        if (s.t_ms <= start_ms || s.t_ms > end_ms) {
            continue;
        }
        double dt = s.t_ms - prev_t;
        prev_t = s.t_ms;
        if (s.rate < 0.5 * im.base) {
            im.drop_ms += dt;
        }
        im.expected += im.base * dt;
        im.done += s.rate * dt;
    }
    im.span_ms = prev_t - start_ms;
    return im;
}

double median(std::vector<double> v)
{
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// The throttle in force at t_ms: the last sample at or before it.
int throttle_at(const std::vector<ThrottleSample> &throttle, double t_ms)
{
    int pct = 0;
    for (const auto &s : throttle) {
        if (s.t_ms > t_ms) {
            break;
        }
        pct = s.pct;
    }
    return pct;
}

// The mean rate of a timeline over the samples where the throttle was on.
std::optional<double> rate_while_throttled(
    const std::vector<ThroughputSample> &timeline,
    const std::vector<ThrottleSample> &throttle, double start_ms,
    double end_ms)
{
    double prev_t = start_ms, done = 0, span = 0;
    for (const auto &s : timeline) {
        if (s.t_ms <= start_ms || s.t_ms > end_ms) {
            continue;
        }
        if (throttle_at(throttle, prev_t) > 0) {
            done += s.rate * (s.t_ms - prev_t);
            span += s.t_ms - prev_t;
        }
        prev_t = s.t_ms;
    }
    if (span <= 0) {
        return std::nullopt;
    }
    return done / span;
}

// What held the guest, by time: the throttle query-migrate reports, or,
// where it reports none (a dirty limit the user set), the highest throttle
// of a vCPU held by a dirty limit (any share of a period asleep counts).
std::vector<ThrottleSample> held_timeline(const RunResult &r)
{
    for (const auto &s : r.throttle_timeline) {
        if (s.pct > 0) {
            return r.throttle_timeline;
        }
    }
    std::map<double, int> held; // by sample time
    for (const auto &s : r.vcpu_limits) {
        int &pct = held[s.t_ms];
        pct = std::max(pct, static_cast<int>(std::ceil(s.ppm / 10000)));
    }
    std::vector<ThrottleSample> timeline;
    for (const auto &[t, pct] : held) {
        timeline.push_back({t, pct});
    }
    return timeline;
}

} // namespace

void compute_vcpu_limits(RunResult &r)
{
    std::map<int, std::vector<double>> rates;
    std::map<double, double> worst; // by sample time
    // query-vcpu-dirty-limit reports the rate of the last period that
    // ended: the first sample with a throttle shows the rate that made
    // it, measured before it acted. A vCPU's samples count against its
    // limit from its first other rate on, until its throttle is lifted.
    struct Held {
        bool throttled = false;
        bool measured = false;
        double first_rate = 0;
    };
    std::map<int, Held> held;
    for (const auto &s : r.vcpu_limits) {
        rates[s.cpu].push_back(s.rate);
        Held &h = held[s.cpu];
        if (s.ppm <= 0 || s.limit <= 0) {
            h = Held{};
            continue;
        }
        if (!h.throttled) {
            h.throttled = true;
            h.first_rate = s.rate;
        }
        h.measured = h.measured || s.rate != h.first_rate;
        if (h.measured) {
            double &w = worst[s.t_ms];
            w = std::max(w, s.rate / s.limit);
        }
    }
    r.vcpu_dirty_rates.clear();
    for (const auto &[cpu, v] : rates) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%s%d:%.2f",
                      r.vcpu_dirty_rates.empty() ? "" : " ", cpu,
                      median(v) / 256);
        r.vcpu_dirty_rates += buf;
    }
    std::vector<double> ratios;
    for (const auto &[t, w] : worst) {
        ratios.push_back(w);
    }
    if (!ratios.empty()) {
        r.limit_ratio = median(ratios);
    }
}

void compute_guest_impact(RunResult &r)
{
    if (auto rd = impact_of(r.reader_timeline, r.migration_start_ms,
                            r.migration_end_ms)) {
        r.reader_baseline_rate = rd->base;
        if (rd->base > 0 && rd->span_ms > 0) {
            r.reader_rate_during = rd->done / rd->span_ms;
        }
        r.reader_rate_throttled =
            rate_while_throttled(r.reader_timeline, held_timeline(r),
                                 r.migration_start_ms, r.migration_end_ms);
    }
    auto im = impact_of(r.timeline, r.migration_start_ms, r.migration_end_ms);
    if (!im) {
        return;
    }
    r.baseline_rate = im->base;
    if (im->base <= 0) {
        return;
    }
    r.perf_drop_ms = im->drop_ms;
    if (im->span_ms > 0) {
        r.rate_during = im->done / im->span_ms;
    }
    r.work_lost = im->expected > 0
                      ? std::max(0.0, (im->expected - im->done) / im->expected)
                      : 0;
    r.lost_work_s = std::max(0.0, (im->expected - im->done) / im->base / 1000.0);
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
        const double left = r.time_left_ms(e.t_ms);
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

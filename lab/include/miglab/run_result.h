// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace miglab {

// One guest-throughput sample: time since the run began, guest work/s.
struct ThroughputSample {
    double t_ms;
    double rate;
};

// The auto-converge throttle at a time since the run began.
struct ThrottleSample {
    double t_ms;
    int pct;
};

// The fork's convergence estimate (query-migrate x-convergence) at a time
// since the run began: the time it expects the migration to take from
// then (none when it says it will not converge), and whether the first
// pass over RAM was done.
struct EstimateSample {
    double t_ms;
    std::optional<double> expected_ms;
    bool first_pass_done;
};

// One vCPU's entry of query-vcpu-dirty-limit at a time since the run
// began: its dirty rate and limit in pages/s and the throttle holding it
// (ppm; stock does not say: taken as held).
struct VcpuLimitSample {
    double t_ms;
    int cpu;
    double rate;
    double limit;
    double ppm;
};

// A reading of the guest's own clock (guest_ms) at a time since the run
// began (t_ms).
struct ClockSample {
    double t_ms;
    double guest_ms;
};

// A guest that alternates between writing for burst_ms and idling for
// idle_ms, its cycles counted on its own clock from 0.
struct BurstSchedule {
    double burst_ms = 0;
    double idle_ms = 0;
    bool bursty() const { return burst_ms > 0 && idle_ms > 0; }
};

// Everything one migration run measured. Optional fields are "n/a" where a
// binary or guest cannot report them.
struct RunResult {
    std::string scenario;
    std::string binary; // "stock" or "fork"
    unsigned rep = 0;
    std::string status; // completed, failed, cancelled, timeout, error
    bool converged = false;
    bool ram_equal = false;
    std::string error;  // why a run failed, for the report
    double total_time_ms = 0;
    double downtime_ms = 0;
    double setup_time_ms = 0;
    uint64_t transferred_bytes = 0;
    uint64_t dirty_sync_count = 0;
    int throttle_pct = 0;
    uint64_t nonzero_ram_bytes = 0;
    double lower_bound_ms = 0; // non-zero RAM / bandwidth
    std::optional<double> perf_drop_ms; // time below 50% of pre-migration
    std::optional<double> work_lost;    // fraction of the expected work
    // The work the guest did not do while migrating, in seconds of its
    // pre-migration throughput: what a user of the guest loses. (The
    // fraction above says how hard the guest was slowed, not for how long.)
    std::optional<double> lost_work_s;
    std::optional<double> baseline_rate;
    // The slowest worker vCPU's work/s before migration (per-vCPU guests).
    std::optional<double> min_vcpu_rate;
    std::optional<double> worst_pass_ms; // slowest guest pass while migrating
    std::optional<double> rate_during;   // mean guest work/s while migrating
    // KVM only: ring-full exits (KVM_EXIT_DIRTY_RING_FULL, counted from the
    // source's kvm_dirty_ring_full trace points) and guest page faults KVM
    // took (query-stats pf_taken, all vCPUs), per second while migrating.
    std::optional<double> ring_full_per_s;
    std::optional<double> faults_per_s;
    // Fork with the dirty ring (x-query-dirty-ring): median of the rings'
    // total dirty rate (pages/s) sampled while migrating, and the kicks of
    // all vCPUs and flushes during the migration.
    std::optional<double> ring_dirty_rate;
    std::optional<double> kick_alls;
    std::optional<double> flushes;
    // The destination's non-iterable load (LoadWindow): ms, flat views
    // rendered and the fork's early commits within it.
    std::optional<double> load_time_ms;
    std::optional<double> load_flatviews;
    std::optional<double> load_flushes;
    // Pages that differ between source and destination after a completed
    // migration (0 when equal).
    std::optional<double> differing_pages;
    // Bursty guests: the longest time from the end of a burst during the
    // migration until the throttle was 10% or less.
    std::optional<double> throttle_release_ms;
    // Through libvirt (migbench --via libvirt): the throttle the
    // destination's `virsh domjobinfo --completed` reports (0: no line).
    std::optional<double> completed_throttle_pct;
    // The fork's convergence estimate: the median of |expected - actual|
    // / actual time left over the samples after the first pass (completed
    // runs), and when it first said the migration will not converge.
    std::optional<double> estimate_error_pct;
    std::optional<double> never_converge_ms;
    // CPU seconds of the source's migration thread and of its multifd
    // sender threads during the migration (sampled: see ThreadCpu).
    std::optional<double> migration_cpu_s;
    std::optional<double> multifd_cpu_s;
    // ... and of its iothreads ("IO <id>": the balloon's, which handles
    // free page hints).
    std::optional<double> iothread_cpu_s;
    // From the source's stop (run state finish-migrate) to the end of the
    // destination's load (it leaves inmigrate), from both trace logs: the
    // time the guest cannot run. QEMU's downtime ends when the source has
    // sent everything, which a destination still loading is behind.
    std::optional<double> guest_downtime_ms;
    double migration_start_ms = 0, migration_end_ms = 0;
    // When the source completed the migration, by QEMU's clock: when the
    // migrate command was sent plus its total-time. migration_end_ms is
    // when the harness saw it, up to a poll later and after the
    // destination's load; the estimates' time left counts to this.
    std::optional<double> completed_ms;
    std::vector<ThroughputSample> timeline;
    // The readers' pages read per second, for guests that run readers.
    std::vector<ThroughputSample> reader_timeline;
    std::optional<double> reader_baseline_rate, reader_rate_during;
    // ... while the throttle was on (cpu-throttle-percentage > 0)
    std::optional<double> reader_rate_throttled;
    // query-vcpu-dirty-limit every ~500 ms while migrating, and from it:
    // each limited vCPU's median dirty rate ("cpu:MiB/s ..."), and the
    // median over the samples of the highest rate / limit of a vCPU its
    // throttle held.
    std::vector<VcpuLimitSample> vcpu_limits;
    std::string vcpu_dirty_rates;
    std::optional<double> limit_ratio;
    std::vector<ThrottleSample> throttle_timeline; // while migrating
    std::vector<ClockSample> guest_clock;
    std::vector<EstimateSample> estimates; // every ~500 ms while migrating
    std::string work_unit; // what the timeline counts, per second

    double migration_s() const
    {
        return (migration_end_ms - migration_start_ms) / 1000.0;
    }
    // The time actually left at @t_ms (since the run began).
    double time_left_ms(double t_ms) const
    {
        return completed_ms.value_or(migration_end_ms) - t_ms;
    }
    // Guest throughput while migrating as a fraction of before.
    std::optional<double> rate_during_ratio() const
    {
        if (!rate_during || !baseline_rate || *baseline_rate <= 0) {
            return std::nullopt;
        }
        return *rate_during / *baseline_rate;
    }
    // The readers' throughput while migrating as a fraction of before.
    std::optional<double> reader_rate_ratio() const
    {
        if (!reader_rate_during || !reader_baseline_rate ||
            *reader_baseline_rate <= 0) {
            return std::nullopt;
        }
        return *reader_rate_during / *reader_baseline_rate;
    }
    // ... and while the throttle was on.
    std::optional<double> reader_ratio_throttled() const
    {
        if (!reader_rate_throttled || !reader_baseline_rate ||
            *reader_baseline_rate <= 0) {
            return std::nullopt;
        }
        return *reader_rate_throttled / *reader_baseline_rate;
    }
    double efficiency() const
    {
        return total_time_ms > 0 ? lower_bound_ms / total_time_ms : 0;
    }
};

// estimate_error_pct and never_converge_ms from estimates.
void compute_estimate_error(RunResult &r);

// Perf-drop duration and work lost (fraction and seconds) over [start, end]
// of a timeline, against the median rate before start. Fills the optional
// fields of r.
void compute_guest_impact(RunResult &r);

// vcpu_dirty_rates and limit_ratio from vcpu_limits.
void compute_vcpu_limits(RunResult &r);

// throttle_release_ms of a bursty guest, from its clock samples (the
// least delayed one maps guest time to run time) and the throttle
// timeline. Leaves it unset for a guest that is not bursty or that
// reported no clock.
void compute_throttle_release(RunResult &r, const BurstSchedule &b);

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "miglab/guest_vm.h"
#include "miglab/qmp.h"

namespace miglab {

// How the lab sees a guest's progress, whatever the guest kind: a guest
// that prints on its console and one that keeps counters in its memory
// both turn into "work done so far" read from the running VM.
class GuestProbe {
public:
    virtual ~GuestProbe() = default;
    // Work units done so far (monotonic while the guest runs), or nullopt
    // when this guest reports none.
    virtual std::optional<double> work_done(GuestVm &vm) = 0;
    // A name for the unit in reports ("passes", "pages").
    virtual std::string unit() const = 0;
    // The slowest pass over the working set seen since the last call to
    // reset_worst_pass(), in microseconds, when the guest reports it.
    virtual std::optional<double> worst_pass_us() const { return {}; }
    virtual void reset_worst_pass() {}
    // Work done so far by each worker vCPU, as of the last work_done(),
    // for guests that count per vCPU (empty otherwise).
    virtual std::vector<double> per_vcpu_work() const { return {}; }
    // The guest's own clock, ms, as of the last work_done(), for guests
    // that report it (bursty guests schedule their phases on it).
    virtual std::optional<double> guest_clock_ms() const { return {}; }
    // Pages the guest's readers read so far, as of the last work_done(),
    // for guests that run readers (nullopt otherwise).
    virtual std::optional<double> reader_work() const { return {}; }
};

// No progress reporting (the idle guest).
class NoProbe : public GuestProbe {
public:
    std::optional<double> work_done(GuestVm &) override { return {}; }
    std::string unit() const override { return ""; }
};

// QEMU's boot-block guest: the byte at 1 MiB counts passes modulo 256;
// sampled often enough, the wraps are unrolled here.
class BootBlockProbe : public GuestProbe {
public:
    std::optional<double> work_done(GuestVm &vm) override;
    std::string unit() const override { return "passes"; }

private:
    int last_ = -1;
    double total_ = 0;
};

// The lab's Linux guest: miglab-stress prints
// "MIGLAB t_ms=.. written=.. read=.. worst_pass_us=.." every 100 ms on the
// serial console; work is pages written, read from the console file.
class StressConsoleProbe : public GuestProbe {
public:
    std::optional<double> work_done(GuestVm &vm) override;
    std::string unit() const override { return "pages written"; }
    // Pages read by the reader thread so far.
    double pages_read() const { return read_; }
    // ... once the reader has read any (miglab_reader=1).
    std::optional<double> reader_work() const override
    {
        return read_ > 0 ? std::optional<double>(read_) : std::nullopt;
    }
    std::optional<double> worst_pass_us() const override
    {
        return worst_pass_us_;
    }
    void reset_worst_pass() override { worst_pass_us_ = 0; }
    // t_ms of the last report line read.
    std::optional<double> guest_clock_ms() const override { return t_ms_; }

private:
    std::optional<double> t_ms_;
    std::string pending_;
    long long offset_ = 0;
    std::optional<double> written_;
    double read_ = 0;
    double worst_pass_us_ = 0;
};

// Waits (polling every period, at most timeout) until the guest reports
// work and that work grows: the guest runs its workload. Whether it did.
bool guest_makes_progress(GuestProbe &probe, GuestVm &vm, Millis timeout,
                          Millis period = Millis(200));

} // namespace miglab

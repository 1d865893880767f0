// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "miglab/bench_run.h"
#include "miglab/fault_relay.h"
#include "miglab/guest_probe.h"
#include "miglab/scenario.h"
#include "miglab/temp_dir.h"
#include "miglab/vm_pair.h"

namespace miglab {

// What goes wrong in a faulted migration (migfault, docs/lab.md#migfault).
enum class Fault {
    kill_destination, // SIGKILL to the destination QEMU
    cut,              // the link resets (FaultRelay::cut_after)
    stall,            // the link stops forwarding; migrate_cancel 2 s later
                      // (yank out of band when the monitor is blocked)
    cancel,           // migrate_cancel
    none,             // no fault: the soak's healthy migrations
};

const char *fault_name(Fault f);
// The fault of that name, or nullopt.
std::optional<Fault> fault_named(const std::string &name);

// One faulted migration and what followed.
struct FaultOutcome {
    unsigned cycle = 0;
    Fault fault = Fault::cut;
    uint64_t point = 0;    // bytes into the stream where it was to strike
    std::string phase;     // where it struck: bulk, iterative, switchover;
                           // "none" when the migration ended first
    std::string status;    // the faulted migration's end
    // migrate_cancel got no answer (the source's monitor was blocked) and
    // the migration was ended with `yank` out of band.
    bool yanked = false;
    // Left paused with everything sent when its destination failed, and
    // resumed with `cont`, as management software does.
    bool resumed = false;
    bool source_running = false;
    bool guest_progresses = false;
    std::string retry;     // the next migration's end (over a healthy link)
    bool ram_equal = false;
    std::string error;     // what went wrong, empty when all is well
    // Whether the fault struck and everything after it was right.
    bool struck() const { return phase != "none"; }
    bool ok() const
    {
        return error.empty() && source_running && guest_progresses &&
               retry == "completed" && ram_equal;
    }
};

// Faults at random points of a scenario's migration, one after another on
// one guest: each cycle starts a migration through a FaultRelay, strikes
// at a point drawn from [0, the stream's size) (the size of the first,
// healthy migration), then checks that the source runs and its guest makes
// progress, migrates again over a healthy link to a fresh destination and
// compares RAM (and what the guest kind checks). The destination then
// becomes the source of the next cycle: the guest is booted once.
class FaultCampaign {
public:
    FaultCampaign(const Scenario &s, const Binary &binary,
                  const LabPaths &paths, uint64_t seed);
    ~FaultCampaign();

    // The first, healthy migration: its stream size bounds the points.
    // Its outcome (fault: none) is returned for the record.
    uint64_t calibrate();
    // in_switchover: the migration pauses before the switchover
    // (pause-before-switchover), and the point is drawn from what is left
    // to send then (the final pass and the devices' state): the fault
    // strikes while the source is stopped and sends its last bytes.
    FaultOutcome run(Fault f, unsigned cycle, bool in_switchover = false);
    // A migration with no fault (the soak): to a fresh destination, RAM
    // compared, the destination then the source; its outcome has
    // phase "none" and what the retry checks say.
    FaultOutcome healthy(unsigned cycle);

private:
    // Waits until the stream has passed point bytes beyond base, or the
    // migration has ended; the phase it was in then ("none": it ended
    // first).
    std::string wait_for_point(uint64_t base, uint64_t point);
    std::string phase_now();
    // The fault itself, once its point has passed.
    void strike(Fault f, FaultOutcome &o);
    // Runs to the pause before the switchover, draws the point in what is
    // left, continues and strikes; the phase ("switchover", or "none").
    std::string strike_in_switchover(Fault f, FaultOutcome &o);
    // migrate_cancel, or `yank` out of band when the monitor does not
    // answer; whether it took the yank. Returns once the migration ended.
    bool cancel_or_yank();
    void wait_ended();
    // After an error in a cycle: no migration running, the source running,
    // a fresh destination; throws when that cannot be had (the campaign
    // cannot go on).
    void recover();
    // The healthy migration after a fault, with the integrity check.
    void retry(FaultOutcome &o);

    const Scenario &s_;
    TempDir dir_;
    FaultRelay relay_;
    VmPair pair_;
    std::unique_ptr<GuestProbe> probe_;
    std::mt19937_64 rng_;
    uint64_t stream_bytes_ = 0;
};

// The CSV of a campaign's outcomes (one row each) and its summary table
// (per fault: points, struck, and each check's count).
void write_fault_csv(std::ostream &o, const std::vector<FaultOutcome> &rows);
void write_fault_summary(std::ostream &o, const std::vector<FaultOutcome> &rows);
// The soak's summary: migrations, completed, RAM equal.
void write_soak_summary(std::ostream &o, const std::vector<FaultOutcome> &rows);

} // namespace miglab

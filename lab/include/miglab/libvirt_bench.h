// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <optional>
#include <string>

#include "miglab/bench_run.h"
#include "miglab/libvirt.h"
#include "miglab/temp_dir.h"

namespace miglab {

// migbench --via libvirt: each migration of a scenario goes through libvirt
// as a user's would. The guest is a libvirt domain of daemon "a" whose
// <emulator> is the binary under test; speed and downtime are set with
// virsh migrate-setspeed and migrate-setmaxdowntime, and `virsh migrate
// --live --p2p [--auto-converge]` moves it to daemon "b"
// (migrate_via_virsh). QEMU's own figures (total time, downtime, bytes)
// come from the source's completed query-migrate, as migbench's direct
// runs take them, so both can be compared; the throttle is what `virsh
// domjobinfo` reported while it ran and, after it, on the destination
// (--completed).
class LibvirtBench {
public:
    explicit LibvirtBench(LabPaths paths);

    // Why scenario s cannot be run through virsh (a setting libvirt 9.0's
    // virsh cannot express, or a guest kind without a libvirt domain), or
    // nullopt.
    static std::optional<std::string> unsupported(const Scenario &s);

    RunResult run_once(const Scenario &s, const Binary &b, unsigned rep);

private:
    LabPaths paths_;
    LibvirtDaemon a_{"a"};
    LibvirtDaemon b_{"b"};
    TempDir dir_{"migbench-virsh"};
};

} // namespace miglab

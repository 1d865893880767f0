// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <map>
#include <vector>
#include <sys/types.h>

namespace miglab {

class QemuProcess;

// Gives some vCPUs a host core of their own, for a scenario's
// "guest.host_vcpu_cores" ({"1": 1}: vCPU 1 alone on host core 1). Every
// thread of the QEMU processes it is given runs on the other cores (the
// threads they start later, such as the migration's, inherit that), and
// each listed vCPU's thread on its core alone: on a host with fewer cores
// than busy threads, what a vCPU loses to the migration's CPU use apart
// from what it loses to its throttle.
class HostPinning {
public:
    // std::runtime_error if this host lacks a listed core, or the listed
    // cores leave none for the rest.
    explicit HostPinning(std::map<unsigned, unsigned> vcpu_cores);
    // Every thread of pid, now, off the listed cores.
    void keep_off(pid_t pid) const;
    // Each listed vCPU's thread (query-cpus-fast) on its core, after
    // keep_off(vm.pid()). std::runtime_error for a vCPU vm does not have.
    void pin_vcpus(QemuProcess &vm) const;

    // The cores of a host with ncores that the listed ones leave, in order
    // (std::runtime_error as the constructor's).
    static std::vector<unsigned> others(unsigned ncores,
                                        const std::map<unsigned, unsigned> &vcpu_cores);

private:
    std::map<unsigned, unsigned> vcpu_cores_;
    std::vector<unsigned> others_;
};

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/host_pinning.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <thread>

#include "miglab/qemu_process.h"

namespace miglab {

namespace {

void set_affinity(pid_t tid, const std::vector<unsigned> &cores)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c : cores) {
        CPU_SET(c, &set);
    }
    if (::sched_setaffinity(tid, sizeof(set), &set) != 0 && errno != ESRCH) {
        throw std::runtime_error("cannot set the host cores of thread " +
                                 std::to_string(tid) + ": " +
                                 std::strerror(errno));
    }
}

} // namespace

std::vector<unsigned> HostPinning::others(unsigned ncores,
                                          const std::map<unsigned, unsigned> &vcpu_cores)
{
    std::set<unsigned> listed;
    for (const auto &[vcpu, core] : vcpu_cores) {
        if (core >= ncores) {
            throw std::runtime_error("vCPU " + std::to_string(vcpu) +
                                     " is to have host core " +
                                     std::to_string(core) + ", but this host has " +
                                     std::to_string(ncores) + " cores");
        }
        if (!listed.insert(core).second) {
            throw std::runtime_error("host core " + std::to_string(core) +
                                     " is listed for two vCPUs");
        }
    }
    std::vector<unsigned> rest;
    for (unsigned c = 0; c < ncores; ++c) {
        if (!listed.count(c)) {
            rest.push_back(c);
        }
    }
    if (rest.empty()) {
        throw std::runtime_error("the vCPUs' own host cores leave none for "
                                 "QEMU's other threads (this host has " +
                                 std::to_string(ncores) + ")");
    }
    return rest;
}

HostPinning::HostPinning(std::map<unsigned, unsigned> vcpu_cores)
    : vcpu_cores_(std::move(vcpu_cores)),
      others_(others(std::thread::hardware_concurrency(), vcpu_cores_))
{
}

void HostPinning::keep_off(pid_t pid) const
{
    const std::filesystem::path task = "/proc/" + std::to_string(pid) + "/task";
    for (const auto &e : std::filesystem::directory_iterator(task)) {
        set_affinity(std::stoi(e.path().filename().string()), others_);
    }
}

void HostPinning::pin_vcpus(QemuProcess &vm) const
{
    const Json cpus = vm.execute("query-cpus-fast");
    for (const auto &[vcpu, core] : vcpu_cores_) {
        bool found = false;
        for (const auto &c : cpus) {
            if (c.value("cpu-index", -1) == static_cast<int>(vcpu)) {
                set_affinity(c.at("thread-id").get<pid_t>(), {core});
                found = true;
            }
        }
        if (!found) {
            throw std::runtime_error(vm.name() + " has no vCPU " +
                                     std::to_string(vcpu) + " to give host core " +
                                     std::to_string(core));
        }
    }
}

} // namespace miglab

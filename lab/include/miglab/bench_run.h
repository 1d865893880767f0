// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <string>

#include "miglab/bare_guest.h"
#include "miglab/ram_hash.h"
#include "miglab/run_result.h"
#include "miglab/scenario.h"

namespace miglab {

struct Binary {
    std::string name; // "stock" or "fork"
    std::filesystem::path path;
};

// One measured migration of a scenario's guest with one binary: baseline
// guest throughput, the migration with throughput sampled on the source,
// metrics from query-migrate, then the RAM-hash integrity check (a
// mismatch makes the run an error that names the first differing page).

// The Linux guest's kernel command line: serial console, and each stress
// setting as miglab_<key>=<value> (no dots: the kernel would take a
// dotted word for a module parameter), then kernel_args (guest.kernel_args).
std::string linux_guest_cmdline(const Json &stress,
                                const std::string &kernel_args = "");

// QEMU's own figures from a query-migrate answer: total, down and set-up
// time, bytes sent, dirty syncs.
void fill_from_query_migrate(RunResult &r, const Json &info);

// The source's non-zero RAM and the lower bound it sets at bandwidth
// (bytes/s); with a destination digest, whether the RAM is equal: a
// difference makes the run an error that names the first differing page.
void record_ram(RunResult &r, const RamDigest &src, const RamDigest *dst,
                uint64_t bandwidth);

// A scenario's guest on the lab's PC machine: memory, vCPUs, NUMA nodes,
// devices, trace events and the guest kind's own arguments (files it
// needs are written into dir).
std::vector<std::string> scenario_vm_args(const Scenario &s,
                                          const LabPaths &paths,
                                          const std::filesystem::path &dir);

RunResult run_once(const Scenario &scenario, const Binary &binary,
                   unsigned rep, const LabPaths &paths);

} // namespace miglab

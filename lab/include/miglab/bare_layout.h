// SPDX-License-Identifier: GPL-2.0-or-later
//
// The bare stress guest's contract with the lab: where its status page
// sits in guest-physical memory, what each field holds, and how guest
// memory is laid out. Included by the guest (freestanding C++ and its
// boot.S) and by the lab, so they cannot drift apart. All fields are little-endian uint64_t.
//
// Guest-physical map (identity-mapped, 2 MiB pages, 0-4 GiB):
//   0x1000-0x6fff  page tables (PML4, PDPT, 4 page directories)
//   0x8000         AP start-up trampoline (SIPI vector 0x08)
//   0x9000         status page (BareStatus), written by every vCPU
//   0x100000       the guest's 64-bit code and data
//   0x200000       per-vCPU stacks, 64 KiB each (ring 0 below ring 3)
//   0x400000       working sets: vCPU i owns [ws_base + i * ws, +ws)
//
// Every page a writer touches holds, from offset 0:
//   uint64_t stamp = (vcpu << 48) | (write sequence number & 0xffffffffffff)
//   uint64_t check = stamp ^ page_gpa ^ bare_pattern_magic
// so a page that arrived torn, misplaced or half-written is recognised
// without knowing when it was written. Untouched pages stay zero.
#pragma once

/* What the guest's assembly (boot.S) needs, as plain macros; C++ code
   uses the constants below, defined from them. */
#define MIGLAB_BARE_STACK_BASE 0x200000
#define MIGLAB_BARE_STACK_SIZE 0x10000
/* Ring-0 stack top, from the start of a vCPU's stack block. */
#define MIGLAB_BARE_RING0_STACK 0x8000
#define MIGLAB_BARE_MAX_CPUS 32

#ifndef __ASSEMBLER__

#include <stdint.h>

namespace miglab::bare {

constexpr uint64_t status_gpa = 0x9000;
constexpr uint64_t ws_base = 0x400000;
constexpr uint64_t stack_base = MIGLAB_BARE_STACK_BASE;
constexpr uint64_t stack_size = MIGLAB_BARE_STACK_SIZE;
constexpr uint64_t ring0_stack_top = MIGLAB_BARE_RING0_STACK;
constexpr unsigned max_cpus = MIGLAB_BARE_MAX_CPUS;
constexpr uint64_t status_magic = 0x455241424c47494dULL; // "MIGLBARE"
constexpr uint64_t status_version = 2;
constexpr uint64_t bare_pattern_magic = 0x5a5a0f0f3c3cc3c3ULL;
// The fw_cfg file the lab writes the configuration string to.
constexpr const char *config_file = "opt/miglab/bare";

enum class Role : uint64_t { none = 0, writer = 1, reader = 2 };

enum class State : uint64_t {
    booting = 0,
    running = 1,  // every vCPU started has entered ring 3
    error = 2,    // bad configuration: see BareStatus::message
    fault = 3,    // an exception reached ring 0: see fault_* fields
};

// One vCPU's counters, updated by its ring-3 loop at least every
// millisecond of work (64 pages when unthrottled).
struct BareCpu {
    uint64_t role;         // Role
    uint64_t passes;       // completed sweeps over the (cold part of the) set
    uint64_t pages;        // pages written (writer) or read (reader)
    uint64_t tsc;          // TSC at the last update
    uint64_t rate;         // target pages/s, 0 = as fast as possible
    uint64_t region_gpa;   // its working set
    uint64_t region_pages;
    uint64_t in_ring3;     // 1 once it runs its loop in ring 3
};
static_assert(sizeof(BareCpu) == 64);

struct BareStatus {
    uint64_t magic;        // status_magic once the guest has booted
    uint64_t version;      // status_version
    uint64_t state;        // State
    uint64_t cpus;         // vCPUs the machine has (fw_cfg)
    uint64_t cpus_in_ring3;
    uint64_t tsc_khz;      // calibrated against the PIT
    uint64_t ws_pages;     // per vCPU
    uint64_t hot_pages;    // hot part of each writer's set (0 = uniform)
    uint64_t hot_share;    // % of writes that go to the hot part
    uint64_t fault_vector;
    uint64_t fault_error;
    uint64_t fault_rip;
    uint64_t fault_cr2;
    uint64_t fault_cpu;
    // Bursts: writers write for burst_ms, then wait for idle_ms, the
    // cycles aligned on multiples of (burst_ms + idle_ms) of the TSC;
    // 0 and 0: always writing.
    uint64_t burst_ms;
    uint64_t idle_ms;
    char message[128];     // NUL-terminated reason when state is error
    BareCpu cpu[max_cpus];
};
static_assert(sizeof(BareStatus) <= 4096);

} // namespace miglab::bare

#endif // __ASSEMBLER__

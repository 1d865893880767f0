// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "miglab/guest_vm.h"

namespace miglab {

// A guest-physical range of RAM.
struct RamRange {
    uint64_t gpa;
    uint64_t size;
};

// Where an x86 PC's RAM sits in guest-physical space: below the PCI hole
// (3 GiB on i440fx, 2 GiB on q35 once RAM reaches the hole) and the rest
// from 4 GiB.
std::vector<RamRange> x86_ram_ranges(uint64_t ram_bytes, bool q35);

// One hash per 4 KiB page of guest RAM, read with pmemsave in chunks.
class RamDigest {
public:
    static constexpr uint64_t page_size = 4096;

    // Reads the RAM layout from QEMU (memory size, machine type), then
    // the RAM with one pmemsave per chunk of chunk_bytes. Bigger chunks
    // mean fewer commands where each costs a round trip (virsh).
    static RamDigest of(GuestVm &vm, const std::filesystem::path &scratch,
                        uint64_t chunk_bytes = 64ULL << 20);
    // A digest of known page hashes, one per page of ranges in order.
    RamDigest(std::vector<RamRange> ranges, std::vector<uint64_t> hashes);

    // The guest-physical address of the first page that differs, if any.
    // When one side has more RAM and the pages both have are equal, that
    // is the first page past the smaller side's RAM.
    std::optional<uint64_t> first_difference(const RamDigest &other) const;
    // How many pages differ (all of them when the sizes differ).
    uint64_t count_differences(const RamDigest &other) const;
    uint64_t pages() const { return hashes_.size(); }
    // Pages that are not all zero: what a migration must really send.
    uint64_t nonzero_pages() const;

private:
    RamDigest() = default;
    std::vector<RamRange> ranges_;
    std::vector<uint64_t> hashes_;
};

} // namespace miglab

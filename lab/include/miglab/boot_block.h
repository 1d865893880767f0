// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace miglab {

// QEMU's own migration-test guest: a boot sector that increments the
// first byte of every page between 1 MiB and 100 MiB, forever. Taken from
// the QEMU tree we build (tests/qtest/migration/i386/a-b-bootblock.h) at
// run time, never copied into this repository. A dirtying guest that
// boots in seconds, for tests that need memory being written.
class BootBlockGuest {
public:
    // Writes the boot sector into dir; qemu_src is the QEMU source tree.
    BootBlockGuest(const std::filesystem::path &qemu_src,
                   const std::filesystem::path &dir);
    // The command-line arguments that boot it.
    std::vector<std::string> args() const;
    static constexpr unsigned long long first_byte = 1ULL << 20;
    static constexpr unsigned long long end = 100ULL << 20;

private:
    std::filesystem::path image_;
};

} // namespace miglab

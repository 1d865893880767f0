// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "miglab/qemu_process.h"
#include "miglab/ram_hash.h"
#include "miglab/vm_pair.h"

namespace miglab::test {

inline std::filesystem::path env_path(const char *var, const char *fallback)
{
    const char *v = std::getenv(var);
    return v && *v ? std::filesystem::path(v) : std::filesystem::path(fallback);
}

inline std::filesystem::path qemu_binary()
{
    return env_path("MIGLAB_QEMU", MIGLAB_DEFAULT_QEMU);
}

inline std::filesystem::path qemu_source()
{
    return env_path("MIGLAB_QEMU_SRC", MIGLAB_DEFAULT_QEMU_SRC);
}

// The lab's Linux guest (tools/build-guest).
inline std::filesystem::path guest_dir()
{
    return env_path("MIGLAB_GUEST_DIR", MIGLAB_DEFAULT_GUEST_DIR);
}

// A small TCG machine with no default devices: the base of every test VM.
inline std::vector<std::string> tcg_machine(const std::string &memory)
{
    return pc_machine_args("tcg", memory);
}

// Whether this machine can run KVM guests (/dev/kvm usable).
inline bool kvm_usable()
{
    return ::access("/dev/kvm", R_OK | W_OK) == 0;
}

// After a completed migration (source postmigrate, destination paused):
// every page of guest RAM hashes the same on both sides.
inline void expect_equal_ram(VmPair &pair, const std::filesystem::path &scratch)
{
    ASSERT_EQ(pair.source().run_state(), "postmigrate");
    ASSERT_EQ(pair.destination().run_state(), "paused");
    RamDigest src = RamDigest::of(pair.source(), scratch);
    RamDigest dst = RamDigest::of(pair.destination(), scratch);
    auto diff = src.first_difference(dst);
    EXPECT_FALSE(diff.has_value())
        << "RAM differs after migration; first differing page at 0x"
        << std::hex << diff.value_or(0);
    EXPECT_GT(src.pages(), 0u);
}

} // namespace miglab::test

#define MIGLAB_REQUIRE_QEMU()                                                 \
    do {                                                                      \
        if (!std::filesystem::exists(miglab::test::qemu_binary())) {          \
            GTEST_SKIP() << "no QEMU at " << miglab::test::qemu_binary()      \
                         << " (make build, or set MIGLAB_QEMU)";              \
        }                                                                     \
    } while (0)

#define MIGLAB_REQUIRE_LINUX_GUEST()                                          \
    do {                                                                      \
        if (!std::filesystem::exists(miglab::test::guest_dir() /              \
                                     "initrd.img")) {                         \
            GTEST_SKIP() << "no Linux guest in " << miglab::test::guest_dir() \
                         << " (tools/build-guest)";                           \
        }                                                                     \
    } while (0)

#define MIGLAB_REQUIRE_KVM()                                                  \
    do {                                                                      \
        if (!miglab::test::kvm_usable()) {                                    \
            GTEST_SKIP() << "no usable /dev/kvm on this machine";             \
        }                                                                     \
    } while (0)

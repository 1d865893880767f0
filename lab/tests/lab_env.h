// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "miglab/qemu_process.h"
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

// A small TCG machine with no default devices: the base of every test VM.
inline std::vector<std::string> tcg_machine(const std::string &memory)
{
    return pc_machine_args("tcg", memory);
}

} // namespace miglab::test

#define MIGLAB_REQUIRE_QEMU()                                                 \
    do {                                                                      \
        if (!std::filesystem::exists(miglab::test::qemu_binary())) {          \
            GTEST_SKIP() << "no QEMU at " << miglab::test::qemu_binary()      \
                         << " (make build, or set MIGLAB_QEMU)";              \
        }                                                                     \
    } while (0)

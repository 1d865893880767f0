// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "miglab/interrupt.h"

namespace miglab {

// Calls done() every period until it returns true or timeout has passed;
// returns whether it did. done() runs at least once. Throws Interrupted
// after SIGINT/SIGTERM (catch_interrupts).
template <typename Done>
bool poll_until(std::chrono::milliseconds timeout,
                std::chrono::milliseconds period, Done done)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        throw_if_interrupted();
        if (done()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(period);
    }
}

// 0x-prefixed hexadecimal, for guest addresses in messages.
inline std::string hex(uint64_t v)
{
    char b[24];
    std::snprintf(b, sizeof(b), "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

} // namespace miglab

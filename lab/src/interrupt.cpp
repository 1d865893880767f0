// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/interrupt.h"

#include <csignal>
#include <cstring>
#include <string>

namespace miglab {

namespace {

volatile std::sig_atomic_t caught = 0;

extern "C" void on_signal(int sig)
{
    caught = sig;
}

} // namespace

Interrupted::Interrupted(int signal)
    : std::runtime_error(std::string("interrupted by ") + strsignal(signal)),
      signal_(signal)
{
}

void catch_interrupts()
{
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: a blocking call returns EINTR and its loop looks at
    // the flag. SA_RESETHAND: a second signal is not caught.
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

int interrupt_signal()
{
    return caught;
}

void throw_if_interrupted()
{
    if (caught) {
        throw Interrupted(caught);
    }
}

} // namespace miglab

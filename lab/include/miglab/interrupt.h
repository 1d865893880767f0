// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <stdexcept>

namespace miglab {

// Ctrl-C (SIGINT) or SIGTERM during a long run: catch_interrupts() makes
// them set a flag instead of ending the process at once, and the lab's
// waits (every QMP command, poll_until) throw Interrupted once it is set.
// Unwinding then destroys every QemuProcess (stopped by its PID) and
// TempDir (scratch directories with their RAM chunks removed) on the way.
// A second signal ends the process as usual.
class Interrupted : public std::runtime_error {
public:
    explicit Interrupted(int signal);
    int signal() const { return signal_; }

private:
    int signal_;
};

void catch_interrupts();
// The signal that came, 0 if none.
int interrupt_signal();
void throw_if_interrupted();

} // namespace miglab

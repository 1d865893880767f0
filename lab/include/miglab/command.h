// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

#include "miglab/qmp.h"

namespace miglab {

// A command run to its end.
struct CommandResult {
    int status = -1; // wait status
    std::string out;
    std::string err;
    bool ok() const;
    // "exit 1: <stderr>" or "killed by signal 9", for messages.
    std::string describe() const;
};

// Runs argv (argv[0] looked up on PATH) with stdin from /dev/null and its
// output captured. A command still running after timeout is killed, by
// its PID, and that is an error (std::runtime_error naming the command).
CommandResult run_command(const std::vector<std::string> &argv, Millis timeout);

// The command line as one string, for messages.
std::string command_line(const std::vector<std::string> &argv);

// A child process of ours, by its PID: whether it runs (reaping it once it
// has exited), its wait status then, and stopping it.
class ChildProcess {
public:
    explicit ChildProcess(pid_t pid) : pid_(pid) {}
    pid_t pid() const { return pid_; }
    bool running();
    // Waits up to timeout; the wait status once it has exited.
    std::optional<int> wait(Millis timeout);
    // SIGTERM, then SIGKILL after grace.
    void stop(Millis grace);

private:
    pid_t pid_;
    std::optional<int> status_;
};

// Freezes a process (SIGSTOP) until the object goes or release()
// (SIGCONT): a peer that stops reading at a chosen moment, to force a
// race a test could otherwise only hope for.
class ProcessHold {
public:
    // Throws std::runtime_error naming what (and the PID) if it cannot.
    ProcessHold(pid_t pid, const std::string &what);
    ~ProcessHold();
    ProcessHold(const ProcessHold &) = delete;
    ProcessHold &operator=(const ProcessHold &) = delete;
    void release();

private:
    pid_t pid_;
};

// Starts argv (argv[0] looked up on PATH) with stdin from /dev/null,
// stdout and stderr into log (created or truncated) and env ("NAME=value")
// set over this process's environment; the child dies with us
// (PR_SET_PDEATHSIG). Its PID.
pid_t spawn_logged(const std::vector<std::string> &argv,
                   const std::filesystem::path &log,
                   const std::vector<std::string> &env = {});

// A command running in the background with its stdout and stderr in a
// file. Killed, by its PID, when the object goes, if it still runs; like
// every process the lab starts it also dies with the harness
// (PR_SET_PDEATHSIG).
class BackgroundCommand {
public:
    BackgroundCommand(const std::vector<std::string> &argv,
                      std::filesystem::path log,
                      const std::vector<std::string> &env = {});
    ~BackgroundCommand();
    BackgroundCommand(const BackgroundCommand &) = delete;
    BackgroundCommand &operator=(const BackgroundCommand &) = delete;

    pid_t pid() const { return child_.pid(); }
    const std::vector<std::string> &argv() const { return argv_; }
    bool running() { return child_.running(); }
    // Waits up to timeout; the wait status once it has exited.
    std::optional<int> wait(Millis timeout) { return child_.wait(timeout); }
    // SIGTERM, then SIGKILL after grace.
    void stop(Millis grace = Millis(3000)) { child_.stop(grace); }
    std::string output() const;

private:
    std::vector<std::string> argv_;
    std::filesystem::path log_;
    ChildProcess child_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's
// choice for a socket bound to port 0, closed again).
uint16_t free_loopback_port();

// 127.0.0.1:port as the socket calls take it.
sockaddr_in loopback_address(uint16_t port);

} // namespace miglab

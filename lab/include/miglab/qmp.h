// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/types.h>

#include <nlohmann/json.hpp>

namespace miglab {

using Json = nlohmann::json;
using Millis = std::chrono::milliseconds;

// An error QEMU answered to a command: the command was refused, QEMU is
// fine. Everything else (socket gone, time-out) is a std::runtime_error.
class QmpError : public std::runtime_error {
public:
    QmpError(const std::string &command, std::string error_class,
             const std::string &desc)
        : std::runtime_error(command + ": " + error_class + ": " + desc),
          error_class_(std::move(error_class)), desc_(desc) {}
    const std::string &error_class() const { return error_class_; }
    const std::string &desc() const { return desc_; }

private:
    std::string error_class_;
    std::string desc_;
};

// A QMP client on a unix socket: greeting and capabilities negotiation on
// connect, commands with a time-out, events kept until asked for.
class Qmp {
public:
    // Connects to socket, retrying until timeout. With server (the PID of
    // the QEMU that is to create the socket, a child of this process) it
    // fails at once, with that QEMU's exit status, when the server exits
    // first (the child is left for its owner to reap).
    static Qmp connect(const std::filesystem::path &socket, Millis timeout,
                       pid_t server = -1);
    ~Qmp();
    Qmp(const Qmp &) = delete;
    Qmp &operator=(const Qmp &) = delete;
    Qmp(Qmp &&other) noexcept;
    Qmp &operator=(Qmp &&other) noexcept;

    // Runs a command and returns its "return" value; throws QmpError when
    // QEMU answers with an error.
    Json execute(const std::string &command, const Json &args = Json::object(),
                 Millis timeout = Millis(60000));
    // Runs an out-of-band command (exec-oob: QEMU runs it in the monitor's
    // own thread, even while the main loop is blocked, e.g. `yank` of a
    // migration stuck on its link); only when oob() says QEMU offers it.
    Json execute_oob(const std::string &command, const Json &args = Json::object(),
                     Millis timeout = Millis(60000));
    // Whether out-of-band execution was negotiated (QEMU offers it on
    // monitors that run in their own thread).
    bool oob() const { return oob_; }
    // A human monitor command's output.
    std::string hmp(const std::string &command_line);
    // The next event called name (earlier events of other names are kept).
    std::optional<Json> wait_event(const std::string &name, Millis timeout);
    const Json &greeting() const { return greeting_; }

private:
    explicit Qmp(int fd) : fd_(fd) {}
    Json read_message(std::chrono::steady_clock::time_point deadline);
    // Sends {key: command} with an id and waits for the answer with it.
    Json run(const char *key, const std::string &command, const Json &args,
             Millis timeout);
    void send(const Json &message);

    int fd_ = -1;
    std::string buffer_;
    std::deque<Json> events_;
    Json greeting_;
    unsigned next_id_ = 1;
    bool oob_ = false;
};

} // namespace miglab

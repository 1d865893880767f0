// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/qmp.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "miglab/interrupt.h"

namespace miglab {

using Clock = std::chrono::steady_clock;

static int connect_unix(const std::filesystem::path &socket_path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), "socket");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = socket_path.string();
    if (p.size() >= sizeof(addr.sun_path)) {
        ::close(fd);
        throw std::runtime_error("QMP socket path too long: " + p);
    }
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0) {
        int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

// Why server has exited, if it has; it stays a zombie (WNOWAIT) so its
// owner still reaps it and its PID cannot be reused meanwhile.
static std::optional<std::string> exit_of(pid_t server)
{
    siginfo_t info{};
    if (server <= 0 ||
        ::waitid(P_PID, static_cast<id_t>(server), &info,
                 WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != server) {
        return std::nullopt;
    }
    std::string how = info.si_code == CLD_EXITED
                          ? "exited with status " + std::to_string(info.si_status)
                          : "was killed by signal " + std::to_string(info.si_status);
    return "QEMU (pid " + std::to_string(server) + ") " + how;
}

Qmp Qmp::connect(const std::filesystem::path &socket, Millis timeout,
                 pid_t server)
{
    auto deadline = Clock::now() + timeout;
    int fd;
    while ((fd = connect_unix(socket)) < 0) {
        throw_if_interrupted();
        if (auto gone = exit_of(server)) {
            throw std::runtime_error(*gone + " before it opened its QMP "
                                     "socket " + socket.string());
        }
        if (Clock::now() > deadline) {
            throw std::runtime_error("no QMP server on " + socket.string() +
                                     ": " + std::strerror(errno));
        }
        std::this_thread::sleep_for(Millis(20));
    }
    Qmp qmp(fd);
    // QEMU can send an event before its greeting when the connection
    // races with it (seen once in 45 runs: RESUME as the VM started):
    // keep such events for wait_event() and read on to the greeting.
    for (;;) {
        Json m = qmp.read_message(deadline);
        if (m.contains("QMP")) {
            qmp.greeting_ = std::move(m);
            break;
        }
        if (!m.contains("event")) {
            throw std::runtime_error("unexpected QMP greeting: " + m.dump());
        }
        qmp.events_.push_back(std::move(m));
    }
    const Json caps = qmp.greeting_["QMP"].value("capabilities", Json::array());
    qmp.oob_ = std::find(caps.begin(), caps.end(), "oob") != caps.end();
    qmp.execute("qmp_capabilities",
                qmp.oob_ ? Json{{"enable", {"oob"}}} : Json::object(), timeout);
    return qmp;
}

Qmp::~Qmp()
{
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

Qmp::Qmp(Qmp &&other) noexcept
    : fd_(other.fd_), buffer_(std::move(other.buffer_)),
      events_(std::move(other.events_)), greeting_(std::move(other.greeting_)),
      next_id_(other.next_id_), oob_(other.oob_)
{
    other.fd_ = -1;
}

Qmp &Qmp::operator=(Qmp &&other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = other.fd_;
        other.fd_ = -1;
        buffer_ = std::move(other.buffer_);
        events_ = std::move(other.events_);
        greeting_ = std::move(other.greeting_);
        next_id_ = other.next_id_;
        oob_ = other.oob_;
    }
    return *this;
}

void Qmp::send(const Json &message)
{
    std::string text = message.dump() + "\n";
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::send(fd_, text.data() + off, text.size() - off,
                           MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::system_error(errno, std::generic_category(),
                                    "QMP send");
        }
        off += static_cast<size_t>(n);
    }
}

Json Qmp::read_message(Clock::time_point deadline)
{
    for (;;) {
        auto nl = buffer_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            if (line.find_first_not_of(" \r\t") == std::string::npos) {
                continue;
            }
            return Json::parse(line);
        }
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) {
            throw std::runtime_error("QMP: timed out waiting for QEMU");
        }
        pollfd pfd{fd_, POLLIN, 0};
        int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) {
            throw_if_interrupted();
            continue;
        }
        if (r < 0) {
            throw std::system_error(errno, std::generic_category(), "QMP poll");
        }
        if (r == 0) {
            continue;
        }
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw std::runtime_error("QMP: QEMU closed the connection");
        }
        buffer_.append(chunk, static_cast<size_t>(n));
    }
}

Json Qmp::execute(const std::string &command, const Json &args, Millis timeout)
{
    return run("execute", command, args, timeout);
}

Json Qmp::execute_oob(const std::string &command, const Json &args,
                      Millis timeout)
{
    if (!oob_) {
        throw std::logic_error("QMP: " + command + " out of band, which this "
                               "monitor does not offer");
    }
    return run("exec-oob", command, args, timeout);
}

Json Qmp::run(const char *key, const std::string &command, const Json &args,
              Millis timeout)
{
    throw_if_interrupted();
    unsigned id = next_id_++;
    Json msg = {{key, command}, {"id", id}};
    if (!args.empty()) {
        msg["arguments"] = args;
    }
    send(msg);
    auto deadline = Clock::now() + timeout;
    for (;;) {
        Json reply = read_message(deadline);
        if (reply.contains("event")) {
            events_.push_back(std::move(reply));
            continue;
        }
        if (reply.value("id", 0u) != id) {
            continue;
        }
        if (reply.contains("error")) {
            throw QmpError(command, reply["error"].value("class", ""),
                           reply["error"].value("desc", ""));
        }
        return reply.value("return", Json::object());
    }
}

std::string Qmp::hmp(const std::string &command_line)
{
    return execute("human-monitor-command",
                   {{"command-line", command_line}}).get<std::string>();
}

std::optional<Json> Qmp::wait_event(const std::string &name, Millis timeout)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        for (auto it = events_.begin(); it != events_.end(); ++it) {
            if ((*it)["event"] == name) {
                Json e = std::move(*it);
                events_.erase(it);
                return e;
            }
        }
        try {
            Json msg = read_message(deadline);
            if (msg.contains("event")) {
                events_.push_back(std::move(msg));
            }
        } catch (const std::runtime_error &) {
            if (Clock::now() >= deadline) {
                return std::nullopt;
            }
            throw;
        }
    }
}

} // namespace miglab

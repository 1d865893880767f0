// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/command.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace miglab {

namespace {

using Clock = std::chrono::steady_clock;

// Pointers into strings, null-terminated, for exec.
std::vector<char *> c_strings(const std::vector<std::string> &v)
{
    std::vector<char *> p;
    for (const auto &s : v) {
        p.push_back(const_cast<char *>(s.c_str()));
    }
    p.push_back(nullptr);
    return p;
}

// This process's environment with env ("NAME=value") set over it.
std::vector<std::string> environment_with(const std::vector<std::string> &env)
{
    std::vector<std::string> all;
    for (char **e = environ; *e; ++e) {
        const std::string var = *e;
        const std::string name = var.substr(0, var.find('=') + 1);
        bool replaced = false;
        for (const auto &set : env) {
            replaced = replaced || set.rfind(name, 0) == 0;
        }
        if (!replaced) {
            all.push_back(var);
        }
    }
    all.insert(all.end(), env.begin(), env.end());
    return all;
}

// fork + execvpe with stdin from /dev/null, stdout and stderr on the given
// descriptors, env set over this process's environment; the child dies
// with us (PR_SET_PDEATHSIG).
pid_t spawn(const std::vector<std::string> &argv_s, int outfd, int errfd,
            const std::vector<std::string> &env = {})
{
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<char *> argv = c_strings(argv_s);
    const std::vector<std::string> env_s = environment_with(env);
    std::vector<char *> envp = c_strings(env_s);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        ::dup2(outfd, 1);
        ::dup2(errfd, 2);
        ::execvpe(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

} // namespace

bool CommandResult::ok() const
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string CommandResult::describe() const
{
    std::string what = WIFEXITED(status)
                           ? "exit " + std::to_string(WEXITSTATUS(status))
                           : "killed by signal " +
                                 std::to_string(WTERMSIG(status));
    std::string e = err;
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) {
        e.pop_back();
    }
    return e.empty() ? what : what + ": " + e;
}

std::string command_line(const std::vector<std::string> &argv)
{
    std::string s;
    for (const auto &a : argv) {
        s += (s.empty() ? "" : " ") + a;
    }
    return s;
}

CommandResult run_command(const std::vector<std::string> &argv, Millis timeout)
{
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0) {
        throw std::system_error(errno, std::generic_category(), "pipe");
    }
    if (::pipe2(err, O_CLOEXEC) < 0) {
        int e = errno;
        ::close(out[0]);
        ::close(out[1]);
        throw std::system_error(e, std::generic_category(), "pipe");
    }
    pid_t pid;
    try {
        pid = spawn(argv, out[1], err[1]);
    } catch (...) {
        for (int fd : {out[0], out[1], err[0], err[1]}) {
            ::close(fd);
        }
        throw;
    }
    ::close(out[1]);
    ::close(err[1]);
    CommandResult r;
    std::string *sinks[2] = {&r.out, &r.err};
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    const auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) {
                continue;
            }
            char buf[65536];
            ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
            if (got > 0) {
                sinks[i]->append(buf, static_cast<size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    for (auto &f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    if (timed_out) {
        ::kill(pid, SIGKILL);
    }
    ::waitpid(pid, &r.status, 0);
    if (timed_out) {
        throw std::runtime_error(command_line(argv) + ": still running after " +
                                 std::to_string(timeout.count()) +
                                 " ms, killed; it said: " + r.err);
    }
    return r;
}

pid_t spawn_logged(const std::vector<std::string> &argv,
                   const std::filesystem::path &log,
                   const std::vector<std::string> &env)
{
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(),
                                "open " + log.string());
    }
    try {
        pid_t pid = spawn(argv, fd, fd, env);
        ::close(fd);
        return pid;
    } catch (...) {
        ::close(fd);
        throw;
    }
}

bool ChildProcess::running()
{
    if (status_) {
        return false;
    }
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        return false;
    }
    return true;
}

std::optional<int> ChildProcess::wait(Millis timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (running()) {
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(Millis(20));
    }
    return status_;
}

void ChildProcess::stop(Millis grace)
{
    if (!running()) {
        return;
    }
    ::kill(pid_, SIGTERM);
    if (!wait(grace)) {
        ::kill(pid_, SIGKILL);
        wait(Millis(10000));
    }
}

ProcessHold::ProcessHold(pid_t pid, const std::string &what) : pid_(pid)
{
    if (pid_ <= 0 || ::kill(pid_, SIGSTOP) != 0) {
        throw std::runtime_error("cannot stop " + what + " (pid " +
                                 std::to_string(pid_) + ")");
    }
}

ProcessHold::~ProcessHold()
{
    release();
}

void ProcessHold::release()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
        pid_ = -1;
    }
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string> &argv,
                                     std::filesystem::path log,
                                     const std::vector<std::string> &env)
    : argv_(argv), log_(std::move(log)), child_(spawn_logged(argv_, log_, env))
{
}

BackgroundCommand::~BackgroundCommand()
{
    stop(Millis(2000));
}

std::string BackgroundCommand::output() const
{
    std::ifstream in(log_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

sockaddr_in loopback_address(uint16_t port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
}

uint16_t free_loopback_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), "socket");
    }
    sockaddr_in a = loopback_address(0);
    socklen_t len = sizeof(a);
    if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) < 0) {
        int e = errno;
        ::close(fd);
        throw std::system_error(e, std::generic_category(), "bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

} // namespace miglab

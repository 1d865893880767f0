// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/qemu_process.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace miglab {

namespace {

Qmp connect_or_explain(const std::filesystem::path &sock, pid_t pid,
                       const std::filesystem::path &log)
{
    try {
        return Qmp::connect(sock, Millis(20000), pid);
    } catch (const std::exception &e) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        throw std::runtime_error(std::string(e.what()) + "; QEMU said: " +
                                 ss.str());
    }
}

} // namespace

std::string qemu_version(const std::filesystem::path &bin)
{
    // No shell: the path goes to execv as it is, whatever it contains.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return "?";
    }
    const std::string path = bin.string();
    char *argv[] = {const_cast<char *>(path.c_str()),
                    const_cast<char *>("--version"), nullptr};
    pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(fds[1], 1);
        ::dup2(devnull, 2);
        ::execv(argv[0], argv);
        ::_exit(127);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while (pid > 0 && out.find('\n') == std::string::npos &&
           ((n = ::read(fds[0], buf, sizeof(buf))) > 0 ||
            (n < 0 && errno == EINTR))) {
        out.append(buf, static_cast<size_t>(std::max<ssize_t>(n, 0)));
    }
    ::close(fds[0]);
    if (pid < 0) {
        return "?";
    }
    ::waitpid(pid, nullptr, 0);
    std::string s = out.substr(0, out.find('\n'));
    while (!s.empty() && s.back() == '\r') {
        s.pop_back();
    }
    return s;
}

QemuProcess::QemuProcess(const std::filesystem::path &binary,
                         const std::vector<std::string> &args,
                         const std::filesystem::path &workdir,
                         const std::string &name)
    : name_(name), log_(workdir / (name + ".log")),
      child_(spawn_logged([&] {
          std::vector<std::string> argv{binary.string()};
          argv.insert(argv.end(), args.begin(), args.end());
          argv.push_back("-qmp");
          argv.push_back("unix:" + (workdir / (name + ".qmp")).string() +
                         ",server=on,wait=off");
          argv.push_back("-name");
          argv.push_back(name + ",debug-threads=on");
          return argv;
      }(), workdir / (name + ".log"))),
      qmp_(connect_or_explain(workdir / (name + ".qmp"), child_.pid(),
                              workdir / (name + ".log")))
{
}

QemuProcess::~QemuProcess()
{
    try {
        stop(Millis(2000));
    } catch (...) {
        // A destructor must not throw; stop() already escalated to SIGKILL.
    }
}

std::string QemuProcess::log_tail(size_t bytes) const
{
    std::ifstream in(log_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::string QemuProcess::run_state()
{
    return qmp_.execute("query-status")["status"].get<std::string>();
}

} // namespace miglab

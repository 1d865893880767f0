// SPDX-License-Identifier: GPL-2.0-or-later
//
// One of the lab's own programs (migbench, mkinitrd) run by a test: its
// output in a file, stopped by its PID when the object goes.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace miglab::test {

class ToolProcess {
public:
    // Starts argv[0] with argv, env ("NAME=value") added to this
    // process's environment, stdout and stderr into output.
    ToolProcess(const std::vector<std::string> &argv,
                const std::vector<std::string> &env,
                std::filesystem::path output)
        : output_(std::move(output))
    {
        std::vector<char *> args;
        for (const auto &a : argv) {
            args.push_back(const_cast<char *>(a.c_str()));
        }
        args.push_back(nullptr);
        int fd = ::open(output_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0644);
        pid_ = fd < 0 ? -1 : ::fork();
        if (pid_ == 0) {
            for (const auto &e : env) {
                ::putenv(const_cast<char *>(e.c_str()));
            }
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }
    ~ToolProcess()
    {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    ToolProcess(const ToolProcess &) = delete;
    ToolProcess &operator=(const ToolProcess &) = delete;

    pid_t pid() const { return pid_; }
    bool started() const { return pid_ > 0; }
    // Its wait status once it has exited; nothing if it is still running
    // after limit (a bound on a hang, not a measurement).
    std::optional<int> wait(std::chrono::milliseconds limit)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (pid_ > 0 && !status_) {
            int st;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = st;
            } else if (std::chrono::steady_clock::now() >= deadline) {
                break;
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        }
        return status_;
    }
    std::string output() const
    {
        std::ifstream in(output_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    std::filesystem::path output_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

// Runs a tool to its end (at most 120 s); its exit code, or -1 when it did
// not exit by itself (killed at the limit or by a signal).
inline int run_tool(const std::vector<std::string> &argv,
                    const std::filesystem::path &output,
                    const std::vector<std::string> &env = {})
{
    ToolProcess t(argv, env, output);
    auto st = t.wait(std::chrono::seconds(120));
    return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

} // namespace miglab::test

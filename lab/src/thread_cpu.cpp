// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/thread_cpu.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace miglab {

namespace {

std::string first_line(const std::filesystem::path &file)
{
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

} // namespace

std::optional<unsigned long long> ThreadCpu::ticks(const std::string &stat)
{
    // "tid (name) state ppid ..." with utime and stime the 14th and 15th
    // fields; the name may hold anything, so count from its last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream rest(stat.substr(close + 1));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int field_no = 3; field_no < 14; ++field_no) {
        rest >> field;
    }
    if (!(rest >> utime >> stime)) {
        return std::nullopt;
    }
    return utime + stime;
}

ThreadCpu::ThreadCpu(pid_t pid) : pid_(pid)
{
    sample();
    constructing_ = false;
}

void ThreadCpu::sample()
{
    const std::filesystem::path task =
        "/proc/" + std::to_string(pid_) + "/task";
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(task, ec)) {
        const auto t = ticks(first_line(e.path() / "stat"));
        if (!t) {
            continue; // the thread ended between the listing and the read
        }
        Seen &seen = threads_[std::stoi(e.path().filename().string())];
        seen.ticks = *t;
        if (seen.name.empty()) {
            seen.name = first_line(e.path() / "comm");
            seen.base = constructing_ ? *t : 0;
        }
    }
}

std::optional<double> ThreadCpu::seconds(const std::string &prefix) const
{
    std::optional<unsigned long long> sum;
    for (const auto &[tid, seen] : threads_) {
        if (seen.name.starts_with(prefix)) {
            sum = sum.value_or(0) + (seen.ticks - seen.base);
        }
    }
    if (!sum) {
        return std::nullopt;
    }
    return static_cast<double>(*sum) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace miglab

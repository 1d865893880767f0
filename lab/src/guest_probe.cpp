// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/guest_probe.h"

#include <algorithm>
#include <cstdio>

#include <fstream>
#include <sstream>

#include "miglab/poll.h"

namespace miglab {

std::optional<double> StressConsoleProbe::work_done(GuestVm &vm)
{
    std::ifstream in(vm.serial_path(), std::ios::binary);
    if (!in) {
        return written_;
    }
    in.seekg(offset_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string chunk = ss.str();
    offset_ += static_cast<long long>(chunk.size());
    pending_ += chunk;
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        auto at = line.find("MIGLAB t_ms=");
        if (at == std::string::npos) {
            continue;
        }
        unsigned long long t = 0, w = 0, r = 0, worst = 0;
        if (std::sscanf(line.c_str() + at,
                        "MIGLAB t_ms=%llu written=%llu read=%llu "
                        "worst_pass_us=%llu",
                        &t, &w, &r, &worst) == 4) {
            written_ = static_cast<double>(w);
            t_ms_ = static_cast<double>(t);
            read_ = static_cast<double>(r);
            worst_pass_us_ = std::max(worst_pass_us_, static_cast<double>(worst));
        }
    }
    return written_;
}

std::optional<double> BootBlockProbe::work_done(GuestVm &vm)
{
    std::string out = vm.hmp("xp /1bx 0x100000");
    auto colon = out.find(':');
    auto pos = colon == std::string::npos ? colon : out.find("0x", colon);
    if (pos == std::string::npos) {
        return std::nullopt;
    }
    int v = std::stoi(out.substr(pos), nullptr, 16);
    if (last_ >= 0) {
        total_ += (v - last_ + 256) % 256;
    }
    last_ = v;
    return total_;
}

bool guest_makes_progress(GuestProbe &probe, GuestVm &vm, Millis timeout,
                          Millis period)
{
    std::optional<double> first;
    return poll_until(timeout, period, [&] {
        auto w = probe.work_done(vm);
        if (w && !first) {
            first = w;
        }
        return w && *w > *first;
    });
}

} // namespace miglab

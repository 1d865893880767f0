// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/guest_probe.h"

namespace miglab {

std::optional<double> BootBlockProbe::work_done(QemuProcess &vm)
{
    std::string out = vm.qmp().hmp("xp /1bx 0x100000");
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

} // namespace miglab

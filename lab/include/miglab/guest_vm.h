// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace miglab {

// A running guest the lab can ask things: QMP commands and the file its
// serial console writes to. A QemuProcess answers on its own QMP socket;
// a libvirt domain through `virsh qemu-monitor-command`. RAM digests,
// guest probes and the bare guest's status page work on either.
class GuestVm {
public:
    virtual ~GuestVm() = default;
    // Runs a QMP command and returns its "return" value; throws QmpError
    // when QEMU answers with an error.
    virtual nlohmann::json execute(const std::string &command,
                                   const nlohmann::json &args =
                                       nlohmann::json::object()) = 0;
    // Unique among the VMs of one scratch directory (names its files).
    virtual const std::string &name() const = 0;
    // Where the guest's serial console is written, as seen from here.
    virtual std::filesystem::path serial_path() const = 0;

    // A human monitor command's output.
    std::string hmp(const std::string &command_line)
    {
        return execute("human-monitor-command",
                       {{"command-line", command_line}}).get<std::string>();
    }
};

} // namespace miglab

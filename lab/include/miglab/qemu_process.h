// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "miglab/command.h"
#include "miglab/guest_vm.h"
#include "miglab/qmp.h"

namespace miglab {

// The first line of `binary --version` ("QEMU emulator version ..."),
// for reports.
std::string qemu_version(const std::filesystem::path &binary);

// One QEMU process with a QMP socket and a log file in a work directory.
// It is stopped, by its own PID, when the object goes: the harness never
// leaves a QEMU behind, even when a test fails. The child also gets
// PR_SET_PDEATHSIG, so it dies if the harness itself is killed.
class QemuProcess : public GuestVm {
public:
    QemuProcess(const std::filesystem::path &binary,
                const std::vector<std::string> &args,
                const std::filesystem::path &workdir, const std::string &name);
    ~QemuProcess() override;
    QemuProcess(const QemuProcess &) = delete;
    QemuProcess &operator=(const QemuProcess &) = delete;

    Qmp &qmp() { return qmp_; }
    Json execute(const std::string &command,
                 const Json &args = Json::object()) override
    {
        return qmp_.execute(command, args);
    }
    pid_t pid() const { return child_.pid(); }
    const std::string &name() const override { return name_; }
    const std::filesystem::path &log_path() const { return log_; }
    // The guest's serial console, as VmPair connects it.
    std::filesystem::path serial_path() const override
    {
        return log_.parent_path() / (name_ + ".serial");
    }
    // The last bytes of QEMU's stdout/stderr, for error messages.
    std::string log_tail(size_t bytes = 2000) const;

    // Whether the process still runs (reaps it if it has exited).
    bool running() { return child_.running(); }
    // Waits up to timeout for the process to exit; its wait status if so.
    std::optional<int> wait_exit(Millis timeout) { return child_.wait(timeout); }
    // SIGTERM, then SIGKILL if it has not exited after grace.
    void stop(Millis grace = Millis(3000)) { child_.stop(grace); }
    // The guest's run state as query-status says it ("running", ...).
    std::string run_state();

private:
    std::string name_;
    std::filesystem::path log_;
    ChildProcess child_;
    Qmp qmp_;
};

} // namespace miglab

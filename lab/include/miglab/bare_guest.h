// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "miglab/bare_layout.h"
#include "miglab/guest_probe.h"
#include "miglab/guest_vm.h"
#include "miglab/qmp.h"

namespace miglab {

// The bare stress guest (lab/guest/bare): a 64 KiB -bios image that
// brings every vCPU to long mode and runs a dirtying loop in ring 3, with
// its counters in a status page at a fixed guest-physical address
// (bare_layout.h). It boots in well under a second even where guest
// ring-0 code is emulated (kvm_pvm), so KVM paths can be measured.
class BareGuest {
public:
    // settings: ws_mib, hot_pct, hot_share, rate, rates (list), readers;
    // see lab/guest/bare/bare.cpp. Throws on an unknown key.
    BareGuest(std::filesystem::path image, const Json &settings);

    // -bios <image> -fw_cfg name=opt/miglab/bare,string=<settings>
    std::vector<std::string> args() const;
    // "ws_mib=64 rates=0,1000 ..." as the guest parses it.
    const std::string &config() const { return config_; }

    // The image built with the lab: MIGLAB_BARE_IMAGE or build/lab/bare.bin.
    static std::filesystem::path default_image();

private:
    std::filesystem::path image_;
    std::string config_;
};

// One read of the guest's status page.
struct BareSnapshot {
    bare::BareStatus raw{};

    bool booted() const { return raw.magic == bare::status_magic; }
    bare::State state() const { return static_cast<bare::State>(raw.state); }
    unsigned cpus() const;
    // Why the guest stopped (configuration error or exception), or "".
    std::string problem() const;
    bool is_writer(unsigned cpu) const
    {
        return raw.cpu[cpu].role == uint64_t(bare::Role::writer);
    }
    bool is_reader(unsigned cpu) const
    {
        return raw.cpu[cpu].role == uint64_t(bare::Role::reader);
    }
    // Pages written by all writer vCPUs.
    double pages_written() const;
    // Pages read by all reader vCPUs, or nothing without a reader.
    std::optional<double> pages_read() const;

    // pmemsave of the status page into scratch, parsed.
    static BareSnapshot read(GuestVm &vm,
                             const std::filesystem::path &scratch);
};

// Work = pages written by every writer vCPU (from the status page).
class BareProbe : public GuestProbe {
public:
    explicit BareProbe(std::filesystem::path scratch)
        : scratch_(std::move(scratch)) {}
    std::optional<double> work_done(GuestVm &vm) override;
    std::string unit() const override { return "pages written"; }
    const BareSnapshot &last() const { return last_; }
    // Pages written by each writer vCPU.
    std::vector<double> per_vcpu_work() const override;
    // The newest TSC any vCPU stamped, in ms of its calibrated clock.
    std::optional<double> guest_clock_ms() const override;
    // Pages read by the reader vCPUs.
    std::optional<double> reader_work() const override
    {
        return last_.pages_read();
    }

private:
    std::filesystem::path scratch_;
    BareSnapshot last_;
};

// Reads every writer's working set from vm and checks each page: zero
// (never written) or a stamp of that vCPU whose check word matches its
// address. The description of the first bad page, or nullopt.
std::optional<std::string> check_bare_pattern(GuestVm &vm,
                                              const std::filesystem::path &scratch);

} // namespace miglab

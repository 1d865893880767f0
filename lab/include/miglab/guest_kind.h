// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "miglab/bare_guest.h"
#include "miglab/guest_probe.h"
#include "miglab/qmp.h"

namespace miglab {

struct Scenario;

// Where the lab's guests come from.
struct LabPaths {
    std::filesystem::path qemu_src;  // QEMU tree (the boot-block guest)
    std::filesystem::path guest_dir; // vmlinuz, initrd.img (tools/build-guest)
    std::filesystem::path bare_image = BareGuest::default_image();
};

// A libvirt domain of a scenario's guest (migbench --via libvirt).
struct LibvirtDomainFile {
    std::string name;
    std::filesystem::path serial; // its console, inside the daemon's namespace
    std::string xml;
};

// One kind of guest a scenario names in "guest.kind": the stress settings
// it takes, the QEMU arguments that boot it, how its progress is read,
// what is checked in its memory after a migration, and its libvirt
// domain. The kinds are fixed objects found by name (find); nothing else
// in the lab compares kind names.
class GuestKind {
public:
    virtual ~GuestKind() = default;
    virtual const char *name() const = 0;

    // Its "guest.stress" keys; none when it takes no settings.
    virtual std::vector<std::string> settings() const { return {}; }
    // Whether every setting is a non-negative integer (else lists and
    // booleans are allowed where the parser says so).
    virtual bool integer_settings() const { return false; }

    // QEMU arguments that boot it, after machine, memory and accelerator;
    // files it needs are written into dir. Throws when something it needs
    // is missing, saying how to get it.
    virtual std::vector<std::string> args(const Scenario &s,
                                          const LabPaths &paths,
                                          const std::filesystem::path &dir) const;
    // How its progress is read (NoProbe: it reports none).
    virtual std::unique_ptr<GuestProbe> probe(const std::filesystem::path &dir) const;
    // After a completed migration with equal RAM: what is wrong in the
    // destination's memory beyond the digest (a pattern the guest keeps),
    // or nullopt.
    virtual std::optional<std::string>
    check_destination(GuestVm &vm, const std::filesystem::path &dir) const;

    // Why s's guest cannot be a libvirt domain (this kind, or its
    // accelerator), or nullopt.
    std::optional<std::string> libvirt_unsupported(const Scenario &s) const;
    // Whether its libvirt domain is KVM (type='kvm') or TCG (type='qemu');
    // nullopt: it has none.
    virtual std::optional<bool> libvirt_kvm() const { return std::nullopt; }
    // Its libvirt domain running emulator; only when libvirt_unsupported()
    // says nothing.
    virtual LibvirtDomainFile libvirt_domain(const Scenario &s,
                                             const std::filesystem::path &emulator,
                                             const LabPaths &paths) const;

    // The kind of that name, or nullptr.
    static const GuestKind *find(const std::string &name);
    // Every kind's name, quoted, for messages: "a", "b" or "c".
    static std::string names();
};

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/guest_kind.h"

#include <stdexcept>

#include "miglab/bench_run.h"
#include "miglab/boot_block.h"
#include "miglab/libvirt.h"
#include "miglab/scenario.h"

namespace miglab {

namespace {

// The scenario's size and the binary under test, on a domain of any kind.
void size_domain(DomainSpec &d, const Scenario &s,
                 const std::filesystem::path &emulator)
{
    d.emulator = emulator;
    d.memory_mib = static_cast<unsigned>(s.memory_mib());
    d.vcpus = s.smp;
}

// Firmware only: nothing dirties memory.
class IdleKind : public GuestKind {
public:
    const char *name() const override { return "idle"; }
};

// QEMU's migration-test boot block: one byte per page over 1-100 MiB,
// every pass.
class BootBlockKind : public GuestKind {
public:
    const char *name() const override { return "bootblock"; }
    std::vector<std::string> args(const Scenario &, const LabPaths &paths,
                                  const std::filesystem::path &dir) const override
    {
        return BootBlockGuest(paths.qemu_src, dir).args();
    }
    std::unique_ptr<GuestProbe> probe(const std::filesystem::path &) const override
    {
        return std::make_unique<BootBlockProbe>();
    }
};

// Debian's kernel with miglab-stress as /init (lab/guest/stress.cpp).
class LinuxKind : public GuestKind {
public:
    const char *name() const override { return "linux"; }
    std::vector<std::string> settings() const override
    {
        return {"mem_mib",  "writers",   "rate",      "rates",
                "hot_pct",  "hot_share", "reader",    "modules",
                "burst_ms", "idle_ms",   "alloc_mib", "free_mib",
                "alloc_zero", "writers_rt", "pin"};
    }
    std::vector<std::string> args(const Scenario &s, const LabPaths &paths,
                                  const std::filesystem::path &) const override
    {
        for (const char *f : {"vmlinuz", "initrd.img"}) {
            if (!std::filesystem::exists(paths.guest_dir / f)) {
                throw std::runtime_error("no " + (paths.guest_dir / f).string() +
                                         ": run tools/build-guest");
            }
        }
        return {"-kernel", (paths.guest_dir / "vmlinuz").string(),
                "-initrd", (paths.guest_dir / "initrd.img").string(),
                "-append", linux_guest_cmdline(s.stress, s.kernel_args)};
    }
    std::unique_ptr<GuestProbe> probe(const std::filesystem::path &) const override
    {
        return std::make_unique<StressConsoleProbe>();
    }
    std::optional<bool> libvirt_kvm() const override { return false; }
    LibvirtDomainFile libvirt_domain(const Scenario &s,
                                     const std::filesystem::path &emulator,
                                     const LabPaths &paths) const override
    {
        LinuxDomainSpec d;
        size_domain(d, s, emulator);
        d.guest_dir = paths.guest_dir;
        d.stress = s.stress;
        d.kernel_args = s.kernel_args;
        return {d.name, d.serial, domain_xml(d)};
    }
};

// The lab's ring-3 stress guest (lab/guest/bare/bare.cpp), for KVM paths.
class BareKind : public GuestKind {
public:
    const char *name() const override { return "bare"; }
    std::vector<std::string> settings() const override
    {
        return {"ws_mib", "hot_pct", "hot_share", "rate",
                "rates",  "readers", "burst_ms",  "idle_ms"};
    }
    bool integer_settings() const override { return true; }
    std::vector<std::string> args(const Scenario &s, const LabPaths &paths,
                                  const std::filesystem::path &) const override
    {
        return BareGuest(paths.bare_image, s.stress).args();
    }
    std::unique_ptr<GuestProbe> probe(const std::filesystem::path &dir) const override
    {
        return std::make_unique<BareProbe>(dir);
    }
    std::optional<std::string>
    check_destination(GuestVm &vm, const std::filesystem::path &dir) const override
    {
        if (auto bad = check_bare_pattern(vm, dir)) {
            return "bare guest pattern check: " + *bad;
        }
        return std::nullopt;
    }
    std::optional<bool> libvirt_kvm() const override { return true; }
    LibvirtDomainFile libvirt_domain(const Scenario &s,
                                     const std::filesystem::path &emulator,
                                     const LabPaths &paths) const override
    {
        BareDomainSpec d;
        size_domain(d, s, emulator);
        d.image = paths.bare_image;
        d.settings = s.stress;
        d.dirty_ring = s.dirty_ring_size();
        return {d.name, d.serial, domain_xml(d)};
    }
};

const IdleKind idle_kind;
const BootBlockKind bootblock_kind;
const LinuxKind linux_kind;
const BareKind bare_kind;
const GuestKind *const kinds[] = {&idle_kind, &bootblock_kind, &linux_kind,
                                  &bare_kind};

} // namespace

std::vector<std::string> GuestKind::args(const Scenario &, const LabPaths &,
                                         const std::filesystem::path &) const
{
    return {};
}

std::unique_ptr<GuestProbe> GuestKind::probe(const std::filesystem::path &) const
{
    return std::make_unique<NoProbe>();
}

std::optional<std::string>
GuestKind::check_destination(GuestVm &, const std::filesystem::path &) const
{
    return std::nullopt;
}

std::optional<std::string> GuestKind::libvirt_unsupported(const Scenario &s) const
{
    const auto domain_kvm = libvirt_kvm();
    if (!domain_kvm) {
        return "no libvirt domain for guest kind '" + std::string(name()) + "'";
    }
    if (s.uses_kvm() != *domain_kvm) {
        return std::string("the ") + name() + " guest's domain is " +
               (*domain_kvm ? "KVM only (type='kvm')" : "TCG only (type='qemu')");
    }
    return std::nullopt;
}

LibvirtDomainFile GuestKind::libvirt_domain(const Scenario &,
                                            const std::filesystem::path &,
                                            const LabPaths &) const
{
    throw std::logic_error(std::string("no libvirt domain for ") + name());
}

const GuestKind *GuestKind::find(const std::string &name)
{
    for (const GuestKind *k : kinds) {
        if (name == k->name()) {
            return k;
        }
    }
    return nullptr;
}

std::string GuestKind::names()
{
    std::string s;
    const size_t n = std::size(kinds);
    for (size_t i = 0; i < n; ++i) {
        s += (i == 0 ? "" : i + 1 == n ? " or " : ", ");
        s += "\"" + std::string(kinds[i]->name()) + "\"";
    }
    return s;
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "miglab/command.h"
#include "miglab/guest_vm.h"
#include "miglab/qmp.h"
#include "miglab/temp_dir.h"

namespace miglab {

// `virsh -c URI ...` against one daemon. Every call has a time limit: a
// hung daemon makes a test fail, never hang.
class Virsh {
public:
    explicit Virsh(std::string uri) : uri_(std::move(uri)) {}
    const std::string &uri() const { return uri_; }

    // The full command line of `virsh -c URI args...`.
    std::vector<std::string> argv(const std::vector<std::string> &args) const;
    CommandResult try_run(const std::vector<std::string> &args,
                          Millis timeout = Millis(120000)) const;
    // Its stdout; throws (with virsh's stderr) when virsh fails.
    std::string run(const std::vector<std::string> &args,
                    Millis timeout = Millis(120000)) const;

    // A QMP command through `virsh qemu-monitor-command`: its "return";
    // QmpError when QEMU answers with an error.
    Json qmp(const std::string &domain, const std::string &command,
             const Json &args = Json::object()) const;
    // `virsh domstate`: "running", "paused", "shut off"...; "" when the
    // daemon has no such domain.
    std::string domstate(const std::string &domain) const;
    // `virsh domjobinfo [--completed]` as "field" -> "value" (the value
    // as virsh prints it, units included).
    std::map<std::string, std::string> domjobinfo(const std::string &domain,
                                                  bool completed = false) const;
    // Names of all domains, running or defined.
    std::vector<std::string> domains() const;
    bool persistent(const std::string &domain) const;

private:
    std::string uri_;
};

// A domain of one daemon, seen as a guest the lab can ask things (RAM
// digests, probes): QMP through `virsh qemu-monitor-command`, its serial
// console file mapped from the daemon's namespace to here.
class LibvirtDomain : public GuestVm {
public:
    LibvirtDomain(Virsh virsh, std::string domain, std::string tag,
                  std::filesystem::path serial)
        : virsh_(std::move(virsh)), domain_(std::move(domain)),
          name_(domain_ + "-" + tag), serial_(std::move(serial)) {}
    Json execute(const std::string &command,
                 const Json &args = Json::object()) override
    {
        return virsh_.qmp(domain_, command, args);
    }
    const std::string &name() const override { return name_; }
    std::filesystem::path serial_path() const override { return serial_; }
    const std::string &domain() const { return domain_; }

private:
    Virsh virsh_;
    std::string domain_;
    std::string name_;
    std::filesystem::path serial_;
};

// One libvirtd on this host as if it were a host of its own: its own mount
// and UTS namespaces (private /etc/libvirt, /run, /var/lib/libvirt,
// /var/cache/libvirt, /var/log/libvirt, bound from a scratch directory;
// its own hostname), its own host_uuid, listening for virsh and for the
// other daemon's peer-to-peer migration on qemu+tcp://127.0.0.1:PORT
// (auth none, loopback only). It runs in the foreground in a PID
// namespace too, under `unshare --kill-child`: when the daemon is stopped,
// or the harness dies, the kernel ends every process of it, QEMUs
// included. Nothing is left behind.
class LibvirtDaemon {
public:
    explicit LibvirtDaemon(const std::string &name);
    ~LibvirtDaemon();
    LibvirtDaemon(const LibvirtDaemon &) = delete;
    LibvirtDaemon &operator=(const LibvirtDaemon &) = delete;

    // Why libvirt cannot run here (a missing program), or nullopt.
    static std::optional<std::string> unavailable();

    const std::string &uri() const { return uri_; }
    Virsh virsh() const { return Virsh(uri_); }
    const std::string &hostname() const { return hostname_; }
    const std::string &host_uuid() const { return host_uuid_; }
    // A path as the daemon and its QEMUs see it (/var/log/libvirt/...),
    // as seen from here.
    std::filesystem::path outside(const std::filesystem::path &inside) const;
    // A domain of this daemon as a GuestVm; serial is the console file's
    // path inside the namespace.
    LibvirtDomain domain(const std::string &name,
                         const std::filesystem::path &serial) const;
    // libvirtd's own log and a domain's QEMU log, for failure messages.
    std::string log_tail(size_t bytes = 3000) const;
    std::string qemu_log_tail(const std::string &domain,
                              size_t bytes = 3000) const;

    // Freezes the daemon (SIGSTOP) until the hold goes (SIGCONT). A source
    // daemon in a peer-to-peer migration then waits in its Finish call to
    // this one with the source QEMU still there, stopped and complete:
    // the one moment its RAM can be digested.
    std::unique_ptr<ProcessHold> hold() const;

    // Destroys every running domain, then stops the daemon and its
    // namespaces by PID. Also what the destructor does.
    void stop();

private:
    void wait_ready();
    pid_t libvirtd_pid() const;

    std::string name_;
    std::string hostname_;
    std::string host_uuid_;
    uint16_t port_;
    std::string uri_;
    TempDir root_;
    std::unique_ptr<BackgroundCommand> unshare_;
};

// What every lab domain has: its name, the binary that runs it, its size,
// and its console file as the daemon sees it.
struct DomainSpec {
    std::string name;
    std::filesystem::path emulator;
    unsigned memory_mib = 1024;
    unsigned vcpus = 2;
    std::filesystem::path serial;

    // A domain of name with its console in libvirt's QEMU log directory.
    DomainSpec(const std::string &domain, unsigned mib)
        : name(domain), memory_mib(mib),
          serial("/var/log/libvirt/qemu/" + domain + ".serial") {}
};

// Direct kernel boot of the lab's Linux stress guest (tools/build-guest:
// vmlinuz, initrd.img whose /init is miglab-stress) under TCG, as
// migbench's "linux" guest runs: i440fx, no default devices, console on
// ttyS0 written to a file, miglab_<key>=<value> stress settings on the
// kernel command line.
struct LinuxDomainSpec : DomainSpec {
    LinuxDomainSpec() : DomainSpec("miglab-linux", 1024) {}
    std::filesystem::path guest_dir;
    Json stress = Json::object();
    std::string kernel_args;
};
std::string domain_xml(const LinuxDomainSpec &spec);

// The lab's bare ring-3 stress guest (build/lab/bare.bin as -bios, its
// settings as the fw_cfg file opt/miglab/bare) under KVM with the dirty
// ring of dirty_ring entries (0: the dirty bitmap).
struct BareDomainSpec : DomainSpec {
    BareDomainSpec() : DomainSpec("miglab-bare", 512) {}
    std::filesystem::path image;
    Json settings = Json::object();
    unsigned dirty_ring = 4096;
};
std::string domain_xml(const BareDomainSpec &spec);

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/libvirt.h"

#include <csignal>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

#include "miglab/bare_guest.h"
#include "miglab/bench_run.h"
#include "miglab/poll.h"
#include "miglab/xml.h"

namespace miglab {

namespace {

constexpr const char *libvirtd_binary = "/usr/sbin/libvirtd";

std::string trim(std::string s)
{
    const char *space = " \t\r\n";
    s.erase(0, s.find_first_not_of(space));
    s.erase(s.find_last_not_of(space) + 1);
    return s;
}

std::string read_tail(const std::filesystem::path &file, size_t bytes)
{
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

void write_file(const std::filesystem::path &file, const std::string &text)
{
    std::ofstream out(file);
    out << text;
    if (!out) {
        throw std::runtime_error("cannot write " + file.string());
    }
}

// A random version-4 UUID: each daemon is a host of its own to libvirt,
// which refuses a migration between two hosts with the same host UUID.
std::string random_uuid()
{
    std::random_device rd;
    unsigned char b[16];
    for (auto &x : b) {
        x = static_cast<unsigned char>(rd());
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    char s[37];
    std::snprintf(s, sizeof(s),
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                  "%02x%02x%02x%02x%02x%02x",
                  b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                  b[10], b[11], b[12], b[13], b[14], b[15]);
    return s;
}

// Parent PID and command name of a process, from /proc/PID/stat.
bool proc_stat(pid_t pid, pid_t &ppid, std::string &comm)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    if (!std::getline(in, s)) {
        return false;
    }
    auto open = s.find('(');
    auto close = s.rfind(')');
    if (open == std::string::npos || close == std::string::npos) {
        return false;
    }
    comm = s.substr(open + 1, close - open - 1);
    std::istringstream rest(s.substr(close + 2));
    char state;
    rest >> state >> ppid;
    return static_cast<bool>(rest);
}

std::vector<pid_t> children_of(pid_t parent)
{
    std::vector<pid_t> r;
    for (const auto &e : std::filesystem::directory_iterator("/proc")) {
        const std::string n = e.path().filename().string();
        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        pid_t pid = std::stoi(n), ppid;
        std::string comm;
        if (proc_stat(pid, ppid, comm) && ppid == parent) {
            r.push_back(pid);
        }
    }
    return r;
}

// Directories the daemon gets to itself: where it sees them, and the
// subdirectory of its scratch root bound there.
const std::vector<std::pair<std::string, std::string>> private_dirs = {
    {"/etc/libvirt", "etc"},         {"/run/libvirt", "run"},
    {"/var/lib/libvirt", "lib"},     {"/var/cache/libvirt", "cache"},
    {"/var/log/libvirt", "log"},
};

std::string libvirtd_conf(uint16_t port, const std::string &uuid)
{
    // TCP without authentication on loopback: what virsh and the other
    // daemon's peer-to-peer migration connect to. No keepalive: a daemon
    // the test holds (SIGSTOP) must not be dropped by its peer.
    return "listen_tls = 0\n"
           "listen_tcp = 1\n"
           "listen_addr = \"127.0.0.1\"\n"
           "tcp_port = \"" + std::to_string(port) + "\"\n"
           "auth_tcp = \"none\"\n"
           "auth_unix_rw = \"none\"\n"
           "host_uuid = \"" + uuid + "\"\n"
           "keepalive_interval = -1\n"
           "log_outputs = \"3:stderr\"\n";
}

// QEMU as root with no confinement, cgroups or private /dev: there is no
// systemd, no libvirt-qemu user and no security driver set-up here, and
// QEMU must write pmemsave files into the test's scratch directory.
// QEMU's stderr goes to a plain file (no virtlogd). No keepalive on the
// peer-to-peer migration connection either.
const char *qemu_conf =
    "user = \"root\"\n"
    "group = \"root\"\n"
    "dynamic_ownership = 0\n"
    "remember_owner = 0\n"
    "security_driver = \"none\"\n"
    "namespaces = [ ]\n"
    "cgroup_controllers = [ ]\n"
    "stdio_handler = \"file\"\n"
    "keepalive_interval = -1\n";

} // namespace

std::vector<std::string> Virsh::argv(const std::vector<std::string> &args) const
{
    std::vector<std::string> a{"virsh", "-q", "-c", uri_};
    a.insert(a.end(), args.begin(), args.end());
    return a;
}

CommandResult Virsh::try_run(const std::vector<std::string> &args,
                             Millis timeout) const
{
    return run_command(argv(args), timeout);
}

std::string Virsh::run(const std::vector<std::string> &args,
                       Millis timeout) const
{
    CommandResult r = try_run(args, timeout);
    if (!r.ok()) {
        throw std::runtime_error(command_line(argv(args)) + ": " +
                                 r.describe());
    }
    return r.out;
}

Json Virsh::qmp(const std::string &domain, const std::string &command,
                const Json &args) const
{
    Json msg = {{"execute", command}};
    if (!args.empty()) {
        msg["arguments"] = args;
    }
    std::string out = run({"qemu-monitor-command", domain, msg.dump()},
                          Millis(300000));
    Json reply = Json::parse(out);
    if (reply.contains("error")) {
        throw QmpError(command, reply["error"].value("class", ""),
                       reply["error"].value("desc", ""));
    }
    return reply.value("return", Json::object());
}

std::string Virsh::domstate(const std::string &domain) const
{
    CommandResult r = try_run({"domstate", domain}, Millis(30000));
    return r.ok() ? trim(r.out) : "";
}

std::map<std::string, std::string> Virsh::domjobinfo(const std::string &domain,
                                                     bool completed) const
{
    std::vector<std::string> args{"domjobinfo", domain};
    if (completed) {
        args.push_back("--completed");
    }
    std::map<std::string, std::string> info;
    std::istringstream in(run(args, Millis(30000)));
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            info[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
        }
    }
    return info;
}

std::vector<std::string> Virsh::domains() const
{
    std::vector<std::string> names;
    std::istringstream in(run({"list", "--all", "--name"}, Millis(30000)));
    std::string line;
    while (std::getline(in, line)) {
        if (!trim(line).empty()) {
            names.push_back(trim(line));
        }
    }
    return names;
}

bool Virsh::persistent(const std::string &domain) const
{
    std::istringstream in(run({"dominfo", domain}, Millis(30000)));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Persistent:", 0) == 0) {
            return trim(line.substr(11)) == "yes";
        }
    }
    throw std::runtime_error("virsh dominfo " + domain + " has no Persistent line");
}

std::optional<std::string> LibvirtDaemon::unavailable()
{
    if (::geteuid() != 0) {
        return "libvirt tests run two system daemons in namespaces: they need root";
    }
    if (::access(libvirtd_binary, X_OK) != 0) {
        return std::string("no ") + libvirtd_binary +
               " (Debian's libvirt-daemon and libvirt-daemon-driver-qemu): "
               "run make deps";
    }
    for (const char *dir : {"/usr/bin", "/bin"}) {
        if (::access((std::string(dir) + "/virsh").c_str(), X_OK) == 0) {
            return std::nullopt;
        }
    }
    return "no virsh (Debian's libvirt-clients): run make deps";
}

LibvirtDaemon::LibvirtDaemon(const std::string &name)
    : name_(name), hostname_("miglab-" + name), host_uuid_(random_uuid()),
      port_(free_loopback_port()),
      uri_("qemu+tcp://127.0.0.1:" + std::to_string(port_) + "/system"),
      root_("miglab-libvirt-" + name)
{
    const auto &root = root_.path();
    std::string script = "set -e\n"
                         // Its own /run: pid file, sockets, no host D-Bus.
                         "mount -t tmpfs -o mode=0755 miglab-run /run\n";
    for (const auto &[inside, sub] : private_dirs) {
        std::filesystem::create_directories(root / sub);
        script += "mkdir -p " + inside + "\nmount --bind " +
                  (root / sub).string() + " " + inside + "\n";
    }
    // libvirt's QEMU driver resolves its built-in user and group
    // (libvirt-qemu) before it reads qemu.conf; libvirt-daemon-system
    // creates them, and it is not installed. The daemon gets copies of
    // /etc/passwd and /etc/group that have them, bound in its namespace.
    for (const auto &[file, line] :
         {std::pair<std::string, std::string>{
              "passwd", "libvirt-qemu:x:64055:64055:Libvirt Qemu:"
                        "/var/lib/libvirt:/usr/sbin/nologin"},
          {"group", "libvirt-qemu:x:64055:"}}) {
        std::ifstream in("/etc/" + file);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        if (text.find("\nlibvirt-qemu:") != std::string::npos ||
            text.rfind("libvirt-qemu:", 0) == 0) {
            continue;
        }
        if (!text.empty() && text.back() != '\n') {
            text += '\n';
        }
        write_file(root / file, text + line + "\n");
        script += "mount --bind " + (root / file).string() + " /etc/" + file +
                  "\n";
    }
    // Where the domains' serial consoles go (libvirt makes it only when it
    // first logs for a domain, after it has opened the console file).
    std::filesystem::create_directories(root / "log" / "qemu");
    write_file(root / "etc" / "libvirtd.conf", libvirtd_conf(port_, host_uuid_));
    write_file(root / "etc" / "qemu.conf", qemu_conf);
    script += "hostname " + hostname_ + "\n"
              // The shell stays PID 1 of the namespace and reaps the QEMUs
              // libvirtd daemonizes (a zombie QEMU would make libvirtd wait
              // for a process that never goes away).
              "libvirtd --listen &\n"
              "wait\n";
    unshare_ = std::make_unique<BackgroundCommand>(
        std::vector<std::string>{"unshare", "--mount", "--uts", "--pid",
                                 "--fork", "--kill-child", "--mount-proc",
                                 "--propagation", "private", "sh", "-c",
                                 script},
        root / "libvirtd.log");
    try {
        wait_ready();
    } catch (...) {
        stop();
        throw;
    }
}

LibvirtDaemon::~LibvirtDaemon()
{
    try {
        stop();
    } catch (...) {
        // stop() already escalated to SIGKILL; nothing else to do here.
    }
}

void LibvirtDaemon::wait_ready()
{
    std::string last;
    bool ready = poll_until(Millis(60000), Millis(100), [&] {
        if (!unshare_->running()) {
            throw std::runtime_error("libvirtd " + name_ + " exited: " +
                                     log_tail());
        }
        CommandResult r = virsh().try_run({"hostname"}, Millis(10000));
        last = r.ok() ? trim(r.out) : r.describe();
        return r.ok();
    });
    if (!ready) {
        throw std::runtime_error("libvirtd " + name_ + " did not answer on " +
                                 uri_ + " within 60 s (" + last + "): " +
                                 log_tail());
    }
    if (last != hostname_) {
        throw std::runtime_error("libvirtd " + name_ + " reports hostname " +
                                 last + ", not its namespace's " + hostname_);
    }
}

pid_t LibvirtDaemon::libvirtd_pid() const
{
    // unshare -> sh (PID 1 of the namespace) -> libvirtd
    for (pid_t init : children_of(unshare_->pid())) {
        for (pid_t child : children_of(init)) {
            pid_t ppid;
            std::string comm;
            if (proc_stat(child, ppid, comm) && comm == "libvirtd") {
                return child;
            }
        }
    }
    return -1;
}

std::filesystem::path
LibvirtDaemon::outside(const std::filesystem::path &inside) const
{
    std::string p = inside.string();
    if (p.rfind("/var/run/", 0) == 0) {
        p = p.substr(4);
    }
    for (const auto &[dir, sub] : private_dirs) {
        if (p == dir || p.rfind(dir + "/", 0) == 0) {
            return root_.path() / sub / p.substr(std::min(p.size(), dir.size() + 1));
        }
    }
    return inside;
}

LibvirtDomain LibvirtDaemon::domain(const std::string &name,
                                    const std::filesystem::path &serial) const
{
    return LibvirtDomain(virsh(), name, name_, outside(serial));
}

std::string LibvirtDaemon::log_tail(size_t bytes) const
{
    return read_tail(root_.path() / "libvirtd.log", bytes);
}

std::string LibvirtDaemon::qemu_log_tail(const std::string &domain,
                                         size_t bytes) const
{
    return read_tail(outside("/var/log/libvirt/qemu/" + domain + ".log"), bytes);
}

std::unique_ptr<ProcessHold> LibvirtDaemon::hold() const
{
    return std::make_unique<ProcessHold>(libvirtd_pid(), "libvirtd");
}

void LibvirtDaemon::stop()
{
    if (!unshare_) {
        return;
    }
    if (unshare_->running()) {
        pid_t daemon = libvirtd_pid();
        if (daemon > 0) {
            ::kill(daemon, SIGCONT);
        }
        // Let libvirt end its QEMUs itself; whatever is left goes with the
        // PID namespace below.
        try {
            CommandResult r = virsh().try_run({"list", "--name"}, Millis(10000));
            std::istringstream in(r.out);
            std::string dom;
            while (std::getline(in, dom)) {
                if (!trim(dom).empty()) {
                    virsh().try_run({"destroy", trim(dom)}, Millis(30000));
                }
            }
        } catch (const std::exception &) {
            // A daemon that does not answer is killed below all the same.
        }
        if (daemon > 0) {
            ::kill(daemon, SIGTERM);
        }
        // libvirtd exits, the namespace's PID 1 (sh) follows, and the
        // kernel kills what is left in the namespace; unshare then exits.
        if (!unshare_->wait(Millis(15000))) {
            // --kill-child: unshare's death SIGKILLs the namespace's PID 1.
            ::kill(unshare_->pid(), SIGKILL);
            unshare_->wait(Millis(10000));
        }
    }
    unshare_.reset();
}

// What every test domain ends with: no restart, the emulator, the serial
// console in a file, no USB or balloon.
static std::string domain_end(const std::filesystem::path &emulator,
                              const std::filesystem::path &serial)
{
    std::ostringstream x;
    x << "  <on_poweroff>destroy</on_poweroff>\n"
      << "  <on_reboot>destroy</on_reboot>\n"
      << "  <on_crash>destroy</on_crash>\n"
      << "  <devices>\n"
      << "    <emulator>" << xml_escape(emulator.string()) << "</emulator>\n"
      << "    <serial type='file'>\n"
      << "      <source path='" << xml_escape(serial.string()) << "'/>\n"
      << "      <target port='0'/>\n"
      << "    </serial>\n"
      << "    <controller type='usb' model='none'/>\n"
      << "    <memballoon model='none'/>\n"
      << "  </devices>\n"
      << "</domain>\n";
    return x.str();
}

std::string domain_xml(const LinuxDomainSpec &s)
{
    for (const char *f : {"vmlinuz", "initrd.img"}) {
        if (!std::filesystem::exists(s.guest_dir / f)) {
            throw std::runtime_error("no " + (s.guest_dir / f).string() +
                                     ": run tools/build-guest");
        }
    }
    std::ostringstream x;
    // type='qemu' is TCG; QEMU runs it multi-threaded (MTTCG) by default
    // for an x86_64 guest on an x86_64 host, as the lab's thread=multi.
    // <acpi/> and <apic/>: without them libvirt 9.0 passes -no-acpi, which
    // QEMU 10.0 no longer has.
    x << "<domain type='qemu'>\n"
      << "  <name>" << xml_escape(s.name) << "</name>\n"
      << "  <memory unit='MiB'>" << s.memory_mib << "</memory>\n"
      << "  <vcpu>" << s.vcpus << "</vcpu>\n"
      << "  <os>\n"
      << "    <type arch='x86_64' machine='pc'>hvm</type>\n"
      << "    <kernel>" << xml_escape((s.guest_dir / "vmlinuz").string())
      << "</kernel>\n"
      << "    <initrd>" << xml_escape((s.guest_dir / "initrd.img").string())
      << "</initrd>\n"
      << "    <cmdline>" << xml_escape(linux_guest_cmdline(s.stress, s.kernel_args))
      << "</cmdline>\n"
      << "  </os>\n"
      << "  <features><acpi/><apic/></features>\n"
      << domain_end(s.emulator, s.serial);
    return x.str();
}

std::string domain_xml(const BareDomainSpec &s)
{
    BareGuest guest(s.image, s.settings);
    std::ostringstream x;
    x << "<domain type='kvm'>\n"
      << "  <name>" << xml_escape(s.name) << "</name>\n"
      << "  <memory unit='MiB'>" << s.memory_mib << "</memory>\n"
      << "  <vcpu>" << s.vcpus << "</vcpu>\n"
      << "  <os>\n"
      << "    <type arch='x86_64' machine='pc'>hvm</type>\n"
      // type='rom' is -bios: the 64 KiB image the vCPU resets into.
      << "    <loader type='rom' readonly='yes'>" << xml_escape(s.image.string())
      << "</loader>\n"
      << "  </os>\n"
      // -fw_cfg name=opt/miglab/bare,string=<settings>
      << "  <sysinfo type='fwcfg'>\n"
      << "    <entry name='" << bare::config_file << "'>"
      << xml_escape(guest.config()) << "</entry>\n"
      << "  </sysinfo>\n"
      << "  <features>\n"
      << "    <acpi/>\n"
      << "    <apic/>\n";
    if (s.dirty_ring) {
        x << "    <kvm><dirty-ring state='on' size='" << s.dirty_ring
          << "'/></kvm>\n";
    }
    x << "  </features>\n"
      << domain_end(s.emulator, s.serial);
    return x.str();
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
//
// The fork driven by libvirt, as users drive it: two libvirtd on this host
// (each in its own namespaces, a host of its own to libvirt), migrations
// through virsh only: `virsh migrate --live --p2p --auto-converge
// --migrateuri tcp://127.0.0.1:PORT` there and back, --persistent
// --undefinesource, --timeout --timeout-suspend, domjobabort mid-way,
// migrate-setspeed and migrate-setmaxdowntime. After every migration the
// destination's RAM equals the source's (digests through `virsh
// qemu-monitor-command`), the guest keeps running on the destination, and
// domjobinfo reports the auto-converge throttle.
//
// The source's RAM can only be read while its QEMU still exists: libvirt
// kills it as soon as the destination has finished. So once the migration
// is under way the destination daemon is held (SIGSTOP): the source daemon
// then waits in its Finish call with its QEMU stopped and complete, its
// RAM is digested, and the daemon released. The destination is migrated
// with --suspend, digested while paused, then resumed with virsh resume.
//
// No timing thresholds: limits only bound how long a test may hang.
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <sys/wait.h>

#include "lab_env.h"
#include "miglab/bare_guest.h"
#include "miglab/guest_probe.h"
#include "miglab/libvirt_bench.h"
#include "miglab/libvirt.h"
#include "miglab/poll.h"
#include "miglab/ram_hash.h"
#include "miglab/temp_dir.h"
#include "miglab/virsh_migration.h"

using namespace miglab;

namespace {

// The migration starts this slow (MiB/s) so that the test can hold the
// destination daemon before it can end; migrate-setspeed then opens the
// link while it runs.
constexpr unsigned slow_mib_s = 32;
constexpr unsigned fast_mib_s = 1000;
constexpr unsigned downtime_ms = 300;
// Each pmemsave is a virsh run (a new connection to the daemon): few and
// big.
constexpr uint64_t digest_chunk = 512ULL << 20;

// Waits until the guest reports work and that work grows.
bool guest_works(GuestProbe &probe, GuestVm &vm)
{
    return guest_makes_progress(probe, vm, Millis(300000));
}

// A line on stderr with the seconds since the test began: where a slow
// run spent its time shows in ctest's output.
class Steps {
public:
    void operator()(const std::string &what) const
    {
        std::cerr << "[ libvirt  ] "
                  << std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - t0_).count()
                  << " s: " << what << "\n";
    }

private:
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// What one checked migration saw.
struct Checked {
    std::map<std::string, std::string> completed; // destination's domjobinfo --completed
    int max_throttle = 0;                         // domjobinfo while it ran
    bool source_paused_before_end = false;        // a suspend before completion
    // cpu-throttle-percentage in the source QEMU's completed query-migrate.
    std::optional<int> final_throttle;
};

class LibvirtMigrationTest : public testing::Test {
protected:
    void SetUp() override
    {
        if (auto why = LibvirtDaemon::unavailable()) {
            GTEST_SKIP() << *why;
        }
        MIGLAB_REQUIRE_QEMU();
        a_ = std::make_unique<LibvirtDaemon>("a");
        b_ = std::make_unique<LibvirtDaemon>("b");
        step_("daemons " + a_->hostname() + " and " + b_->hostname() + " up");
    }

    LinuxDomainSpec linux_guest(const std::filesystem::path &emulator =
                                    test::qemu_binary())
    {
        LinuxDomainSpec s;
        s.emulator = std::filesystem::canonical(emulator);
        s.guest_dir = test::guest_dir();
        // The demo's stress at half its size: 2 writers over 512 MiB
        // out-dirty the 1000 MiB/s link, so auto-converge must throttle.
        s.memory_mib = 1024;
        s.vcpus = 2;
        s.stress = {{"mem_mib", 512}, {"writers", 2}};
        return s;
    }

    void require_linux_guest()
    {
        if (!std::filesystem::exists(test::guest_dir() / "vmlinuz") ||
            !std::filesystem::exists(test::guest_dir() / "initrd.img")) {
            GTEST_SKIP() << "no Linux guest in " << test::guest_dir()
                         << " (tools/build-guest)";
        }
    }

    std::filesystem::path write_xml(const std::string &name,
                                    const std::string &xml)
    {
        auto f = dir_.path() / (name + ".xml");
        std::ofstream(f) << xml;
        return f;
    }

    // Starts the stress guest on daemon d (transient, or defined and
    // started) and waits until it works.
    void start_linux(LibvirtDaemon &d, const LinuxDomainSpec &s,
                     bool persistent = false)
    {
        auto xml = write_xml(s.name, domain_xml(s));
        if (persistent) {
            d.virsh().run({"define", xml.string()});
            d.virsh().run({"start", s.name});
        } else {
            d.virsh().run({"create", xml.string()});
        }
        step_(s.name + " started on " + d.hostname());
        StressConsoleProbe probe;
        auto vm = d.domain(s.name, s.serial);
        ASSERT_TRUE(guest_works(probe, vm))
            << "the guest never reported progress on " << d.hostname()
            << "; its QEMU said: " << d.qemu_log_tail(s.name);
        step_(s.name + " works on " + d.hostname());
    }

    VirshMigrationPlan plan(const std::string &dom,
                            const std::filesystem::path &serial,
                            const std::vector<std::string> &extra,
                            std::function<void()> while_held)
    {
        VirshMigrationPlan p;
        p.domain = dom;
        p.serial = serial;
        p.extra = extra;
        p.downtime_ms = downtime_ms;
        p.start_mib_s = slow_mib_s;
        p.scratch = dir_.path() / ("migration-" + std::to_string(++migrations_));
        std::filesystem::create_directories(p.scratch);
        p.digest_chunk = digest_chunk;
        p.watch_source_state = true;
        p.step = step_;
        p.while_held = std::move(while_held);
        return p;
    }

    // A migration from -> to of a guest that keeps dirtying its memory,
    // checked end to end. while_held runs while it is under way with the
    // destination held (the default opens the link); probe tells whether
    // the guest works.
    Checked migrate_checked(LibvirtDaemon &from, LibvirtDaemon &to,
                            const std::string &dom,
                            const std::filesystem::path &serial,
                            const std::function<std::unique_ptr<GuestProbe>()> &probe,
                            const std::vector<std::string> &extra = {},
                            std::function<void(Checked &)> before_end = {})
    {
        Checked c;
        Virsh src = from.virsh();
        auto p = plan(dom, serial, extra, [&] {
            EXPECT_EQ(std::stoul(src.run({"migrate-getspeed", dom})),
                      slow_mib_s);
            if (before_end) {
                before_end(c);
            } else {
                src.run({"migrate-setspeed", dom, std::to_string(fast_mib_s)});
            }
            // The parameters virsh set are what QEMU migrates with.
            Json params = src.qmp(dom, "query-migrate-parameters");
            EXPECT_EQ(params.value("downtime-limit", 0u), downtime_ms);
            EXPECT_EQ(params.value("max-bandwidth", 0ULL),
                      static_cast<uint64_t>(fast_mib_s) << 20);
            EXPECT_EQ(std::stoul(src.run({"migrate-getmaxdowntime", dom})),
                      downtime_ms);
        });
        VirshMigrationOutcome o = migrate_via_virsh(from, to, p);
        c.max_throttle = std::max(c.max_throttle, o.max_throttle);
        c.source_paused_before_end |= o.source_paused_before_end;
        c.final_throttle = o.final_throttle();
        c.completed = o.completed;
        EXPECT_EQ(o.status, "completed")
            << "virsh migrate: " << o.virsh_output
            << "; the source's QEMU: " << from.qemu_log_tail(dom);
        if (o.status == "completed") {
            EXPECT_EQ(o.source_state, "postmigrate");
        }
        EXPECT_TRUE(o.virsh_ok) << "virsh migrate: " << o.virsh_output
                                << "; the destination said: " << to.log_tail();
        if (!o.src_ram || !o.dst_ram) {
            return c;
        }
        EXPECT_EQ(o.dst_state, "paused");
        auto diff = o.src_ram->first_difference(*o.dst_ram);
        EXPECT_FALSE(diff.has_value())
            << o.src_ram->count_differences(*o.dst_ram)
            << " pages differ after migration, the first at guest-physical "
            << hex(diff.value_or(0));
        EXPECT_GT(o.src_ram->nonzero_pages(), 0u);

        Virsh dst = to.virsh();
        EXPECT_EQ(dst.domstate(dom), "running");
        auto dvm = to.domain(dom, serial);
        auto pr = probe();
        EXPECT_TRUE(guest_works(*pr, dvm))
            << "the guest does not work on " << to.hostname();
        step_(from.hostname() + " -> " + to.hostname() +
              ": the guest works on " + to.hostname());
        return c;
    }

    Checked migrate_linux(LibvirtDaemon &from, LibvirtDaemon &to,
                          const LinuxDomainSpec &s,
                          const std::vector<std::string> &extra = {},
                          std::function<void(Checked &)> before_end = {})
    {
        return migrate_checked(
            from, to, s.name, s.serial,
            [] { return std::make_unique<StressConsoleProbe>(); }, extra,
            std::move(before_end));
    }

    // The auto-converge throttle libvirt reports for the migration: while
    // it runs (domjobinfo), and after it (domjobinfo --completed on the
    // destination) whenever QEMU still reports it at completion.
    void expect_throttle_reported(const Checked &c)
    {
        EXPECT_GT(c.max_throttle, 0)
            << "domjobinfo never reported an auto-converge throttle";
        EXPECT_EQ(c.completed.count("Operation") ? c.completed.at("Operation")
                                                 : "",
                  "Incoming migration");
        auto completed = virsh_percent(c.completed, "Auto converge throttle");
        if (c.final_throttle) {
            // The fork reports the throttle of the switchover once the
            // migration has completed (patch "report the throttle a
            // completed migration ended with").
            EXPECT_EQ(completed, c.final_throttle)
                << "domjobinfo --completed differs from QEMU's last "
                   "query-migrate";
            step_("domjobinfo --completed: throttle " +
                  std::to_string(*c.final_throttle) + "%, as QEMU's "
                  "completed query-migrate");
        } else {
            // Stock QEMU 10.0 stops the throttle before it reports
            // completion, so its last query-migrate has no
            // cpu-throttle-percentage and libvirt 9.0 prints no line.
            EXPECT_FALSE(completed.has_value());
            step_("domjobinfo --completed: no throttle line (QEMU's "
                  "completed query-migrate has none; " +
                  std::to_string(c.max_throttle) + "% seen while it ran)");
        }
    }

    Steps step_;
    TempDir dir_{"miglab-virsh"};
    std::unique_ptr<LibvirtDaemon> a_, b_;
    unsigned migrations_ = 0;
};

} // namespace

TEST_F(LibvirtMigrationTest, DaemonsAreTwoHosts)
{
    EXPECT_NE(a_->host_uuid(), b_->host_uuid());
    Virsh a = a_->virsh(), b = b_->virsh();
    EXPECT_EQ(a.run({"hostname"}), a_->hostname() + "\n");
    EXPECT_EQ(b.run({"hostname"}), b_->hostname() + "\n");
    EXPECT_TRUE(a.domains().empty());
}

TEST_F(LibvirtMigrationTest, LiveP2pAutoConvergeThereAndBack)
{
    require_linux_guest();
    LinuxDomainSpec s = linux_guest();
    ASSERT_NO_FATAL_FAILURE(start_linux(*a_, s));

    Checked there = migrate_linux(*a_, *b_, s);
    expect_throttle_reported(there);
    // A transient domain leaves the source once it runs elsewhere.
    EXPECT_TRUE(a_->virsh().domains().empty());

    Checked back = migrate_linux(*b_, *a_, s);
    expect_throttle_reported(back);
    EXPECT_TRUE(b_->virsh().domains().empty());
    EXPECT_EQ(a_->virsh().domstate(s.name), "running");
}

TEST_F(LibvirtMigrationTest, PersistentUndefineSource)
{
    require_linux_guest();
    LinuxDomainSpec s = linux_guest();
    ASSERT_NO_FATAL_FAILURE(start_linux(*a_, s, true));
    EXPECT_TRUE(a_->virsh().persistent(s.name));

    Checked c = migrate_linux(*a_, *b_, s, {"--persistent", "--undefinesource"});
    expect_throttle_reported(c);
    EXPECT_TRUE(b_->virsh().persistent(s.name));
    EXPECT_TRUE(a_->virsh().domains().empty())
        << "--undefinesource left the domain defined on the source";
}

TEST_F(LibvirtMigrationTest, TimeoutSuspendEndsTheMigration)
{
    require_linux_guest();
    LinuxDomainSpec s = linux_guest();
    ASSERT_NO_FATAL_FAILURE(start_linux(*a_, s));

    // The link stays slow: live, the migration cannot end before virsh
    // suspends the source after 2 s; then it ends as a paused one.
    Checked c = migrate_linux(
        *a_, *b_, s, {"--timeout", "2", "--timeout-suspend"},
        [&](Checked &seen) {
            bool paused = poll_until(Millis(120000), Millis(100), [&] {
                return a_->virsh().domstate(s.name) == "paused";
            });
            EXPECT_TRUE(paused) << "virsh did not suspend the source";
            seen.source_paused_before_end = paused;
            a_->virsh().run({"migrate-setspeed", s.name, std::to_string(fast_mib_s)});
        });
    EXPECT_TRUE(c.source_paused_before_end);
    EXPECT_EQ(c.completed.count("Operation") ? c.completed.at("Operation") : "",
              "Incoming migration");
}

TEST_F(LibvirtMigrationTest, JobAbortKeepsSourceThenMigrationSucceeds)
{
    require_linux_guest();
    LinuxDomainSpec s = linux_guest();
    ASSERT_NO_FATAL_FAILURE(start_linux(*a_, s));
    Virsh a = a_->virsh();
    a.run({"migrate-setspeed", s.name, std::to_string(slow_mib_s)});
    auto migrate = start_virsh_migrate(*a_, *b_, s.name, {},
                                       dir_.path() / "aborted.log");
    wait_transferring(*a_, s.name, *migrate);

    a.run({"domjobabort", s.name});
    auto exit = migrate->wait(Millis(120000));
    ASSERT_TRUE(exit.has_value()) << "virsh migrate still runs after domjobabort";
    EXPECT_FALSE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
        << "an aborted migration succeeded: " << migrate->output();
    EXPECT_EQ(a.domstate(s.name), "running");
    EXPECT_TRUE(b_->virsh().domains().empty());
    StressConsoleProbe probe;
    auto vm = a_->domain(s.name, s.serial);
    EXPECT_TRUE(guest_works(probe, vm)) << "the source stopped working";

    Checked c = migrate_linux(*a_, *b_, s);
    expect_throttle_reported(c);
}

// The bare ring-3 guest under KVM with a 4096-entry dirty ring (libvirt's
// <features><kvm><dirty-ring/>), where /dev/kvm exists.
TEST_F(LibvirtMigrationTest, BareGuestKvmDirtyRing)
{
    if (!test::kvm_usable()) {
        GTEST_SKIP() << "no usable /dev/kvm on this machine: libvirt "
                        "refuses a domain of type 'kvm'";
    }
    if (!std::filesystem::exists(BareGuest::default_image())) {
        GTEST_SKIP() << "no bare guest image at " << BareGuest::default_image();
    }
    BareDomainSpec s;
    s.emulator = std::filesystem::canonical(test::qemu_binary());
    s.image = BareGuest::default_image();
    s.settings = {{"ws_mib", 99}};
    s.memory_mib = 512;
    s.dirty_ring = 4096;
    a_->virsh().run({"create", write_xml(s.name, domain_xml(s)).string()});
    auto vm = a_->domain(s.name, s.serial);
    // libvirt turned <dirty-ring size='4096'/> into QEMU's option (its
    // command line heads the domain's log; the accelerator is no QOM
    // path) ...
    EXPECT_NE(a_->qemu_log_tail(s.name, 1 << 20).find("dirty-ring-size=4096"),
              std::string::npos)
        << a_->qemu_log_tail(s.name);
    // ... and KVM logs through rings of that size: the fork says so in
    // x-query-dirty-ring (stock has no such command).
    try {
        EXPECT_EQ(vm.execute("x-query-dirty-ring").value("size", 0), 4096);
    } catch (const QmpError &e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound") << e.what();
    }
    auto scratch = dir_.path();
    auto probe = [scratch] { return std::make_unique<BareProbe>(scratch); };
    ASSERT_TRUE(guest_works(*probe(), vm)) << a_->qemu_log_tail(s.name);

    // Under KVM the guest's 198 MiB go in about a second once the link is
    // open: too short to sample domjobinfo with any certainty. The link
    // stays slow (the working set outruns it, so the migration cannot end
    // unthrottled) until domjobinfo has shown the throttle.
    Virsh a = a_->virsh();
    Checked c = migrate_checked(
        *a_, *b_, s.name, s.serial, probe, {}, [&](Checked &seen) {
            bool throttled = poll_until(Millis(120000), Millis(100), [&] {
                seen.max_throttle = std::max(
                    seen.max_throttle,
                    virsh_percent(a.domjobinfo(s.name), "Auto converge throttle")
                        .value_or(0));
                return seen.max_throttle > 0;
            });
            EXPECT_TRUE(throttled) << "no throttle in domjobinfo in 120 s";
            a.run({"migrate-setspeed", s.name, std::to_string(fast_mib_s)});
        });
    expect_throttle_reported(c);
}

// migbench --via libvirt, one run: the scenario becomes a domain and virsh
// commands, QEMU's figures and the throttle virsh reported land in the
// run's result, the RAM is compared, and nothing is left behind.
TEST(LibvirtBenchRun, SmallDemoThroughVirsh)
{
    if (auto why = LibvirtDaemon::unavailable()) {
        GTEST_SKIP() << *why;
    }
    MIGLAB_REQUIRE_QEMU();
    if (!std::filesystem::exists(test::guest_dir() / "vmlinuz")) {
        GTEST_SKIP() << "no Linux guest in " << test::guest_dir()
                     << " (tools/build-guest)";
    }
    TempDir dir("miglab-virsh-bench");
    std::ofstream(dir.path() / "small-demo.json") << R"({
      "name": "small-demo",
      "guest": {"kind": "linux", "memory": "1G", "smp": 2,
                "accel": "tcg,thread=multi",
                "stress": {"mem_mib": 512, "writers": 2}},
      "migration": {"capabilities": {"auto-converge": true, "events": true},
                    "parameters": {"max-bandwidth": 1048576000,
                                   "downtime-limit": 300},
                    "time_limit_s": 120}})";
    Scenario s = Scenario::load(dir.path() / "small-demo.json");
    RunResult r;
    {
        LibvirtBench bench(LabPaths{"", test::guest_dir()});
        r = bench.run_once(s, Binary{"fork", test::qemu_binary()}, 1);
    }
    EXPECT_EQ(r.status, "completed") << r.error;
    EXPECT_TRUE(r.converged);
    EXPECT_TRUE(r.ram_equal) << r.error;
    EXPECT_GT(r.total_time_ms, 0);
    EXPECT_GT(r.transferred_bytes, 0u);
    EXPECT_GT(r.nonzero_ram_bytes, 0u);
    EXPECT_TRUE(r.completed_throttle_pct.has_value());
    EXPECT_FALSE(r.throttle_timeline.empty());
}

// SPDX-License-Identifier: GPL-2.0-or-later
//
// The bare stress guest: it boots and every vCPU works, under TCG and
// under KVM; migrations under KVM (dirty bitmap and dirty ring) keep RAM
// and the guest's page pattern intact; a vCPU dirty limit slows a writer
// vCPU and leaves a reader alone. KVM tests skip where /dev/kvm is absent.
// No timing thresholds: limits only bound how long a test may hang.
#include <thread>

#include "lab_env.h"
#include "miglab/bare_guest.h"
#include "miglab/poll.h"
#include "miglab/temp_dir.h"

using namespace miglab;

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> bare_args(const std::string &accel, unsigned smp,
                                   const Json &settings,
                                   const std::string &memory = "256M")
{
    auto a = pc_machine_args(accel, memory, smp);
    auto extra = BareGuest(BareGuest::default_image(), settings).args();
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

// Reads the status page until the guest runs on every vCPU (or stopped
// with a problem, or 60 s passed).
BareSnapshot wait_until_running(QemuProcess &vm,
                                const std::filesystem::path &scratch)
{
    BareSnapshot s;
    poll_until(std::chrono::seconds(60), Millis(50), [&] {
        s = BareSnapshot::read(vm, scratch);
        return s.booted() && s.state() != bare::State::booting;
    });
    return s;
}

// Pages per second of every vCPU over about a second of the guest's life.
std::vector<double> rates(QemuProcess &vm, const std::filesystem::path &scratch,
                          Millis window = Millis(1000))
{
    auto a = BareSnapshot::read(vm, scratch);
    auto t0 = Clock::now();
    std::this_thread::sleep_for(window);
    auto b = BareSnapshot::read(vm, scratch);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> r;
    for (unsigned i = 0; i < b.cpus(); ++i) {
        r.push_back(static_cast<double>(b.raw.cpu[i].pages - a.raw.cpu[i].pages) / s);
    }
    return r;
}

class BareTest : public testing::Test {
protected:
    void SetUp() override
    {
        MIGLAB_REQUIRE_QEMU();
        if (!std::filesystem::exists(BareGuest::default_image())) {
            GTEST_SKIP() << "no bare guest image at "
                         << BareGuest::default_image();
        }
    }
    // Boots one VM and checks that every vCPU runs its loop in ring 3.
    void expect_every_vcpu_works(const std::string &accel)
    {
        QemuProcess vm(test::qemu_binary(),
                       bare_args(accel, 2, {{"ws_mib", 16}, {"readers", 1}}),
                       dir_.path(), "vm");
        BareSnapshot s = wait_until_running(vm, dir_.path());
        ASSERT_TRUE(s.booted()) << "no status page; " << vm.log_tail();
        ASSERT_EQ(s.state(), bare::State::running) << s.problem();
        ASSERT_EQ(s.cpus(), 2u);
        EXPECT_TRUE(s.is_writer(0));
        EXPECT_FALSE(s.is_writer(1));
        EXPECT_GT(s.raw.tsc_khz, 0u);
        for (double r : rates(vm, dir_.path())) {
            EXPECT_GT(r, 0) << "a vCPU made no progress";
        }
    }
    // A migration of a 2-vCPU bare guest under accel ends with equal RAM
    // and an intact page pattern on the destination.
    void migrate_and_check(const std::string &accel)
    {
        VmPair pair({test::qemu_binary(), bare_args(accel, 2, {{"ws_mib", 32}})},
                    dir_.path());
        BareSnapshot s = wait_until_running(pair.source(), dir_.path());
        ASSERT_EQ(s.state(), bare::State::running) << s.problem();
        MigrationSetup setup;
        setup.capabilities = {{"auto-converge", true}, {"events", true}};
        setup.parameters = {{"max-bandwidth", 1LL << 30},
                            {"downtime-limit", 300}};
        MigrationResult r = pair.migrate(setup, Millis(180000));
        ASSERT_TRUE(r.converged()) << r.status << ": " << r.info.dump();
        test::expect_equal_ram(pair, dir_.path());
        auto bad = check_bare_pattern(pair.destination(), dir_.path());
        EXPECT_FALSE(bad.has_value()) << *bad;
    }
    TempDir dir_;
};

} // namespace

TEST(BareGuestConfig, SettingsBecomeTheFwCfgString)
{
    BareGuest g("/nonexistent", {{"ws_mib", 99}, {"rates", {0, 1000}}});
    EXPECT_EQ(g.config(), "rates=0,1000 ws_mib=99");
    EXPECT_THROW(BareGuest("/x", {{"mem_mib", 1}}), std::runtime_error);
    // The image is checked when the command line is made.
    EXPECT_THROW(g.args(), std::runtime_error);
}

TEST_F(BareTest, EveryVcpuWorksUnderTcg)
{
    expect_every_vcpu_works("tcg,thread=multi");
}

TEST_F(BareTest, EveryVcpuWorksUnderKvm)
{
    MIGLAB_REQUIRE_KVM();
    expect_every_vcpu_works("kvm");
}

TEST_F(BareTest, BadSettingIsReportedNotIgnored)
{
    QemuProcess vm(test::qemu_binary(),
                   bare_args("tcg", 1, {{"ws_mib", 4096}}), dir_.path(), "vm");
    BareSnapshot s = wait_until_running(vm, dir_.path());
    ASSERT_TRUE(s.booted()) << vm.log_tail();
    EXPECT_EQ(s.state(), bare::State::error);
    EXPECT_NE(s.problem().find("do not fit"), std::string::npos)
        << s.problem();
}

TEST_F(BareTest, MigratesWithEqualRamUnderTcg)
{
    migrate_and_check("tcg,thread=multi");
}

TEST_F(BareTest, MigratesWithEqualRamUnderKvmBitmap)
{
    MIGLAB_REQUIRE_KVM();
    migrate_and_check("kvm");
}

TEST_F(BareTest, MigratesWithEqualRamUnderKvmDirtyRing)
{
    MIGLAB_REQUIRE_KVM();
    migrate_and_check("kvm,dirty-ring-size=65536");
}

// set-vcpu-dirty-limit (needs the dirty ring) throttles the vCPU that
// dirties memory and not the one that only reads. The limit acts when a
// vCPU's ring fills, so the ring (4096 entries, the usual size) is smaller
// than the writer's working set (16384 pages).
TEST_F(BareTest, DirtyLimitSlowsTheWriterNotTheReader)
{
    MIGLAB_REQUIRE_KVM();
    QemuProcess vm(test::qemu_binary(),
                   bare_args("kvm,dirty-ring-size=4096", 2,
                             {{"ws_mib", 64}, {"readers", 1}}),
                   dir_.path(), "vm");
    BareSnapshot s = wait_until_running(vm, dir_.path());
    ASSERT_EQ(s.state(), bare::State::running) << s.problem();
    auto before = rates(vm, dir_.path(), Millis(2000));
    vm.qmp().execute("set-vcpu-dirty-limit", {{"dirty-rate", 1}});
    std::this_thread::sleep_for(Millis(3000)); // the limit settles
    auto after = rates(vm, dir_.path(), Millis(2000));
    Json limits = vm.qmp().execute("query-vcpu-dirty-limit");
    vm.qmp().execute("cancel-vcpu-dirty-limit");
    EXPECT_EQ(limits.size(), 2u) << limits.dump();
    EXPECT_LT(after[0], before[0] / 2)
        << "writer: " << before[0] << " -> " << after[0] << " pages/s";
    EXPECT_GT(after[1], before[1] / 2)
        << "reader: " << before[1] << " -> " << after[1] << " pages/s";
}

// The fork's x-query-dirty-ring while a migration runs that cannot
// converge: the syncs flush the rings without kicking all vCPUs, and the
// rings measure a dirty rate for the writer and next to none for the
// reader.
// The writer paces itself over a set it needs 3 s to cover, so it keeps
// dirtying clean pages (a page already dirty logs nothing new).
// Skips on a binary without the command (stock QEMU).
TEST_F(BareTest, DirtyRingCountersWhileMigratingUnderKvm)
{
    MIGLAB_REQUIRE_KVM();
    VmPair pair({test::qemu_binary(),
                 bare_args("kvm,dirty-ring-size=65536", 2,
                           {{"ws_mib", 240}, {"readers", 1}, {"rate", 20000}},
                           "512M")},
                dir_.path());
    BareSnapshot s = wait_until_running(pair.source(), dir_.path());
    ASSERT_EQ(s.state(), bare::State::running) << s.problem();
    Json before;
    try {
        before = pair.source().qmp().execute("x-query-dirty-ring");
    } catch (const QmpError &e) {
        GTEST_SKIP() << "no x-query-dirty-ring in this QEMU: " << e.what();
    }
    MigrationSetup slow;
    slow.parameters = {{"max-bandwidth", 4LL << 20}, {"downtime-limit", 1}};
    pair.start(slow);
    std::this_thread::sleep_for(Millis(3000));
    Json ring = pair.source().qmp().execute("x-query-dirty-ring");
    pair.cancel();
    EXPECT_EQ(pair.source().run_state(), "running");

    EXPECT_GE(ring["flushes"].get<uint64_t>(),
              before["flushes"].get<uint64_t>() + 1) << ring.dump();
    EXPECT_EQ(ring["kick-alls"], before["kick-alls"]) << ring.dump();
    ASSERT_EQ(ring["vcpus"].size(), 2u) << ring.dump();
    // The reader dirties only its stack and its status record.
    uint64_t writer = ring["vcpus"][0]["dirty-rate"].get<uint64_t>();
    uint64_t reader = ring["vcpus"][1]["dirty-rate"].get<uint64_t>();
    EXPECT_GT(writer, 0u) << ring.dump();
    EXPECT_LT(reader * 100, writer) << ring.dump();
}

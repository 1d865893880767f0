// SPDX-License-Identifier: GPL-2.0-or-later
//
// The bare stress guest: it boots and every vCPU works, under TCG and
// under KVM; migrations under KVM (dirty bitmap and dirty ring) keep RAM
// and the guest's page pattern intact; a vCPU dirty limit puts a writer
// vCPU to sleep and leaves a reader alone. KVM tests skip where /dev/kvm is absent.
// No timing thresholds: limits only bound how long a test may hang.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "lab_env.h"
#include "miglab/bare_guest.h"
#include "miglab/poll.h"
#include "miglab/temp_dir.h"
#include "miglab/trace_log.h"

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
        ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
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
    // Waits until vm's guest runs its loop.
    void expect_running(QemuProcess &vm)
    {
        BareSnapshot s = wait_until_running(vm, dir_.path());
        ASSERT_EQ(s.state(), bare::State::running) << s.problem();
    }
    TempDir dir_;
};

// vm's x-query-dirty-ring, or nothing on a QEMU without it (stock QEMU):
// the test then skips with kNoDirtyRingQuery.
std::optional<Json> query_dirty_ring(QemuProcess &vm)
{
    try {
        return vm.qmp().execute("x-query-dirty-ring");
    } catch (const QmpError &) {
        return std::nullopt;
    }
}
const char *const kNoDirtyRingQuery = "no x-query-dirty-ring in this QEMU";

// pair's source's x-query-dirty-ring 3 s into a migration that cannot
// converge (4 MiB/s, 1 ms downtime limit), which is then cancelled.
Json dirty_ring_while_migrating(VmPair &pair)
{
    MigrationSetup slow;
    slow.parameters = {{"max-bandwidth", 4LL << 20}, {"downtime-limit", 1}};
    pair.start(slow);
    std::this_thread::sleep_for(Millis(3000));
    Json ring = pair.source().qmp().execute("x-query-dirty-ring");
    pair.cancel();
    return ring;
}

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

namespace {

// The strictest throttle QEMU set on each vCPU of its own (the dirty
// limit's), in parts per million, from the cpu_throttle_set_vcpu lines
// of its trace log, by vCPU index.
std::map<unsigned, unsigned long> vcpu_throttles(const std::filesystem::path &log)
{
    std::map<unsigned, unsigned long> most;
    for_each_trace_event(log, "cpu_throttle_set_vcpu", [&](const TraceLine &l) {
        unsigned cpu;
        unsigned long ppm;
        if (std::sscanf(l.args.c_str(), "cpu %u: throttled by %lu ppm", &cpu, &ppm) == 2) {
            most[cpu] = std::max(most[cpu], ppm);
        }
    });
    return most;
}

// The page rates QEMU held each vCPU to (under TCG, a limit or a
// throttle held by the page), from the cpu_throttle_set_vcpu_pages lines
// of its trace log, by vCPU index: how many times it set one, and the
// last rate it set (0: let go).
struct PageRates {
    unsigned held = 0;
    unsigned long last = 0;
};

std::map<unsigned, PageRates> vcpu_page_rates(const std::filesystem::path &log)
{
    std::map<unsigned, PageRates> rates;
    for_each_trace_event(log, "cpu_throttle_set_vcpu_pages", [&](const TraceLine &l) {
        unsigned cpu;
        unsigned long pages;
        if (std::sscanf(l.args.c_str(), "cpu %u: held to %lu pages/s", &cpu, &pages) == 2) {
            rates[cpu].held += pages > 0;
            rates[cpu].last = pages;
        }
    });
    return rates;
}

// The sleeps QEMU made each vCPU take for the pages it owed (a dirty limit
// held by the page, under TCG), from the cpu_throttle_vcpu_owed lines of
// its trace log, by vCPU index.
std::map<unsigned, unsigned> vcpu_owed_sleeps(const std::filesystem::path &log)
{
    std::map<unsigned, unsigned> sleeps;
    for_each_trace_event(log, "cpu_throttle_vcpu_owed", [&](const TraceLine &l) {
        unsigned cpu;
        if (std::sscanf(l.args.c_str(), "cpu %u:", &cpu) == 1) {
            ++sleeps[cpu];
        }
    });
    return sleeps;
}

// x-throttle-ppm of vCPU cpu in query-vcpu-dirty-limit (0 if not listed):
// its throttle, or under TCG, which holds a limit by the page, the share
// of the last period it slept.
unsigned long listed_throttle(const Json &limits, int cpu)
{
    for (const auto &l : limits) {
        if (l.value("cpu-index", -1) == cpu) {
            return l.value("x-throttle-ppm", 0UL);
        }
    }
    return 0;
}

// set-vcpu-dirty-limit throttles the vCPU that dirties memory and not
// the one that only reads: QEMU measures each vCPU's dirty rate (from
// its dirty ring under KVM, from the pages it dirties under TCG) and
// holds the one over its quota: under KVM with a throttle of its own
// (cpu_throttle_set_vcpu in its trace), under TCG by the page (it sleeps
// for the pages it owes: cpu_throttle_vcpu_owed). query-vcpu-dirty-limit
// shows the writer's vCPU asleep at least half the time.
// The reader dirties only its stack and status record: far under 1 MB/s.
// Under KVM the ring size no longer matters: with 65536 entries the
// writer's ring never fills, which is all stock's limit acted on.
// Settings, not rates: a shared 2-core host makes any rate ratio noise.
} // namespace

class BareDirtyLimitTest : public BareTest {
protected:
    void expect_throttles_writer_only(const std::string &accel);
};

void BareDirtyLimitTest::expect_throttles_writer_only(const std::string &accel)
{
    auto args = bare_args(accel, 2, {{"ws_mib", 64}, {"readers", 1}});
    auto trace = trace_args({"cpu_throttle_set_vcpu", "cpu_throttle_vcpu_owed"},
                            dir_.path());
    args.insert(args.end(), trace.begin(), trace.end());
    QemuProcess vm(test::qemu_binary(), args, dir_.path(), "vm");
    ASSERT_NO_FATAL_FAILURE(expect_running(vm));
    vm.qmp().execute("set-vcpu-dirty-limit", {{"dirty-rate", 1}});
    const auto log = trace_log_path(dir_.path(), vm.pid());
    std::map<unsigned, unsigned long> throttles;
    unsigned long writer_ppm = 0;
    // The limits bound a hang; nothing here is timed.
    const auto limit = std::chrono::seconds(60);
    const bool writer_held = poll_until(limit, Millis(100), [&] {
        writer_ppm = std::max(writer_ppm,
            listed_throttle(vm.qmp().execute("query-vcpu-dirty-limit"), 0));
        return writer_ppm >= 500000;
    });
    auto reader_pages = [&] {
        return BareSnapshot::read(vm, dir_.path()).raw.cpu[1].pages;
    };
    const uint64_t reader_before = reader_pages();
    const bool reader_works = poll_until(limit, Millis(50), [&] {
        return reader_pages() > reader_before;
    });
    Json limits = vm.qmp().execute("query-vcpu-dirty-limit");
    throttles = vcpu_throttles(log);
    auto owed = vcpu_owed_sleeps(log);
    vm.qmp().execute("cancel-vcpu-dirty-limit");
    EXPECT_EQ(limits.size(), 2u) << limits.dump();
    EXPECT_TRUE(writer_held)
        << "the writer's vCPU was held " << writer_ppm << " ppm at most";
    EXPECT_EQ(throttles[1], 0u) << "the reader's vCPU was throttled for its limit";
    EXPECT_EQ(owed[1], 0u) << "the reader's vCPU slept for pages it owed";
    EXPECT_TRUE(reader_works) << "the reader stopped under the limit";
}

TEST_F(BareDirtyLimitTest, ThrottlesTheWriterNotTheReaderUnderTcg)
{
    expect_throttles_writer_only("tcg");
}

TEST_F(BareDirtyLimitTest, ThrottlesTheWriterNotTheReaderUnderKvmRing4k)
{
    MIGLAB_REQUIRE_KVM();
    expect_throttles_writer_only("kvm,dirty-ring-size=4096");
}

TEST_F(BareDirtyLimitTest, ThrottlesTheWriterNotTheReaderUnderKvmRing64k)
{
    MIGLAB_REQUIRE_KVM();
    expect_throttles_writer_only("kvm,dirty-ring-size=65536");
}

// The fork's per-vCPU policy, of auto-converge (x-cpu-throttle-policy
// per-vcpu) or of the dirty limit with vcpu-dirty-limit 0: while the
// migration cannot converge (8 MiB/s), the writer's vCPU gets a throttle
// of its own (under KVM of its run time, under TCG held by the page: a
// page rate), which query-vcpu-dirty-limit says the policy set, and the
// reader's vCPU none; then the migration completes with equal RAM and
// the throttles end. Settings, not rates, as above.
class BarePerVcpuPolicyTest : public BareTest {
protected:
    void expect_throttles_writer_only(const std::string &accel,
                                      bool dirty_limit);
};

void BarePerVcpuPolicyTest::expect_throttles_writer_only(
    const std::string &accel, bool dirty_limit)
{
    auto args = bare_args(accel, 2, {{"ws_mib", 64}, {"readers", 1}});
    auto trace = trace_args({"cpu_throttle_set_vcpu", "cpu_throttle_set_vcpu_pages",
                             "cpu_throttle_vcpu_owed"},
                            dir_.path());
    args.insert(args.end(), trace.begin(), trace.end());
    VmPair pair({test::qemu_binary(), args}, dir_.path());
    ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
    MigrationSetup setup;
    setup.parameters = {{"max-bandwidth", 8LL << 20}, {"downtime-limit", 300}};
    if (dirty_limit) {
        setup.capabilities = {{"dirty-limit", true}};
        setup.parameters["vcpu-dirty-limit"] = 0;
    } else {
        setup.capabilities = {{"auto-converge", true}};
        setup.parameters["x-cpu-throttle-policy"] = "per-vcpu";
    }
    pair.start(setup);
    Json limits;
    // The limit bounds a hang; nothing here is timed.
    const bool writer_held = poll_until(Millis(60000), Millis(100), [&] {
        limits = pair.source().qmp().execute("query-vcpu-dirty-limit");
        return limits.size() == 1 && limits[0].value("x-throttle-ppm", 0) > 0;
    });
    ASSERT_TRUE(writer_held) << limits.dump();
    EXPECT_EQ(limits[0].value("cpu-index", -1), 0) << limits.dump();
    EXPECT_EQ(limits[0].value("x-set-by", ""), "policy") << limits.dump();
    pair.source().qmp().execute("migrate-set-parameters",
                                {{"max-bandwidth", 1LL << 30}});
    MigrationResult r = pair.wait(Millis(180000));
    ASSERT_TRUE(r.converged()) << r.status << ": " << r.info.dump()
                               << pair.source().log_tail();
    test::expect_equal_ram(pair, dir_.path());
    const auto log = trace_log_path(dir_.path(), pair.source().pid());
    auto throttles = vcpu_throttles(log);
    auto page_rates = vcpu_page_rates(log);
    auto owed = vcpu_owed_sleeps(log);
    if (accel == "tcg") {
        EXPECT_GT(page_rates[0].held, 0u) << "the writer's vCPU was not held by the page";
        EXPECT_EQ(page_rates[0].last, 0u) << "the writer's page rate outlived the migration";
    } else {
        EXPECT_GT(throttles[0], 0u);
    }
    EXPECT_EQ(throttles[1], 0u) << "the reader's vCPU was throttled";
    EXPECT_EQ(page_rates[1].held, 0u) << "the reader's vCPU was held by the page";
    EXPECT_EQ(owed[1], 0u) << "the reader's vCPU slept for pages it owed";
    EXPECT_EQ(pair.source().qmp().execute("query-vcpu-dirty-limit").size(),
              0u) << "the throttles outlived the migration";
}

TEST_F(BarePerVcpuPolicyTest, AutoConvergeThrottlesTheWriterOnlyUnderTcg)
{
    expect_throttles_writer_only("tcg", false);
}

TEST_F(BarePerVcpuPolicyTest, DirtyLimitZeroThrottlesTheWriterOnlyUnderTcg)
{
    expect_throttles_writer_only("tcg", true);
}

namespace {

// One throttle period of the per-vCPU policy, from a trace log: the
// pages the vCPUs' own counts say they dirtied (throttle_vcpus_measured,
// a rate) and those the bitmap syncs found (migration_throttle_period).
// QEMU writes the two lines once each per period, in that order.
struct PeriodCounts {
    double vcpu_pages;
    unsigned long bitmap_pages;
};

std::vector<PeriodCounts> period_counts(const std::filesystem::path &log)
{
    std::vector<unsigned long> rates;
    for_each_trace_event(log, "throttle_vcpus_measured", [&](const TraceLine &l) {
        unsigned long rate;
        if (std::sscanf(l.args.c_str(), "%lu pages/s dirtied", &rate) == 1) {
            rates.push_back(rate);
        }
    });
    std::vector<PeriodCounts> periods;
    for_each_trace_event(log, "migration_throttle_period", [&](const TraceLine &l) {
        long ms;
        unsigned long pages;
        int ring;
        if (periods.size() < rates.size() &&
            std::sscanf(l.args.c_str(), "period %ld ms: %lu pages dirtied, from ring %d",
                        &ms, &pages, &ring) == 3) {
            periods.push_back({rates[periods.size()] * ms / 1000.0, pages});
        }
    });
    return periods;
}

} // namespace

// The per-vCPU policy's counts of a period cover the writes the bitmap's
// count does: every count ends where the sync reads the bitmap. Under
// TCG a writer that keeps rewriting its set re-dirties it in a burst as
// soon as a sync protects it again; counts read after the sync gave part
// of that burst to the wrong period, most of all in the first period
// under the throttle. The vCPUs' rates are whole pages per second, so a
// period's sum may be off by a page or so per vCPU; the writer writes only
// its own pages, so none is counted twice.
TEST_F(BarePerVcpuPolicyTest, VcpuCountsAreTheBitmapsEachPeriodUnderTcg)
{
    auto args = bare_args("tcg", 2, {{"ws_mib", 64}, {"readers", 1}});
    auto trace = trace_args({"throttle_vcpus_measured", "migration_throttle_period"},
                            dir_.path());
    args.insert(args.end(), trace.begin(), trace.end());
    VmPair pair({test::qemu_binary(), args}, dir_.path());
    ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
    MigrationSetup setup;
    setup.parameters = {{"max-bandwidth", 8LL << 20}, {"downtime-limit", 300},
                        {"x-cpu-throttle-policy", "per-vcpu"}};
    setup.capabilities = {{"auto-converge", true}};
    pair.start(setup);
    const auto log = trace_log_path(dir_.path(), pair.source().pid());
    // Periods before the policy held the writer, and three under its hold.
    // The limits bound a hang; nothing here is timed.
    size_t held_at = 0;
    const bool held = poll_until(Millis(60000), Millis(100), [&] {
        Json limits = pair.source().qmp().execute("query-vcpu-dirty-limit");
        held_at = period_counts(log).size();
        return limits.size() == 1 && limits[0].value("x-throttle-ppm", 0) > 0;
    });
    const bool traced = held && poll_until(Millis(60000), Millis(100), [&] {
        return period_counts(log).size() >= held_at + 3;
    });
    pair.source().qmp().execute("migrate-set-parameters",
                                {{"max-bandwidth", 1LL << 30}});
    MigrationResult r = pair.wait(Millis(180000));
    ASSERT_TRUE(held) << "the policy never held the writer";
    ASSERT_TRUE(traced) << "fewer than 3 periods traced under the hold";
    ASSERT_TRUE(r.converged()) << r.status << ": " << r.info.dump()
                               << pair.source().log_tail();
    const auto periods = period_counts(log);
    for (size_t i = 0; i < periods.size(); ++i) {
        EXPECT_NEAR(periods[i].vcpu_pages, static_cast<double>(periods[i].bitmap_pages),
                    4 + periods[i].bitmap_pages / 100.0)
            << "period " << i + 1 << " of " << periods.size() << " (the policy held the writer from period "
            << held_at << ")";
    }
}

TEST_F(BarePerVcpuPolicyTest, AutoConvergeThrottlesTheWriterOnlyUnderKvmRing4k)
{
    MIGLAB_REQUIRE_KVM();
    expect_throttles_writer_only("kvm,dirty-ring-size=4096", false);
}

TEST_F(BarePerVcpuPolicyTest, AutoConvergeThrottlesTheWriterOnlyUnderKvmRing64k)
{
    MIGLAB_REQUIRE_KVM();
    expect_throttles_writer_only("kvm,dirty-ring-size=65536", false);
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
    ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
    std::optional<Json> before = query_dirty_ring(pair.source());
    if (!before) {
        GTEST_SKIP() << kNoDirtyRingQuery;
    }
    Json ring = dirty_ring_while_migrating(pair);
    EXPECT_EQ(pair.source().run_state(), "running");

    EXPECT_GE(ring["flushes"].get<uint64_t>(),
              (*before)["flushes"].get<uint64_t>() + 1) << ring.dump();
    EXPECT_EQ(ring["kick-alls"], (*before)["kick-alls"]) << ring.dump();
    ASSERT_EQ(ring["vcpus"].size(), 2u) << ring.dump();
    // The reader dirties only its stack and its status record.
    uint64_t writer = ring["vcpus"][0]["dirty-rate"].get<uint64_t>();
    uint64_t reader = ring["vcpus"][1]["dirty-rate"].get<uint64_t>();
    EXPECT_GT(writer, 0u) << ring.dump();
    EXPECT_LT(reader * 100, writer) << ring.dump();
}

namespace {

// Ejects vCPU index from a pc machine the way the guest's ACPI code does:
// switch the PIIX4 CPU hotplug block to its modern interface, select the
// CPU, write the eject flag (hw/acpi/cpu.c). Cold-plugged vCPUs other
// than the first can be ejected so; no device_del is needed.
void eject_vcpu(QemuProcess &vm, unsigned index)
{
    vm.qmp().hmp("o /b 0xaf00 0");
    vm.qmp().hmp("o /w 0xaf00 " + std::to_string(index));
    vm.qmp().hmp("o /b 0xaf04 8");
}

unsigned vcpu_count(QemuProcess &vm)
{
    return static_cast<unsigned>(vm.qmp().execute("query-cpus-fast").size());
}

} // namespace

// vCPU hot-unplug while a migration tracks dirty pages: vCPU 1, a writer,
// is ejected mid-migration; the migration completes with equal RAM and
// an intact page pattern. With the KVM dirty ring, the pages still in the
// unplugged vCPU's ring must be collected before the ring is unmapped
// (and the reaper must not read the unmapped ring). Held: vCPU 1 is
// ejected while held to a dirty rate, by the per-vCPU policy of
// auto-converge (the fork's default: a throttle of its own, under TCG
// held by the page) or by the dirty limit the user set (under TCG it pays
// for each page it dirties, and sleeps on what it owes); the other vCPU's
// throttle goes on, and every throttle ends with the migration (under
// TCG, the last page rate set on each vCPU's index is none).
enum class Held { no, by_policy, by_user_limit };

class BareUnplugTest : public BareTest {
protected:
    void unplug_while_migrating(const std::string &accel, Held held = Held::no)
    {
        const bool throttled = held != Held::no;
        auto args = bare_args(accel, 2, {{"ws_mib", throttled ? 64 : 32}});
        args.insert(args.end(), {"-smp", "2,maxcpus=2"});
        auto trace = trace_args({"cpu_throttle_set_vcpu_pages"}, dir_.path());
        args.insert(args.end(), trace.begin(), trace.end());
        VmPair pair({test::qemu_binary(), args}, dir_.path());
        ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
        MigrationSetup slow;
        slow.parameters = {{"max-bandwidth", (throttled ? 8LL : 16LL) << 20},
                           {"downtime-limit", 300}};
        if (held == Held::by_policy) {
            slow.capabilities = {{"auto-converge", true}};
            slow.parameters["x-cpu-throttle-policy"] = "per-vcpu";
        } else if (held == Held::by_user_limit) {
            slow.capabilities = {{"dirty-limit", true}};
            slow.parameters["vcpu-dirty-limit"] = 1;
        }
        pair.start(slow);
        if (throttled) {
            const std::string setter =
                held == Held::by_policy ? "policy" : "user";
            Json limits;
            // The limit bounds a hang; nothing here is timed.
            ASSERT_TRUE(poll_until(Millis(60000), Millis(100), [&] {
                limits = pair.source().qmp().execute("query-vcpu-dirty-limit");
                for (const auto &l : limits) {
                    if (l.value("cpu-index", -1) == 1 &&
                        l.value("x-set-by", "") == setter &&
                        l.value("x-throttle-ppm", 0) > 0) {
                        return true;
                    }
                }
                return false;
            })) << "vCPU 1 was never throttled: " << limits.dump();
        } else {
            std::this_thread::sleep_for(Millis(1500));
        }
        eject_vcpu(pair.source(), 1);
        ASSERT_TRUE(poll_until(Millis(30000), Millis(50), [&] {
            return vcpu_count(pair.source()) == 1;
        })) << "vCPU 1 was not ejected";
        // The destination must have the same vCPUs: it gets its own -smp
        // 2, so unplug there too before the device state arrives.
        eject_vcpu(pair.destination(), 1);
        pair.source().qmp().execute(
            "migrate-set-parameters", {{"max-bandwidth", 1LL << 30}});
        MigrationResult r = pair.wait(Millis(180000));
        ASSERT_TRUE(r.converged()) << r.status << ": " << r.info.dump()
                                   << pair.source().log_tail();
        test::expect_equal_ram(pair, dir_.path());
        auto bad = check_bare_pattern(pair.destination(), dir_.path());
        EXPECT_FALSE(bad.has_value()) << *bad;
        EXPECT_EQ(pair.source().qmp().execute("query-vcpu-dirty-limit").size(), 0u)
            << "the throttles outlived the migration";
        for (const auto &[cpu, rates] :
             vcpu_page_rates(trace_log_path(dir_.path(), pair.source().pid()))) {
            EXPECT_EQ(rates.last, 0u) << "vCPU " << cpu << "'s page rate outlived the migration";
        }
    }
};

TEST_F(BareUnplugTest, VcpuUnpluggedWhileMigratingUnderTcg)
{
    unplug_while_migrating("tcg");
}

TEST_F(BareUnplugTest, ThrottledVcpuUnpluggedWhileMigratingUnderTcg)
{
    unplug_while_migrating("tcg", Held::by_policy);
}

TEST_F(BareUnplugTest, LimitedVcpuUnpluggedWhileMigratingUnderTcg)
{
    unplug_while_migrating("tcg", Held::by_user_limit);
}

TEST_F(BareUnplugTest, ThrottledVcpuUnpluggedWhileMigratingUnderKvmDirtyRing)
{
    MIGLAB_REQUIRE_KVM();
    unplug_while_migrating("kvm,dirty-ring-size=4096", Held::by_policy);
}

TEST_F(BareUnplugTest, LimitedVcpuUnpluggedWhileMigratingUnderKvmDirtyRing)
{
    MIGLAB_REQUIRE_KVM();
    unplug_while_migrating("kvm,dirty-ring-size=4096", Held::by_user_limit);
}

TEST_F(BareUnplugTest, VcpuUnpluggedWhileMigratingUnderKvmDirtyRing)
{
    MIGLAB_REQUIRE_KVM();
    unplug_while_migrating("kvm,dirty-ring-size=4096");
}

// The fork kicks all vCPUs for the sync that decides whether migration
// may stop the VM (the exact pending count), and at the final sync: a
// migration that converges kicks at least twice, none before the
// decision. Skips on a binary without x-query-dirty-ring (stock QEMU).
//
// QEMU takes that decision with the exact count only once it has measured
// the link (threshold_size): a migration whose first pass ends before the
// first measurement completes on the estimate, with the final sync's kick
// alone (it failed so once, on a fresh clone: one kick). So the migration
// starts at 1 MiB/s and gets its real speed only once query-migrate shows
// a measured rate (the measurement sets the threshold too).
TEST_F(BareTest, DirtyRingKicksForTheSwitchoverDecisionUnderKvm)
{
    MIGLAB_REQUIRE_KVM();
    VmPair pair({test::qemu_binary(),
                 bare_args("kvm,dirty-ring-size=65536", 2, {{"ws_mib", 32}})},
                dir_.path());
    ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
    std::optional<Json> before = query_dirty_ring(pair.source());
    if (!before) {
        GTEST_SKIP() << kNoDirtyRingQuery;
    }
    MigrationSetup setup;
    setup.capabilities = {{"auto-converge", true}};
    setup.parameters = {{"max-bandwidth", 1LL << 20}, {"downtime-limit", 300}};
    pair.start(setup);
    Qmp &src = pair.source().qmp();
    ASSERT_TRUE(poll_until(Millis(60000), Millis(20), [&] {
        Json info = src.execute("query-migrate");
        return info.contains("ram") && info["ram"].value("mbps", 0.0) > 0;
    })) << "no measured transfer rate in 60 s";
    src.execute("migrate-set-parameters", {{"max-bandwidth", 1LL << 30}});
    MigrationResult r = pair.wait(Millis(180000));
    ASSERT_TRUE(r.converged()) << r.status << ": " << r.info.dump();
    Json after = pair.source().qmp().execute("x-query-dirty-ring");
    EXPECT_GE(after["kick-alls"].get<uint64_t>(),
              (*before)["kick-alls"].get<uint64_t>() + 2) << after.dump();
    test::expect_equal_ram(pair, dir_.path());
}

// Ring-full exits that race with another harvester are normal: a guest
// whose set is larger than its ring takes many ring-full exits while the
// reaper and the syncs harvest too, and none of them counts as stuck.
TEST_F(BareTest, DirtyRingFullExitsAreNotStuckUnderKvm)
{
    MIGLAB_REQUIRE_KVM();
    VmPair pair({test::qemu_binary(),
                 bare_args("kvm,dirty-ring-size=4096", 2, {{"ws_mib", 64}},
                           "512M")},
                dir_.path());
    ASSERT_NO_FATAL_FAILURE(expect_running(pair.source()));
    if (!query_dirty_ring(pair.source())) {
        GTEST_SKIP() << kNoDirtyRingQuery;
    }
    Json ring = dirty_ring_while_migrating(pair);
    EXPECT_GT(ring["full-exits"].get<uint64_t>(), 0u) << ring.dump();
    EXPECT_EQ(ring["full-exits-stuck"].get<uint64_t>(), 0u) << ring.dump();
}

// The reaper keeps looking while a memory slot logs dirty pages for its
// own sake (VGA's framebuffer tracks its writes whatever migration does),
// and sleeps when none does.  The ISA VGA: its framebuffer is mapped at
// the VBE address from the start, where a PCI VGA's waits for a firmware
// to program its BAR (the bare guest's firmware programs none, so with
// "-device VGA" no KVM slot logs: the first run on a machine with
// /dev/kvm failed that way).
TEST_F(BareTest, DirtyRingReaperLooksWhileVgaLogsUnderKvm)
{
    MIGLAB_REQUIRE_KVM();
    auto args = bare_args("kvm,dirty-ring-size=4096", 1, {{"ws_mib", 8}});
    auto with_vga = args;
    with_vga.insert(with_vga.end(), {"-device", "isa-vga"});
    for (bool vga : {false, true}) {
        QemuProcess vm(test::qemu_binary(), vga ? with_vga : args,
                       dir_.path(), vga ? "vga" : "novga");
        ASSERT_NO_FATAL_FAILURE(expect_running(vm));
        if (!query_dirty_ring(vm)) {
            GTEST_SKIP() << kNoDirtyRingQuery;
        }
        // Two reaper periods for it to settle.
        std::this_thread::sleep_for(Millis(2500));
        Json ring = vm.qmp().execute("x-query-dirty-ring");
        if (vga) {
            EXPECT_LE(ring["reaper-period"].get<uint64_t>(), 100000u)
                << "with VGA logging the reaper must keep looking: "
                << ring.dump();
        } else {
            EXPECT_EQ(ring["reaper-period"].get<uint64_t>(), 1000000u)
                << ring.dump();
        }
    }
}

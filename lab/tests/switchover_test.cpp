// SPDX-License-Identifier: GPL-2.0-or-later
//
// The destination's non-iterable load: the trace parser on a known log,
// and the fork's batched load against its own x-nonit-load-batch=off on
// a guest with many virtio devices. Counts only, no timing thresholds.
#include <fstream>

#include "lab_env.h"
#include "miglab/temp_dir.h"
#include "miglab/trace_log.h"
#include "miglab/vm_pair.h"
#include "miglab/vmstate_load.h"

using namespace miglab;

namespace {

constexpr Millis limit{180000};

class SwitchoverTest : public testing::Test {
protected:
    void SetUp() override { MIGLAB_REQUIRE_QEMU(); }

    // Migrates a firmware-only guest with eight 4-queue virtio-blk devices
    // and returns the destination's load window.
    std::optional<LoadWindow> migrate_with_devices(bool batch)
    {
        DeviceSet devices;
        devices.virtio_blk = 8;
        devices.blk_queues = 4;
        VmSpec spec{test::qemu_binary(), test::tcg_machine("128M")};
        for (const auto &list : {devices.args(),
                                 trace_args(load_trace_events(), dir_.path())}) {
            spec.args.insert(spec.args.end(), list.begin(), list.end());
        }
        if (!batch) {
            spec.args.insert(spec.args.end(),
                             {"-global", "migration.x-nonit-load-batch=off"});
        }
        VmPair pair(spec, dir_.path());
        MigrationSetup setup;
        setup.parameters = {{"max-bandwidth", 1LL << 30}};
        MigrationResult r = pair.migrate(setup, limit);
        EXPECT_TRUE(r.converged()) << r.status << ": " << r.info.dump();
        test::expect_equal_ram(pair, dir_.path());
        return parse_load_window(
            trace_log_path(dir_.path(), pair.destination().pid()));
    }

    TempDir dir_;
};

} // namespace

TEST(LoadWindow, FromTheFirstDeviceSectionAfterRamToTheEndOfTheLoad)
{
    TempDir dir("loadwindow");
    auto log = dir.path() / "trace.log";
    std::ofstream(log) << "9@100.000000:qemu_loadvm_state_section 4\n"  // early
                          "9@100.100000:qemu_loadvm_state_section 1\n"
                          "9@100.200000:flatview_new 0x1 (root 0x2)\n"
                          "9@101.000000:qemu_loadvm_state_section 3\n"
                          "9@101.010000:qemu_loadvm_state_section 4\n"
                          "9@101.011000:flatview_new 0x1 (root 0x2)\n"
                          "9@101.012000:memory_region_transaction_flush "
                          "read of memory, depth 1\n"
                          "9@101.013000:qemu_loadvm_state_section 4\n"
                          "9@101.014000:flatview_new 0x3 (root 0x2)\n"
                          "9@101.030000:qemu_loadvm_state_post_main 0\n"
                          "9@101.040000:flatview_new 0x4 (root 0x2)\n"
                          "not a trace line\n";
    auto w = parse_load_window(log);
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(w->load_ms, 20.0, 0.01);
    EXPECT_EQ(w->sections, 2u);
    EXPECT_EQ(w->flatviews, 2u);
    EXPECT_EQ(w->flushes, 1u);
}

TEST(LoadWindow, NoneWithoutTheEndOfTheLoad)
{
    TempDir dir("loadwindow");
    auto log = dir.path() / "trace.log";
    std::ofstream(log) << "9@101.000000:qemu_loadvm_state_section 3\n"
                          "9@101.010000:qemu_loadvm_state_section 4\n";
    EXPECT_FALSE(parse_load_window(log).has_value());
    EXPECT_FALSE(parse_load_window(dir.path() / "missing.log").has_value());
}

TEST(TraceLog, LastRunstateChangeByStateNames)
{
    TempDir dir("runstate");
    auto src = dir.path() / "src.log";
    std::ofstream(src)
        << "7@10.000000:runstate_set current_run_state 6 (prelaunch) "
           "new_state 9 (running)\n"
           "7@20.000000:runstate_set current_run_state 9 (running) "
           "new_state 7 (finish-migrate)\n"
           "7@20.500000:runstate_set current_run_state 7 (finish-migrate) "
           "new_state 5 (postmigrate)\n";
    auto dst = dir.path() / "dst.log";
    std::ofstream(dst) << "8@22.250000:runstate_set current_run_state 1 "
                          "(inmigrate) new_state 4 (paused)\n";
    EXPECT_EQ(last_runstate_change(src, "", "finish-migrate"), 20.0);
    EXPECT_EQ(last_runstate_change(src, "finish-migrate", ""), 20.5);
    EXPECT_EQ(last_runstate_change(dst, "inmigrate", ""), 22.25);
    EXPECT_FALSE(last_runstate_change(dst, "", "finish-migrate").has_value());
    EXPECT_FALSE(last_runstate_change(dir.path() / "missing.log", "", "")
                     .has_value());
}

TEST(TraceLog, EachLineOfOneEventInOrder)
{
    TempDir dir("each-event");
    auto log = dir.path() / "trace.log";
    std::ofstream(log) << "7@1.000000:cpu_throttle_vcpu_owed cpu 0: sleeps 10 us\n"
                          "not a trace line\n"
                          "7@2.000000:runstate_set current_run_state 9 (running) "
                          "new_state 7 (finish-migrate)\n"
                          "7@3.500000:cpu_throttle_vcpu_owed cpu 1: sleeps 20 us\n";
    std::vector<std::pair<double, std::string>> seen;
    for_each_trace_event(log, "cpu_throttle_vcpu_owed",
                         [&](const TraceLine &l) { seen.emplace_back(l.t, l.args); });
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], std::make_pair(1.0, std::string("cpu 0: sleeps 10 us")));
    EXPECT_EQ(seen[1], std::make_pair(3.5, std::string("cpu 1: sleeps 20 us")));
    bool called = false;
    for_each_trace_event(dir.path() / "missing.log", "runstate_set",
                         [&](const TraceLine &) { called = true; });
    EXPECT_FALSE(called);
}

TEST(TraceLog, ExtraEventsComeFromTheEnvironment)
{
    unsetenv("MIGLAB_TRACE");
    EXPECT_TRUE(extra_trace_events().empty());
    setenv("MIGLAB_TRACE", "migration_throttle_*,,kvm_dirty_ring_full,", 1);
    EXPECT_EQ(extra_trace_events(),
              (std::vector<std::string>{"migration_throttle_*",
                                        "kvm_dirty_ring_full"}));
    unsetenv("MIGLAB_TRACE");
}

TEST(DeviceSetArgs, MultiQueueNetNeedsTapAndVectors)
{
    DeviceSet d;
    d.virtio_net = 1;
    d.net_queues = 16;
    d.virtio_blk = 1;
    d.blk_queues = 4;
    std::vector<std::string> want{
        "-netdev", "tap,id=miglab-net0,script=no,downscript=no,queues=16",
        "-device", "virtio-net-pci,netdev=miglab-net0,mq=on,vectors=34",
        "-blockdev",
        "driver=null-co,node-name=miglab-blk0,size=1073741824,read-zeroes=on",
        "-device", "virtio-blk-pci,drive=miglab-blk0,num-queues=4"};
    EXPECT_EQ(d.args(), want);
}

// The batched load renders fewer flat views than one commit per change,
// and both migrate the guest intact.
TEST_F(SwitchoverTest, BatchedLoadRendersFewerFlatViews)
{
    auto batched = migrate_with_devices(true);
    auto unbatched = migrate_with_devices(false);
    ASSERT_TRUE(batched.has_value()) << "no load window in the trace";
    ASSERT_TRUE(unbatched.has_value()) << "no load window in the trace";
    EXPECT_EQ(batched->sections, unbatched->sections);
    EXPECT_GE(batched->sections, 8u);
    EXPECT_EQ(unbatched->flushes, 0u);
    EXPECT_LT(batched->flatviews, unbatched->flatviews)
        << "batched: " << batched->flatviews << " views, "
        << batched->flushes << " early commits";
}

// SPDX-License-Identifier: GPL-2.0-or-later
//
// Memory the migration need not send, on the lab's Linux guest: free
// pages the guest hints, and RAM the host allocated that holds only zeros
// (multifd's zero-page detection). One migration each, RAM compared;
// bytes, not timings (docs/results/free-page-hints.md).
#include <fstream>

#include "lab_env.h"
#include "miglab/bench_run.h"
#include "miglab/scenario.h"
#include "miglab/temp_dir.h"

using namespace miglab;

namespace {

// One migration with the fork of the lab's Linux guest (1 GiB, 2 vCPUs,
// TCG) with these stress settings, devices and migration settings; the
// run must complete with equal RAM.
RunResult migrate_linux_guest(const Json &stress, const Json &devices,
                              Json migration)
{
    migration["parameters"] = {{"max-bandwidth", 1000000000}};
    migration["time_limit_s"] = 120;
    const Json scenario = {
        {"name", "free-page"},
        {"guest", {{"kind", "linux"}, {"memory", "1G"}, {"smp", 2},
                   {"accel", "tcg,thread=multi"}, {"stress", stress},
                   {"devices", devices}}},
        {"migration", migration}};
    TempDir dir("miglab-free-page");
    std::ofstream(dir.path() / "scenario.json") << scenario.dump();
    Scenario s = Scenario::load(dir.path() / "scenario.json");
    RunResult r = run_once(s, Binary{"fork", test::qemu_binary()}, 1,
                           LabPaths{test::qemu_source(), test::guest_dir()});
    EXPECT_EQ(r.status, "completed") << r.error;
    EXPECT_TRUE(r.ram_equal) << r.error;
    return r;
}

} // namespace

// A 1 GiB guest wrote 768 MiB and freed 640 MiB of it: with hints the
// migration sends less than what the guest wrote.
TEST(FreePageHints, SkipWhatTheGuestFreed)
{
    MIGLAB_REQUIRE_QEMU();
    MIGLAB_REQUIRE_LINUX_GUEST();
    RunResult r = migrate_linux_guest(
        {{"mem_mib", 1}, {"writers", 1}, {"rate", 20}, {"alloc_mib", 768},
         {"free_mib", 640}, {"modules", {"virtio_pci", "virtio_balloon"}}},
        {{"balloon", "hint"}}, Json::object());
    EXPECT_LT(r.transferred_bytes, 768ULL << 20);
}

// The same guest with 768 MiB of zeros written and held, over two multifd
// channels that detect zero pages: far less than that goes on the wire.
TEST(ZeroPages, MultifdDetectionKeepsRamEqual)
{
    MIGLAB_REQUIRE_QEMU();
    MIGLAB_REQUIRE_LINUX_GUEST();
    RunResult r = migrate_linux_guest(
        {{"mem_mib", 1}, {"writers", 1}, {"rate", 20}, {"alloc_mib", 768},
         {"alloc_zero", true}},
        Json::object(),
        {{"capabilities", {{"multifd", true}}},
         {"both_sides_parameters", {{"multifd-channels", 2},
                                    {"zero-page-detection", "multifd"}}}});
    EXPECT_LT(r.transferred_bytes, 384ULL << 20);
    EXPECT_TRUE(r.multifd_cpu_s.has_value());
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <fstream>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "miglab/bench_run.h"
#include "miglab/libvirt_bench.h"
#include "miglab/scenario.h"
#include "miglab/temp_dir.h"

using namespace miglab;

namespace {

class ScenarioTest : public testing::Test {
protected:
    std::filesystem::path write(const std::string &text)
    {
        auto f = dir_.path() / "s.json";
        std::ofstream(f) << text;
        return f;
    }
    // The error message Scenario::load gives for text.
    std::string error_for(const std::string &text)
    {
        try {
            Scenario::load(write(text));
        } catch (const std::runtime_error &e) {
            return e.what();
        }
        return "";
    }
    TempDir dir_;
};

} // namespace

TEST_F(ScenarioTest, ReadsAFullScenario)
{
    Scenario s = Scenario::load(write(R"({
        "name": "demo", "repetitions": 5,
        "guest": {"kind": "bootblock", "memory": "1G", "smp": 2, "accel": "tcg"},
        "migration": {"capabilities": {"auto-converge": true},
                      "parameters": {"max-bandwidth": 1000, "downtime-limit": 300},
                      "time_limit_s": 60, "stopped": true}})"));
    EXPECT_EQ(s.name, "demo");
    EXPECT_EQ(s.repetitions, 5u);
    EXPECT_EQ(s.memory, "1G");
    EXPECT_EQ(s.smp, 2u);
    EXPECT_EQ(s.bandwidth(), 1000u);
    ASSERT_EQ(s.setup.capabilities.size(), 1u);
    EXPECT_EQ(s.setup.capabilities[0].first, "auto-converge");
    EXPECT_EQ(s.time_limit_s, 60u);
    EXPECT_TRUE(s.stopped);
    EXPECT_FALSE(Scenario::load(write(R"({"name": "live"})")).stopped);
    EXPECT_EQ(Scenario::load(write(R"({"name": "live"})")).suspend_after_s, 0u);
    EXPECT_EQ(Scenario::load(write(
                  R"({"name": "t", "migration": {"suspend_after_s": 3}})"))
                  .suspend_after_s,
              3u);
}

TEST_F(ScenarioTest, BadFilesGiveErrorsThatNameTheField)
{
    // Each bad file, and what its error must say.
    const std::pair<const char *, const char *> cases[] = {
        {"{ not json", "is not valid JSON"},
        {R"({"name": "x", "repetitions": 0})", "'repetitions' must be 1..1000"},
        {R"({"name": "x", "guest": {"kind": "windows"}})", "'guest.kind'"},
        {R"({"name": "x", "guest": {"memory": "lots"}})", "'guest.memory'"},
        {R"({"name": "x", "colour": "blue"})", "unknown field 'colour'"},
        {R"({"name": "x", "migration": {"capabilities": {"auto-converge": "yes"}}})",
         "'migration.capabilities.auto-converge'"},
        {R"({"name": "x", "migration": {"stopped": "yes"}})", "'migration.stopped'"},
        {R"({"name": "x", "migration": {"suspend_after_s": -1}})",
         "'migration.suspend_after_s'"},
        {R"({"name": "x", "migration": {"suspend_after_s": 2, "stopped": true}})",
         "'migration.suspend_after_s'"},
        {R"({"name": ""})", "'name'"},
        // Whole numbers only: these used to become 2, 1, 3 and 1.
        {R"({"name": "x", "repetitions": 2.5})",
         "'repetitions' must be 1..1000 (a whole number), got 2.5"},
        {R"({"name": "x", "repetitions": -1})",
         "'repetitions' must be 1..1000 (a whole number), got -1"},
        {R"({"name": "x", "guest": {"smp": 1.5}})", "'guest.smp' must be 1..64"},
        {R"({"name": "x", "migration": {"time_limit_s": 3.9}})",
         "'migration.time_limit_s' must be positive"},
        {R"({"name": "x", "migration": {"suspend_after_s": 1.5}})",
         "'migration.suspend_after_s'"},
        {R"({"name": "x", "guest": {"smp": 2, "host_vcpu_cores": {"2": 1}}})",
         "'guest.host_vcpu_cores' must map vCPU indexes (below guest.smp)"},
        {R"({"name": "x", "guest": {"smp": 2, "host_vcpu_cores": {"1": -1}}})",
         "'guest.host_vcpu_cores'"},
        {R"({"name": "x", "guest": {"smp": 2, "host_vcpu_cores": {"one": 1}}})",
         "'guest.host_vcpu_cores'"},
        {R"({"name": "x", "guest": {"host_vcpu_cores": [1]}})",
         "'guest.host_vcpu_cores'"},
    };
    for (const auto &[json, says] : cases) {
        EXPECT_NE(error_for(json).find(says), std::string::npos)
            << json << " -> " << error_for(json);
    }
}

TEST_F(ScenarioTest, HostCoresOfTheVcpusOwn)
{
    EXPECT_TRUE(Scenario::load(write(R"({"name": "t"})")).host_vcpu_cores.empty());
    const auto s = Scenario::load(write(
        R"({"name": "t", "guest": {"smp": 2, "host_vcpu_cores": {"1": 1}}})"));
    EXPECT_EQ(s.host_vcpu_cores, (std::map<unsigned, unsigned>{{1, 1}}));
}

TEST_F(ScenarioTest, LinuxStressSettings)
{
    Scenario s = Scenario::load(write(R"({
        "name": "l", "guest": {"kind": "linux", "memory": "2G",
          "stress": {"mem_mib": 512, "rates": [1000, 20000],
                     "modules": ["virtio_balloon"], "reader": true}}})"));
    EXPECT_EQ(s.stress["rates"].size(), 2u);
    EXPECT_NE(error_for(R"({"name": "l", "guest": {"kind": "linux",
                  "stress": {"rates": ["fast"]}}})")
                  .find("'guest.stress.rates' must be a list of pages/s"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "l", "guest": {"kind": "linux",
                  "stress": {"modules": ["virtio.balloon"]}}})")
                  .find("'guest.stress.modules'"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "b", "guest": {"kind": "bootblock",
                  "stress": {"mem_mib": 1}}})")
                  .find("linux and bare guests only"),
              std::string::npos);
}

// Percentages above 100 and empty working sets are refused before any
// guest boots (hot_pct=101 used to reach the Linux guest's /init).
TEST_F(ScenarioTest, StressSettingsOutOfRange)
{
    // Each guest kind, its stress settings, and what the error must say
    // ("" for none).
    const std::tuple<const char *, const char *, const char *> cases[] = {
        {"linux", R"({"hot_pct": 100, "hot_share": 100})", ""},
        {"bare", R"({"hot_pct": 100, "hot_share": 100})", ""},
        {"linux", R"({"hot_pct": 101})", "'guest.stress.hot_pct' must be 0..100, got 101"},
        {"bare", R"({"hot_pct": 101})", "'guest.stress.hot_pct' must be 0..100, got 101"},
        {"linux", R"({"hot_share": 250})", "'guest.stress.hot_share' must be 0..100, got 250"},
        {"bare", R"({"hot_share": 250})", "'guest.stress.hot_share' must be 0..100, got 250"},
        {"linux", R"({"mem_mib": 0})", "'guest.stress.mem_mib' must be at least 1, got 0"},
        {"bare", R"({"ws_mib": 0})", "'guest.stress.ws_mib' must be at least 1, got 0"},
    };
    for (const auto &[kind, stress, says] : cases) {
        const std::string json = std::string(R"({"name": "s", "guest": {"kind": ")") +
                                 kind + R"(", "stress": )" + stress + "}}";
        const std::string error = error_for(json);
        if (*says) {
            EXPECT_NE(error.find(says), std::string::npos) << json << " -> " << error;
        } else {
            EXPECT_EQ(error, "") << json;
        }
    }
}

TEST_F(ScenarioTest, BareStressSettings)
{
    EXPECT_NE(error_for(R"({"name": "b", "guest": {"kind": "bare",
                  "stress": {"mem_mib": 1}}})")
                  .find("guest.stress.mem_mib"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "b", "guest": {"kind": "bare",
                  "stress": {"ws_mib": "lots"}}})")
                  .find("'guest.stress.ws_mib' must be a non-negative integer"),
              std::string::npos);
}

TEST_F(ScenarioTest, SwitchoverDevices)
{
    Scenario s = Scenario::load(write(R"({"name": "x",
        "guest": {"kind": "linux",
                  "devices": {"virtio_net": 8, "net_queues": 16,
                              "virtio_blk": 16, "blk_queues": 4}}})"));
    EXPECT_EQ(s.devices.count(), 24u);
    EXPECT_EQ(s.devices.net_queues, 16u);
    EXPECT_TRUE(Scenario::load(write(R"({"name": "x"})")).devices.empty());
    EXPECT_NE(error_for(R"({"name": "x", "guest": {"devices": {"nics": 1}}})")
                  .find("guest.devices.nics"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "x",
                "guest": {"devices": {"net_queues": 0}}})")
                  .find("'guest.devices.net_queues' must be 1..64"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "x",
                "guest": {"devices": {"virtio_net": 20, "virtio_blk": 20}}})")
                  .find("at most 28 devices"),
              std::string::npos);
}

TEST_F(ScenarioTest, BalloonWithOrWithoutFreePageHints)
{
    Scenario s = Scenario::load(write(R"({"name": "x",
        "guest": {"kind": "linux", "devices": {"balloon": "hint"}}})"));
    EXPECT_EQ(s.devices.balloon, DeviceSet::Balloon::hint);
    // Not a device whose load the switchover columns measure.
    EXPECT_TRUE(s.devices.empty());
    const auto args = s.devices.args();
    EXPECT_NE(std::find(args.begin(), args.end(),
                        "virtio-balloon-pci,id=miglab-balloon,"
                        "free-page-hint=on,iothread=miglab-balloon-io"),
              args.end());
    EXPECT_EQ(Scenario::load(write(R"({"name": "x",
        "guest": {"devices": {"balloon": "on"}}})")).devices.args(),
              (std::vector<std::string>{"-device",
                                        "virtio-balloon-pci,id=miglab-balloon"}));
    EXPECT_NE(error_for(R"({"name": "x",
                "guest": {"devices": {"balloon": true}}})")
                  .find("'guest.devices.balloon' must be \"off\", \"on\" or "
                        "\"hint\", got true"),
              std::string::npos);
}

TEST_F(ScenarioTest, KernelArgsFollowTheStressWords)
{
    Scenario s = Scenario::load(write(R"({"name": "x",
        "guest": {"kind": "linux", "stress": {"mem_mib": 8},
                  "kernel_args": "init_on_alloc=0 page_poison=1"}})"));
    EXPECT_EQ(linux_guest_cmdline(s.stress, s.kernel_args),
              "console=ttyS0 quiet panic=-1 miglab_mem_mib=8 "
              "init_on_alloc=0 page_poison=1");
    EXPECT_NE(error_for(R"({"name": "x", "guest": {"kind": "linux",
                "kernel_args": "a;b"}})").find("'guest.kernel_args' must be"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"name": "x", "guest": {"kind": "bare",
                "kernel_args": "a"}})").find("for the linux guest"),
              std::string::npos);
}

TEST_F(ScenarioTest, MissingFileIsAnError)
{
    EXPECT_THROW(Scenario::load(dir_.path() / "nope.json"), std::runtime_error);
}

TEST_F(ScenarioTest, NumaNodesAddUpToTheMemory)
{
    Scenario s = Scenario::load(write(R"({"name": "n",
        "guest": {"memory": "2G", "numa": [512, 1536]}})"));
    EXPECT_EQ(s.numa, (std::vector<unsigned>{512, 1536}));
    EXPECT_TRUE(Scenario::load(write(R"({"name": "x"})")).numa.empty());
    const std::pair<const char *, const char *> cases[] = {
        {R"({"name": "n", "guest": {"memory": "2G", "numa": [1024, 512]}})",
         "add up to 1536 MiB, 'guest.memory' is 2G"},
        {R"({"name": "n", "guest": {"memory": "1G", "numa": [1024]}})",
         "2..8 node sizes"},
        {R"({"name": "n", "guest": {"memory": "1G", "numa": [0, 1024]}})",
         "(1..1048576)"},
        {R"({"name": "n", "guest": {"memory": "1G", "numa": {"a": 1}}})",
         "2..8 node sizes"},
    };
    for (const auto &[json, says] : cases) {
        EXPECT_NE(error_for(json).find(says), std::string::npos)
            << json << " -> " << error_for(json);
    }
}

TEST_F(ScenarioTest, BurstyLinuxStress)
{
    Scenario s = Scenario::load(write(R"({"name": "b",
        "guest": {"kind": "linux",
                  "stress": {"burst_ms": 3000, "idle_ms": 4000}}})"));
    EXPECT_EQ(s.stress["burst_ms"], 3000);
}

// Every scenario the lab ships loads, and its NUMA nodes (if any) add up.
TEST(ScenarioFiles, EveryShippedScenarioLoads)
{
    size_t n = 0;
    for (const auto &f :
         std::filesystem::directory_iterator(MIGLAB_SCENARIO_DIR)) {
        if (f.path().extension() != ".json") {
            continue;
        }
        EXPECT_NO_THROW({
            Scenario s = Scenario::load(f.path());
            EXPECT_EQ(s.name + ".json", f.path().filename().string());
        }) << f.path();
        ++n;
    }
    EXPECT_GT(n, 10u);
}

// migbench --via libvirt: the scenarios docs/results/libvirt.md measures
// run through virsh; one that virsh cannot express is refused up front,
// with the setting named.
TEST(ScenarioFiles, WhatRunsThroughLibvirt)
{
    auto load = [](const std::string &name) {
        return Scenario::load(std::filesystem::path(MIGLAB_SCENARIO_DIR) /
                              (name + ".json"));
    };
    for (const char *name : {"demo", "bare-kvm-ring4k-ws99-ac", "linux-1g-ac",
                             "integrity-tcg-suspend"}) {
        EXPECT_EQ(LibvirtBench::unsupported(load(name)), std::nullopt) << name;
    }
    const std::vector<std::pair<std::string, std::string>> refused{
        {"demo-stopped", "'stopped'"},
        {"numa-equal", "NUMA"},
        {"switchover-4", "devices"},
        {"bare-tcg-ws99-ac", "KVM only"},
        {"bare-kvm-ring4k-ws99-dl", "capability 'dirty-limit'"},
    };
    for (const auto &[name, why] : refused) {
        auto r = LibvirtBench::unsupported(load(name));
        ASSERT_TRUE(r.has_value()) << name;
        EXPECT_NE(r->find(why), std::string::npos) << name << ": " << *r;
    }
    Scenario kvm_linux = load("demo");
    kvm_linux.accel = "kvm";
    EXPECT_NE(LibvirtBench::unsupported(kvm_linux).value_or("").find("TCG only"),
              std::string::npos);
}

// Each guest kind is one object that knows its settings, its probe and
// its libvirt domain; scenarios find it by name.
TEST(GuestKinds, FoundByNameEachWithItsSettings)
{
    EXPECT_EQ(GuestKind::names(), "\"idle\", \"bootblock\", \"linux\" or \"bare\"");
    EXPECT_EQ(GuestKind::find("nope"), nullptr);
    for (const char *name : {"idle", "bootblock", "linux", "bare"}) {
        const GuestKind *k = GuestKind::find(name);
        ASSERT_NE(k, nullptr) << name;
        EXPECT_STREQ(k->name(), name);
    }
    auto has = [](const GuestKind *k, const std::string &key) {
        auto s = k->settings();
        return std::find(s.begin(), s.end(), key) != s.end();
    };
    EXPECT_TRUE(GuestKind::find("idle")->settings().empty());
    EXPECT_TRUE(GuestKind::find("bootblock")->settings().empty());
    EXPECT_TRUE(has(GuestKind::find("linux"), "mem_mib"));
    EXPECT_FALSE(has(GuestKind::find("linux"), "ws_mib"));
    EXPECT_TRUE(has(GuestKind::find("bare"), "ws_mib"));
    EXPECT_TRUE(GuestKind::find("bare")->integer_settings());
    EXPECT_FALSE(GuestKind::find("linux")->integer_settings());
    TempDir dir;
    EXPECT_TRUE(GuestKind::find("idle")->probe(dir.path())->unit().empty());
    EXPECT_EQ(GuestKind::find("linux")->probe(dir.path())->unit(),
              "pages written");
}

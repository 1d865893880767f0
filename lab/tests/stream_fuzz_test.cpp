// SPDX-License-Identifier: GPL-2.0-or-later
//
// Corrupt incoming streams and bad QMP input: the stream parser and
// mutator, the two destination aborts the corrupt streams found (now load
// failures), and migstream and migqmp run as a user runs them.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "lab_env.h"
#include "miglab/migration_stream.h"
#include "miglab/qmp_fuzz.h"
#include "miglab/stream_fuzz.h"
#include "miglab/report.h"
#include "miglab/temp_dir.h"
#include "tool_process.h"

using namespace miglab;

namespace {

namespace fs = std::filesystem;

void write(const fs::path &file, const Bytes &b)
{
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char *>(b.data()),
               static_cast<std::streamsize>(b.size()));
}

void put_be64(Bytes &b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; ++i) {
        b[at + i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    }
}

// One stream recorded per test binary run: recording takes 2 s.
const MigrationStream &recorded()
{
    static TempDir dir;
    static MigrationStream s(
        record_stream(test::qemu_binary(), stream_fuzz_vm_args(), dir.path()));
    return s;
}

// Loads b into a fresh destination; its outcome.
IncomingOutcome load(const Bytes &b, const fs::path &dir)
{
    write(dir / "case.stream", b);
    return load_stream(test::qemu_binary(), stream_fuzz_vm_args(),
                       dir / "case.stream", dir, "case", Millis(10000));
}

} // namespace

TEST(MigrationStream, SplitsARecordedStreamIntoItsSections)
{
    MIGLAB_REQUIRE_QEMU();
    const auto &s = recorded();
    const auto &secs = s.sections();
    ASSERT_GE(secs.size(), 5u);
    EXPECT_EQ(secs.front().kind, StreamSection::Kind::header);
    EXPECT_EQ(secs[1].kind, StreamSection::Kind::configuration);
    EXPECT_EQ(secs[2].kind, StreamSection::Kind::start);
    EXPECT_EQ(secs[2].idstr, "ram");
    // Contiguous, covering the whole file.
    for (size_t i = 1; i < secs.size(); ++i) {
        EXPECT_EQ(secs[i].begin, secs[i - 1].end) << "section " << i;
    }
    EXPECT_EQ(secs.back().end, s.bytes().size());
    EXPECT_TRUE(std::any_of(secs.begin(), secs.end(), [](const auto &x) {
        return x.kind == StreamSection::Kind::eof;
    }));
    EXPECT_GE(s.device_sections().size(), 20u);
    std::vector<std::string> names;
    for (const auto &i : s.device_sections()) {
        names.push_back(secs[i].idstr);
    }
    for (const char *dev : {"fw_cfg", "0000:00:02.0/virtio-net", "0000:00:03.0/e1000"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), dev), names.end()) << dev;
    }
    const auto &blocks = s.ram_blocks();
    EXPECT_TRUE(std::any_of(blocks.begin(), blocks.end(),
                            [](const auto &b) { return b.name == "pc.ram"; }));
}

TEST(MigrationStream, MutationsAreReproducibleFromSeedAndIndex)
{
    MIGLAB_REQUIRE_QEMU();
    StreamMutator a(recorded(), 7), b(recorded(), 7), c(recorded(), 8);
    const unsigned first = a.boundary_cases();
    ASSERT_GT(first, 50u);
    bool differs = false;
    for (unsigned i = first; i < first + 2 * StreamMutator::mutations().size(); ++i) {
        StreamCase x = a.make(i), y = b.make(i), z = c.make(i);
        EXPECT_EQ(x.bytes, y.bytes) << "case " << i;
        EXPECT_EQ(x.detail, y.detail) << "case " << i;
        EXPECT_EQ(x.mutation, z.mutation) << "case " << i;
        differs = differs || x.bytes != z.bytes;
    }
    EXPECT_TRUE(differs) << "another seed gives the same streams";
    // Boundary truncations do not depend on the seed.
    EXPECT_EQ(a.make(3).bytes, c.make(3).bytes);
}

// A RAM block length within a page of 2^64 wrapped to 0 when aligned,
// passed the size check and aborted the destination in fw_cfg (upstream:
// "system/physmem: Refuse a RAM block size that wraps when page-aligned").
TEST(CorruptStream, WrappingRamBlockSizeFailsTheLoad)
{
    MIGLAB_REQUIRE_QEMU();
    const auto &s = recorded();
    const auto &blocks = s.ram_blocks();
    auto it = std::find_if(blocks.begin(), blocks.end(), [](const auto &b) {
        return b.name == "/rom@etc/acpi/rsdp";
    });
    ASSERT_NE(it, blocks.end());
    Bytes b = s.bytes();
    put_be64(b, it->length_at, UINT64_MAX);
    TempDir dir;
    IncomingOutcome o = load(b, dir.path());
    EXPECT_EQ(o.verdict, "rejected") << o.error;
    EXPECT_NE(read_file(dir.path() / "case.log").find("Size too large"),
              std::string::npos) << read_file(dir.path() / "case.log");
}

// fw_cfg's ACPI table sizes came from the stream into a resize with
// &error_abort ("hw/nvram/fw_cfg: Fail the load on a bad ACPI table size").
TEST(CorruptStream, BadAcpiTableSizeInFwCfgFailsTheLoad)
{
    MIGLAB_REQUIRE_QEMU();
    const auto &s = recorded();
    const auto &secs = s.sections();
    auto dev = s.device_sections();
    auto fw = std::find_if(dev.begin(), dev.end(),
                           [&](size_t i) { return secs[i].idstr == "fw_cfg"; });
    ASSERT_NE(fw, dev.end());
    const std::string name = "fw_cfg/acpi_mr";
    Bytes b = s.bytes();
    auto at = std::search(b.begin() + secs[*fw].data_at, b.begin() + secs[*fw].end,
                          name.begin(), name.end());
    if (at == b.begin() + secs[*fw].end) {
        GTEST_SKIP() << "this machine's ACPI tables are page-aligned: "
                        "no fw_cfg/acpi_mr subsection";
    }
    // Name, be32 version, then be64 table_mr_size.
    put_be64(b, static_cast<size_t>(at - b.begin()) + name.size() + 4,
             0x1000000000020000ULL);
    TempDir dir;
    IncomingOutcome o = load(b, dir.path());
    EXPECT_EQ(o.verdict, "rejected") << o.error;
    EXPECT_NE(read_file(dir.path() / "case.log").find("ACPI table size in the stream"),
              std::string::npos) << read_file(dir.path() / "case.log");
}

// The fast part of make fuzz: every boundary cut and about a hundred
// random mutations, against the fork as built.
TEST(Migstream, HundredsOfCorruptStreamsFailCleanly)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    BackgroundCommand ms({MIGLAB_MIGSTREAM, "--cases", "300", "--seed", "20261203",
                          "--binary", test::qemu_binary().string(), "--out",
                          (dir.path() / "out").string()},
                         dir.path() / "migstream.log");
    auto st = ms.wait(std::chrono::seconds(400));
    ASSERT_TRUE(st.has_value()) << "migstream still runs: " << ms.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << ms.output();
    const std::string md = read_file(dir.path() / "out" / "streams.md");
    EXPECT_NE(md.find("| **all** | 300 | "), std::string::npos) << md;
    EXPECT_NE(md.find("| 0 | 0 | 0 | "), std::string::npos) << md;
}

TEST(Migqmp, BadInputInEveryMigrationStateGetsAQmpError)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    BackgroundCommand mq({MIGLAB_MIGQMP, "--binary", test::qemu_binary().string(),
                          "--out", (dir.path() / "out").string()},
                         dir.path() / "migqmp.log");
    auto st = mq.wait(std::chrono::seconds(600));
    ASSERT_TRUE(st.has_value()) << "migqmp still runs: " << mq.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "wait status " << *st << ": " << mq.output();
    const std::string csv = read_file(dir.path() / "out" / "qmp.csv");
    for (const auto &state : QmpStateRig::states()) {
        EXPECT_NE(csv.find("\n" + state + ","), std::string::npos) << state;
    }
    for (const char *command : {",migrate-set-parameters,", ",set-vcpu-dirty-limit,",
                                ",x-query-dirty-ring,", ",migrate-incoming,"}) {
        EXPECT_NE(csv.find(command), std::string::npos) << command;
    }
}

TEST(Migstream, BadOptionsAreRefusedByName)
{
    TempDir dir;
    const std::pair<std::vector<std::string>, std::string> cases[] = {
        {{"--cases", "x"}, "--cases takes a whole number"},
        {{"--bound-s", "0"}, "--bound-s must be at least 1"},
        {{"--stream", "/nonexistent"}, "--stream: no file /nonexistent"},
        {{"--binary", "/nonexistent"}, "no QEMU at /nonexistent"},
        {{"extra"}, "unknown option extra"},
    };
    for (const auto &[args, message] : cases) {
        std::vector<std::string> argv{MIGLAB_MIGSTREAM};
        argv.insert(argv.end(), args.begin(), args.end());
        test::expect_refused(argv, "migstream", message, dir.path() / "ms.log");
    }
}

TEST(Migqmp, BadOptionsAreRefusedByName)
{
    TempDir dir;
    const std::pair<std::vector<std::string>, std::string> cases[] = {
        {{"--states", "none,melting"}, "--states: no state 'melting'"},
        {{"--accel", "hvf"}, "--accel: "},
        {{"--binary", "/nonexistent"}, "no QEMU at /nonexistent"},
        {{"--out"}, "--out needs a value"},
    };
    for (const auto &[args, message] : cases) {
        std::vector<std::string> argv{MIGLAB_MIGQMP};
        argv.insert(argv.end(), args.begin(), args.end());
        test::expect_refused(argv, "migqmp", message, dir.path() / "mq.log");
    }
}

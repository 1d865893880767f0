// SPDX-License-Identifier: GPL-2.0-or-later
//
// migstream: corrupt and truncated incoming migration streams
// (docs/lab.md#migstream). Records the stream of a real migration (file:
// transport), mutates it case by case (seeded) and loads each into a
// fresh destination: it must fail with an error (exit status 1) or load,
// within the bound, never hang or crash, and with a sanitizer build
// (make build-asan) ASan and UBSan must stay silent. streams.csv and
// streams.md into the output directory, the streams of the bad cases
// under cases/. Exits 1 when any case was bad.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "miglab/cli.h"
#include "miglab/interrupt.h"
#include "miglab/qemu_process.h"
#include "miglab/report.h"
#include "miglab/stream_fuzz.h"

using namespace miglab;

namespace {

const char usage[] =
    "usage: migstream [options]\n"
    "  --cases N       mutated streams to load (default 500); the first\n"
    "                  ones cut the stream at every section boundary\n"
    "  --seed N        the mutations' seed (default: a new one, printed)\n"
    "  --binary PATH   the destination QEMU (default build/qemu-fork/...;\n"
    "                  build/qemu-fork-asan/... after make build-asan)\n"
    "  --recorder PATH the QEMU that records the stream (default: --binary)\n"
    "  --stream FILE   load mutations of this recorded stream instead\n"
    "  --bound-s N     a destination must end within N s (default 10)\n"
    "  --out DIR       output directory (default build/fuzz/streams)\n"
    "  --list          print the recorded stream's sections and exit\n"
    "Writes streams.csv, streams.md and the bad cases' streams; prints the\n"
    "summary table.\n";

struct Options {
    unsigned cases = 500;
    uint64_t seed = std::random_device{}();
    std::filesystem::path binary = MIGLAB_TOP "/build/qemu-fork/qemu-system-x86_64";
    std::filesystem::path recorder;
    std::filesystem::path stream;
    unsigned bound_s = 10;
    std::filesystem::path out = MIGLAB_TOP "/build/fuzz/streams";
    bool list = false;
};

Options parse(CommandLine &cl)
{
    Options o;
    while (auto a = cl.next()) {
        if (*a == "--cases") {
            o.cases = static_cast<unsigned>(cl.number());
        } else if (*a == "--seed") {
            o.seed = cl.number();
        } else if (*a == "--binary") {
            o.binary = cl.value();
        } else if (*a == "--recorder") {
            o.recorder = cl.value();
        } else if (*a == "--stream") {
            o.stream = cl.value();
        } else if (*a == "--bound-s") {
            o.bound_s = static_cast<unsigned>(cl.number());
            if (o.bound_s == 0) {
                cl.fail("--bound-s must be at least 1");
            }
        } else if (*a == "--out") {
            o.out = cl.value();
        } else if (*a == "--list") {
            o.list = true;
        } else {
            cl.unknown(*a);
        }
    }
    if (o.recorder.empty()) {
        o.recorder = o.binary;
    }
    for (const auto &b : {o.binary, o.recorder}) {
        if (!std::filesystem::exists(b)) {
            cl.fail("no QEMU at " + b.string() + " (make build-fork, or --binary)");
        }
    }
    if (!o.stream.empty() && !std::filesystem::exists(o.stream)) {
        cl.fail("--stream: no file " + o.stream.string());
    }
    return o;
}

void write_bytes(const std::filesystem::path &f, const Bytes &b)
{
    std::ofstream out(f, std::ios::binary);
    out.write(reinterpret_cast<const char *>(b.data()),
              static_cast<std::streamsize>(b.size()));
    if (!out.flush()) {
        throw std::runtime_error("cannot write " + f.string());
    }
}

Bytes read_bytes(const std::filesystem::path &f)
{
    std::ifstream in(f, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

} // namespace

int main(int argc, char **argv)
{
    CommandLine cl(argc, argv, "migstream", usage);
    Options o = parse(cl);
    // Leaks are not looked for: QEMU exits on a failed load without
    // freeing what it holds. Every other report fails the case; ASan's own
    // exit status is told apart from QEMU's error exit.
    setenv("ASAN_OPTIONS", "detect_leaks=0:exitcode=86", 0);
    setenv("UBSAN_OPTIONS", "print_stacktrace=1", 0);
    catch_interrupts();
    std::vector<StreamCaseResult> rows;
    bool all_right = true;
    const auto vm_args = stream_fuzz_vm_args();
    const Millis bound(o.bound_s * 1000);
    try {
        std::filesystem::create_directories(o.out / "cases");
        TempDir dir("migstream");
        const auto recorded = o.out / "recorded.stream";
        if (o.stream.empty()) {
            write_bytes(recorded, record_stream(o.recorder, vm_args, dir.path()));
        } else if (o.stream != recorded) {
            std::filesystem::copy_file(
                o.stream, recorded,
                std::filesystem::copy_options::overwrite_existing);
        }
        MigrationStream stream(read_bytes(recorded));
        StreamMutator mutator(stream, o.seed);
        std::cout << "migstream: " << qemu_version(o.binary) << ", seed "
                  << o.seed << "; stream " << stream.bytes().size() << " B, "
                  << stream.sections().size() << " sections ("
                  << stream.device_sections().size() << " devices), "
                  << mutator.boundary_cases() << " boundary cuts" << std::endl;
        if (o.list) {
            for (const auto &s : stream.sections()) {
                std::cout << s.begin << "-" << s.end << " "
                          << section_kind_name(s.kind) << " " << s.id << " "
                          << s.idstr << "\n";
            }
            return 0;
        }
        // The unmutated stream must load, or every verdict below is moot.
        IncomingOutcome control = load_stream(o.binary, vm_args, recorded,
                                              dir.path(), "control", bound);
        if (control.verdict != "loaded") {
            throw std::runtime_error("the recorded stream itself did not load: " +
                                     control.verdict + ": " + control.error);
        }
        const auto input = dir.path() / "case.stream";
        for (unsigned i = 0; i < o.cases; ++i) {
            StreamCaseResult r{mutator.make(i), {}};
            write_bytes(input, r.mutated.bytes);
            r.outcome = load_stream(o.binary, vm_args, input, dir.path(),
                                    "case", bound);
            if (r.outcome.bad()) {
                all_right = false;
                const auto keep = o.out / "cases" / (std::to_string(i) + ".stream");
                write_bytes(keep, r.mutated.bytes);
                std::filesystem::copy_file(
                    dir.path() / "case.log", o.out / "cases" / (std::to_string(i) + ".log"),
                    std::filesystem::copy_options::overwrite_existing);
                std::cout << "case " << i << " " << r.mutated.mutation << " "
                          << r.mutated.detail << ": " << r.outcome.verdict.c_str()
                          << " (" << r.outcome.error << "), kept as "
                          << keep.string() << std::endl;
            }
            r.mutated.bytes.clear();
            rows.push_back(std::move(r));
            if ((i + 1) % 25 == 0 || i + 1 == o.cases) {
                std::cout << "[" << i + 1 << "/" << o.cases << "] cases loaded"
                          << std::endl;
            }
        }
    } catch (const Interrupted &e) {
        std::cerr << "migstream: " << e.what() << "; writing what was done\n";
        all_right = false;
    } catch (const std::exception &e) {
        std::cerr << "migstream: " << e.what() << "\n";
        all_right = false;
    }
    std::ostringstream csv, md;
    write_stream_csv(csv, rows);
    md << qemu_version(o.binary) << ", seed " << o.seed << ", bound "
       << o.bound_s << " s\n\n";
    write_stream_summary(md, rows);
    try {
        write_file(o.out / "streams.csv", csv.str());
        write_file(o.out / "streams.md", md.str());
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    std::cout << "\n" << md.str() << "\nWrote " << (o.out / "streams.csv").string()
              << ", " << (o.out / "streams.md").string() << "\n";
    return all_right ? 0 : 1;
}

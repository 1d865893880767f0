// SPDX-License-Identifier: GPL-2.0-or-later
//
// migbench: scenarios x binaries (stock and fork, or --binary NAME=PATH
// each) x repetitions, alternating
// binaries, a progress line per run; CSV, Markdown and SVG plots into
// build/bench/<name>/. Migrations go over QMP, or through libvirt (--via
// libvirt: two libvirtd, virsh migrate; docs/libvirt.md).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <sys/utsname.h>
#include <thread>

#include "miglab/bench_run.h"
#include "miglab/cli.h"
#include "miglab/interrupt.h"
#include "miglab/libvirt_bench.h"
#include "miglab/report.h"

using namespace miglab;

namespace {

const char usage[] =
    "usage: migbench [options] SCENARIO.json...\n"
    "  --reps N        repetitions per binary (default: each scenario's)\n"
    "  --name NAME     output directory name under --out (default: the\n"
    "                  first scenario's name)\n"
    "  --out DIR       parent of the output directory (default build/bench)\n"
    "  --stock PATH    stock twin binary (default build/qemu-stock/...)\n"
    "  --fork PATH     fork binary (default build/qemu-fork/...)\n"
    "  --binary NAME=PATH  compare these binaries instead of stock and fork\n"
    "                  (repeat it; a binary named stock is the reference)\n"
    "  --only NAME     run one binary only\n"
    "  --qemu-src DIR  QEMU tree with the boot-block guest (default build/src)\n"
    "  --accel ACCEL   run every scenario's guest with this -accel instead\n"
    "  --via qmp|libvirt   drive each migration over QMP (default) or\n"
    "                  through libvirt: the guest a domain of one libvirtd,\n"
    "                  virsh migrate --live --p2p [--auto-converge] to a\n"
    "                  second (as root; Linux guests under TCG, bare guests\n"
    "                  under KVM)\n"
    "  --columns       print the columns of results.csv (Markdown) and exit\n"
    "Writes results.csv, results.md and SVG plots; prints the table.\n";

struct Options {
    std::vector<std::filesystem::path> scenarios;
    unsigned reps = 0;
    std::string name;
    std::filesystem::path out = MIGLAB_TOP "/build/bench";
    std::filesystem::path stock = MIGLAB_TOP "/build/qemu-stock/qemu-system-x86_64";
    std::filesystem::path fork = MIGLAB_TOP "/build/qemu-fork/qemu-system-x86_64";
    std::filesystem::path qemu_src = MIGLAB_TOP "/build/src";
    std::filesystem::path guest_dir = MIGLAB_TOP "/build/guest";
    std::string only;
    std::string accel;
    std::string via = "qmp";
    std::vector<Binary> binaries; // --binary, in the order given
};

// The columns of results.csv as docs/lab.md lists them.
std::string columns_markdown()
{
    std::ostringstream o;
    o << "| column | unit | what |\n| --- | --- | --- |\n";
    for (const auto &c : report_columns()) {
        o << "| `" << c.name << "` | " << c.unit << " | " << c.what << " |\n";
    }
    return o.str();
}

Options parse(CommandLine &cl)
{
    Options o;
    while (auto arg = cl.next()) {
        const std::string &a = *arg;
        if (a == "--columns") {
            std::cout << columns_markdown();
            std::exit(0);
        } else if (a == "--reps") {
            std::string v = cl.value();
            try {
                size_t end = 0;
                int n = std::stoi(v, &end);
                // All of it: stoi reads "2.5" as 2.
                if (n < 1 || end != v.size()) {
                    throw std::invalid_argument(v);
                }
                o.reps = static_cast<unsigned>(n);
            } catch (const std::exception &) {
                cl.fail("--reps must be a positive integer, got '" + v + "'");
            }
        } else if (a == "--name") {
            o.name = cl.value();
        } else if (a == "--out") {
            o.out = cl.value();
        } else if (a == "--stock") {
            o.stock = cl.value();
        } else if (a == "--fork") {
            o.fork = cl.value();
        } else if (a == "--qemu-src") {
            o.qemu_src = cl.value();
        } else if (a == "--accel") {
            o.accel = cl.value();
            if (auto bad = Scenario::bad_accel(o.accel)) {
                cl.fail("--accel " + *bad);
            }
        } else if (a == "--via") {
            o.via = cl.value();
            if (o.via != "qmp" && o.via != "libvirt") {
                cl.fail("--via takes qmp or libvirt");
            }
        } else if (a == "--binary") {
            std::string v = cl.value();
            auto eq = v.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
                cl.fail("--binary takes NAME=PATH, got '" + v + "'");
            }
            std::string name = v.substr(0, eq);
            for (const auto &b : o.binaries) {
                if (b.name == name) {
                    cl.fail("--binary " + name + " given twice");
                }
            }
            o.binaries.push_back({name, v.substr(eq + 1)});
        } else if (a == "--only") {
            o.only = cl.value();
        } else if (a.starts_with("-")) {
            cl.unknown(a);
        } else {
            o.scenarios.emplace_back(a);
        }
    }
    if (o.scenarios.empty()) {
        cl.fail("no scenario given\n" + cl.usage());
    }
    return o;
}

std::string machine_note()
{
    std::ostringstream o;
    utsname u{};
    uname(&u);
    o << "Machine: " << std::thread::hardware_concurrency() << " cores, "
      << u.sysname << " " << u.release << ", /dev/kvm: "
      << (!std::filesystem::exists("/dev/kvm")
              ? "absent"
              : std::filesystem::exists("/sys/module/kvm_pvm")
                    ? "kvm_pvm (software nested KVM)"
                    : "present")
      << ". Timings from this machine only; compare within one run.";
    return o.str();
}

} // namespace

int main(int argc, char **argv)
{
    CommandLine cl(argc, argv, "migbench", usage);
    Options o = parse(cl);
    // Ctrl-C unwinds the run in progress instead of leaving its QEMUs'
    // scratch directory (RAM chunks and all) behind.
    catch_interrupts();
    std::vector<Scenario> scenarios;
    try {
        for (const auto &f : o.scenarios) {
            scenarios.push_back(Scenario::load(f));
            if (!o.accel.empty()) {
                scenarios.back().accel = o.accel;
            }
        }
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    std::vector<Binary> binaries;
    const std::vector<Binary> given =
        o.binaries.empty()
            ? std::vector<Binary>{{"stock", o.stock}, {"fork", o.fork}}
            : o.binaries;
    for (const auto &b : given) {
        if (!o.only.empty() && o.only != b.name) {
            continue;
        }
        if (!std::filesystem::exists(b.path)) {
            cl.fail("no " + b.name + " binary at " + b.path.string() +
                 (o.binaries.empty()
                      ? " (make build, or --" + b.name + " PATH)"
                      : std::string()));
        }
        binaries.push_back(b);
    }
    if (binaries.empty()) {
        cl.fail("--only " + o.only + " names no binary of this run");
    }
    std::unique_ptr<LibvirtBench> libvirt;
    if (o.via == "libvirt") {
        if (auto why = LibvirtDaemon::unavailable()) {
            cl.fail("--via libvirt: " + *why);
        }
        for (const auto &s : scenarios) {
            if (auto why = LibvirtBench::unsupported(s)) {
                cl.fail("--via libvirt: scenario " + s.name + ": " + *why);
            }
        }
        try {
            libvirt = std::make_unique<LibvirtBench>(
                LabPaths{o.qemu_src, o.guest_dir});
        } catch (const std::exception &e) {
            cl.fail(std::string("--via libvirt: ") + e.what());
        }
        std::cout << "via libvirt: two libvirtd, virsh migrate --live --p2p\n";
    }
    std::string name = o.name.empty() ? scenarios.front().name : o.name;
    auto outdir = o.out / name;
    std::filesystem::create_directories(outdir);

    unsigned total = 0;
    for (const auto &s : scenarios) {
        total += (o.reps ? o.reps : s.repetitions) * binaries.size();
    }
    for (const auto &b : binaries) {
        std::cout << b.name << ": " << qemu_version(b.path) << "\n";
    }
    for (const auto &s : scenarios) {
        std::cout << s.name << ": " << s.guest_kind << " guest, -accel "
                  << s.accel << "\n";
    }
    std::vector<RunResult> results;
    unsigned done = 0;
    for (const auto &s : scenarios) {
        unsigned reps = o.reps ? o.reps : s.repetitions;
        for (unsigned rep = 1; rep <= reps; ++rep) {
            // Alternate which binary goes first, so drift hits both alike.
            for (size_t k = 0; k < binaries.size(); ++k) {
                const Binary &b = binaries[(k + rep) % binaries.size()];
                ++done;
                std::cout << "[" << done << "/" << total << "] " << s.name
                          << " " << b.name << " rep " << rep << ": "
                          << std::flush;
                RunResult r = libvirt ? libvirt->run_once(s, b, rep)
                                      : run_once(s, b, rep,
                                                 {o.qemu_src, o.guest_dir});
                std::cout << r.status;
                if (r.converged) {
                    std::cout << " in " << r.total_time_ms / 1000.0
                              << " s, downtime " << r.downtime_ms
                              << " ms, syncs " << r.dirty_sync_count
                              << ", throttle " << r.throttle_pct << "%"
                              << (r.ram_equal ? ", RAM equal" : "");
                }
                if (!r.error.empty()) {
                    std::cout << " (" << r.error << ")";
                }
                std::cout << std::endl;
                if (int sig = interrupt_signal()) {
                    // run_once has unwound: its QEMUs are stopped and its
                    // scratch directory is gone.
                    std::cerr << "migbench: " << Interrupted(sig).what()
                              << " after " << results.size()
                              << " complete runs; no report written\n";
                    return 128 + sig;
                }
                results.push_back(std::move(r));
            }
        }
    }
    Report report(results);
    std::string md = report.markdown(machine_note());
    std::vector<std::filesystem::path> svgs;
    try {
        report.write_csv(outdir / "results.csv");
        write_file(outdir / "results.md", md);
        svgs = report.write_svgs(outdir);
        for (auto &f : report.write_estimates(outdir)) {
            svgs.push_back(std::move(f));
        }
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    std::cout << "\n" << md << "\nWrote " << (outdir / "results.csv").string()
              << ", " << (outdir / "results.md").string();
    for (const auto &f : svgs) {
        std::cout << ", " << f.string();
    }
    std::cout << "\n";
    bool integrity_ok = true;
    for (const auto &r : results) {
        if (r.status == "error") {
            integrity_ok = false;
        }
    }
    return integrity_ok ? 0 : 1;
}

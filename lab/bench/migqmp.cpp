// SPDX-License-Identifier: GPL-2.0-or-later
//
// migqmp: generated bad QMP input (docs/lab.md#migqmp). Reads the schema
// of the QEMU under test (query-qmp-schema), generates bad arguments for
// every migration and dirty-rate command (wrong types, out of range,
// missing and unknown members, huge values) and sends each in every
// migration state (none, active, pre-switchover, completed, cancelled,
// and to a destination waiting for its stream). After each case QEMU
// must still run and answer, the migration state must be the same unless
// the case was accepted, and, with a sanitizer build, ASan and UBSan must
// stay silent. qmp.csv and qmp.md into the output directory. Exits 1 when
// any case killed or hung QEMU or a sanitizer spoke.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>

#include "miglab/cli.h"
#include "miglab/interrupt.h"
#include "miglab/qemu_process.h"
#include "miglab/qmp_fuzz.h"
#include "miglab/scenario.h"
#include "miglab/report.h"

using namespace miglab;

namespace {

const char usage[] =
    "usage: migqmp [options]\n"
    "  --binary PATH   QEMU (default build/qemu-fork/...; a sanitizer build:\n"
    "                  build/qemu-fork-asan/... after make build-asan)\n"
    "  --accel ACCEL   the VMs' accelerator (default tcg; e.g.\n"
    "                  kvm,dirty-ring-size=4096 for the dirty-limit paths)\n"
    "  --commands RE   commands whose name matches (default: migration and\n"
    "                  dirty-rate commands, block ones excepted)\n"
    "  --states LIST   comma-separated (default: none,active,pre-switchover,\n"
    "                  completed,cancelled,incoming)\n"
    "  --out DIR       output directory (default build/fuzz/qmp)\n"
    "Writes qmp.csv and qmp.md; prints the summary table.\n";

struct Options {
    std::filesystem::path binary = MIGLAB_TOP "/build/qemu-fork/qemu-system-x86_64";
    std::string accel = "tcg";
    std::string commands = "(migrat|dirty)";
    std::vector<std::string> states = QmpStateRig::states();
    std::filesystem::path out = MIGLAB_TOP "/build/fuzz/qmp";
};

Options parse(CommandLine &cl)
{
    Options o;
    while (auto a = cl.next()) {
        if (*a == "--binary") {
            o.binary = cl.value();
        } else if (*a == "--accel") {
            o.accel = cl.value();
            if (auto why = Scenario::bad_accel(o.accel)) {
                cl.fail("--accel: " + *why);
            }
        } else if (*a == "--commands") {
            o.commands = cl.value();
        } else if (*a == "--states") {
            o.states.clear();
            std::stringstream list(cl.value());
            for (std::string s; std::getline(list, s, ',');) {
                const auto &all = QmpStateRig::states();
                if (std::find(all.begin(), all.end(), s) == all.end()) {
                    cl.fail("--states: no state '" + s + "'");
                }
                o.states.push_back(s);
            }
        } else if (*a == "--out") {
            o.out = cl.value();
        } else {
            cl.unknown(*a);
        }
    }
    if (!std::filesystem::exists(o.binary)) {
        cl.fail("no QEMU at " + o.binary.string() + " (make build-fork, or --binary)");
    }
    return o;
}

// Sends one case; its verdict with the reply.
void send(QemuProcess &vm, QmpCaseResult &r)
{
    try {
        Json ret = vm.qmp().execute(r.c.command, r.c.args, Millis(10000));
        r.verdict = "accepted";
        r.reply = ret.dump();
    } catch (const QmpError &e) {
        r.verdict = "error";
        r.reply = e.error_class() + ": " + e.desc();
    } catch (const Interrupted &) {
        throw;
    } catch (const std::runtime_error &e) {
        r.verdict = vm.running() ? "hung" : "dead";
        r.reply = e.what();
        return;
    }
    // The VM must still answer, and the next good command work.
    try {
        vm.qmp().execute("query-status", {}, Millis(10000));
        vm.qmp().execute("query-migrate", {}, Millis(10000));
    } catch (const std::runtime_error &e) {
        r.verdict = vm.running() ? "hung" : "dead";
        r.reply += std::string(" / then: ") + e.what();
    }
}

} // namespace

int main(int argc, char **argv)
{
    CommandLine cl(argc, argv, "migqmp", usage);
    Options o = parse(cl);
    setenv("ASAN_OPTIONS", "detect_leaks=0:exitcode=86", 0);
    setenv("UBSAN_OPTIONS", "print_stacktrace=1", 0);
    catch_interrupts();
    std::vector<QmpCaseResult> rows;
    std::vector<std::string> reports;
    bool all_right = true;
    unsigned reentered = 0;
    try {
        std::filesystem::create_directories(o.out);
        TempDir dir("migqmp");
        QmpStateRig rig({o.binary, pc_machine_args(o.accel, "128M")}, dir.path());
        const std::regex keep(o.commands);
        QmpSchema schema(rig.enter("none").qmp().execute("query-qmp-schema"));
        auto commands = schema.commands([&](const std::string &n) {
            return std::regex_search(n, keep) && !n.starts_with("block-");
        });
        size_t per_state = 0;
        for (const auto &c : commands) {
            per_state += schema.cases(c).size();
        }
        std::cout << "migqmp: " << qemu_version(o.binary) << ", -accel "
                  << o.accel << "; " << commands.size() << " commands, "
                  << per_state << " cases in each of " << o.states.size()
                  << " states" << std::endl;
        for (const auto &state : o.states) {
            rig.enter(state);
            unsigned bad = 0, n = 0;
            for (const auto &command : commands) {
                for (auto &c : schema.cases(command)) {
                    if (!rig.holds()) {
                        rig.enter(state);
                        ++reentered;
                    }
                    QmpCaseResult r{state, rig.target().name(), std::move(c), "", ""};
                    send(rig.target(), r);
                    ++n;
                    if (r.bad()) {
                        ++bad;
                        all_right = false;
                        std::cout << "  " << state << ": " << r.c.command << " "
                                  << r.c.what << ": " << r.verdict << " ("
                                  << r.reply << ")" << std::endl;
                        rig.enter(state);
                        ++reentered;
                    }
                    rows.push_back(std::move(r));
                }
            }
            for (auto &rep : rig.leave()) {
                reports.push_back(std::move(rep));
            }
            std::cout << "[" << state << "] " << n << " cases, " << bad
                      << " bad" << std::endl;
        }
    } catch (const Interrupted &e) {
        std::cerr << "migqmp: " << e.what() << "; writing what was done\n";
        all_right = false;
    } catch (const std::exception &e) {
        std::cerr << "migqmp: " << e.what() << "\n";
        all_right = false;
    }
    std::ostringstream csv, md;
    write_qmp_csv(csv, rows);
    md << qemu_version(o.binary) << ", -accel " << o.accel << "; the state "
       << "was set up again " << reentered << " times after a case moved it\n\n";
    write_qmp_summary(md, rows);
    md << "\nSanitizer reports: " << reports.size() << "\n";
    for (const auto &r : reports) {
        md << "\n```\n" << r << "\n```\n";
        all_right = false;
    }
    try {
        write_file(o.out / "qmp.csv", csv.str());
        write_file(o.out / "qmp.md", md.str());
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    std::cout << "\n" << md.str() << "\nWrote " << (o.out / "qmp.csv").string()
              << ", " << (o.out / "qmp.md").string() << "\n";
    return all_right ? 0 : 1;
}

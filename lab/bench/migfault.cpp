// SPDX-License-Identifier: GPL-2.0-or-later
//
// migfault: faults at random points of a scenario's migration (the
// destination killed, the link cut, the stream stalled, the migration
// cancelled), and after each the source's and the next migration's
// checks (docs/lab.md#migfault). A progress line per fault; faults.csv and
// faults.md into build/faults/<name>/. Exits 1 when any check failed.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "miglab/cli.h"
#include "miglab/fault_campaign.h"
#include "miglab/interrupt.h"
#include "miglab/report.h"

using namespace miglab;

namespace {

const char usage[] =
    "usage: migfault [options] SCENARIO.json\n"
    "  --faults LIST   comma-separated, of kill-destination, cut, stall,\n"
    "                  cancel (default: all four)\n"
    "  --points N      faults that strike, per fault (default 30); a fault\n"
    "                  drawn past the end of the stream does not count\n"
    "  --seed N        the random points' seed (default: a new one, printed)\n"
    "  --switchover    strike in the switchover: the migration pauses before\n"
    "                  it (pause-before-switchover), the point is drawn from\n"
    "                  what is left to send, then it continues\n"
    "  --soak N        no faults: N migrations back and forth, each with its\n"
    "                  RAM compared (make soak); writes soak.csv, soak.md\n"
    "  --binary PATH   QEMU (default build/qemu-fork/...)\n"
    "  --name NAME     output directory name (default: the scenario's)\n"
    "  --out DIR       parent of the output directory (default build/faults)\n"
    "  --qemu-src DIR  QEMU tree with the boot-block guest (default build/src)\n"
    "Writes faults.csv and faults.md; prints the summary table.\n";

struct Options {
    std::filesystem::path scenario;
    std::vector<Fault> faults;
    unsigned points = 30;
    unsigned soak = 0;
    bool switchover = false;
    uint64_t seed = std::random_device{}();
    std::filesystem::path binary = MIGLAB_TOP "/build/qemu-fork/qemu-system-x86_64";
    std::string name;
    std::filesystem::path out = MIGLAB_TOP "/build/faults";
    std::filesystem::path qemu_src = MIGLAB_TOP "/build/src";
    std::filesystem::path guest_dir = MIGLAB_TOP "/build/guest";
};

Options parse(CommandLine &cl)
{
    Options o;
    while (auto a = cl.next()) {
        if (*a == "--faults") {
            std::stringstream list(cl.value());
            for (std::string f; std::getline(list, f, ',');) {
                auto fault = fault_named(f);
                if (!fault) {
                    cl.fail("--faults: no fault '" + f + "' (kill-destination, "
                            "cut, stall, cancel)");
                }
                o.faults.push_back(*fault);
            }
        } else if (*a == "--points") {
            o.points = static_cast<unsigned>(cl.number());
            if (o.points == 0) {
                cl.fail("--points must be at least 1");
            }
        } else if (*a == "--switchover") {
            o.switchover = true;
        } else if (*a == "--soak") {
            o.soak = static_cast<unsigned>(cl.number());
            if (o.soak == 0) {
                cl.fail("--soak must be at least 1");
            }
        } else if (*a == "--seed") {
            o.seed = cl.number();
        } else if (*a == "--binary") {
            o.binary = cl.value();
        } else if (*a == "--name") {
            o.name = cl.value();
        } else if (*a == "--out") {
            o.out = cl.value();
        } else if (*a == "--qemu-src") {
            o.qemu_src = cl.value();
        } else if (a->starts_with("-")) {
            cl.unknown(*a);
        } else if (!o.scenario.empty()) {
            cl.fail("one scenario at a time\n" + cl.usage());
        } else {
            o.scenario = *a;
        }
    }
    if (o.scenario.empty()) {
        cl.fail("no scenario given\n" + cl.usage());
    }
    if (o.faults.empty()) {
        o.faults = {Fault::kill_destination, Fault::cut, Fault::stall,
                    Fault::cancel};
    }
    if (!std::filesystem::exists(o.binary)) {
        cl.fail("no QEMU at " + o.binary.string() +
                " (make build-fork, or --binary)");
    }
    return o;
}

std::string describe(const FaultOutcome &r)
{
    std::ostringstream o;
    o << fault_name(r.fault) << " at " << r.point << " B";
    if (!r.struck()) {
        o << ": the migration ended first";
        return o.str();
    }
    o << " (" << r.phase << "): " << r.status
      << (r.yanked ? ", migrate_cancel hung: yanked" : "")
      << (r.resumed ? ", source resumed" : "")
      << (r.source_running ? ", source running" : ", SOURCE NOT RUNNING")
      << (r.guest_progresses ? ", guest progresses" : ", GUEST STUCK")
      << "; next migration " << r.retry
      << (r.ram_equal ? ", RAM equal" : "");
    if (!r.error.empty()) {
        o << " (" << r.error << ")";
    }
    return o.str();
}

} // namespace

int main(int argc, char **argv)
{
    CommandLine cl(argc, argv, "migfault", usage);
    Options o = parse(cl);
    Scenario s;
    try {
        s = Scenario::load(o.scenario);
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    const std::string name = o.name.empty() ? s.name : o.name;
    const auto outdir = o.out / name;
    catch_interrupts();
    std::vector<FaultOutcome> rows;
    bool all_right = true;
    bool calibrated = false; // the first migration completed, RAM equal
    try {
        std::cout << "migfault: " << s.name << ", " << s.guest_kind
                  << " guest, -accel " << s.accel << ", "
                  << qemu_version(o.binary) << ", seed " << o.seed
                  << std::endl;
        FaultCampaign campaign(s, {"fork", o.binary},
                               {o.qemu_src, o.guest_dir}, o.seed);
        std::cout << "first migration (healthy): " << std::flush;
        std::cout << campaign.calibrate() << " B; points drawn below that"
                  << std::endl;
        calibrated = true;
        unsigned cycle = 0;
        if (o.soak) {
            // The first, healthy migration was the first of the soak.
            for (cycle = 2; cycle <= o.soak; ++cycle) {
                FaultOutcome r = campaign.healthy(cycle);
                all_right = all_right && r.ok();
                std::cout << "[soak " << cycle << "/" << o.soak << "] "
                          << r.retry << (r.ram_equal ? ", RAM equal" : "")
                          << (r.error.empty() ? "" : " (" + r.error + ")")
                          << std::endl;
                rows.push_back(std::move(r));
            }
            o.faults.clear();
        }
        for (Fault f : o.faults) {
            unsigned struck = 0;
            // A bound on draws past the stream's end.
            for (unsigned tries = 0; struck < o.points && tries < 3 * o.points;
                 ++tries) {
                FaultOutcome r = campaign.run(f, ++cycle, o.switchover);
                struck += r.struck();
                all_right = all_right && (!r.struck() || r.ok());
                std::cout << "[" << fault_name(f) << " " << struck << "/"
                          << o.points << "] " << describe(r) << std::endl;
                rows.push_back(std::move(r));
            }
        }
    } catch (const Interrupted &e) {
        std::cerr << "migfault: " << e.what() << "; writing what was done\n";
        all_right = false;
    } catch (const std::exception &e) {
        std::cerr << "migfault: " << e.what() << "\n";
        all_right = false;
    }
    std::ostringstream csv, md;
    write_fault_csv(csv, rows);
    const std::string file = o.soak ? "soak" : "faults";
    md << "Scenario " << s.name << ", seed " << o.seed << ", "
       << qemu_version(o.binary) << "\n\n";
    if (o.soak) {
        if (calibrated) {
            FaultOutcome first;
            first.cycle = 1;
            first.fault = Fault::none;
            first.phase = "none";
            first.retry = "completed";
            first.ram_equal = first.source_running = first.guest_progresses = true;
            rows.insert(rows.begin(), first);
        }
        csv.str("");
        write_fault_csv(csv, rows);
        write_soak_summary(md, rows);
    } else {
        write_fault_summary(md, rows);
    }
    try {
        std::filesystem::create_directories(outdir);
        write_file(outdir / (file + ".csv"), csv.str());
        write_file(outdir / (file + ".md"), md.str());
    } catch (const std::exception &e) {
        cl.fail(e.what());
    }
    std::cout << "\n" << md.str() << "\nWrote " << (outdir / (file + ".csv")).string()
              << ", " << (outdir / (file + ".md")).string() << "\n";
    return all_right ? 0 : 1;
}

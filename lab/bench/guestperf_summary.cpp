// SPDX-License-Identifier: GPL-2.0-or-later
//
// guestperf-summary: guestperf reports (tools/guestperf batch
// --compare-binary stock=... fork=...) as the lab's report: results.csv and
// results.md (medians and ranges per scenario and binary) in --out, the
// table on stdout. Reports are numbered per scenario and binary in the
// order given.
#include <iostream>
#include <map>

#include "miglab/guestperf_report.h"
#include "miglab/report.h"

using namespace miglab;

namespace {
const char usage[] = "usage: guestperf-summary --out DIR REPORT.json...\n";
}

int main(int argc, char **argv)
{
    std::filesystem::path out;
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--out" && i + 1 < argc) {
            out = argv[++i];
        } else if (a == "-h" || a == "--help") {
            std::cout << usage;
            return 0;
        } else if (a.rfind("-", 0) == 0) {
            std::cerr << usage;
            return 2;
        } else {
            files.emplace_back(a);
        }
    }
    if (out.empty() || files.empty()) {
        std::cerr << usage;
        return 2;
    }
    try {
        std::vector<RunResult> runs;
        std::map<std::string, unsigned> reps;
        for (const auto &f : files) {
            RunResult r = run_of_guestperf_report(f, 0);
            r.rep = ++reps[r.scenario + "/" + r.binary];
            runs.push_back(std::move(r));
        }
        Report report(runs);
        std::filesystem::create_directories(out);
        report.write_csv(out / "results.csv");
        std::string md = report.markdown(
            "From guestperf reports: total time, downtime and bytes are the "
            "source's last query-migrate; dirty syncs are guestperf's "
            "iterations; the throttle is the highest guestperf recorded.");
        write_file(out / "results.md", md);
        std::cout << md;
    } catch (const std::exception &e) {
        std::cerr << "guestperf-summary: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

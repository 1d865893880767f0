// SPDX-License-Identifier: GPL-2.0-or-later
//
// guestperf-summary: guestperf reports (tools/guestperf batch
// --compare-binary stock=... fork=...) as the lab's report: results.csv and
// results.md (medians and ranges per scenario and binary) in --out, the
// table on stdout. Reports are numbered per scenario and binary in the
// order given.
#include <iostream>
#include <map>

#include "miglab/cli.h"
#include "miglab/guestperf_report.h"
#include "miglab/report.h"

using namespace miglab;

namespace {
const char usage[] = "usage: guestperf-summary --out DIR REPORT.json...\n";
}

int main(int argc, char **argv)
{
    CommandLine cl(argc, argv, "guestperf-summary", usage);
    std::filesystem::path out;
    std::vector<std::filesystem::path> files;
    while (auto a = cl.next()) {
        if (*a == "--out") {
            out = cl.value();
        } else if (a->starts_with("-")) {
            cl.unknown(*a);
        } else {
            files.emplace_back(*a);
        }
    }
    if (out.empty() || files.empty()) {
        cl.fail(std::string("--out and a report are needed\n") + usage);
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

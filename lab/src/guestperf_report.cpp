// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/guestperf_report.h"

#include <fstream>
#include <stdexcept>

namespace miglab {

RunResult run_of_guestperf_report(const Json &report, unsigned rep)
{
    if (!report.is_object() || !report.contains("scenario") ||
        !report.contains("progress_history") || !report.contains("result")) {
        throw std::runtime_error("not a guestperf report (scenario, "
                                 "progress_history and result wanted)");
    }
    const std::string name = report["scenario"].value("name", "");
    auto dash = name.rfind('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == name.size()) {
        throw std::runtime_error("scenario '" + name + "' has no -LABEL "
                                 "(guestperf-batch --compare-binary)");
    }
    RunResult r;
    r.scenario = name.substr(0, dash);
    r.binary = name.substr(dash + 1);
    r.rep = rep;
    const Json &result = report["result"];
    r.converged = result.value("success", false);
    r.status = result.value("status", r.converged ? "completed" : "failed");
    if (!r.converged) {
        r.error = result.value("reason", "");
    }
    const Json &history = report["progress_history"];
    if (!history.is_array() || history.empty()) {
        throw std::runtime_error("guestperf report of " + name +
                                 " has no progress");
    }
    const Json &last = history.back();
    r.total_time_ms = last.value("duration", 0.0);
    r.downtime_ms = last.value("downtime", 0.0);
    r.setup_time_ms = last.value("setup_time", 0.0);
    if (last.contains("ram")) {
        r.transferred_bytes = last["ram"].value("transferred_bytes", 0ULL);
        r.dirty_sync_count = last["ram"].value("iterations", 0ULL);
    }
    for (const auto &p : history) {
        r.throttle_pct = std::max(r.throttle_pct, p.value("throttle_pcent", 0));
    }
    r.migration_end_ms = r.total_time_ms;
    return r;
}

RunResult run_of_guestperf_report(const std::filesystem::path &file,
                                  unsigned rep)
{
    std::ifstream in(file);
    if (!in) {
        throw std::runtime_error("cannot read " + file.string());
    }
    try {
        return run_of_guestperf_report(Json::parse(in), rep);
    } catch (const std::exception &e) {
        throw std::runtime_error(file.string() + ": " + e.what());
    }
}

} // namespace miglab

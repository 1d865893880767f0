// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>

#include "miglab/qmp.h"
#include "miglab/run_result.h"

namespace miglab {

// One guestperf report (tests/migration-stress, JSON) as a run of the
// lab's reports. Its scenario's name ends in "-LABEL", the binary's label
// from guestperf-batch --compare-binary: that is the run's binary. Total
// time, downtime and bytes are from the last progress record (the
// source's last query-migrate), dirty syncs its iterations, the throttle
// the highest one recorded; converged is the report's result. Throws
// std::runtime_error naming what is missing.
RunResult run_of_guestperf_report(const Json &report, unsigned rep);
RunResult run_of_guestperf_report(const std::filesystem::path &file,
                                  unsigned rep);

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "miglab/run_result.h"

namespace miglab {

// Writes text to file, replacing it; throws std::runtime_error naming the
// file when a write or the close fails (a full disk must not leave a
// truncated result behind a successful run).
void write_file(const std::filesystem::path &file, const std::string &text);
// A whole file as a string (empty when it cannot be read: logs that a
// process may not have written).
std::string read_file(const std::filesystem::path &file);
// A CSV field in double quotes, inner quotes doubled.
std::string csv_quoted(const std::string &s);

// One metric of a run, in one place: its CSV column, unit and meaning, its
// CSV cell, and where it shows in the Markdown's main table (rank 1 is the
// first column after binary and converged; 0: CSV only), with the value
// shown there (the CSV's, or another scale: transferred bytes in MiB).
struct Column {
    std::string name;
    std::string unit;
    std::string what;
    int precision = 0;
    std::function<std::string(const RunResult &)> cell;
    std::string title;
    int rank = 0;
    std::function<std::optional<double>(const RunResult &)> shown;
    int shown_precision = 0;
};

// Every column of results.csv, in its order (migbench --columns).
const std::vector<Column> &report_columns();

// Median, minimum and maximum of some numbers.
struct Spread {
    double median = 0, min = 0, max = 0;
    size_t n = 0;
    static Spread of(std::vector<double> v);
};

// The results of a migbench run: one CSV row per run, a Markdown table of
// medians and ranges per scenario and binary, with each binary's median
// total time against stock's, and SVG plots.
class Report {
public:
    // The binaries are the runs' own, stock first where it ran.
    explicit Report(std::vector<RunResult> runs);

    // Each writer throws (see write_file) when its file cannot be written.
    void write_csv(const std::filesystem::path &file) const;
    std::string markdown(const std::string &machine_note) const;
    // <dir>/<scenario>-total-time.svg and <dir>/<scenario>-throughput.svg
    std::vector<std::filesystem::path>
    write_svgs(const std::filesystem::path &dir) const;
    // The fork's convergence estimates, when runs sampled them:
    // <dir>/estimates.csv (each sample next to the actual time left) and
    // <dir>/<scenario>-estimate.svg. Nothing when none did.
    std::vector<std::filesystem::path>
    write_estimates(const std::filesystem::path &dir) const;

private:
    std::vector<std::string> scenarios() const;
    std::vector<const RunResult *> runs_of(const std::string &scenario,
                                           const std::string &binary) const;
    void write_load_table(std::ostream &o, const std::string &scenario) const;
    void write_pair_table(std::ostream &o, const std::string &scenario,
                          std::optional<double> RunResult::*field,
                          const std::string &field_title,
                          const std::string &throttle_title) const;
    std::vector<RunResult> runs_;
    std::vector<std::string> binaries_;
};

} // namespace miglab

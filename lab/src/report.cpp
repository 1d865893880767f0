// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>
#include <system_error>
#include <unistd.h>

#include "miglab/xml.h"

namespace miglab {

namespace {


std::string fmt(double v, int prec = 0)
{
    std::ostringstream o;
    o << std::fixed << std::setprecision(prec) << v;
    return o.str();
}

// 8022700 -> "8.0M": axis labels that fit.
std::string si(double v)
{
    const char *suffix[] = {"", "k", "M", "G", "T"};
    int i = 0;
    while (std::fabs(v) >= 1000 && i < 4) {
        v /= 1000;
        ++i;
    }
    return fmt(v, i ? 1 : 0) + suffix[i];
}

std::string opt(const std::optional<double> &v, int prec)
{
    return v ? fmt(*v, prec) : "n/a";
}

// Downtime means something only for a migration that completed.
std::optional<double> converged_downtime(const RunResult &r)
{
    if (!r.converged) {
        return std::nullopt;
    }
    return r.downtime_ms;
}

std::string spread_cell(const std::vector<const RunResult *> &runs,
                        const std::function<std::optional<double>(
                            const RunResult &)> &get,
                        int prec = 0)
{
    std::vector<double> v;
    for (const auto *r : runs) {
        if (auto x = get(*r)) {
            v.push_back(*x);
        }
    }
    if (v.empty()) {
        return "n/a";
    }
    Spread s = Spread::of(v);
    if (s.n == 1) {
        return fmt(s.median, prec);
    }
    return fmt(s.median, prec) + " (" + fmt(s.min, prec) + "-" +
           fmt(s.max, prec) + ")";
}

// Stock red, the fork blue, other binaries from a palette by their place.
std::string colour(const std::string &binary,
                   const std::vector<std::string> &binaries)
{
    if (binary == "stock") {
        return "#d62728";
    }
    if (binary == "fork") {
        return "#1f77b4";
    }
    static const char *const others[] = {"#2ca02c", "#ff7f0e", "#9467bd",
                                         "#8c564b", "#e377c2"};
    auto at = std::find(binaries.begin(), binaries.end(), binary);
    return others[static_cast<size_t>(at - binaries.begin()) % std::size(others)];
}

// "B/stock median WHAT: R" for every binary B beside stock, when stock's
// median is known and not 0.
void ratio_lines(std::ostream &o, const std::map<std::string, double> &median,
                 const std::vector<std::string> &binaries, const char *what)
{
    auto stock = median.find("stock");
    if (stock == median.end() || stock->second <= 0) {
        return;
    }
    for (const auto &b : binaries) {
        auto m = median.find(b);
        if (b != "stock" && m != median.end()) {
            o << "\n" << b << "/stock median " << what << ": "
              << fmt(m->second / stock->second, 2) << "\n";
        }
    }
}

using Get = std::function<std::optional<double>(const RunResult &)>;

// A number column: CSV cell with prec decimals ("n/a" when unset).
Column number(const char *name, const char *unit, const char *what, int prec,
              Get get, const char *title = nullptr, int rank = 0,
              Get shown = {}, int shown_prec = -1)
{
    return {name, unit, what, prec,
            [get, prec](const RunResult &r) { return opt(get(r), prec); },
            title ? title : "", rank, shown ? shown : get,
            shown_prec < 0 ? prec : shown_prec};
}

Column word(const char *name, const char *what,
            std::function<std::string(const RunResult &)> cell)
{
    return {name, "", what, 0, std::move(cell), "", 0, {}, 0};
}

// An SVG's opening: its size, a white background, and title (already
// escaped) centred on top.
void svg_open(std::ostream &s, double w, double h, const std::string &title)
{
    s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w
      << "' height='" << h << "' font-family='sans-serif' "
         "font-size='13'>\n<rect width='100%' height='100%' "
         "fill='white'/>\n<text x='" << w / 2 << "' y='22' "
         "text-anchor='middle' font-size='15'>" << title << "</text>\n";
}

std::string yes_no(bool b)
{
    return b ? "yes" : "no";
}

} // namespace

const std::vector<Column> &report_columns()
{
    // CSV order: append new columns at the end, so that older CSVs keep
    // theirs. rank orders the Markdown's main table (0: not in it).
    static const std::vector<Column> columns{
        word("scenario", "scenario name", [](auto &r) { return r.scenario; }),
        word("binary", "binary (stock, fork, or --binary NAME)",
             [](auto &r) { return r.binary; }),
        word("rep", "repetition, from 1",
             [](auto &r) { return std::to_string(r.rep); }),
        word("converged", "the migration completed",
             [](auto &r) { return yes_no(r.converged); }),
        number("total_time_ms", "ms", "QEMU's total-time (wall time when it did not complete)", 0,
               [](auto &r) { return r.total_time_ms; }, "total time ms", 1),
        number("downtime_ms", "ms", "QEMU's downtime", 0,
               [](auto &r) { return r.downtime_ms; }, "downtime ms", 2,
               converged_downtime),
        number("transferred_bytes", "bytes", "RAM bytes sent", 0,
               [](auto &r) { return static_cast<double>(r.transferred_bytes); },
               "transferred MiB", 3,
               [](auto &r) { return r.transferred_bytes / 1048576.0; }),
        number("perf_drop_ms", "ms", "time the guest ran below 50% of its pre-migration rate", 0,
               [](auto &r) { return r.perf_drop_ms; }, "perf drop ms", 6),
        number("work_lost", "fraction", "guest work not done while migrating, of what it would have done", 3,
               [](auto &r) { return r.work_lost; }, "work lost", 7),
        number("lower_bound_ms", "ms", "non-zero RAM / bandwidth", 0,
               [](auto &r) { return r.lower_bound_ms; }, "lower bound ms", 11),
        number("setup_time_ms", "ms", "QEMU's setup-time", 0,
               [](auto &r) { return r.setup_time_ms; }),
        number("dirty_sync_count", "", "dirty bitmap syncs", 0,
               [](auto &r) { return static_cast<double>(r.dirty_sync_count); },
               "dirty syncs", 4),
        number("throttle_pct", "%", "last auto-converge throttle seen while migrating", 0,
               [](auto &r) { return static_cast<double>(r.throttle_pct); },
               "final throttle %", 5),
        number("efficiency", "", "lower bound / total time", 3,
               [](auto &r) { return r.efficiency(); }, "efficiency", 12),
        word("ram_equal", "source and destination RAM digests equal",
             [](auto &r) { return yes_no(r.ram_equal); }),
        word("status", "completed, failed, cancelled, timeout or error",
             [](auto &r) { return r.status; }),
        number("worst_pass_ms", "ms", "the guest's slowest pass while migrating", 0,
               [](auto &r) { return r.worst_pass_ms; }, "worst pass ms", 10),
        number("baseline_rate", "work/s", "guest throughput before the migration (median)", 0,
               [](auto &r) { return r.baseline_rate; }),
        number("rate_during", "work/s", "mean guest throughput while migrating", 0,
               [](auto &r) { return r.rate_during; }),
        number("rate_during_ratio", "", "rate_during / baseline_rate", 4,
               [](auto &r) { return r.rate_during_ratio(); },
               "guest during/before", 9,
               [](auto &r) { return r.rate_during_ratio(); }, 3),
        number("ring_full_per_s", "1/s", "KVM dirty-ring-full exits per second while migrating", 1,
               [](auto &r) { return r.ring_full_per_s; }, "ring-full exits/s", 13),
        number("faults_per_s", "1/s", "guest page faults KVM took per second while migrating", 0,
               [](auto &r) { return r.faults_per_s; }, "guest faults/s", 14),
        number("reader_rate_ratio", "", "the guest's readers (a vCPU or thread that only reads): pages read per second while migrating / before", 3,
               [](auto &r) { return r.reader_rate_ratio(); }),
        number("min_vcpu_rate", "work/s", "the slowest worker vCPU's rate before migrating", 0,
               [](auto &r) { return r.min_vcpu_rate; }),
        number("ring_dirty_rate", "pages/s", "median dirty rate of the fork's rings while migrating", 0,
               [](auto &r) { return r.ring_dirty_rate; }),
        number("kick_alls", "", "the fork's kicks of all vCPUs during the migration", 0,
               [](auto &r) { return r.kick_alls; }),
        number("flushes", "", "the fork's dirty ring flushes during the migration", 0,
               [](auto &r) { return r.flushes; }),
        number("load_time_ms", "ms", "the destination's non-iterable load", 1,
               [](auto &r) { return r.load_time_ms; }),
        number("load_flatviews", "", "flat views rendered in that load", 0,
               [](auto &r) { return r.load_flatviews; }),
        number("load_flushes", "", "the fork's early commits in that load", 0,
               [](auto &r) { return r.load_flushes; }),
        number("lost_work_s", "s", "guest work lost, in seconds of its pre-migration throughput", 2,
               [](auto &r) { return r.lost_work_s; }, "lost work s", 8),
        number("differing_pages", "", "pages whose digests differ after migration", 0,
               [](auto &r) { return r.differing_pages; }),
        number("throttle_release_ms", "ms", "bursty guests: longest time from a burst's end to a throttle of 10% or less", 0,
               [](auto &r) { return r.throttle_release_ms; }),
        number("completed_throttle_pct", "%", "--via libvirt: the throttle domjobinfo --completed reported", 0,
               [](auto &r) { return r.completed_throttle_pct; }),
        number("estimate_error_pct", "%", "the fork's convergence estimate (x-convergence): median absolute error against the actual time left, % of it, after the first pass", 1,
               [](auto &r) { return r.estimate_error_pct; }, "estimate error %", 15),
        number("never_converge_ms", "ms", "when the fork's estimate first said the migration will not converge", 0,
               [](auto &r) { return r.never_converge_ms; }, "\"will not converge\" at ms", 16),
        number("migration_cpu_s", "s", "CPU time of the source's migration thread (mig/src/main) during the migration", 2,
               [](auto &r) { return r.migration_cpu_s; }, "migration thread CPU s", 17),
        number("multifd_cpu_s", "s", "CPU time of the source's multifd sender threads (mig/src/send_N) during the migration", 2,
               [](auto &r) { return r.multifd_cpu_s; }, "multifd CPU s", 18),
        number("iothread_cpu_s", "s", "CPU time of the source's iothreads (IO <id>; the balloon's handles free page hints) during the migration", 2,
               [](auto &r) { return r.iothread_cpu_s; }),
        number("guest_downtime_ms", "ms", "from the source's stop to the end of the destination's load (trace runstate_set on both sides): the time the guest cannot run, which QEMU's downtime (until the source has sent everything) does not count while the destination is still loading", 0,
               [](auto &r) { return r.guest_downtime_ms; }, "guest downtime ms", 19),
        number("reader_ratio_throttled", "", "reader_rate_ratio over the samples while the throttle was on (cpu-throttle-percentage > 0, or a vCPU held by a dirty limit)", 3,
               [](auto &r) { return r.reader_ratio_throttled(); }),
        word("vcpu_dirty_rates", "each vCPU held to a dirty limit (query-vcpu-dirty-limit every 500 ms: the user's, or the fork's per-vCPU auto-converge): cpu:median MiB/s it dirtied",
             [](auto &r) { return r.vcpu_dirty_rates; }),
        number("limit_ratio", "", "median over those samples of the highest dirty rate / limit of a vCPU its throttle held, from the first rate measured with the throttle in force (1: at its limit)", 3,
               [](auto &r) { return r.limit_ratio; }),
    };
    return columns;
}

std::string read_file(const std::filesystem::path &file)
{
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string csv_quoted(const std::string &s)
{
    std::string q = "\"";
    for (char c : s) {
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    }
    return q + "\"";
}

void write_file(const std::filesystem::path &file, const std::string &text)
{
    auto fail = [&](const char *what) {
        throw std::system_error(errno, std::generic_category(),
                                std::string(what) + " " + file.string());
    };
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0644);
    if (fd < 0) {
        fail("cannot create");
    }
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            int err = errno;
            ::close(fd);
            errno = err;
            fail("cannot write");
        }
        off += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) {
        fail("cannot write");
    }
}

Spread Spread::of(std::vector<double> v)
{
    Spread s;
    s.n = v.size();
    if (v.empty()) {
        return s;
    }
    std::sort(v.begin(), v.end());
    s.min = v.front();
    s.max = v.back();
    s.median = v.size() % 2 ? v[v.size() / 2]
                            : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return s;
}

Report::Report(std::vector<RunResult> runs) : runs_(std::move(runs))
{
    // Stock first where it ran (the others are compared with it), then
    // the others as they first appear.
    if (std::any_of(runs_.begin(), runs_.end(),
                    [](const RunResult &r) { return r.binary == "stock"; })) {
        binaries_.push_back("stock");
    }
    for (const auto &r : runs_) {
        if (std::find(binaries_.begin(), binaries_.end(), r.binary) ==
            binaries_.end()) {
            binaries_.push_back(r.binary);
        }
    }
}

std::vector<std::string> Report::scenarios() const
{
    std::vector<std::string> out;
    for (const auto &r : runs_) {
        if (std::find(out.begin(), out.end(), r.scenario) == out.end()) {
            out.push_back(r.scenario);
        }
    }
    return out;
}

std::vector<const RunResult *> Report::runs_of(const std::string &scenario,
                                               const std::string &binary) const
{
    std::vector<const RunResult *> out;
    for (const auto &r : runs_) {
        if (r.scenario == scenario && r.binary == binary) {
            out.push_back(&r);
        }
    }
    return out;
}

void Report::write_csv(const std::filesystem::path &file) const
{
    const auto &columns = report_columns();
    std::ostringstream o;
    for (size_t i = 0; i < columns.size(); ++i) {
        o << (i ? "," : "") << columns[i].name;
    }
    o << '\n';
    for (const auto &r : runs_) {
        for (size_t i = 0; i < columns.size(); ++i) {
            o << (i ? "," : "") << columns[i].cell(r);
        }
        o << '\n';
    }
    write_file(file, o.str());
}

// A table of field and the final throttle per binary, for the binaries
// with a run that has field set; nothing when none has.
void Report::write_pair_table(std::ostream &o, const std::string &sc,
                              std::optional<double> RunResult::*field,
                              const std::string &field_title,
                              const std::string &throttle_title) const
{
    bool header = false;
    for (const auto &b : binaries_) {
        auto runs = runs_of(sc, b);
        if (std::none_of(runs.begin(), runs.end(),
                         [&](auto *r) { return (r->*field).has_value(); })) {
            continue;
        }
        if (!header) {
            o << "\n| binary | " << field_title << " | " << throttle_title
              << " |\n| --- | --- | --- |\n";
            header = true;
        }
        o << "| " << b << " | "
          << spread_cell(runs, [&](auto &r) { return r.*field; }) << " | "
          << spread_cell(runs, [](auto &r) {
                 return static_cast<double>(r.throttle_pct);
             })
          << " |\n";
    }
}

// The destination's non-iterable load, for scenarios that measured it.
void Report::write_load_table(std::ostream &o, const std::string &sc) const
{
    std::map<std::string, double> median_load;
    bool header = false;
    for (const auto &b : binaries_) {
        auto runs = runs_of(sc, b);
        std::vector<double> load;
        for (auto *r : runs) {
            if (r->load_time_ms) {
                load.push_back(*r->load_time_ms);
            }
        }
        if (load.empty()) {
            continue;
        }
        if (!header) {
            o << "\n| binary | non-iterable load ms | flat views rendered in it "
                 "| early commits (fork) | downtime ms |\n"
                 "| --- | --- | --- | --- | --- |\n";
            header = true;
        }
        median_load[b] = Spread::of(load).median;
        o << "| " << b << " | "
          << spread_cell(runs, [](auto &r) { return r.load_time_ms; }, 1)
          << " | "
          << spread_cell(runs, [](auto &r) { return r.load_flatviews; })
          << " | "
          << spread_cell(runs, [](auto &r) { return r.load_flushes; })
          << " | "
          << spread_cell(runs, converged_downtime)
          << " |\n";
    }
    ratio_lines(o, median_load, binaries_, "non-iterable load time");
}

std::string Report::markdown(const std::string &machine_note) const
{
    // The main table's columns, in their order.
    std::vector<const Column *> shown;
    for (const auto &c : report_columns()) {
        if (c.rank) {
            shown.push_back(&c);
        }
    }
    std::sort(shown.begin(), shown.end(),
              [](auto *a, auto *b) { return a->rank < b->rank; });
    std::ostringstream o;
    for (const auto &sc : scenarios()) {
        o << "### " << sc << "\n\n| binary | converged |";
        for (const Column *c : shown) {
            o << " " << c->title << " |";
        }
        o << "\n| --- | --- |";
        for (size_t i = 0; i < shown.size(); ++i) {
            o << " --- |";
        }
        o << "\n";
        std::map<std::string, double> median_total;
        for (const auto &b : binaries_) {
            auto runs = runs_of(sc, b);
            if (runs.empty()) {
                continue;
            }
            size_t conv = std::count_if(runs.begin(), runs.end(),
                                        [](auto *r) { return r->converged; });
            o << "| " << b << " | " << conv << "/" << runs.size() << " |";
            for (const Column *c : shown) {
                o << " " << spread_cell(runs, c->shown, c->shown_precision) << " |";
            }
            o << "\n";
            std::vector<double> t;
            for (auto *r : runs) {
                t.push_back(r->total_time_ms);
            }
            median_total[b] = Spread::of(t).median;
        }
        ratio_lines(o, median_total, binaries_, "total time");
        write_load_table(o, sc);
        // Bursty guests: how soon the throttle let go after each burst.
        write_pair_table(o, sc, &RunResult::throttle_release_ms,
                         "throttle release ms (worst burst end of a run)",
                         "final throttle %");
        // Runs through libvirt: the throttle `virsh domjobinfo` reported.
        write_pair_table(o, sc, &RunResult::completed_throttle_pct,
                         "domjobinfo --completed throttle %",
                         "domjobinfo throttle % (last while running)");
        for (const auto &r : runs_) {
            if (r.scenario == sc && !r.error.empty()) {
                o << "\n- " << r.binary << " rep " << r.rep << ": "
                  << r.error << "\n";
            }
        }
        o << "\n";
    }
    o << machine_note << "\n";
    return o.str();
}

std::vector<std::filesystem::path>
Report::write_svgs(const std::filesystem::path &dir) const
{
    std::vector<std::filesystem::path> out;
    const double W = 640, H = 360, L = 70, R = 20, T = 40, B = 50;
    for (const auto &sc : scenarios()) {
        // Total time per binary: one dot per run, a bar at the median.
        {
            double ymax = 1;
            for (const auto &r : runs_) {
                if (r.scenario == sc) {
                    ymax = std::max(ymax, r.total_time_ms / 1000.0);
                }
            }
            ymax *= 1.15;
            std::ostringstream s;
            svg_open(s, W, H, xml_escape(sc) +
                                  ": total migration time (s), each run and "
                                  "median");
            auto y = [&](double v) { return T + (H - T - B) * (1 - v / ymax); };
            for (int i = 0; i <= 4; ++i) {
                double v = ymax * i / 4;
                s << "<line x1='" << L << "' x2='" << W - R << "' y1='" << y(v)
                  << "' y2='" << y(v) << "' stroke='#ddd'/>\n<text x='"
                  << L - 8 << "' y='" << y(v) + 4 << "' text-anchor='end'>"
                  << fmt(v, 1) << "</text>\n";
            }
            for (size_t bi = 0; bi < binaries_.size(); ++bi) {
                auto runs = runs_of(sc, binaries_[bi]);
                double cx = L + (W - L - R) * (bi + 0.5) / binaries_.size();
                std::vector<double> t;
                for (size_t k = 0; k < runs.size(); ++k) {
                    double v = runs[k]->total_time_ms / 1000.0;
                    t.push_back(v);
                    s << "<circle cx='" << cx - 30 + 60.0 * (k + 0.5) /
                                                   std::max<size_t>(1, runs.size())
                      << "' cy='" << y(v) << "' r='5' fill='"
                      << colour(binaries_[bi], binaries_) << "' fill-opacity='"
                      << (runs[k]->converged ? "0.8" : "0.25") << "'/>\n";
                }
                if (!t.empty()) {
                    double m = Spread::of(t).median;
                    s << "<line x1='" << cx - 45 << "' x2='" << cx + 45
                      << "' y1='" << y(m) << "' y2='" << y(m)
                      << "' stroke='black' stroke-width='2'/>\n<text x='"
                      << cx + 50 << "' y='" << y(m) + 4 << "'>" << fmt(m, 1)
                      << " s</text>\n";
                }
                s << "<text x='" << cx << "' y='" << H - B + 20
                  << "' text-anchor='middle'>" << binaries_[bi] << " ("
                  << runs.size() << " runs)</text>\n";
            }
            s << "<text x='" << L << "' y='" << H - 8 << "' fill='#555' "
                 "font-size='11'>faded dots: did not converge within the "
                 "time limit</text>\n</svg>\n";
            auto f = dir / (sc + "-total-time.svg");
            write_file(f, s.str());
            out.push_back(f);
        }
        // Guest throughput over time for each binary's median run, with the
        // migration window shaded.
        {
            std::vector<const RunResult *> pick;
            double tmax = 1, rmax = 1;
            for (const auto &b : binaries_) {
                auto runs = runs_of(sc, b);
                if (runs.empty()) {
                    continue;
                }
                std::sort(runs.begin(), runs.end(), [](auto *a, auto *c) {
                    return a->total_time_ms < c->total_time_ms;
                });
                const RunResult *m = runs[runs.size() / 2];
                if (m->timeline.empty()) {
                    continue;
                }
                pick.push_back(m);
                for (const auto &p : m->timeline) {
                    tmax = std::max(tmax, p.t_ms / 1000.0);
                    rmax = std::max(rmax, p.rate);
                }
            }
            if (pick.empty()) {
                continue;
            }
            rmax *= 1.15;
            std::ostringstream s;
            auto x = [&](double t) { return L + (W - L - R) * t / tmax; };
            auto y = [&](double v) { return T + (H - T - B) * (1 - v / rmax); };
            svg_open(s, W, H, xml_escape(sc) + ": guest throughput (" +
                                  xml_escape(pick.front()->work_unit) +
                                  "/s), median run");
            for (const auto *r : pick) {
                s << "<rect x='" << x(r->migration_start_ms / 1000.0)
                  << "' y='" << T << "' width='"
                  << x(r->migration_end_ms / 1000.0) -
                         x(r->migration_start_ms / 1000.0)
                  << "' height='" << H - T - B << "' fill='"
                  << colour(r->binary, binaries_) << "' fill-opacity='0.08'/>\n";
            }
            for (int i = 0; i <= 4; ++i) {
                double v = rmax * i / 4;
                s << "<line x1='" << L << "' x2='" << W - R << "' y1='" << y(v)
                  << "' y2='" << y(v) << "' stroke='#ddd'/>\n<text x='"
                  << L - 8 << "' y='" << y(v) + 4 << "' text-anchor='end'>"
                  << si(v) << "</text>\n";
            }
            for (int i = 0; i <= 5; ++i) {
                double t = tmax * i / 5;
                s << "<text x='" << x(t) << "' y='" << H - B + 18
                  << "' text-anchor='middle'>" << fmt(t, 1) << "</text>\n";
            }
            s << "<text x='" << (L + W - R) / 2 << "' y='" << H - B + 36
              << "' text-anchor='middle'>seconds since the guest was "
                 "sampled first (shaded: migration)</text>\n";
            int legend = 0;
            bool throttled = false;
            for (const auto *r : pick) {
                s << "<polyline fill='none' stroke='" << colour(r->binary, binaries_)
                  << "' stroke-width='1.5' points='";
                for (const auto &p : r->timeline) {
                    s << x(p.t_ms / 1000.0) << ',' << y(p.rate) << ' ';
                }
                s << "'/>\n<text x='" << W - R - 150 << "' y='"
                  << T + 16 + 16 * legend++ << "' fill='" << colour(r->binary, binaries_)
                  << "'>" << r->binary << " (rep " << r->rep << ")</text>\n";
                // The throttle, dashed, on the right-hand 0-100% scale.
                if (r->throttle_timeline.empty()) {
                    continue;
                }
                throttled = true;
                s << "<polyline fill='none' stroke='" << colour(r->binary, binaries_)
                  << "' stroke-width='1' stroke-dasharray='4,3' points='";
                for (const auto &p : r->throttle_timeline) {
                    s << x(p.t_ms / 1000.0) << ','
                      << T + (H - T - B) * (1 - p.pct / 100.0) << ' ';
                }
                s << "'/>\n";
            }
            if (throttled) {
                s << "<text x='" << W - R - 150 << "' y='"
                  << T + 16 + 16 * legend << "' fill='#555' font-size='11'>"
                     "dashed: throttle, top = 100%</text>\n";
            }
            s << "</svg>\n";
            auto f = dir / (sc + "-throughput.svg");
            write_file(f, s.str());
            out.push_back(f);
        }
    }
    return out;
}

std::vector<std::filesystem::path>
Report::write_estimates(const std::filesystem::path &dir) const
{
    std::vector<std::filesystem::path> out;
    std::ostringstream csv;
    csv << "scenario,binary,rep,t_s,expected_s,actual_left_s,first_pass_done,"
           "seen_left_s\n";
    bool any = false;
    for (const auto &r : runs_) {
        // What was left, known only for a run that converged.
        auto left_s = [&r](double ms) {
            return r.converged ? fmt(ms / 1000, 2) : std::string("n/a");
        };
        for (const auto &e : r.estimates) {
            any = true;
            csv << csv_quoted(r.scenario) << ',' << csv_quoted(r.binary) << ','
                << r.rep << ',' << fmt((e.t_ms - r.migration_start_ms) / 1000, 2)
                << ',' << (e.expected_ms ? fmt(*e.expected_ms / 1000, 2) : "never")
                << ',' << left_s(r.time_left_ms(e.t_ms)) << ','
                << (e.first_pass_done ? 1 : 0) << ','
                << left_s(r.migration_end_ms - e.t_ms) << '\n';
        }
    }
    if (!any) {
        return out;
    }
    write_file(dir / "estimates.csv", csv.str());
    out.push_back(dir / "estimates.csv");

    // Per scenario: each run's estimate (solid) and the time that was
    // actually left (dashed), over the time since its migration began.
    const double W = 640, H = 360, L = 70, R = 20, T = 40, B = 50;
    for (const auto &sc : scenarios()) {
        std::vector<const RunResult *> runs;
        double tmax = 1;
        for (const auto &r : runs_) {
            if (r.scenario == sc && !r.estimates.empty()) {
                runs.push_back(&r);
                tmax = std::max(tmax, r.migration_s());
            }
        }
        if (runs.empty()) {
            continue;
        }
        const double ymax = tmax * 1.5;
        auto x = [&](double t) { return L + (W - L - R) * t / tmax; };
        auto y = [&](double v) {
            return T + (H - T - B) * (1 - std::min(v, ymax) / ymax);
        };
        std::ostringstream s;
        svg_open(s, W, H, xml_escape(sc) +
                              ": expected (solid) vs actual (dashed) time "
                              "left, s");
        for (int i = 0; i <= 4; ++i) {
            double v = ymax * i / 4;
            s << "<line x1='" << L << "' x2='" << W - R << "' y1='" << y(v)
              << "' y2='" << y(v) << "' stroke='#ddd'/>\n<text x='" << L - 8
              << "' y='" << y(v) + 4 << "' text-anchor='end'>" << fmt(v, 1)
              << "</text>\n<text x='" << x(tmax * i / 4) << "' y='"
              << H - B + 18 << "' text-anchor='middle'>" << fmt(tmax * i / 4, 1)
              << "</text>\n";
        }
        s << "<text x='" << (L + W - R) / 2 << "' y='" << H - B + 36
          << "' text-anchor='middle'>seconds since the migration began "
             "(estimates above the plot: will not converge)</text>\n";
        for (const auto *r : runs) {
            const std::string c = colour(r->binary, binaries_);
            s << "<polyline fill='none' stroke='" << c
              << "' stroke-width='1.5' points='";
            for (const auto &e : r->estimates) {
                double t = (e.t_ms - r->migration_start_ms) / 1000;
                s << x(t) << ','
                  << (e.expected_ms ? y(*e.expected_ms / 1000) : T - 10) << ' ';
            }
            s << "'/>\n";
            if (r->converged) {
                const double end = r->time_left_ms(r->migration_start_ms) / 1000;
                s << "<line x1='" << x(0) << "' y1='" << y(end)
                  << "' x2='" << x(end) << "' y2='" << y(0)
                  << "' stroke='" << c << "' stroke-dasharray='4,3'/>\n";
            }
        }
        s << "</svg>\n";
        auto f = dir / (sc + "-estimate.svg");
        write_file(f, s.str());
        out.push_back(f);
    }
    return out;
}

} // namespace miglab

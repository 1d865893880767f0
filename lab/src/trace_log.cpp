// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/trace_log.h"

#include <cstdlib>
#include <fstream>

namespace miglab {

std::vector<std::string> trace_args(const std::vector<std::string> &events,
                                    const std::filesystem::path &dir)
{
    std::vector<std::string> a{"-msg", "timestamp=on"};
    for (const auto &e : events) {
        a.insert(a.end(), {"-trace", "enable=" + e});
    }
    // MIGLAB_TRACE adds events to every traced QEMU, migbench's and tests'
    for (const auto &e : extra_trace_events()) {
        a.insert(a.end(), {"-trace", "enable=" + e});
    }
    a.insert(a.end(), {"-D", (dir / "trace-%d.log").string()});
    return a;
}

std::vector<std::string> extra_trace_events()
{
    std::vector<std::string> events;
    const char *env = std::getenv("MIGLAB_TRACE");
    std::string list = env ? env : "";
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) {
            comma = list.size();
        }
        if (comma > start) {
            events.push_back(list.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return events;
}

std::filesystem::path trace_log_path(const std::filesystem::path &dir,
                                     pid_t pid)
{
    return dir / ("trace-" + std::to_string(pid) + ".log");
}

bool TraceLine::parse(const std::string &line, TraceLine &out)
{
    auto at = line.find('@');
    if (at == std::string::npos) {
        return false;
    }
    auto colon = line.find(':', at);
    if (colon == std::string::npos) {
        return false;
    }
    out.t = std::strtod(line.c_str() + at + 1, nullptr);
    auto space = line.find(' ', colon);
    out.event = line.substr(colon + 1, space == std::string::npos
                                           ? std::string::npos
                                           : space - colon - 1);
    out.args = space == std::string::npos ? "" : line.substr(space + 1);
    return true;
}

namespace {

// The name in parentheses after key in runstate_set's arguments:
// "current_run_state 9 (running) new_state 7 (finish-migrate)".
std::string runstate_name(const std::string &args, const std::string &key)
{
    auto k = args.find(key);
    auto open = k == std::string::npos ? k : args.find('(', k);
    auto close = open == std::string::npos ? open : args.find(')', open);
    if (close == std::string::npos) {
        return "";
    }
    return args.substr(open + 1, close - open - 1);
}

} // namespace

void for_each_trace_event(const std::filesystem::path &log, const std::string &event,
                          const std::function<void(const TraceLine &)> &f)
{
    std::ifstream in(log);
    std::string line;
    TraceLine l;
    while (std::getline(in, line)) {
        if (TraceLine::parse(line, l) && l.event == event) {
            f(l);
        }
    }
}

std::optional<double> last_runstate_change(const std::filesystem::path &log,
                                           const std::string &from,
                                           const std::string &to)
{
    std::optional<double> when;
    for_each_trace_event(log, "runstate_set", [&](const TraceLine &l) {
        if ((from.empty() || runstate_name(l.args, "current_run_state") == from) &&
            (to.empty() || runstate_name(l.args, "new_state") == to)) {
            when = l.t;
        }
    });
    return when;
}

} // namespace miglab

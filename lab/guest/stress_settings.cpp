// SPDX-License-Identifier: GPL-2.0-or-later
#include "stress_settings.h"

#include <algorithm>
#include <cstdlib>
#include <map>

namespace miglab::stress {

namespace {

// miglab_<key>=<value> words, by key.
std::map<std::string, std::string> cmdline_words(const std::string &cmdline)
{
    std::map<std::string, std::string> kv;
    size_t start = 0;
    while (start < cmdline.size()) {
        size_t end = cmdline.find_first_of(" \n", start);
        if (end == std::string::npos) {
            end = cmdline.size();
        }
        std::string word = cmdline.substr(start, end - start);
        auto eq = word.find('=');
        if (word.rfind("miglab_", 0) == 0 && eq != std::string::npos) {
            kv[word.substr(7, eq - 7)] = word.substr(eq + 1);
        }
        start = end + 1;
    }
    return kv;
}

} // namespace

ParsedSettings parse_settings(const std::string &cmdline, unsigned cpus)
{
    ParsedSettings out;
    Settings &s = out.settings;
    s.writers = std::max(1u, cpus);
    for (const auto &[k, v] : cmdline_words(cmdline)) {
        uint64_t x = std::strtoull(v.c_str(), nullptr, 10);
        if (k == "mem_mib") {
            s.mem_mib = std::max<uint64_t>(1, x);
        } else if (k == "writers") {
            s.writers = static_cast<unsigned>(x);
        } else if (k == "rate") {
            s.rate = x;
        } else if (k == "hot_pct") {
            s.hot_pct = static_cast<unsigned>(std::min<uint64_t>(x, 100));
        } else if (k == "hot_share") {
            s.hot_share = static_cast<unsigned>(std::min<uint64_t>(x, 100));
        } else if (k == "rates" || k == "modules") {
            size_t start = 0;
            while (start <= v.size()) {
                size_t comma = v.find(',', start);
                std::string item = v.substr(start, comma == std::string::npos
                                                       ? std::string::npos
                                                       : comma - start);
                if (!item.empty()) {
                    if (k == "rates") {
                        s.rates.push_back(std::strtoull(item.c_str(), nullptr, 10));
                    } else {
                        s.modules.push_back(item);
                    }
                }
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
        } else if (k == "reader") {
            s.reader = x != 0;
        } else if (k == "burst_ms") {
            s.burst_ms = x;
        } else if (k == "idle_ms") {
            s.idle_ms = x;
        } else {
            out.warnings.push_back("unknown setting miglab_" + k);
        }
    }
    return out;
}

size_t hot_pages(size_t pages, unsigned hot_pct)
{
    return hot_pct ? std::max<size_t>(1, pages * hot_pct / 100) : 0;
}

size_t pick_page(uint64_t r, size_t pages, size_t hot, unsigned hot_share)
{
    if (hot && r % 100 < hot_share) {
        return (r >> 8) % hot;
    }
    if (hot) {
        return hot + (r >> 8) % std::max<size_t>(1, pages - hot);
    }
    return (r >> 8) % pages;
}

} // namespace miglab::stress

// SPDX-License-Identifier: GPL-2.0-or-later
#include "stress_settings.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>

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

// A decimal number, or nothing when text is not one.
std::optional<uint64_t> number(const std::string &text)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    errno = 0;
    uint64_t x = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE) {
        return std::nullopt;
    }
    return x;
}

} // namespace

ParsedSettings parse_settings(const std::string &cmdline, unsigned cpus)
{
    ParsedSettings out;
    Settings &s = out.settings;
    s.writers = std::max(1u, cpus);
    for (const auto &[k, v] : cmdline_words(cmdline)) {
        auto bad = [&](const std::string &why) {
            out.errors.push_back("miglab_" + k + "=" + v + ": " + why);
        };
        if (k == "rates" || k == "modules") {
            size_t start = 0;
            while (start <= v.size()) {
                size_t comma = v.find(',', start);
                std::string item = v.substr(start, comma == std::string::npos
                                                       ? std::string::npos
                                                       : comma - start);
                if (item.empty()) {
                    // an empty item (a trailing comma) is no item
                } else if (k == "modules") {
                    s.modules.push_back(item);
                } else if (auto r = number(item)) {
                    s.rates.push_back(*r);
                } else {
                    bad("must be a list of pages/s");
                    break;
                }
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
            continue;
        }
        const std::optional<uint64_t> x = number(v);
        const bool known = k == "mem_mib" || k == "writers" || k == "rate" ||
                           k == "hot_pct" || k == "hot_share" ||
                           k == "reader" || k == "burst_ms" || k == "idle_ms" ||
                           k == "alloc_mib" || k == "free_mib" ||
                           k == "alloc_zero" || k == "writers_rt" ||
                           k == "pin";
        if (!known) {
            out.warnings.push_back("unknown setting miglab_" + k);
        } else if (!x) {
            bad("must be a non-negative integer");
        } else if ((k == "hot_pct" || k == "hot_share") && *x > 100) {
            bad("must be 0..100");
        } else if (k == "mem_mib" && (*x == 0 || *x > (SIZE_MAX >> 20))) {
            bad("must be at least 1 (MiB)");
        } else if ((k == "alloc_mib" || k == "free_mib") &&
                   *x > (SIZE_MAX >> 20)) {
            bad("is too large");
        } else if (k == "writers" && *x > 4096) {
            bad("must be 0..4096");
        } else if (k == "mem_mib") {
            s.mem_mib = *x;
        } else if (k == "writers") {
            s.writers = static_cast<unsigned>(*x);
        } else if (k == "rate") {
            s.rate = *x;
        } else if (k == "hot_pct") {
            s.hot_pct = static_cast<unsigned>(*x);
        } else if (k == "hot_share") {
            s.hot_share = static_cast<unsigned>(*x);
        } else if (k == "reader") {
            s.reader = *x != 0;
        } else if (k == "burst_ms") {
            s.burst_ms = *x;
        } else if (k == "alloc_mib") {
            s.alloc_mib = *x;
        } else if (k == "free_mib") {
            s.free_mib = *x;
        } else if (k == "alloc_zero") {
            s.alloc_zero = *x != 0;
        } else if (k == "writers_rt") {
            s.writers_rt = *x != 0;
        } else if (k == "pin") {
            s.pin = *x != 0;
        } else {
            s.idle_ms = *x;
        }
    }
    if (s.free_mib > s.alloc_mib) {
        out.errors.push_back("miglab_free_mib=" + std::to_string(s.free_mib) +
                             ": must be at most miglab_alloc_mib (" +
                             std::to_string(s.alloc_mib) + ")");
    }
    return out;
}

size_t hot_pages(size_t pages, unsigned hot_pct)
{
    if (!hot_pct) {
        return 0;
    }
    return std::clamp<size_t>(pages * hot_pct / 100, 1, pages);
}

size_t pick_page(uint64_t r, size_t pages, size_t hot, unsigned hot_share)
{
    if (hot && (hot >= pages || r % 100 < hot_share)) {
        return (r >> 8) % hot;
    }
    if (hot) {
        return hot + (r >> 8) % (pages - hot);
    }
    return (r >> 8) % pages;
}

} // namespace miglab::stress

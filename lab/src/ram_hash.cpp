// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/ram_hash.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace miglab {

std::vector<RamRange> x86_ram_ranges(uint64_t ram_bytes, bool q35)
{
    const uint64_t hole_start = q35 ? 0x80000000ULL : 0xc0000000ULL;
    const uint64_t hole_threshold = q35 ? 0xb0000000ULL : 0xe0000000ULL;
    uint64_t low = ram_bytes >= hole_threshold ? hole_start : ram_bytes;
    std::vector<RamRange> r{{0, low}};
    if (ram_bytes > low) {
        r.push_back({0x100000000ULL, ram_bytes - low});
    }
    return r;
}

RamDigest::RamDigest(std::vector<RamRange> ranges, std::vector<uint64_t> hashes)
    : ranges_(std::move(ranges)), hashes_(std::move(hashes))
{
}

static uint64_t hash_page(const unsigned char *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < RamDigest::page_size; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

RamDigest RamDigest::of(GuestVm &vm, const std::filesystem::path &scratch,
                        uint64_t chunk)
{
    uint64_t ram = vm.execute("query-memory-size-summary")["base-memory"]
                       .get<uint64_t>();
    std::string type = vm.execute("qom-get", {{"path", "/machine"},
                                              {"property", "type"}})
                           .get<std::string>();
    RamDigest d;
    d.ranges_ = x86_ram_ranges(ram, type.find("q35") != std::string::npos);
    std::filesystem::path file = scratch / (vm.name() + ".pmem");
    std::vector<unsigned char> buf;
    for (const auto &range : d.ranges_) {
        for (uint64_t off = 0; off < range.size; off += chunk) {
            uint64_t n = std::min(chunk, range.size - off);
            vm.execute("pmemsave", {{"val", range.gpa + off},
                                    {"size", n},
                                    {"filename", file.string()}});
            buf.resize(n);
            std::ifstream in(file, std::ios::binary);
            if (!in.read(reinterpret_cast<char *>(buf.data()),
                         static_cast<std::streamsize>(n))) {
                throw std::runtime_error("short pmemsave file " +
                                         file.string());
            }
            for (uint64_t p = 0; p < n; p += page_size) {
                d.hashes_.push_back(hash_page(buf.data() + p));
            }
        }
    }
    std::filesystem::remove(file);
    return d;
}

uint64_t RamDigest::nonzero_pages() const
{
    static const std::vector<unsigned char> zero(page_size, 0);
    const uint64_t zero_hash = hash_page(zero.data());
    return static_cast<uint64_t>(
        std::count_if(hashes_.begin(), hashes_.end(),
                      [&](uint64_t h) { return h != zero_hash; }));
}

uint64_t RamDigest::count_differences(const RamDigest &o) const
{
    if (hashes_.size() != o.hashes_.size()) {
        return std::max(hashes_.size(), o.hashes_.size());
    }
    uint64_t n = 0;
    for (size_t i = 0; i < hashes_.size(); ++i) {
        n += hashes_[i] != o.hashes_[i];
    }
    return n;
}

std::optional<uint64_t> RamDigest::first_difference(const RamDigest &o) const
{
    // Walk the larger side's layout: past the smaller side's last page,
    // the first page is a difference.
    const RamDigest &big = hashes_.size() >= o.hashes_.size() ? *this : o;
    const size_t common = std::min(hashes_.size(), o.hashes_.size());
    uint64_t index = 0;
    for (const auto &range : big.ranges_) {
        for (uint64_t off = 0; off < range.size; off += page_size, ++index) {
            if (index >= big.hashes_.size()) {
                return std::nullopt;
            }
            if (index >= common || hashes_[index] != o.hashes_[index]) {
                return range.gpa + off;
            }
        }
    }
    return std::nullopt;
}

} // namespace miglab

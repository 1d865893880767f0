// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/migration_stream.h"

#include <algorithm>
#include <stdexcept>

namespace miglab {

namespace {

// migration/savevm.h
constexpr uint32_t file_magic = 0x5145564d;
constexpr uint32_t file_version = 3;
enum : uint8_t {
    vm_eof = 0x00,
    vm_start = 0x01,
    vm_part = 0x02,
    vm_end = 0x03,
    vm_full = 0x04,
    vm_vmdescription = 0x06,
    vm_configuration = 0x07,
    vm_command = 0x08,
    vm_footer = 0x7e,
};
// migration/ram.c
constexpr uint64_t ram_flag_mem_size = 0x04;

uint32_t be32_at(const Bytes &b, size_t p)
{
    return uint32_t(b[p]) << 24 | uint32_t(b[p + 1]) << 16 |
           uint32_t(b[p + 2]) << 8 | b[p + 3];
}

uint64_t be64_at(const Bytes &b, size_t p)
{
    return uint64_t(be32_at(b, p)) << 32 | be32_at(b, p + 4);
}

void put_be32(Bytes &b, size_t p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        b[p + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}

void put_be64(Bytes &b, size_t p, uint64_t v)
{
    put_be32(b, p, static_cast<uint32_t>(v >> 32));
    put_be32(b, p + 4, static_cast<uint32_t>(v));
}

uint64_t below(std::mt19937_64 &rng, uint64_t n)
{
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
}

} // namespace

const char *section_kind_name(StreamSection::Kind k)
{
    switch (k) {
    case StreamSection::Kind::header: return "header";
    case StreamSection::Kind::configuration: return "configuration";
    case StreamSection::Kind::start: return "start";
    case StreamSection::Kind::part: return "part";
    case StreamSection::Kind::end: return "end";
    case StreamSection::Kind::full: return "full";
    case StreamSection::Kind::command: return "command";
    case StreamSection::Kind::eof: return "eof";
    case StreamSection::Kind::vmdescription: return "vmdescription";
    }
    return "?";
}

MigrationStream::MigrationStream(Bytes bytes) : bytes_(std::move(bytes))
{
    parse();
}

std::vector<size_t> MigrationStream::device_sections() const
{
    std::vector<size_t> v;
    for (size_t i = 0; i < sections_.size(); ++i) {
        if (sections_[i].kind == StreamSection::Kind::full) {
            v.push_back(i);
        }
    }
    return v;
}

bool MigrationStream::plausible_start(size_t p) const
{
    const size_t n = bytes_.size();
    if (p >= n) {
        return false;
    }
    switch (bytes_[p]) {
    case vm_eof:
        return p + 1 == n || bytes_[p + 1] == vm_vmdescription;
    case vm_part:
    case vm_end:
        return p + 5 <= n && be32_at(bytes_, p + 1) < 0x10000;
    case vm_start:
    case vm_full: {
        if (p + 6 > n || be32_at(bytes_, p + 1) >= 0x10000) {
            return false;
        }
        size_t len = bytes_[p + 5];
        if (len == 0 || p + 6 + len + 8 > n) {
            return false;
        }
        return std::all_of(bytes_.begin() + p + 6, bytes_.begin() + p + 6 + len,
                           [](uint8_t c) { return c >= 0x20 && c < 0x7f; });
    }
    case vm_command:
        return p + 5 <= n;
    default:
        return false;
    }
}

size_t MigrationStream::find_footer(size_t from, uint32_t id) const
{
    for (size_t p = from; p + 5 <= bytes_.size(); ++p) {
        if (bytes_[p] == vm_footer && be32_at(bytes_, p + 1) == id &&
            plausible_start(p + 5)) {
            return p + 5;
        }
    }
    throw std::runtime_error("migration stream: no footer for section " +
                             std::to_string(id) + " after offset " +
                             std::to_string(from));
}

void MigrationStream::parse_ram_blocks(const StreamSection &s)
{
    size_t p = s.data_at;
    if (p + 8 > s.end || !(be64_at(bytes_, p) & ram_flag_mem_size)) {
        return;
    }
    p += 8;
    // Each block: length byte, name, be64 used length (no page size or
    // address: the lab records without postcopy and ignore-shared).
    while (p < s.end && bytes_[p] != 0 && p + 1 + bytes_[p] + 8 <= s.end) {
        size_t len = bytes_[p];
        std::string name(bytes_.begin() + p + 1, bytes_.begin() + p + 1 + len);
        if (!std::all_of(name.begin(), name.end(),
                         [](char c) { return c >= 0x20 && c < 0x7f; })) {
            break;
        }
        ram_blocks_.push_back({name, p + 1 + len});
        p += 1 + len + 8;
    }
}

void MigrationStream::parse()
{
    using K = StreamSection::Kind;
    const size_t n = bytes_.size();
    if (n < 8 || be32_at(bytes_, 0) != file_magic ||
        be32_at(bytes_, 4) != file_version) {
        throw std::runtime_error("not a QEMU migration stream (magic, version 3)");
    }
    StreamSection header;
    header.end = 8;
    sections_.push_back(header);
    size_t p = 8;
    if (p < n && bytes_[p] == vm_configuration) {
        // The configuration's vmstate has no footer: it ends where the
        // first section can start.
        size_t q = p + 1;
        while (q < n && !(bytes_[q] == vm_start && plausible_start(q))) {
            ++q;
        }
        StreamSection config;
        config.kind = K::configuration;
        config.begin = p;
        config.end = q;
        sections_.push_back(config);
        p = q;
    }
    while (p < n) {
        StreamSection s;
        s.begin = p;
        uint8_t type = bytes_[p];
        switch (type) {
        case vm_start:
        case vm_full: {
            if (!plausible_start(p)) {
                throw std::runtime_error("migration stream: bad section header at " +
                                         std::to_string(p));
            }
            s.kind = type == vm_start ? K::start : K::full;
            s.id = be32_at(bytes_, p + 1);
            s.idstr_at = p + 5;
            size_t len = bytes_[p + 5];
            s.idstr.assign(bytes_.begin() + p + 6, bytes_.begin() + p + 6 + len);
            s.data_at = p + 6 + len + 8;
            s.end = find_footer(s.data_at, s.id);
            break;
        }
        case vm_part:
        case vm_end:
            if (p + 5 > n) {
                throw std::runtime_error("migration stream: short section at " +
                                         std::to_string(p));
            }
            s.kind = type == vm_part ? K::part : K::end;
            s.id = be32_at(bytes_, p + 1);
            s.data_at = p + 5;
            s.end = find_footer(s.data_at, s.id);
            for (const auto &earlier : sections_) {
                if (earlier.kind == K::start && earlier.id == s.id) {
                    s.idstr = earlier.idstr;
                }
            }
            break;
        case vm_command: {
            if (p + 5 > n) {
                throw std::runtime_error("migration stream: short command at " +
                                         std::to_string(p));
            }
            size_t len = size_t(bytes_[p + 3]) << 8 | bytes_[p + 4];
            s.kind = K::command;
            s.data_at = p + 5;
            s.end = std::min(n, p + 5 + len);
            break;
        }
        case vm_eof:
            s.kind = K::eof;
            s.end = p + 1;
            break;
        case vm_vmdescription:
            if (p + 5 > n) {
                throw std::runtime_error("migration stream: short description");
            }
            s.kind = K::vmdescription;
            s.data_at = p + 5;
            s.end = std::min(n, p + 5 + be32_at(bytes_, p + 1));
            break;
        default:
            throw std::runtime_error("migration stream: unknown section type " +
                                     std::to_string(type) + " at " +
                                     std::to_string(p));
        }
        if (s.kind == K::start && s.idstr == "ram") {
            parse_ram_blocks(s);
        }
        p = s.end;
        sections_.push_back(std::move(s));
    }
}

StreamMutator::StreamMutator(const MigrationStream &stream, uint64_t seed)
    : stream_(stream), seed_(seed)
{
    const auto &secs = stream.sections();
    const size_t n = stream.bytes().size();
    for (size_t i = 0; i < secs.size(); ++i) {
        const auto &s = secs[i];
        std::string what = "section " + std::to_string(i) + " " +
                           section_kind_name(s.kind) +
                           (s.idstr.empty() ? "" : " " + s.idstr);
        for (long d : {-1L, 0L, 1L}) {
            long at = static_cast<long>(s.begin) + d;
            if (at > 0 && static_cast<size_t>(at) < n) {
                cuts_.emplace_back(static_cast<size_t>(at),
                                   (d == 0 ? "at the start of " :
                                    d < 0 ? "1 B before " : "1 B into ") + what);
            }
        }
        if (s.data_at > s.begin && s.data_at < n) {
            cuts_.emplace_back(s.data_at, "after the header of " + what);
        }
    }
}

const std::vector<std::string> &StreamMutator::mutations()
{
    static const std::vector<std::string> m{
        "truncate",      "flip",           "flip-device",
        "byte-device",   "swap-devices",   "repeat-section",
        "drop-section",  "inflate-idstr",  "inflate-ram-block",
        "inflate-be32-device", "inflate-description",
    };
    return m;
}

size_t StreamMutator::pick_device_section(std::mt19937_64 &rng) const
{
    auto dev = stream_.device_sections();
    if (dev.empty()) {
        throw std::runtime_error("the stream has no device section");
    }
    return dev[below(rng, dev.size())];
}

StreamCase StreamMutator::make(unsigned index) const
{
    StreamCase c;
    c.index = index;
    const Bytes &in = stream_.bytes();
    if (index < cuts_.size()) {
        c.mutation = "truncate-boundary";
        c.detail = "at " + std::to_string(cuts_[index].first) + " (" +
                   cuts_[index].second + ")";
        c.bytes.assign(in.begin(), in.begin() + cuts_[index].first);
        return c;
    }
    std::mt19937_64 rng(seed_ ^ (0x9e3779b97f4a7c15ULL * (index + 1)));
    return draw(index, rng);
}

StreamCase StreamMutator::draw(unsigned index, std::mt19937_64 &rng) const
{
    StreamCase c;
    c.index = index;
    const Bytes &in = stream_.bytes();
    const auto &secs = stream_.sections();
    const auto &names = mutations();
    c.mutation = names[(index - cuts_.size()) % names.size()];
    c.bytes = in;
    Bytes &b = c.bytes;
    auto section_text = [&](size_t i) {
        return "section " + std::to_string(i) + " " + secs[i].idstr;
    };
    if (c.mutation == "truncate") {
        size_t at = 1 + below(rng, in.size() - 1);
        b.resize(at);
        c.detail = "at " + std::to_string(at);
    } else if (c.mutation == "flip") {
        unsigned flips = 1 + static_cast<unsigned>(below(rng, 8));
        c.detail = std::to_string(flips) + " bit(s) at";
        for (unsigned i = 0; i < flips; ++i) {
            size_t at = 8 + below(rng, in.size() - 8);
            b[at] ^= static_cast<uint8_t>(1u << below(rng, 8));
            c.detail += " " + std::to_string(at);
        }
    } else if (c.mutation == "flip-device" || c.mutation == "byte-device") {
        size_t i = pick_device_section(rng);
        const auto &s = secs[i];
        size_t at = s.data_at + below(rng, s.end - s.data_at);
        uint8_t v = c.mutation == "flip-device" ?
            static_cast<uint8_t>(b[at] ^ (1u << below(rng, 8))) :
            static_cast<uint8_t>(below(rng, 256));
        c.detail = "at " + std::to_string(at) + " in " + section_text(i) +
                   ": " + std::to_string(b[at]) + " -> " + std::to_string(v);
        b[at] = v;
    } else if (c.mutation == "swap-devices") {
        auto dev = stream_.device_sections();
        if (dev.size() < 2) {
            c.detail = "fewer than two device sections, unchanged";
            return c;
        }
        size_t k = below(rng, dev.size() - 1);
        const auto &x = secs[dev[k]], &y = secs[dev[k + 1]];
        // Over [x.begin, y.end): y, what lies between them, then x.
        Bytes mid(in.begin() + y.begin, in.begin() + y.end);
        mid.insert(mid.end(), in.begin() + x.end, in.begin() + y.begin);
        mid.insert(mid.end(), in.begin() + x.begin, in.begin() + x.end);
        std::copy(mid.begin(), mid.end(), b.begin() + x.begin);
        c.detail = section_text(dev[k]) + " <-> " + section_text(dev[k + 1]);
    } else if (c.mutation == "repeat-section" || c.mutation == "drop-section") {
        // Any section with an id: RAM's parts as well as devices.
        std::vector<size_t> ids;
        for (size_t i = 0; i < secs.size(); ++i) {
            if (secs[i].data_at != 0 && secs[i].kind != StreamSection::Kind::command &&
                secs[i].kind != StreamSection::Kind::vmdescription) {
                ids.push_back(i);
            }
        }
        size_t i = ids[below(rng, ids.size())];
        const auto &s = secs[i];
        if (c.mutation == "repeat-section") {
            b.insert(b.begin() + s.end, in.begin() + s.begin, in.begin() + s.end);
        } else {
            b.erase(b.begin() + s.begin, b.begin() + s.end);
        }
        c.detail = section_text(i) + " (" + section_kind_name(s.kind) + ", " +
                   std::to_string(s.end - s.begin) + " B)";
    } else if (c.mutation == "inflate-idstr") {
        std::vector<size_t> named;
        for (size_t i = 0; i < secs.size(); ++i) {
            if (secs[i].idstr_at) {
                named.push_back(i);
            }
        }
        size_t i = named[below(rng, named.size())];
        uint8_t v = below(rng, 2) ? 255 : static_cast<uint8_t>(b[secs[i].idstr_at] + 1);
        c.detail = section_text(i) + ": name length " +
                   std::to_string(b[secs[i].idstr_at]) + " -> " + std::to_string(v);
        b[secs[i].idstr_at] = v;
    } else if (c.mutation == "inflate-ram-block") {
        const auto &blocks = stream_.ram_blocks();
        if (blocks.empty()) {
            throw std::runtime_error("the stream has no RAM block list");
        }
        const auto &blk = blocks[below(rng, blocks.size())];
        uint64_t was = be64_at(in, blk.length_at);
        const uint64_t choices[] = {was + 4096, was * 2, was + 1, UINT64_MAX,
                                    uint64_t(1) << 62, 0};
        uint64_t v = choices[below(rng, std::size(choices))];
        put_be64(b, blk.length_at, v);
        c.detail = "RAM block " + blk.name + ": " + std::to_string(was) +
                   " -> " + std::to_string(v);
    } else if (c.mutation == "inflate-be32-device") {
        size_t i = pick_device_section(rng);
        const auto &s = secs[i];
        if (s.end - s.data_at < 4) {
            c.detail = section_text(i) + ": too short, unchanged";
            return c;
        }
        size_t at = s.data_at + below(rng, s.end - s.data_at - 3);
        const uint32_t choices[] = {0xffffffffu, 0x7fffffffu, 0x80000000u,
                                    0x10000u, be32_at(in, at) + 1};
        uint32_t v = choices[below(rng, std::size(choices))];
        put_be32(b, at, v);
        c.detail = "be32 at " + std::to_string(at) + " in " + section_text(i) +
                   " -> " + std::to_string(v);
    } else if (c.mutation == "inflate-description") {
        auto it = std::find_if(secs.begin(), secs.end(), [](const auto &s) {
            return s.kind == StreamSection::Kind::vmdescription;
        });
        if (it == secs.end()) {
            c.detail = "no description, unchanged";
            return c;
        }
        uint32_t v = below(rng, 2) ? 0xffffffffu : be32_at(in, it->begin + 1) * 2;
        put_be32(b, it->begin + 1, v);
        c.detail = "description length -> " + std::to_string(v);
    }
    return c;
}

} // namespace miglab

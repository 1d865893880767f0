// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace miglab {

using Bytes = std::vector<uint8_t>;

// One section of a recorded migration stream (QEMU's savevm format,
// migration/savevm.c): where it starts and ends in the file and what it
// is. Sections are found by reading their headers and then scanning for
// their footer (QEMU_VM_SECTION_FOOTER and the section id, followed by
// something that can start the next section): QEMU writes no section
// lengths, so in a section whose data happens to hold such bytes the
// boundary can be found early. For a fuzzer that only moves a cut.
struct StreamSection {
    enum class Kind {
        header,        // magic and version
        configuration, // QEMU_VM_CONFIGURATION
        start,         // QEMU_VM_SECTION_START (iterable: RAM, dirty bitmaps)
        part,          // QEMU_VM_SECTION_PART
        end,           // QEMU_VM_SECTION_END
        full,          // QEMU_VM_SECTION_FULL (a device's state)
        command,       // QEMU_VM_COMMAND
        eof,           // QEMU_VM_EOF
        vmdescription, // QEMU_VM_VMDESCRIPTION (JSON, after EOF)
    };
    Kind kind = Kind::header;
    size_t begin = 0;
    size_t end = 0;      // one past the last byte (the footer's included)
    uint32_t id = 0;     // section id (start, part, end, full)
    std::string idstr;   // the device's name (start, full)
    size_t idstr_at = 0; // offset of idstr's length byte (start, full)
    size_t data_at = 0;  // first byte after the header
};

const char *section_kind_name(StreamSection::Kind k);

// A migration stream split into sections, and the RAM block list of the
// RAM section's start (name, offset of its be64 length in the file).
class MigrationStream {
public:
    // Throws std::runtime_error when the stream does not start like a
    // QEMU migration stream or a section cannot be read.
    explicit MigrationStream(Bytes bytes);

    const Bytes &bytes() const { return bytes_; }
    const std::vector<StreamSection> &sections() const { return sections_; }
    struct RamBlock {
        std::string name;
        size_t length_at = 0; // offset of its be64 used length
    };
    const std::vector<RamBlock> &ram_blocks() const { return ram_blocks_; }
    // Indexes of the device (QEMU_VM_SECTION_FULL) sections.
    std::vector<size_t> device_sections() const;

private:
    void parse();
    // The end of the section whose data starts at from, with footer id.
    size_t find_footer(size_t from, uint32_t id) const;
    // Whether a section (or EOF, a command, the description) can start at p.
    bool plausible_start(size_t p) const;
    void parse_ram_blocks(const StreamSection &s);

    Bytes bytes_;
    std::vector<StreamSection> sections_;
    std::vector<RamBlock> ram_blocks_;
};

// One mutated stream: what was done to it (for the report and to
// reproduce it) and its bytes.
struct StreamCase {
    unsigned index = 0;
    std::string mutation; // e.g. "truncate", "flip-device"
    std::string detail;   // e.g. "at 1234 (end of section 7 virtio-net)"
    Bytes bytes;
};

// Mutations of a recorded stream, each case reproducible from (seed,
// index). The first cases truncate at every section boundary (and a few
// bytes either side of it); the rest draw, in turn, one of: truncation at
// a random offset, bit flips anywhere or inside a device's section, a
// device section's byte set to a random value, two device sections
// swapped, a section repeated or dropped, a length inflated (a section
// name's length byte, a RAM block's size, a be32 inside a device's
// section, the description's length).
class StreamMutator {
public:
    StreamMutator(const MigrationStream &stream, uint64_t seed);
    StreamCase make(unsigned index) const;
    // How many of the first cases are the boundary truncations.
    unsigned boundary_cases() const
    {
        return static_cast<unsigned>(cuts_.size());
    }
    // The mutations make() draws from after the boundary cases.
    static const std::vector<std::string> &mutations();

private:
    StreamCase draw(unsigned index, std::mt19937_64 &rng) const;
    size_t pick_device_section(std::mt19937_64 &rng) const;

    const MigrationStream &stream_;
    uint64_t seed_;
    // (offset, description) of every boundary truncation.
    std::vector<std::pair<size_t, std::string>> cuts_;
};

} // namespace miglab

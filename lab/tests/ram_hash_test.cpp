// SPDX-License-Identifier: GPL-2.0-or-later
//
// RAM digests compared page by page, without a guest.
#include <gtest/gtest.h>

#include "miglab/ram_hash.h"

using namespace miglab;

namespace {

constexpr uint64_t MiB = 1ULL << 20;

// A digest of ram_bytes of i440fx RAM whose pages all hash to 7.
RamDigest uniform(uint64_t ram_bytes)
{
    return RamDigest(x86_ram_ranges(ram_bytes, false),
                     std::vector<uint64_t>(ram_bytes / RamDigest::page_size, 7));
}

} // namespace

TEST(RamDigestCompare, EqualDigestsHaveNoDifference)
{
    EXPECT_FALSE(uniform(64 * MiB).first_difference(uniform(64 * MiB)));
    EXPECT_EQ(uniform(64 * MiB).count_differences(uniform(64 * MiB)), 0u);
}

TEST(RamDigestCompare, FirstDifferingPageIsItsAddress)
{
    std::vector<uint64_t> h(64 * MiB / RamDigest::page_size, 7);
    h[5] = 8;
    RamDigest d(x86_ram_ranges(64 * MiB, false), h);
    EXPECT_EQ(d.first_difference(uniform(64 * MiB)), 5 * RamDigest::page_size);
}

// Sides of different sizes: the first page only one side has (it was
// reported as address 0, a page both sides had equal).
TEST(RamDigestCompare, DifferentSizesGiveTheFirstPagePastTheSmallerSide)
{
    EXPECT_EQ(uniform(64 * MiB).first_difference(uniform(128 * MiB)), 64 * MiB);
    EXPECT_EQ(uniform(128 * MiB).first_difference(uniform(64 * MiB)), 64 * MiB);
    // 3 GiB fits below the PCI hole; of 4 GiB, the last one is at 4 GiB.
    EXPECT_EQ(uniform(3072 * MiB).first_difference(uniform(4096 * MiB)),
              0x100000000ULL);
    // A difference in the pages both have comes first.
    std::vector<uint64_t> h(64 * MiB / RamDigest::page_size, 7);
    h[3] = 9;
    RamDigest d(x86_ram_ranges(64 * MiB, false), h);
    EXPECT_EQ(d.first_difference(uniform(128 * MiB)), 3 * RamDigest::page_size);
    EXPECT_EQ(uniform(0).first_difference(uniform(64 * MiB)), 0u);
}

// SPDX-License-Identifier: GPL-2.0-or-later
//
// miglab-stress's settings and page choice, on the host: no guest needed.
#include <gtest/gtest.h>

#include "stress_settings.h"

using namespace miglab::stress;

TEST(StressSettings, ReadsTheMiglabWords)
{
    ParsedSettings p = parse_settings(
        "console=ttyS0 quiet miglab_mem_mib=512 miglab_rates=1000,20000 "
        "miglab_modules=virtio_pci,virtio_balloon miglab_hot_pct=100 "
        "miglab_hot_share=95 miglab_reader=1\n",
        2);
    EXPECT_TRUE(p.errors.empty()) << p.errors.front();
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_EQ(p.settings.mem_mib, 512u);
    EXPECT_EQ(p.settings.writers, 2u);
    EXPECT_EQ(p.settings.rates, (std::vector<uint64_t>{1000, 20000}));
    EXPECT_EQ(p.settings.modules.size(), 2u);
    EXPECT_EQ(p.settings.hot_pct, 100u);
    EXPECT_EQ(p.settings.hot_share, 95u);
    EXPECT_TRUE(p.settings.reader);
    EXPECT_EQ(parse_settings("miglab_colour=blue", 1).warnings.size(), 1u);
}

TEST(StressSettings, OutOfRangeValuesAreErrorsNotClamped)
{
    // Each bad word, and what its error must say.
    const std::pair<const char *, const char *> cases[] = {
        {"miglab_hot_pct=101", "miglab_hot_pct=101: must be 0..100"},
        {"miglab_hot_share=250", "miglab_hot_share=250: must be 0..100"},
        {"miglab_mem_mib=0", "miglab_mem_mib=0: must be at least 1"},
        {"miglab_rate=fast", "miglab_rate=fast: must be a non-negative"},
        {"miglab_hot_pct=-5", "miglab_hot_pct=-5: must be a non-negative"},
        {"miglab_rates=10,x", "miglab_rates=10,x: must be a list of pages/s"},
        {"miglab_alloc_mib=100 miglab_free_mib=200",
         "miglab_free_mib=200: must be at most miglab_alloc_mib (100)"},
    };
    for (const auto &[cmdline, says] : cases) {
        ParsedSettings p = parse_settings(cmdline, 1);
        ASSERT_EQ(p.errors.size(), 1u) << cmdline;
        EXPECT_NE(p.errors[0].find(says), std::string::npos)
            << cmdline << " -> " << p.errors[0];
    }
}

TEST(StressSettings, AllocatesThenFreesBeforeTheWorkingSet)
{
    ParsedSettings p = parse_settings(
        "miglab_alloc_mib=3584 miglab_free_mib=3072 miglab_alloc_zero=1", 1);
    ASSERT_TRUE(p.errors.empty()) << p.errors.front();
    EXPECT_EQ(p.settings.alloc_mib, 3584u);
    EXPECT_EQ(p.settings.free_mib, 3072u);
    EXPECT_TRUE(p.settings.alloc_zero);
    EXPECT_EQ(parse_settings("", 1).settings.alloc_mib, 0u);
}

TEST(StressSettings, RealTimeWritersAreOptIn)
{
    EXPECT_FALSE(parse_settings("", 2).settings.writers_rt);
    ParsedSettings p = parse_settings("miglab_writers_rt=1", 2);
    ASSERT_TRUE(p.errors.empty()) << p.errors.front();
    EXPECT_TRUE(p.settings.writers_rt);
    EXPECT_EQ(parse_settings("miglab_writers_rt=yes", 2).errors.size(), 1u);
}

TEST(StressSettings, PinningIsOptIn)
{
    EXPECT_FALSE(parse_settings("", 2).settings.pin);
    ParsedSettings p = parse_settings("miglab_pin=1 miglab_reader=1", 2);
    ASSERT_TRUE(p.errors.empty()) << p.errors.front();
    EXPECT_TRUE(p.settings.pin);
    EXPECT_EQ(parse_settings("miglab_pin=on", 2).errors.size(), 1u);
}

// hot_pct=100 makes the hot set the whole working set: every write must
// stay inside it (a write to the "cold part" went one page past the
// mapping and killed /init).
TEST(StressSettings, EveryPageChosenIsInsideTheWorkingSet)
{
    const size_t pages = 1000;
    for (unsigned hot_pct : {0u, 1u, 50u, 99u, 100u}) {
        const size_t hot = hot_pages(pages, hot_pct);
        EXPECT_LE(hot, pages) << "hot_pct=" << hot_pct;
        for (unsigned share : {0u, 90u, 100u}) {
            uint64_t r = 0x9e3779b97f4a7c15ULL;
            for (int i = 0; i < 10000; ++i) {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                ASSERT_LT(pick_page(r, pages, hot, share), pages)
                    << "hot_pct=" << hot_pct << " hot_share=" << share;
            }
        }
    }
    // One page: the hot set is that page whatever hot_pct says.
    EXPECT_EQ(hot_pages(1, 10), 1u);
    EXPECT_EQ(pick_page(12345, 1, 1, 0), 0u);
}

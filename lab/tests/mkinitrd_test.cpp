// SPDX-License-Identifier: GPL-2.0-or-later
//
// mkinitrd writes the initrd through a temporary file and renames it: a
// write that fails must fail the tool, naming the file, and leave no
// initrd behind.
#include <fstream>

#include <gtest/gtest.h>

#include "miglab/temp_dir.h"
#include "tool_process.h"

using namespace miglab;

TEST(Mkinitrd, WritesAnArchive)
{
    TempDir dir;
    std::ofstream(dir.path() / "init") << "#!/bin/sh\n";
    int rc = test::run_tool({MIGLAB_MKINITRD, "--init",
                             (dir.path() / "init").string(), "-o",
                             (dir.path() / "initrd.img").string()},
                            dir.path() / "out.log");
    ASSERT_EQ(rc, 0);
    std::ifstream in(dir.path() / "initrd.img", std::ios::binary);
    std::string magic(6, '\0');
    in.read(magic.data(), 6);
    EXPECT_EQ(magic, "070701");
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "initrd.img") % 4, 0u);
}

// The temporary file is a link to /dev/full: every write fails (ENOSPC).
TEST(Mkinitrd, AFullDiskFailsAndLeavesNoInitrd)
{
    TempDir dir;
    std::ofstream(dir.path() / "init") << std::string(100000, 'x');
    std::filesystem::create_symlink("/dev/full",
                                    dir.path() / "initrd.img.tmp");
    int rc = test::run_tool({MIGLAB_MKINITRD, "--init",
                             (dir.path() / "init").string(), "-o",
                             (dir.path() / "initrd.img").string()},
                            dir.path() / "out.log");
    std::ifstream in(dir.path() / "out.log");
    std::string out((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("cannot write " +
                       (dir.path() / "initrd.img.tmp").string() +
                       ": No space left on device"),
              std::string::npos)
        << out;
    EXPECT_FALSE(std::filesystem::exists(
        std::filesystem::symlink_status(dir.path() / "initrd.img")))
        << "an initrd was left behind";
}

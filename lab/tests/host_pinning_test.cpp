// SPDX-License-Identifier: GPL-2.0-or-later
//
// HostPinning: which cores the listed vCPUs leave to the rest, and the
// threads of a process kept off the listed ones.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "miglab/host_pinning.h"

using miglab::HostPinning;

TEST(HostPinning, LeavesTheOtherCoresToTheRest)
{
    EXPECT_EQ(HostPinning::others(2, {{1, 1}}), std::vector<unsigned>{0});
    EXPECT_EQ(HostPinning::others(4, {{0, 2}, {3, 0}}),
              (std::vector<unsigned>{1, 3}));
    EXPECT_EQ(HostPinning::others(3, {}), (std::vector<unsigned>{0, 1, 2}));
}

TEST(HostPinning, RefusesCoresTheHostLacksOrGivesTwice)
{
    auto error = [](unsigned ncores, std::map<unsigned, unsigned> cores) {
        try {
            HostPinning::others(ncores, cores);
        } catch (const std::runtime_error &e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(error(2, {{1, 2}}).find("this host has 2 cores"),
              std::string::npos);
    EXPECT_NE(error(4, {{0, 1}, {1, 1}}).find("listed for two vCPUs"),
              std::string::npos);
    EXPECT_NE(error(2, {{0, 0}, {1, 1}}).find("leave none"), std::string::npos);
}

// A child's threads end up on the cores the listed vCPU leaves.
TEST(HostPinning, KeepsAProcessOffTheListedCores)
{
    const unsigned ncores = std::thread::hardware_concurrency();
    if (ncores < 2) {
        GTEST_SKIP() << "needs 2 host cores, this host has " << ncores;
    }
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    std::string allowed;
    try {
        HostPinning({{0, ncores - 1}}).keep_off(child);
        std::ifstream status("/proc/" + std::to_string(child) + "/status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("Cpus_allowed_list:", 0) == 0) {
                allowed = line.substr(line.find_first_not_of(" \t", 18));
            }
        }
    } catch (...) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
        throw;
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    const std::string expect =
        ncores == 2 ? "0" : "0-" + std::to_string(ncores - 2);
    EXPECT_EQ(allowed, expect);
}

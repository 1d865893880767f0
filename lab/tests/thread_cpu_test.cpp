// SPDX-License-Identifier: GPL-2.0-or-later
//
// ThreadCpu: per-thread CPU time by name, on the test's own threads.
#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include "miglab/thread_cpu.h"

using miglab::ThreadCpu;

TEST(ThreadCpu, ReadsUserAndSystemTicksWhateverTheName)
{
    EXPECT_EQ(ThreadCpu::ticks("42 (mig/src/main) R 1 2 3 4 5 6 7 8 9 10 "
                               "150 25 0 0 20 0 1 0"),
              175u);
    // A name with spaces and a ')' of its own.
    EXPECT_EQ(ThreadCpu::ticks("42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 3 4 0"),
              7u);
    EXPECT_FALSE(ThreadCpu::ticks(""));
    EXPECT_FALSE(ThreadCpu::ticks("42 (short) R 1 2"));
}

// A thread that ran before the object was made counts from then.
TEST(ThreadCpu, CountsFromItsConstruction)
{
    std::atomic<bool> named{false}, stop{false};
    std::thread idle([&] {
        pthread_setname_np(pthread_self(), "miglab-before");
        timespec ts{};
        do {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        } while (ts.tv_sec == 0 && ts.tv_nsec < 100000000);
        named = true;
        while (!stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    while (!named) {
        std::this_thread::yield();
    }
    ThreadCpu cpu(getpid());
    cpu.sample();
    stop = true;
    idle.join();
    ASSERT_TRUE(cpu.seconds("miglab-before"));
    // Its 100 ms of spinning came before: what is left is its sleeping.
    EXPECT_LT(*cpu.seconds("miglab-before"), 0.05);
}

// A named thread that burns CPU is counted after it has exited, under
// its name only.
TEST(ThreadCpu, KeepsTheCountOfAThreadThatEnded)
{
    ThreadCpu cpu(getpid());
    std::atomic<bool> named{false}, sampled{false};
    std::thread spin([&] {
        pthread_setname_np(pthread_self(), "miglab-spin");
        named = true;
        // Until this thread's own CPU clock has 200 ms: the count does
        // not depend on how busy the machine is.
        timespec ts{};
        do {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        } while (ts.tv_sec == 0 && ts.tv_nsec < 200000000);
        while (!sampled) {
            std::this_thread::yield();
        }
    });
    while (!named) {
        std::this_thread::yield();
    }
    // Sample until the spinning thread has been seen with its CPU time.
    for (int i = 0; i < 1000 && cpu.seconds("miglab-spin").value_or(0) < 0.15; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        cpu.sample();
    }
    sampled = true;
    spin.join();
    cpu.sample();
    ASSERT_TRUE(cpu.seconds("miglab-spin"));
    EXPECT_GE(*cpu.seconds("miglab-spin"), 0.15);
    EXPECT_FALSE(cpu.seconds("mig/src/send_"));
}

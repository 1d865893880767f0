// SPDX-License-Identifier: GPL-2.0-or-later
//
// miglab-stress: /init of the lab's Linux guest, linked statically.
//
// Loads the kernel modules the run asks for (miglab_modules, each after
// what it depends on; the initrd carries more than any run loads), then
// dirties memory: writer threads over a working set (uniform random
// pages, or a hot set taking most writes; 100% hot is uniform), each
// optionally held to a pages/s rate, and an optional reader thread. Every 100 ms it prints one line on the console:
//
//   MIGLAB t_ms=<ms since start> written=<pages> read=<pages> worst_pass_us=<us>
//
// written/read are totals since start; worst_pass_us is the slowest
// "pass" (working-set-size page writes by one writer) finished since the
// previous line, 0 if none. The lab turns these into throughput.
//
// Settings come from /proc/cmdline as miglab_<key>=<value> (no dots: the
// kernel takes dotted words as module parameters):
//   miglab_mem_mib   working set, MiB (default 256)
//   miglab_writers   writer threads (default: number of CPUs)
//   miglab_rate      pages/s per writer, 0 = as fast as possible (default 0)
//   miglab_rates     per-writer pages/s, comma-separated (writer i gets the
//                    i-th; writers past the list get miglab_rate)
//   miglab_hot_pct   size of the hot set, % of the working set, 0..100
//                    (default 0: uniform)
//   miglab_hot_share % of writes that go to the hot set, 0..100 (default 90)
//   miglab_reader    1 = also run a reader thread (default 0)
//   miglab_burst_ms  with miglab_idle_ms: writers write for burst_ms,
//   miglab_idle_ms   then sleep for idle_ms, repeating; every writer's
//                    cycle starts at t_ms=0 of the report lines, so a
//                    line's t_ms says which phase the guest was in
//                    (default 0 and 0: always writing)
//   miglab_alloc_mib before the working set is mapped: allocate and
//                    write this many MiB (a pattern, or zeros with
//                    miglab_alloc_zero=1) and hold them (default 0)
//   miglab_free_mib  then give this many MiB of that back to the kernel
//                    (at most miglab_alloc_mib; default 0): memory the
//                    guest has used and freed, what free page hints skip
//   miglab_writers_rt 1 = writers and this reporting thread run
//                    SCHED_FIFO: the kernel's own work (kworkers, the
//                    balloon driver's free page reporting) gets only what
//                    RT throttling leaves, about 5% of each CPU
//                    (default 0)
//   miglab_pin       1 = the reader runs on the last CPU and the writers
//                    on the others, in turn (writer i on CPU i mod the
//                    rest; all CPUs without a reader), so that the
//                    hypervisor can slow one and not the other (default 0)
//   miglab_modules   modules to load, comma-separated (with what they depend
//                    on, from /modules/deps written by mkinitrd); none by
//                    default
// A value that is not a number or out of its range (stress_settings.h)
// is printed as "MIGLAB error: ..." and nothing runs.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "stress_settings.h"

namespace {

namespace stress = miglab::stress;

using Clock = std::chrono::steady_clock;
constexpr size_t page = 4096;

using stress::Settings;

Settings read_settings()
{
    std::string cmdline;
    FILE *f = std::fopen("/proc/cmdline", "r");
    if (f) {
        char buf[4096] = "";
        size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
        std::fclose(f);
        cmdline.assign(buf, n);
    }
    stress::ParsedSettings p = stress::parse_settings(
        cmdline, std::thread::hardware_concurrency());
    for (const auto &w : p.warnings) {
        std::printf("MIGLAB warning: %s\n", w.c_str());
    }
    if (!p.errors.empty()) {
        for (const auto &e : p.errors) {
            std::printf("MIGLAB error: %s\n", e.c_str());
        }
        // As /init, exiting would panic the kernel: say why and stay.
        for (;;) {
            pause();
        }
    }
    return p.settings;
}

// /modules/deps, one line per module in load order: "name file dep...".
void load_module(const std::string &name,
                 const std::map<std::string, std::vector<std::string>> &deps,
                 const std::map<std::string, std::string> &files,
                 std::vector<std::string> &loaded)
{
    if (std::find(loaded.begin(), loaded.end(), name) != loaded.end()) {
        return;
    }
    loaded.push_back(name);
    auto d = deps.find(name);
    if (d == deps.end()) {
        std::printf("MIGLAB module %s: not in the initrd\n", name.c_str());
        return;
    }
    for (const auto &dep : d->second) {
        load_module(dep, deps, files, loaded);
    }
    std::string path = "/modules/" + files.at(name);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    long r = fd < 0 ? -1 : syscall(SYS_finit_module, fd, "", 0);
    std::printf("MIGLAB module %s: %s\n", name.c_str(),
                r == 0 || errno == EEXIST ? "loaded" : std::strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
}

void load_modules(const std::vector<std::string> &wanted)
{
    std::map<std::string, std::vector<std::string>> deps;
    std::map<std::string, std::string> files;
    FILE *f = std::fopen("/modules/deps", "r");
    if (f) {
        char line[1024];
        while (std::fgets(line, sizeof(line), f)) {
            std::vector<std::string> words;
            char *save = nullptr;
            for (char *w = strtok_r(line, " \n", &save); w;
                 w = strtok_r(nullptr, " \n", &save)) {
                words.emplace_back(w);
            }
            if (words.size() >= 2) {
                files[words[0]] = words[1];
                deps[words[0]].assign(words.begin() + 2, words.end());
            }
        }
        std::fclose(f);
    }
    std::vector<std::string> loaded;
    for (const auto &m : wanted) {
        load_module(m, deps, files, loaded);
    }
}

struct Shared {
    Clock::time_point t0 = Clock::now(); // t_ms=0 of the report lines
    std::atomic<uint64_t> written{0};
    std::atomic<uint64_t> read{0};
    std::atomic<uint64_t> worst_pass_us{0};
};

uint64_t xorshift(uint64_t &s)
{
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

// With bursts: sleeps through the idle part of the current cycle, if in
// it. The cycles start at sh.t0 for every writer.
void idle_if_due(const Settings &st, const Shared &sh)
{
    if (!st.burst_ms || !st.idle_ms) {
        return;
    }
    const auto cycle = std::chrono::milliseconds(st.burst_ms + st.idle_ms);
    const auto in_cycle = (Clock::now() - sh.t0) % cycle;
    if (in_cycle >= std::chrono::milliseconds(st.burst_ms)) {
        std::this_thread::sleep_until(Clock::now() - in_cycle + cycle);
    }
}

// With writers_rt: the calling thread runs SCHED_FIFO at prio, so
// SCHED_OTHER threads (kernel workers included) get only what RT
// throttling leaves.
void maybe_realtime(const Settings &st, int prio)
{
    if (!st.writers_rt) {
        return;
    }
    sched_param sp{};
    sp.sched_priority = prio;
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (err) {
        std::printf("MIGLAB warning: SCHED_FIFO: %s\n", std::strerror(err));
    }
}

void writer(unsigned id, unsigned char *mem, size_t pages, const Settings &st,
            Shared &sh)
{
    const uint64_t rate = id < st.rates.size() ? st.rates[id] : st.rate;
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (id + 1);
    const size_t hot = stress::hot_pages(pages, st.hot_pct);
    uint64_t stamp = id + 1;
    // Rate-limited writers work in batches of ~50 ms worth of pages, so a
    // slow writer still shows progress every report.
    const size_t batch = rate ? std::clamp<size_t>(rate / 20, 1, 64) : 64;
    maybe_realtime(st, 1);
    auto pass_start = Clock::now();
    size_t in_pass = 0;
    auto next = Clock::now();
    for (;;) {
        for (size_t i = 0; i < batch; ++i) {
            size_t p = stress::pick_page(xorshift(seed), pages, hot,
                                         st.hot_share);
            std::memcpy(mem + p * page + (id % 64) * 8, &stamp, 8);
            ++stamp;
        }
        sh.written.fetch_add(batch, std::memory_order_relaxed);
        in_pass += batch;
        if (in_pass >= pages) {
            auto now = Clock::now();
            uint64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                              now - pass_start).count();
            uint64_t prev = sh.worst_pass_us.load(std::memory_order_relaxed);
            while (us > prev &&
                   !sh.worst_pass_us.compare_exchange_weak(prev, us)) {
            }
            pass_start = now;
            in_pass = 0;
        }
        if (rate) {
            next += std::chrono::nanoseconds(1000000000ULL * batch / rate);
            std::this_thread::sleep_until(next);
        }
        if (st.burst_ms && st.idle_ms) {
            idle_if_due(st, sh);
            // A paced writer does not catch up on the idle time.
            next = std::max(next, Clock::now());
        }
    }
}

void reader(const unsigned char *mem, size_t pages, Shared &sh)
{
    volatile uint64_t sink = 0;
    for (;;) {
        for (size_t p = 0; p < pages; p += 64) {
            size_t end = std::min(pages, p + 64);
            for (size_t q = p; q < end; ++q) {
                sink = sink + mem[q * page];
            }
            sh.read.fetch_add(end - p, std::memory_order_relaxed);
        }
    }
}

// miglab_pin: the thread on that CPU only.
void pin_if_asked(const Settings &st, std::thread &t, unsigned cpu)
{
    if (!st.pin) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int err = pthread_setaffinity_np(t.native_handle(), sizeof(set), &set);
    if (err) {
        std::printf("MIGLAB warning: cannot pin a thread to CPU %u: %s\n",
                    cpu, std::strerror(err));
    }
}

// alloc_mib MiB touched (so the host backs them), then free_mib of them
// unmapped: the kernel has them on its free lists, not zeroed.
void allocate_and_free(const Settings &st)
{
    if (!st.alloc_mib) {
        return;
    }
    const size_t bytes = st.alloc_mib << 20;
    auto *p = static_cast<unsigned char *>(
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    if (p == MAP_FAILED) {
        std::printf("MIGLAB error: cannot map %zu MiB more: %s\n",
                    st.alloc_mib, std::strerror(errno));
        for (;;) {
            pause();
        }
    }
    std::memset(p, st.alloc_zero ? 0 : 0x5a, bytes);
    munmap(p, st.free_mib << 20);
    std::printf("MIGLAB allocated alloc_mib=%zu free_mib=%zu zero=%d\n",
                st.alloc_mib, st.free_mib, st.alloc_zero ? 1 : 0);
}

} // namespace

int main()
{
    if (getpid() == 1) {
        mount("proc", "/proc", "proc", 0, nullptr);
        mount("sysfs", "/sys", "sysfs", 0, nullptr);
        mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
    }
    setvbuf(stdout, nullptr, _IOLBF, 0);
    Settings st = read_settings();
    load_modules(st.modules);
    allocate_and_free(st);
    size_t bytes = st.mem_mib << 20;
    auto *mem = static_cast<unsigned char *>(
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    if (mem == MAP_FAILED) {
        std::printf("MIGLAB error: cannot map %zu MiB: %s\n", st.mem_mib,
                    std::strerror(errno));
        for (;;) {
            pause();
        }
    }
    std::memset(mem, 0xa5, bytes);
    size_t pages = bytes / page;
    std::printf("MIGLAB start mem_mib=%zu writers=%u rate=%llu hot_pct=%u "
                "hot_share=%u reader=%d burst_ms=%llu idle_ms=%llu "
                "writers_rt=%d pin=%d\n",
                st.mem_mib, st.writers,
                static_cast<unsigned long long>(st.rate), st.hot_pct,
                st.hot_share, st.reader ? 1 : 0,
                static_cast<unsigned long long>(st.burst_ms),
                static_cast<unsigned long long>(st.idle_ms),
                st.writers_rt ? 1 : 0, st.pin ? 1 : 0);
    // Above the writers: the lines must keep coming
    maybe_realtime(st, 2);
    Shared sh;
    std::vector<std::thread> threads;
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    const unsigned writer_cpus = st.reader && cpus > 1 ? cpus - 1 : cpus;
    for (unsigned i = 0; i < st.writers; ++i) {
        threads.emplace_back(writer, i, mem, pages, std::cref(st), std::ref(sh));
        pin_if_asked(st, threads.back(), i % writer_cpus);
    }
    if (st.reader) {
        threads.emplace_back(reader, mem, pages, std::ref(sh));
        pin_if_asked(st, threads.back(), cpus - 1);
    }
    const auto t0 = sh.t0;
    auto next = t0;
    for (;;) {
        next += std::chrono::milliseconds(100);
        std::this_thread::sleep_until(next);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      Clock::now() - t0).count();
        std::printf("MIGLAB t_ms=%lld written=%llu read=%llu worst_pass_us=%llu\n",
                    static_cast<long long>(ms),
                    static_cast<unsigned long long>(sh.written.load()),
                    static_cast<unsigned long long>(sh.read.load()),
                    static_cast<unsigned long long>(sh.worst_pass_us.exchange(0)));
    }
}

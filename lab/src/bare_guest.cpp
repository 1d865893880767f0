// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/bare_guest.h"
#include "miglab/poll.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

namespace miglab {

namespace {

// Reads size bytes of guest-physical memory at gpa.
std::vector<unsigned char> read_guest(GuestVm &vm, uint64_t gpa,
                                      uint64_t size,
                                      const std::filesystem::path &scratch)
{
    auto file = scratch / (vm.name() + ".bare");
    vm.execute("pmemsave", {{"val", gpa},
                            {"size", size},
                            {"filename", file.string()}});
    std::vector<unsigned char> buf(size);
    std::ifstream in(file, std::ios::binary);
    if (!in.read(reinterpret_cast<char *>(buf.data()),
                 static_cast<std::streamsize>(size))) {
        throw std::runtime_error("short pmemsave file " + file.string());
    }
    return buf;
}

} // namespace

BareGuest::BareGuest(std::filesystem::path image, const Json &settings)
    : image_(std::move(image))
{
    static const std::set<std::string> keys = {
        "ws_mib", "hot_pct", "hot_share", "rate", "rates", "readers",
        "burst_ms", "idle_ms"};
    for (const auto &[k, v] : settings.items()) {
        if (!keys.count(k)) {
            throw std::runtime_error("unknown bare guest setting '" + k + "'");
        }
        std::string value;
        if (v.is_array()) {
            for (const auto &x : v) {
                value += (value.empty() ? "" : ",") +
                         std::to_string(x.get<uint64_t>());
            }
        } else {
            value = std::to_string(v.get<uint64_t>());
        }
        config_ += (config_.empty() ? "" : " ") + k + "=" + value;
    }
}

std::vector<std::string> BareGuest::args() const
{
    if (!std::filesystem::exists(image_)) {
        throw std::runtime_error("no bare guest image " + image_.string() +
                                 ": build the lab (tools/build-lab)");
    }
    // QEMU's option syntax: a comma inside a value is written twice.
    std::string escaped;
    for (char c : config_) {
        escaped += c == ',' ? std::string(",,") : std::string(1, c);
    }
    return {"-bios", image_.string(), "-fw_cfg",
            std::string("name=") + bare::config_file + ",string=" + escaped};
}

std::filesystem::path BareGuest::default_image()
{
    const char *v = std::getenv("MIGLAB_BARE_IMAGE");
    return v && *v ? std::filesystem::path(v)
                   : std::filesystem::path(MIGLAB_DEFAULT_BARE_IMAGE);
}

unsigned BareSnapshot::cpus() const
{
    return static_cast<unsigned>(
        std::min<uint64_t>(raw.cpus, bare::max_cpus));
}

std::string BareSnapshot::problem() const
{
    if (state() == bare::State::error) {
        std::string m(raw.message, strnlen(raw.message, sizeof(raw.message)));
        return "bare guest configuration error: " + m;
    }
    if (state() == bare::State::fault) {
        return "bare guest exception " + std::to_string(raw.fault_vector) +
               " (error " + hex(raw.fault_error) + ") at rip " +
               hex(raw.fault_rip) + ", cr2 " + hex(raw.fault_cr2);
    }
    return "";
}

double BareSnapshot::pages_written() const
{
    double sum = 0;
    for (unsigned i = 0; i < cpus(); ++i) {
        if (is_writer(i)) {
            sum += static_cast<double>(raw.cpu[i].pages);
        }
    }
    return sum;
}

BareSnapshot BareSnapshot::read(GuestVm &vm,
                                const std::filesystem::path &scratch)
{
    auto buf = read_guest(vm, bare::status_gpa, sizeof(bare::BareStatus),
                          scratch);
    BareSnapshot s;
    std::memcpy(&s.raw, buf.data(), sizeof(s.raw));
    return s;
}

std::optional<double> BareSnapshot::pages_read() const
{
    std::optional<double> pages;
    for (unsigned i = 0; i < cpus(); ++i) {
        if (is_reader(i)) {
            pages = pages.value_or(0) + static_cast<double>(raw.cpu[i].pages);
        }
    }
    return pages;
}

std::optional<double> BareProbe::work_done(GuestVm &vm)
{
    last_ = BareSnapshot::read(vm, scratch_);
    std::string problem = last_.problem();
    if (!problem.empty()) {
        throw std::runtime_error(problem);
    }
    if (last_.state() != bare::State::running) {
        return std::nullopt;
    }
    return last_.pages_written();
}

std::optional<double> BareProbe::guest_clock_ms() const
{
    // The newest TSC a vCPU stamped, on the guest's calibrated clock.
    uint64_t tsc = 0;
    for (unsigned i = 0; i < last_.cpus(); ++i) {
        tsc = std::max<uint64_t>(tsc, last_.raw.cpu[i].tsc);
    }
    if (!tsc || !last_.raw.tsc_khz) {
        return std::nullopt;
    }
    return static_cast<double>(tsc) / static_cast<double>(last_.raw.tsc_khz);
}

std::vector<double> BareProbe::per_vcpu_work() const
{
    std::vector<double> w;
    for (unsigned i = 0; i < last_.cpus(); ++i) {
        if (last_.is_writer(i)) {
            w.push_back(static_cast<double>(last_.raw.cpu[i].pages));
        }
    }
    return w;
}

std::optional<std::string> check_bare_pattern(GuestVm &vm,
                                              const std::filesystem::path &scratch)
{
    BareSnapshot s = BareSnapshot::read(vm, scratch);
    if (!s.booted()) {
        return "the bare guest's status page is not there";
    }
    const uint64_t chunk_pages = 16384; // 64 MiB per pmemsave
    for (unsigned cpu = 0; cpu < s.cpus(); ++cpu) {
        if (!s.is_writer(cpu)) {
            continue;
        }
        // A vCPU stops between any two instructions, so the page it was
        // writing may hold its new stamp and the old check word: only the
        // page with the newest stamp may be torn.
        const bare::BareCpu &c = s.raw.cpu[cpu];
        uint64_t newest = 0;
        std::vector<std::pair<uint64_t, uint64_t>> torn; // gpa, stamp
        for (uint64_t first = 0; first < c.region_pages; first += chunk_pages) {
            uint64_t n = std::min(chunk_pages, c.region_pages - first);
            uint64_t gpa0 = c.region_gpa + first * 4096;
            auto buf = read_guest(vm, gpa0, n * 4096, scratch);
            for (uint64_t p = 0; p < n; ++p) {
                uint64_t w[2];
                std::memcpy(w, buf.data() + p * 4096, sizeof(w));
                uint64_t gpa = gpa0 + p * 4096;
                if (w[0] == 0 && w[1] == 0) {
                    continue;
                }
                if ((w[0] >> 48) != cpu) {
                    return "page " + hex(gpa) + " of vCPU " +
                           std::to_string(cpu) + " holds " + hex(w[0]) +
                           ": not a stamp of that vCPU";
                }
                newest = std::max(newest, w[0]);
                if (w[1] != (w[0] ^ gpa ^ bare::bare_pattern_magic)) {
                    torn.emplace_back(gpa, w[0]);
                }
            }
        }
        for (const auto &[gpa, stamp] : torn) {
            if (stamp != newest || torn.size() > 1) {
                return "page " + hex(gpa) + " of vCPU " + std::to_string(cpu) +
                       " holds stamp " + hex(stamp) +
                       " with a check word that does not match (" +
                       std::to_string(torn.size()) + " such pages; only the "
                       "page being written when the vCPU stopped may be)";
            }
        }
    }
    return std::nullopt;
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/scenario.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

namespace miglab {

namespace {

class ScenarioError : public std::runtime_error {
public:
    ScenarioError(const std::filesystem::path &file, const std::string &what)
        : std::runtime_error("scenario " + file.string() + ": " + what) {}
};

void only_keys(const std::filesystem::path &file, const Json &obj,
               const std::string &where, const std::set<std::string> &keys)
{
    for (const auto &[k, v] : obj.items()) {
        if (!keys.count(k)) {
            throw ScenarioError(file, "unknown field '" + where + k + "'");
        }
    }
}

template <typename T>
T get(const std::filesystem::path &file, const Json &obj,
      const std::string &key, const std::string &where, T fallback)
{
    if (!obj.contains(key)) {
        return fallback;
    }
    try {
        return obj.at(key).get<T>();
    } catch (const Json::exception &) {
        throw ScenarioError(file, "'" + where + key + "' has the wrong type: " +
                                      obj.at(key).dump());
    }
}

// An integer field in lo..hi: 2.5, "3" or true are errors, not 2, 3 or 1
// (nlohmann's get<int>() truncates a float without a word).
int get_int(const std::filesystem::path &file, const Json &obj,
            const std::string &key, const std::string &where, int fallback,
            int lo, int hi, const std::string &range)
{
    if (!obj.contains(key)) {
        return fallback;
    }
    const Json &v = obj.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < lo ||
        v.get<int64_t>() > hi) {
        throw ScenarioError(file, "'" + where + key + "' must be " + range +
                                      ", got " + v.dump());
    }
    return v.get<int>();
}

} // namespace

Scenario Scenario::load(const std::filesystem::path &file)
{
    std::ifstream in(file);
    if (!in) {
        throw ScenarioError(file, "cannot be read");
    }
    Json j;
    try {
        j = Json::parse(in);
    } catch (const Json::parse_error &e) {
        throw ScenarioError(file, std::string("is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) {
        throw ScenarioError(file, "must be a JSON object");
    }
    only_keys(file, j, "", {"name", "description", "guest", "migration",
                            "repetitions"});
    Scenario s;
    s.name = get<std::string>(file, j, "name", "", "");
    if (!std::regex_match(s.name, std::regex("[A-Za-z0-9_.-]+"))) {
        throw ScenarioError(file, "'name' must be a non-empty word "
                                  "([A-Za-z0-9_.-]), got '" + s.name + "'");
    }
    s.description = get<std::string>(file, j, "description", "", "");
    s.repetitions = static_cast<unsigned>(
        get_int(file, j, "repetitions", "", 3, 1, 1000,
                "1..1000 (a whole number)"));

    Json guest = get<Json>(file, j, "guest", "", Json::object());
    only_keys(file, guest, "guest.",
              {"kind", "memory", "smp", "accel", "stress", "devices",
               "numa", "kernel_args", "host_vcpu_cores"});
    s.guest_kind = get<std::string>(file, guest, "kind", "guest.", "idle");
    const GuestKind *kind = GuestKind::find(s.guest_kind);
    if (!kind) {
        throw ScenarioError(file, "'guest.kind' must be " + GuestKind::names() +
                                      ", got \"" + s.guest_kind + "\"");
    }
    s.stress = get<Json>(file, guest, "stress", "guest.", Json::object());
    if (!s.stress.is_object()) {
        throw ScenarioError(file, "'guest.stress' must be an object");
    }
    if (!s.stress.empty() && kind->settings().empty()) {
        throw ScenarioError(file, "'guest.stress' applies to the linux and "
                                  "bare guests only");
    }
    const auto settings = kind->settings();
    only_keys(file, s.stress, "guest.stress.",
              std::set<std::string>(settings.begin(), settings.end()));
    for (const auto &[k, v] : s.stress.items()) {
        bool ok = v.is_number_unsigned() || v.is_boolean();
        if (k == "rates") {
            ok = v.is_array() && std::all_of(v.begin(), v.end(), [](auto &x) {
                return x.is_number_unsigned();
            });
        } else if (k == "modules") {
            ok = v.is_array() && std::all_of(v.begin(), v.end(), [](auto &x) {
                return x.is_string() &&
                       std::regex_match(x.template get<std::string>(),
                                        std::regex("[a-z0-9_]+"));
            });
        } else if (kind->integer_settings()) {
            ok = v.is_number_unsigned();
        }
        if (!ok) {
            throw ScenarioError(file, "'guest.stress." + k + "' must be " +
                                          (k == "rates" ? "a list of pages/s"
                                           : k == "modules"
                                               ? "a list of module names"
                                               : "a non-negative integer"));
        }
        // Percentages, and sizes a guest cannot run without; the guests
        // check too, but only once booted.
        const bool pct = k == "hot_pct" || k == "hot_share";
        const bool size = k == "mem_mib" || k == "ws_mib";
        if (v.is_number_unsigned() &&
            ((pct && v.get<uint64_t>() > 100) ||
             (size && v.get<uint64_t>() == 0))) {
            throw ScenarioError(file, "'guest.stress." + k + "' must be " +
                                          (pct ? "0..100" : "at least 1") +
                                          ", got " + v.dump());
        }
    }
    s.kernel_args = get<std::string>(file, guest, "kernel_args", "guest.", "");
    if (!s.kernel_args.empty() &&
        (s.guest_kind != "linux" ||
         !std::regex_match(s.kernel_args,
                           std::regex("[A-Za-z0-9_.,=-]+( [A-Za-z0-9_.,=-]+)*")))) {
        throw ScenarioError(file, "'guest.kernel_args' must be kernel "
                                  "command-line words ([A-Za-z0-9_.,=-], one "
                                  "space apart) for the linux guest, got \"" +
                                      s.kernel_args + "\"");
    }
    const Json devices = get<Json>(file, guest, "devices", "guest.",
                                   Json::object());
    if (!devices.is_object()) {
        throw ScenarioError(file, "'guest.devices' must be an object");
    }
    only_keys(file, devices, "guest.devices.",
              {"virtio_net", "net_queues", "virtio_blk", "blk_queues",
               "balloon"});
    for (const auto &[k, v] : devices.items()) {
        if (k == "balloon") {
            const std::map<std::string, DeviceSet::Balloon> kinds = {
                {"off", DeviceSet::Balloon::off},
                {"on", DeviceSet::Balloon::on},
                {"hint", DeviceSet::Balloon::hint}};
            auto it = v.is_string() ? kinds.find(v.get<std::string>())
                                    : kinds.end();
            if (it == kinds.end()) {
                throw ScenarioError(file, "'guest.devices.balloon' must be "
                                          "\"off\", \"on\" or \"hint\", "
                                          "got " + v.dump());
            }
            s.devices.balloon = it->second;
            continue;
        }
        const bool queues = k.ends_with("_queues");
        if (!v.is_number_unsigned() || v.get<unsigned>() > (queues ? 64 : 28) ||
            (queues && v.get<unsigned>() == 0)) {
            throw ScenarioError(file, "'guest.devices." + k + "' must be " +
                                          (queues ? "1..64" : "0..28"));
        }
    }
    s.devices.virtio_net = devices.value("virtio_net", 0U);
    s.devices.net_queues = devices.value("net_queues", 1U);
    s.devices.virtio_blk = devices.value("virtio_blk", 0U);
    s.devices.blk_queues = devices.value("blk_queues", 1U);
    if (s.devices.count() > 28) {
        throw ScenarioError(file, "'guest.devices': at most 28 devices fit "
                                  "on the pc machine's PCI bus");
    }
    s.memory = get<std::string>(file, guest, "memory", "guest.", "512M");
    if (!std::regex_match(s.memory, std::regex("[0-9]+[MG]"))) {
        throw ScenarioError(file, "'guest.memory' must look like 512M or 2G, "
                                  "got \"" + s.memory + "\"");
    }
    const Json numa = get<Json>(file, guest, "numa", "guest.", Json::array());
    if (!numa.is_array() || (!numa.empty() && numa.size() < 2) || numa.size() > 8) {
        throw ScenarioError(file, "'guest.numa' must list 2..8 node sizes "
                                  "in MiB, got " + numa.dump());
    }
    uint64_t numa_total = 0;
    for (const auto &node : numa) {
        if (!node.is_number_unsigned() || node.get<uint64_t>() == 0 ||
            node.get<uint64_t>() > (1ULL << 20)) {
            throw ScenarioError(file, "'guest.numa' must list node sizes in "
                                      "MiB (1..1048576), got " + numa.dump());
        }
        s.numa.push_back(node.get<unsigned>());
        numa_total += node.get<uint64_t>();
    }
    if (!s.numa.empty() && numa_total != s.memory_mib()) {
        throw ScenarioError(file, "'guest.numa' nodes add up to " +
                                      std::to_string(numa_total) +
                                      " MiB, 'guest.memory' is " + s.memory);
    }
    s.smp = static_cast<unsigned>(
        get_int(file, guest, "smp", "guest.", 1, 1, 64, "1..64"));
    const Json cores = get<Json>(file, guest, "host_vcpu_cores", "guest.",
                                 Json::object());
    if (!cores.is_object()) {
        throw ScenarioError(file, "'guest.host_vcpu_cores' must map vCPU "
                                  "indexes to host cores, got " + cores.dump());
    }
    for (const auto &[vcpu, core] : cores.items()) {
        if (!std::regex_match(vcpu, std::regex("[0-9]{1,2}")) ||
            std::stoul(vcpu) >= s.smp || !core.is_number_unsigned() ||
            core.get<uint64_t>() > 1023) {
            throw ScenarioError(file, "'guest.host_vcpu_cores' must map vCPU "
                                      "indexes (below guest.smp) to host "
                                      "cores (0..1023), got " + cores.dump());
        }
        s.host_vcpu_cores[std::stoul(vcpu)] = core.get<unsigned>();
    }
    s.accel = get<std::string>(file, guest, "accel", "guest.", "tcg");
    if (auto bad = bad_accel(s.accel)) {
        throw ScenarioError(file, "'guest.accel' " + *bad);
    }

    Json mig = get<Json>(file, j, "migration", "", Json::object());
    only_keys(file, mig, "migration.", {"capabilities", "parameters",
                                        "both_sides_parameters",
                                        "time_limit_s", "stopped",
                                        "suspend_after_s"});
    const Json caps = get<Json>(file, mig, "capabilities", "migration.",
                                Json::object());
    if (!caps.is_object()) {
        throw ScenarioError(file, "'migration.capabilities' must be an object");
    }
    for (const auto &[cap, on] : caps.items()) {
        if (!on.is_boolean()) {
            throw ScenarioError(file, "'migration.capabilities." + cap +
                                          "' must be true or false");
        }
        s.setup.capabilities.emplace_back(cap, on.get<bool>());
    }
    s.setup.parameters = get<Json>(file, mig, "parameters", "migration.",
                                   Json::object());
    s.setup.both_sides_parameters =
        get<Json>(file, mig, "both_sides_parameters", "migration.",
                  Json::object());
    if (!s.setup.parameters.is_object() ||
        !s.setup.both_sides_parameters.is_object()) {
        throw ScenarioError(file, "migration parameters must be objects");
    }
    s.time_limit_s = static_cast<unsigned>(
        get_int(file, mig, "time_limit_s", "migration.", 120, 1, 86400,
                "positive (seconds, at most 86400)"));
    s.stopped = get<bool>(file, mig, "stopped", "migration.", false);
    int suspend = get_int(file, mig, "suspend_after_s", "migration.", 0, 0,
                          86400, "positive, and not with 'stopped'");
    if (suspend > 0 && s.stopped) {
        throw ScenarioError(file, "'migration.suspend_after_s' must be "
                                  "positive, and not with 'stopped'");
    }
    s.suspend_after_s = static_cast<unsigned>(suspend);
    return s;
}

uint64_t Scenario::memory_mib() const
{
    const uint64_t n = std::stoull(memory);
    return memory.back() == 'G' ? n << 10 : n;
}

bool Scenario::uses_kvm() const
{
    return accel.rfind("kvm", 0) == 0;
}

unsigned Scenario::dirty_ring_size() const
{
    const std::string key = "dirty-ring-size=";
    auto at = accel.find(key);
    return at == std::string::npos ? 0 : std::stoul(accel.substr(at + key.size()));
}

std::optional<std::string> Scenario::bad_accel(const std::string &accel)
{
    if (accel.rfind("tcg", 0) == 0 || accel.rfind("kvm", 0) == 0) {
        return std::nullopt;
    }
    return "must be tcg[,...] or kvm[,...], got \"" + accel + "\"";
}

const GuestKind &Scenario::kind() const
{
    const GuestKind *k = GuestKind::find(guest_kind);
    if (!k) {
        throw std::logic_error("no guest kind \"" + guest_kind + "\"");
    }
    return *k;
}

uint64_t Scenario::bandwidth() const
{
    return setup.parameters.value("max-bandwidth", 128ULL << 20);
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/qmp_fuzz.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "miglab/poll.h"
#include "miglab/report.h"
#include "miglab/stream_fuzz.h"

namespace miglab {

namespace {

constexpr int max_depth = 2;

// Values of every JSON type but the one named (int, number, boolean,
// string, null, array, object), with the type's name.
std::vector<std::pair<std::string, Json>> other_kinds(const std::string &except)
{
    const std::vector<std::pair<std::string, Json>> all{
        {"int", 1},
        {"number", 0.5},
        {"boolean", true},
        {"string", "miglab"},
        {"null", nullptr},
        {"array", Json::array({1})},
        {"object", Json{{"miglab", 1}}},
    };
    std::vector<std::pair<std::string, Json>> v;
    for (const auto &[kind, value] : all) {
        if (kind != except && !(except == "number" && kind == "int")) {
            v.emplace_back("wrong type " + kind, value);
        }
    }
    return v;
}

std::string abbreviate(const std::string &s, size_t n = 200)
{
    return s.size() > n ? s.substr(0, n) + "..." : s;
}

} // namespace

QmpSchema::QmpSchema(const Json &entities)
{
    for (const auto &e : entities) {
        types_[e.at("name").get<std::string>()] = e;
    }
}

const Json &QmpSchema::entity(const std::string &name) const
{
    auto it = types_.find(name);
    if (it == types_.end()) {
        throw std::runtime_error("QMP schema: no entity " + name);
    }
    return it->second;
}

std::vector<std::string>
QmpSchema::commands(const std::function<bool(const std::string &)> &keep) const
{
    std::vector<std::string> v;
    for (const auto &[name, e] : types_) {
        if (e.value("meta-type", "") == "command" && keep(name)) {
            v.push_back(name);
        }
    }
    return v;
}

Json QmpSchema::members(const Json &object) const
{
    Json m = object.value("members", Json::array());
    if (object.contains("variants") && !object["variants"].empty()) {
        const Json &variant = entity(object["variants"][0].at("type"));
        for (const auto &x : variant.value("members", Json::array())) {
            m.push_back(x);
        }
    }
    return m;
}

Json QmpSchema::plausible(const std::string &type, int depth) const
{
    const Json &e = entity(type);
    const std::string meta = e.value("meta-type", "");
    if (meta == "builtin") {
        const std::string j = e.value("json-type", "");
        if (j == "int" || j == "number") {
            return 1;
        }
        if (j == "boolean") {
            return false;
        }
        if (j == "string") {
            return "miglab";
        }
        return nullptr;
    }
    if (meta == "enum") {
        return e.at("values")[0];
    }
    if (meta == "array") {
        return Json::array();
    }
    if (meta == "alternate") {
        return plausible(e.at("members")[0].at("type"), depth);
    }
    if (meta == "object") {
        Json o = Json::object();
        if (depth > max_depth + 1) {
            return o;
        }
        for (const auto &m : members(e)) {
            if (!m.contains("default")) {
                o[m.at("name").get<std::string>()] =
                    plausible(m.at("type"), depth + 1);
            }
        }
        // A flat union's tag selects the first variant, whose members
        // members() added.
        if (e.contains("tag") && e.contains("variants") && !e["variants"].empty()) {
            o[e["tag"].get<std::string>()] = e["variants"][0].at("case");
        }
        return o;
    }
    return nullptr;
}

QmpSchema::Values QmpSchema::bad_values(const std::string &type, int depth) const
{
    const Json &e = entity(type);
    const std::string meta = e.value("meta-type", "");
    Values v;
    if (meta == "builtin") {
        const std::string j = e.value("json-type", "");
        v = other_kinds(j);
        if (j == "int") {
            v.insert(v.end(), {
                {"-1", -1},
                {"0", 0},
                {"INT64_MIN", std::numeric_limits<int64_t>::min()},
                {"INT64_MAX", std::numeric_limits<int64_t>::max()},
                {"UINT64_MAX", std::numeric_limits<uint64_t>::max()},
                {"2^32", uint64_t(1) << 32},
                {"1e300", 1e300},
            });
        } else if (j == "number") {
            v.insert(v.end(), {{"-1e308", -1e308}, {"1e308", 1e308}, {"-0.0", -0.0}});
        } else if (j == "string") {
            v.insert(v.end(), {
                {"empty string", ""},
                {"64 KiB string", std::string(65536, 'A')},
                {"control characters", std::string("\x01\x1f%s%n\\", 7)},
            });
        }
    } else if (meta == "enum") {
        v = other_kinds("string");
        v.insert(v.end(), {
            {"empty string", ""},
            {"unknown value", "miglab-no-such-value"},
            {"64 KiB string", std::string(65536, 'A')},
        });
    } else if (meta == "array") {
        v = other_kinds("array");
        const std::string element = e.at("element-type");
        if (depth < max_depth) {
            for (auto &[what, x] : bad_values(element, depth + 1)) {
                v.emplace_back("element: " + what, Json::array({x}));
            }
        }
        v.emplace_back("10000 plausible elements",
                       Json(std::vector<Json>(10000, plausible(element, depth + 1))));
    } else if (meta == "object") {
        v = other_kinds("object");
        if (depth < max_depth) {
            for (auto &x : bad_objects(type, depth + 1)) {
                v.push_back(std::move(x));
            }
        }
    } else if (meta == "alternate") {
        v = {{"array", Json::array({1})}, {"object", Json{{"miglab", 1}}},
             {"null", nullptr}, {"string", "miglab"}, {"int", -1}};
    } else {
        // "value": anything is accepted; one odd one.
        v = {{"nested arrays", Json::array({Json::array({Json::array()})})}};
    }
    return v;
}

QmpSchema::Values QmpSchema::bad_objects(const std::string &type, int depth) const
{
    const Json &e = entity(type);
    const Json base = plausible(type, depth);
    Values v;
    Json unknown = base;
    unknown["miglab-unknown-member"] = 1;
    v.emplace_back("unknown member", unknown);
    for (const auto &m : members(e)) {
        const std::string name = m.at("name");
        if (!m.contains("default") && base.contains(name)) {
            Json missing = base;
            missing.erase(name);
            v.emplace_back("missing " + name, missing);
        }
        for (auto &[what, x] : bad_values(m.at("type"), depth)) {
            Json o = base;
            o[name] = x;
            v.emplace_back(name + ": " + what, o);
        }
    }
    return v;
}

std::vector<QmpCase> QmpSchema::cases(const std::string &command) const
{
    const Json &c = entity(command);
    std::vector<QmpCase> v;
    v.push_back({command, Json::array({1}), "arguments not an object"});
    if (!c.contains("arg-type") || entity(c["arg-type"]).value("members", Json::array()).empty()) {
        v.push_back({command, Json{{"miglab-unknown-member", 1}},
                     "unknown member (takes no arguments)"});
        return v;
    }
    for (auto &[what, args] : bad_objects(c["arg-type"], 0)) {
        v.push_back({command, std::move(args), what});
    }
    return v;
}

QmpStateRig::QmpStateRig(VmSpec spec, const std::filesystem::path &workdir)
    : spec_(std::move(spec)), workdir_(workdir)
{
}

QmpStateRig::~QmpStateRig() = default;

const std::vector<std::string> &QmpStateRig::states()
{
    static const std::vector<std::string> s{
        "none", "active", "pre-switchover", "completed", "cancelled", "incoming",
    };
    return s;
}

QemuProcess &QmpStateRig::target()
{
    return state_ == "incoming" ? pair_->destination() : pair_->source();
}

QemuProcess &QmpStateRig::enter(const std::string &state)
{
    if (std::find(states().begin(), states().end(), state) == states().end()) {
        throw std::invalid_argument("no migration state " + state);
    }
    if (pair_) {
        leave();
    }
    ++entries_;
    state_ = state;
    relay_.clear();
    pair_ = std::make_unique<VmPair>(spec_, workdir_);
    pair_->route_through(&relay_);
    if (state == "none" || state == "incoming") {
        return target();
    }
    MigrationSetup setup;
    if (state == "pre-switchover") {
        setup.capabilities.emplace_back("pause-before-switchover", true);
    }
    // 4 KB/s: the bulk pass of the firmware's RAM and ROMs takes minutes
    // (a stalled link would not do: the whole stream of an idle guest
    // fits in the sockets' buffers, and the source completes).
    if (state == "active" || state == "cancelled") {
        setup.parameters["max-bandwidth"] = 4096;
    }
    pair_->start(setup);
    const std::string want = state == "cancelled" ? "active" : state;
    std::string status;
    bool reached = poll_until(Millis(60000), Millis(20), [&] {
        status = pair_->source().qmp().execute("query-migrate").value("status", "");
        return status == want;
    });
    if (!reached) {
        throw std::runtime_error("could not bring the migration to " + want +
                                 " (status " + status + ")");
    }
    if (state == "cancelled") {
        pair_->source().qmp().execute("migrate_cancel");
        reached = poll_until(Millis(30000), Millis(20), [&] {
            status = pair_->source().qmp().execute("query-migrate").value("status", "");
            return status == "cancelled";
        });
        if (!reached) {
            throw std::runtime_error("migrate_cancel did not end the migration "
                                     "(status " + status + ")");
        }
    }
    return target();
}

bool QmpStateRig::holds()
{
    if (!pair_ || !target().running()) {
        return false;
    }
    std::string status = target().qmp().execute("query-migrate").value("status", "");
    if (state_ == "none" || state_ == "incoming") {
        return status.empty() || status == "none";
    }
    return status == state_;
}

std::vector<std::string> QmpStateRig::leave()
{
    std::vector<std::string> reports;
    if (!pair_) {
        return reports;
    }
    std::vector<std::pair<std::string, std::filesystem::path>> logs{
        {pair_->source().name(), pair_->source().log_path()},
        {pair_->destination().name(), pair_->destination().log_path()},
    };
    pair_.reset();
    relay_.clear();
    for (const auto &[name, log] : logs) {
        const std::string text = read_file(log);
        if (has_sanitizer_report(text)) {
            size_t at = std::min(text.find("ERROR: "), text.find("runtime error:"));
            reports.push_back(name + " in state " + state_ + ": " +
                              text.substr(at == std::string::npos ? 0 : at, 1500));
        }
    }
    return reports;
}

void write_qmp_csv(std::ostream &o, const std::vector<QmpCaseResult> &rows)
{
    o << "state,target,command,case,arguments,verdict,reply\n";
    for (const auto &r : rows) {
        o << r.state << "," << r.target << "," << r.c.command << ","
          << csv_quoted(r.c.what) << "," << csv_quoted(abbreviate(r.c.args.dump()))
          << "," << r.verdict << "," << csv_quoted(abbreviate(r.reply)) << "\n";
    }
}

void write_qmp_summary(std::ostream &o, const std::vector<QmpCaseResult> &rows)
{
    struct Counts {
        unsigned cases = 0, error = 0, accepted = 0, dead = 0, hung = 0;
    };
    std::vector<std::string> order;
    std::map<std::string, Counts> by;
    Counts all;
    for (const auto &r : rows) {
        if (!by.count(r.state)) {
            order.push_back(r.state);
        }
        for (Counts *c : {&by[r.state], &all}) {
            ++c->cases;
            c->error += r.verdict == "error";
            c->accepted += r.verdict == "accepted";
            c->dead += r.verdict == "dead";
            c->hung += r.verdict == "hung";
        }
    }
    o << "| state | cases | QMP error | accepted | QEMU died | no answer |\n"
         "| --- | --- | --- | --- | --- | --- |\n";
    auto row = [&](const std::string &name, const Counts &c) {
        o << "| " << name << " | " << c.cases << " | " << c.error << " | "
          << c.accepted << " | " << c.dead << " | " << c.hung << " |\n";
    };
    for (const auto &s : order) {
        row(s, by[s]);
    }
    row("**all**", all);
}

} // namespace miglab

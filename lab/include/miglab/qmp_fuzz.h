// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "miglab/fault_relay.h"
#include "miglab/qmp.h"
#include "miglab/temp_dir.h"
#include "miglab/vm_pair.h"

namespace miglab {

// One generated command: its name, arguments and what is wrong with them.
struct QmpCase {
    std::string command;
    Json args; // an object, or another JSON value for "arguments is not an object"
    std::string what;
};

// A QEMU's QMP schema as query-qmp-schema gives it, and bad arguments
// generated from it for a command: the arguments not an object, an
// unknown member, every required member missing, and for every member
// (and the members of objects and arrays within, two levels down) values
// of the wrong JSON type, out-of-range and huge numbers, empty, huge and
// unknown strings, with the other required members given plausible
// values. Introspection names types by number and flattens all integer
// types to "int", so sizes and signedness are tried by value.
class QmpSchema {
public:
    explicit QmpSchema(const Json &entities);

    // Commands whose name keep() accepts, sorted.
    std::vector<std::string>
    commands(const std::function<bool(const std::string &)> &keep) const;
    std::vector<QmpCase> cases(const std::string &command) const;

private:
    using Values = std::vector<std::pair<std::string, Json>>;
    const Json &entity(const std::string &name) const;
    // A value the type accepts (required members only), or null.
    Json plausible(const std::string &type, int depth) const;
    // Bad values for a member of the type, each with what it is.
    Values bad_values(const std::string &type, int depth) const;
    // Bad objects of an object type (missing, unknown, bad members).
    Values bad_objects(const std::string &type, int depth) const;
    // An object type's members: its own and its first variant's.
    Json members(const Json &object) const;

    std::map<std::string, Json> types_;
};

// How the VM took a case: "error" (a QMP error, as it should for nearly
// all), "accepted" (valid after all, e.g. a boundary value), or, bad:
// "dead" (QEMU exited), "hung" (no answer in time, or the next good
// command failed).
struct QmpCaseResult {
    std::string state; // the migration state it was sent in
    std::string target;
    QmpCase c;
    std::string verdict;
    std::string reply; // the error's class and text, or the return value
    bool bad() const { return verdict == "dead" || verdict == "hung"; }
};

// A source and a destination held in one migration state, for sending
// cases in it; put back into that state (a fresh pair) when a case has
// moved it on.
//   none            the source, no migration yet
//   active          the source, migrating over a stalled link (bulk pass)
//   pre-switchover  the source, paused before the switchover
//   completed       the source after a completed migration (postmigrate)
//   cancelled       the source after migrate_cancel
//   incoming        the destination, -incoming defer, nothing started
class QmpStateRig {
public:
    QmpStateRig(VmSpec spec, const std::filesystem::path &workdir);
    ~QmpStateRig();
    static const std::vector<std::string> &states();

    // Brings a fresh pair into state; the VM that cases go to.
    QemuProcess &enter(const std::string &state);
    // Whether the pair is still in the state entered last.
    bool holds();
    QemuProcess &target();
    // Sanitizer reports in the logs of the pair's VMs so far (their
    // names), then the pair is stopped.
    std::vector<std::string> leave();
    unsigned entries() const { return entries_; }

private:
    VmSpec spec_;
    std::filesystem::path workdir_;
    FaultRelay relay_;
    std::unique_ptr<VmPair> pair_;
    std::string state_;
    unsigned entries_ = 0;
};

void write_qmp_csv(std::ostream &o, const std::vector<QmpCaseResult> &rows);
// Per state: cases, errors, accepted, dead, hung.
void write_qmp_summary(std::ostream &o, const std::vector<QmpCaseResult> &rows);

} // namespace miglab

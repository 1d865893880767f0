// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "miglab/migration_stream.h"
#include "miglab/qmp.h"
#include "miglab/temp_dir.h"

namespace miglab {

// The guest whose streams migstream records and loads: an i440fx PC under
// TCG with 64 MiB of RAM and a device of most kinds a user's VM has
// (virtio-net and e1000 on user networking, virtio-blk, virtio-balloon,
// xHCI with a tablet, virtio-serial): many device sections to corrupt.
std::vector<std::string> stream_fuzz_vm_args();

// Records the stream of a live migration of that guest to a file (QEMU's
// file: transport) after it has run for a moment.
Bytes record_stream(const std::filesystem::path &binary,
                    const std::vector<std::string> &vm_args,
                    const std::filesystem::path &workdir);

// How a destination took a stream.
struct IncomingOutcome {
    // rejected: failed the load and exited with status 1 within the bound;
    // loaded: the load completed (and QEMU then quit cleanly);
    // hang: neither within the bound (it is killed);
    // crash: a signal or another exit status;
    // sanitizer: ASan or UBSan reported something (whatever else it did).
    std::string verdict;
    double ms = 0;     // from migrate-incoming to the verdict
    std::string error; // the destination's last message
    bool bad() const
    {
        return verdict != "rejected" && verdict != "loaded";
    }
};

// Loads a stream file into a fresh destination (-incoming defer, then
// migrate-incoming file:PATH) and judges how it ended. Keeps the
// destination's log as <workdir>/<name>.log.
IncomingOutcome load_stream(const std::filesystem::path &binary,
                            const std::vector<std::string> &vm_args,
                            const std::filesystem::path &stream,
                            const std::filesystem::path &workdir,
                            const std::string &name, Millis bound);

// Whether a QEMU log holds an AddressSanitizer or UBSan report.
bool has_sanitizer_report(const std::string &log);

struct StreamCaseResult {
    StreamCase mutated; // its bytes are dropped once loaded
    IncomingOutcome outcome;
};

// The CSV (one row per case) and the summary table (per mutation).
void write_stream_csv(std::ostream &o, const std::vector<StreamCaseResult> &rows);
void write_stream_summary(std::ostream &o,
                          const std::vector<StreamCaseResult> &rows);

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/stream_fuzz.h"

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

#include "miglab/poll.h"
#include "miglab/qemu_process.h"
#include "miglab/report.h"
#include "miglab/vm_pair.h"

namespace miglab {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The last line of a log that is not empty (QEMU's last message).
std::string last_line(const std::string &log)
{
    std::istringstream in(log);
    std::string last;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            last = line;
        }
    }
    return last;
}

} // namespace

std::vector<std::string> stream_fuzz_vm_args()
{
    auto a = pc_machine_args("tcg", "64M");
    a.insert(a.end(), {
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        "-netdev", "user,id=n1", "-device", "e1000,netdev=n1",
        "-blockdev", "null-co,node-name=d0,read-zeroes=on",
        "-device", "virtio-blk-pci,drive=d0",
        "-device", "virtio-balloon-pci",
        "-device", "qemu-xhci", "-device", "usb-tablet",
        "-device", "virtio-serial-pci",
    });
    return a;
}

Bytes record_stream(const std::filesystem::path &binary,
                    const std::vector<std::string> &vm_args,
                    const std::filesystem::path &workdir)
{
    const auto file = workdir / "recorded.stream";
    QemuProcess vm(binary, vm_args, workdir, "recorder");
    // Let the firmware set the devices up (and iPXE try the network).
    std::this_thread::sleep_for(Millis(1500));
    vm.execute("migrate", {{"uri", "file:" + file.string()}});
    std::string status;
    bool ended = poll_until(Millis(60000), Millis(50), [&] {
        status = vm.execute("query-migrate").value("status", "");
        return status == "completed" || status == "failed" ||
               status == "cancelled";
    });
    if (!ended || status != "completed") {
        throw std::runtime_error("recording the stream: migration " +
                                 (ended ? status : "did not end in 60 s") +
                                 "; " + vm.log_tail());
    }
    std::ifstream in(file, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

bool has_sanitizer_report(const std::string &log)
{
    for (const char *mark : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "UndefinedBehaviorSanitizer"}) {
        if (log.find(mark) != std::string::npos) {
            return true;
        }
    }
    return false;
}

IncomingOutcome load_stream(const std::filesystem::path &binary,
                            const std::vector<std::string> &vm_args,
                            const std::filesystem::path &stream,
                            const std::filesystem::path &workdir,
                            const std::string &name, Millis bound)
{
    std::vector<std::string> args = vm_args;
    args.insert(args.end(), {"-incoming", "defer", "-S"});
    IncomingOutcome o;
    QemuProcess dest(binary, args, workdir, name);
    const auto start = Clock::now();
    try {
        dest.execute("migrate-incoming", {{"uri", "file:" + stream.string()}});
    } catch (const QmpError &e) {
        o.verdict = "rejected";
        o.error = e.what();
    }
    // It either exits (a failed load ends the process: exit-on-error) or
    // says the load completed.
    std::string status;
    bool ended = !o.verdict.empty() || poll_until(bound, Millis(10), [&] {
        if (!dest.running()) {
            return true;
        }
        try {
            status = dest.execute("query-migrate").value("status", "");
        } catch (const std::runtime_error &) {
            return false; // exiting: seen on the next poll
        }
        return status == "completed";
    });
    o.ms = ms_since(start);
    std::optional<int> exit_status;
    if (!ended) {
        o.verdict = "hang";
        o.error = "no end within " + std::to_string(bound.count()) +
                  " ms (status " + status + ")";
        dest.stop(Millis(0));
    } else if (dest.running()) {
        // Loaded (or refused at once): it must also quit cleanly.
        if (o.verdict.empty()) {
            o.verdict = "loaded";
        }
        try {
            dest.execute("quit");
        } catch (const std::runtime_error &) {
            // The answer may be lost as it exits.
        }
        exit_status = dest.wait_exit(Millis(10000));
        if (!exit_status) {
            o.verdict = "hang";
            o.error = "did not quit after loading";
            dest.stop(Millis(0));
        } else if (!WIFEXITED(*exit_status) || WEXITSTATUS(*exit_status) != 0) {
            o.verdict = "crash";
        }
    } else {
        exit_status = dest.wait_exit(Millis(0));
        o.verdict = exit_status && WIFEXITED(*exit_status) &&
                    WEXITSTATUS(*exit_status) == 1 ? "rejected" : "crash";
    }
    const std::string log = read_file(dest.log_path());
    if (o.error.empty()) {
        o.error = last_line(log);
    }
    if (o.verdict == "crash" && exit_status) {
        o.error = (WIFSIGNALED(*exit_status) ?
                   "signal " + std::to_string(WTERMSIG(*exit_status)) :
                   "exit " + std::to_string(WEXITSTATUS(*exit_status))) +
                  ": " + o.error;
    }
    if (has_sanitizer_report(log)) {
        o.verdict = "sanitizer";
    }
    return o;
}

void write_stream_csv(std::ostream &o, const std::vector<StreamCaseResult> &rows)
{
    o << "case,mutation,detail,verdict,ms,error\n";
    for (const auto &r : rows) {
        o << r.mutated.index << "," << r.mutated.mutation << ","
          << csv_quoted(r.mutated.detail) << "," << r.outcome.verdict << ","
          << static_cast<long>(r.outcome.ms) << "," << csv_quoted(r.outcome.error)
          << "\n";
    }
}

void write_stream_summary(std::ostream &o,
                          const std::vector<StreamCaseResult> &rows)
{
    struct Counts {
        unsigned cases = 0;
        std::map<std::string, unsigned> verdicts;
        double max_ms = 0;
    };
    std::map<std::string, Counts> by;
    Counts all;
    for (const auto &r : rows) {
        for (Counts *c : {&by[r.mutated.mutation], &all}) {
            ++c->cases;
            ++c->verdicts[r.outcome.verdict];
            c->max_ms = std::max(c->max_ms, r.outcome.ms);
        }
    }
    by["all"] = all;
    o << "| mutation | cases | rejected | loaded | hang | crash | sanitizer "
         "| slowest (ms) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for (const auto &[name, c] : by) {
        if (name == "all") {
            continue;
        }
        auto v = c.verdicts;
        o << "| " << name << " | " << c.cases << " | " << v["rejected"] << " | "
          << v["loaded"] << " | " << v["hang"] << " | " << v["crash"] << " | "
          << v["sanitizer"] << " | " << static_cast<long>(c.max_ms) << " |\n";
    }
    auto v = all.verdicts;
    o << "| **all** | " << all.cases << " | " << v["rejected"] << " | "
      << v["loaded"] << " | " << v["hang"] << " | " << v["crash"] << " | "
      << v["sanitizer"] << " | " << static_cast<long>(all.max_ms) << " |\n";
}

} // namespace miglab

// SPDX-License-Identifier: GPL-2.0-or-later
//
// Settings that must match on both sides of a migration, set on one side
// only (or differently): the migration must fail fast, with an error that
// names the setting, and leave the source running. Each failing case runs
// twice: as it comes, and with the destination frozen until the source has
// sent everything, the race a small stream can win against the
// destination's check.
#include <chrono>
#include <iostream>

#include "lab_env.h"
#include "miglab/poll.h"
#include "miglab/temp_dir.h"
#include "miglab/tls_credentials.h"

using namespace miglab;

namespace {

struct Side {
    std::vector<std::pair<std::string, bool>> capabilities;
    Json parameters = Json::object();
};

// What a case must do: fail (the source within 10 s, still running; the
// destination within 10 s unless noted; the setting named in the
// destination's log or the source's error) or complete on both sides
// (settings that need not match).
enum class Expect { fail, complete };

struct Mismatch {
    std::string name;
    Side source, destination;
    Expect expect = Expect::fail;
    std::string named;                // what the messages must contain
    bool named_by_source = false;     // in the source's error, not the log
    bool destination_must_end = true; // see "multifd source only"
    // Whether the source, with the destination frozen, still sends
    // everything and stops its guest: not when it needs an answer first
    // (its TLS handshake, switchover-ack).
    bool sends_alone = true;
};

// A failing case runs with the return path on both sides: only through it
// can a source hear that the destination failed after the source had sent
// everything. Without it the source reports "completed" whenever its
// stream fits in the socket buffers before the destination reads the
// part it refuses (once in CI: multifd-channels 2 vs 4, source completed
// after 57 ms); see "multifd destination only" in reliability.md.
Side with_return_path(Side s)
{
    for (const auto &[c, on] : s.capabilities) {
        if (c == "return-path") {
            return s;
        }
    }
    s.capabilities.emplace_back("return-path", true);
    return s;
}

void apply(QemuProcess &vm, const Side &s)
{
    Json caps = Json::array();
    for (const auto &[c, on] : s.capabilities) {
        caps.push_back({{"capability", c}, {"state", on}});
    }
    if (!caps.empty()) {
        vm.qmp().execute("migrate-set-capabilities", {{"capabilities", caps}});
    }
    if (!s.parameters.empty()) {
        vm.qmp().execute("migrate-set-parameters", s.parameters);
    }
}

// How each side ended, and when (ms after migrate; -1: not within the
// limit).
struct Ends {
    std::string source = "", destination = "", error;
    double source_ms = -1, destination_ms = -1;
};

Ends watch(VmPair &pair, Millis limit)
{
    Ends e;
    const auto t0 = std::chrono::steady_clock::now();
    poll_until(limit, Millis(20), [&] {
        const double ms = std::chrono::duration<double, std::milli>(
            std::chrono::steady_clock::now() - t0).count();
        if (e.source_ms < 0) {
            Json info = pair.source().qmp().execute("query-migrate", {}, Millis(5000));
            e.source = info.value("status", "");
            if (e.source == "failed" || e.source == "completed") {
                e.source_ms = ms;
                e.error = info.value("error-desc", "");
            }
        }
        if (e.destination_ms < 0) {
            if (!pair.destination().running()) {
                e.destination = "exited";
                e.destination_ms = ms;
            } else {
                try {
                    e.destination = pair.destination().qmp()
                                        .execute("query-migrate", {}, Millis(5000))
                                        .value("status", "");
                } catch (const std::runtime_error &) {
                    return false; // exiting: seen on the next poll
                }
                if (e.destination == "failed" || e.destination == "completed") {
                    e.destination_ms = ms;
                }
            }
        }
        return e.source_ms >= 0 && e.destination_ms >= 0;
    });
    return e;
}

// Runs one case; held: the destination frozen (SIGSTOP) from before the
// migrate command until the source has stopped its guest for the
// switchover, every byte sent.
void run_case(const Mismatch &c, const VmSpec &spec,
              const std::filesystem::path &dir, bool held)
{
    const bool fail = c.expect == Expect::fail;
    VmPair pair(spec, dir);
    apply(pair.source(), fail ? with_return_path(c.source) : c.source);
    apply(pair.destination(),
          fail ? with_return_path(c.destination) : c.destination);
    const std::string uri = pair.listen(MigrationSetup{});
    if (held) {
        ProcessHold hold(pair.destination().pid(), "the destination");
        pair.migrate_to(uri);
        ASSERT_TRUE(pair.source().qmp().wait_event("STOP", Millis(10000)))
            << "the source did not stop its guest within 10 s with the "
               "destination frozen";
    } else {
        pair.migrate_to(uri);
    }
    Ends e = watch(pair, Millis(10000));
    const std::string log = pair.destination().log_tail(4000);
    std::cout << "[" << c.name << (held ? ", destination held" : "")
              << "] source " << e.source << " after " << e.source_ms
              << " ms (" << e.error << "); destination " << e.destination
              << " after " << e.destination_ms << " ms" << std::endl;
    if (!fail) {
        EXPECT_EQ(e.source, "completed") << e.error;
        EXPECT_EQ(e.destination, "completed") << log;
        return;
    }
    EXPECT_EQ(e.source, "failed") << "within 10 s; " << e.error;
    // A source that failed in its switchover restarts its guest just
    // after it says "failed".
    std::string state;
    EXPECT_TRUE(poll_until(Millis(10000), Millis(20), [&] {
        state = pair.source().run_state();
        return state == "running";
    })) << "the source's guest is " << state << " 10 s later";
    if (c.destination_must_end) {
        EXPECT_TRUE(e.destination == "exited" || e.destination == "failed")
            << "the destination is still " << e.destination
            << " 10 s later: " << log;
    }
    if (c.named_by_source) {
        EXPECT_NE(e.error.find(c.named), std::string::npos) << e.error;
    } else {
        EXPECT_NE(log.find(c.named), std::string::npos) << log;
    }
}

} // namespace

// Every setting that must match, set on one side only or differently,
// and the ones that need not: the idle guest, so that a case is decided by
// the settings alone. docs/results/reliability.md has the table.
TEST(Mismatch, SettingsThatMustMatchFailFastAndSayWhich)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    TlsCredentials tls(dir.path() / "tls");
    VmSpec spec{test::qemu_binary(), test::tcg_machine("128M")};
    for (auto &a : tls.args()) {
        spec.args.push_back(a);
    }
    const Json client = {{"tls-creds", TlsCredentials::client_id()}};
    const Json server = {{"tls-creds", TlsCredentials::server_id()}};
    const Side multifd{{{"multifd", true}}};
    const Side rp{{{"return-path", true}}};
    const Side rp_ack{{{"return-path", true}, {"switchover-ack", true}}};
    const std::vector<Mismatch> cases{
        // The destination closes the extra connections and names multifd
        // there; once in 16 runs here it then still waited for the main
        // channel 12 s later, so its end is not asserted. Not held: a
        // destination without multifd listens with room for one
        // connection, and the source sends nothing until all of its
        // channels are accepted.
        {"multifd source only", multifd, {}, Expect::fail, "multifd", false, false,
         false},
        // Without the return path the source cannot know: it reports
        // "completed" once all is sent (and waits in postmigrate). With it,
        // it hears the destination fail.
        {"multifd destination only", rp, {{{"multifd", true}, {"return-path", true}}},
         Expect::fail, "multifd capability"},
        {"multifd-channels 4 vs 2", {{{"multifd", true}}, {{"multifd-channels", 4}}},
         multifd, Expect::fail, "multifd-channels"},
        {"multifd-channels 2 vs 4", multifd,
         {{{"multifd", true}}, {{"multifd-channels", 4}}}, Expect::fail,
         "multifd-channels"},
        {"multifd-compression zlib vs none",
         {{{"multifd", true}}, {{"multifd-compression", "zlib"}}}, multifd,
         Expect::fail, "multifd"},
        {"TLS source only", {{}, client}, {}, Expect::fail, "TLS", true, true, false},
        // A destination with TLS ignores a peer that fails the handshake
        // (it says so) and goes on waiting: failing it would let any stray
        // connection kill it (a port scan, a client tls-authz refuses).
        {"TLS destination only", {}, {{}, server}, Expect::fail, "TLS", false, false},
        {"switchover-ack source only", rp_ack, rp, Expect::fail, "switchover-ack", false,
         true, false},
        {"postcopy-ram source only", {{{"postcopy-ram", true}}}, {}, Expect::fail,
         "postcopy"},
        {"return-path source only", rp, {}, Expect::complete, ""},
        {"return-path destination only", {}, rp, Expect::complete, ""},
        {"switchover-ack destination only", rp, rp_ack, Expect::complete, ""},
        {"postcopy-ram destination only", {}, {{{"postcopy-ram", true}}},
         Expect::complete, ""},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.name);
        run_case(c, spec, dir.path(), false);
    }
    for (const auto &c : cases) {
        if (c.expect == Expect::fail && c.sends_alone) {
            SCOPED_TRACE(c.name + ", destination held");
            run_case(c, spec, dir.path(), true);
        }
    }
}

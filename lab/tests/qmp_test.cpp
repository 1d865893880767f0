// SPDX-License-Identifier: GPL-2.0-or-later
#include "lab_env.h"
#include "miglab/temp_dir.h"

#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>

using namespace miglab;

class QmpTest : public testing::Test {
protected:
    void SetUp() override
    {
        MIGLAB_REQUIRE_QEMU();
        auto args = test::tcg_machine("64M");
        args.push_back("-S");
        vm_ = std::make_unique<QemuProcess>(test::qemu_binary(), args,
                                            dir_.path(), "vm");
    }
    TempDir dir_;
    std::unique_ptr<QemuProcess> vm_;
};

TEST_F(QmpTest, NegotiatesAndAnswers)
{
    EXPECT_TRUE(vm_->qmp().greeting()["QMP"].contains("version"));
    EXPECT_EQ(vm_->run_state(), "prelaunch");
}

TEST_F(QmpTest, UnknownCommandIsAQmpError)
{
    try {
        vm_->qmp().execute("no-such-command");
        FAIL() << "expected a QMP error";
    } catch (const QmpError &e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
    }
    EXPECT_TRUE(vm_->running());
}

TEST_F(QmpTest, BadMigrationParameterIsRefusedAndVmLives)
{
    EXPECT_THROW(vm_->qmp().execute("migrate-set-parameters",
                                    {{"cpu-throttle-initial", 150}}),
                 QmpError);
    EXPECT_THROW(vm_->qmp().execute("migrate-set-parameters",
                                    {{"downtime-limit", "soon"}}),
                 QmpError);
    EXPECT_EQ(vm_->run_state(), "prelaunch");
}

TEST_F(QmpTest, StopOnScopeExitLeavesNoProcess)
{
    pid_t pid = vm_->pid();
    vm_.reset();
    EXPECT_NE(::kill(pid, 0), 0) << "QEMU " << pid << " still exists";
}

// A QEMU that exits before it creates its QMP socket (here: an option it
// does not know) is reported at once, with its exit status and what it
// said, instead of after the QMP connect's time limit.
TEST(QemuStart, QemuThatExitsAtOnceIsReportedWithItsStatus)
{
    MIGLAB_REQUIRE_QEMU();
    TempDir dir;
    try {
        QemuProcess vm(test::qemu_binary(), {"-no-such-option"}, dir.path(),
                       "vm");
        FAIL() << "QEMU started with -no-such-option";
    } catch (const std::runtime_error &e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(") exited with status 1 before it opened its QMP"),
                  std::string::npos)
            << what;
        EXPECT_NE(what.find("-no-such-option"), std::string::npos) << what;
    }
}

// The version line comes from the binary itself, whatever its path holds
// (a shell would split this one at the space and choke on the quote).
TEST(QemuVersion, PathIsNotGivenToAShell)
{
    TempDir dir;
    auto bin_dir = dir.path() / "it's a b";
    std::filesystem::create_directory(bin_dir);
    auto bin = bin_dir / "qemu-system-x86_64";
    std::ofstream(bin) << "#!/bin/sh\n"
                          "echo \"QEMU emulator version 1.2.3 ($*)\"\n"
                          "echo second line\n";
    std::filesystem::permissions(bin, std::filesystem::perms::owner_all);
    EXPECT_EQ(qemu_version(bin), "QEMU emulator version 1.2.3 (--version)");
    EXPECT_EQ(qemu_version(dir.path() / "nothing here"), "");
}

// A QMP server that sends an event before its greeting (QEMU did, once,
// when the lab connected as the VM started): the client keeps the event
// and negotiates.
TEST(QmpConnect, AnEventBeforeTheGreetingIsKept)
{
    TempDir dir;
    const auto path = dir.path() / "qmp.sock";
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr *>(&addr),
                     sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    std::thread server([listener] {
        int fd = ::accept(listener, nullptr, nullptr);
        const std::string hello =
            "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, "
            "\"microseconds\": 2}}\r\n"
            "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";
        ASSERT_EQ(::write(fd, hello.data(), hello.size()),
                  static_cast<ssize_t>(hello.size()));
        char buf[256];
        ASSERT_GT(::read(fd, buf, sizeof(buf)), 0); // qmp_capabilities, id 1
        const std::string ok = "{\"return\": {}, \"id\": 1}\r\n";
        ASSERT_EQ(::write(fd, ok.data(), ok.size()),
                  static_cast<ssize_t>(ok.size()));
        ::close(fd);
    });
    try {
        Qmp qmp = Qmp::connect(path, Millis(5000), ::getpid());
        EXPECT_TRUE(qmp.greeting().contains("QMP"));
        EXPECT_TRUE(qmp.wait_event("RESUME", Millis(0)));
    } catch (const std::exception &e) {
        ADD_FAILURE() << e.what();
    }
    server.join();
    ::close(listener);
}

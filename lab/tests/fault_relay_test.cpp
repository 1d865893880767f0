// SPDX-License-Identifier: GPL-2.0-or-later
//
// The fault relay on plain loopback sockets: what reaches the far side
// with each fault. No timing thresholds: waits are bounds on a hang.
#include <gtest/gtest.h>

#include <cerrno>
#include <netinet/in.h>
#include <random>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "miglab/command.h"
#include "miglab/fault_relay.h"
#include "miglab/poll.h"

using namespace miglab;

namespace {

// A socket that closes itself.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket()
    {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;
    int fd() const { return fd_; }

private:
    int fd_;
};

// The destination: accepts one connection at a time and keeps what it
// reads, until the peer ends it.
class Sink {
public:
    Sink() : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        sockaddr_in a = loopback_address(0);
        socklen_t len = sizeof(a);
        ::bind(listener_.fd(), reinterpret_cast<sockaddr *>(&a), sizeof(a));
        ::listen(listener_.fd(), 4);
        ::getsockname(listener_.fd(), reinterpret_cast<sockaddr *>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    uint16_t port() const { return port_; }
    // Reads one connection to its end; replies "ok" after reply_after bytes.
    void serve(size_t reply_after = SIZE_MAX)
    {
        Socket c(::accept(listener_.fd(), nullptr, nullptr));
        char buf[65536];
        for (;;) {
            ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
            if (n <= 0) {
                return;
            }
            got.append(buf, n);
            if (got.size() >= reply_after) {
                ::send(c.fd(), "ok", 2, MSG_NOSIGNAL);
                reply_after = SIZE_MAX;
            }
        }
    }
    std::string got;

private:
    Socket listener_;
    uint16_t port_ = 0;
};

std::string random_bytes(size_t n, unsigned seed)
{
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto &c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

int connect_to(uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback_address(port);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    return fd;
}

// Sends all of data; false once the connection has gone.
bool send_all(int fd, const std::string &data)
{
    for (size_t done = 0; done < data.size();) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done,
                           MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        done += n;
    }
    return true;
}

class FaultRelayTest : public testing::Test {
protected:
    void SetUp() override { relay_.set_target(sink_.port()); }
    // Sends data through the relay and waits for the sink to see the end.
    void pass(const std::string &data)
    {
        std::thread t([&] { sink_.serve(); });
        {
            Socket s(connect_to(relay_.port()));
            send_all(s.fd(), data);
        }
        t.join();
    }
    Sink sink_;
    FaultRelay relay_;
};

} // namespace

TEST_F(FaultRelayTest, ForwardsBothWays)
{
    const std::string data = random_bytes(3 << 20, 1);
    std::thread t([&] { sink_.serve(data.size()); });
    Socket s(connect_to(relay_.port()));
    ASSERT_TRUE(send_all(s.fd(), data));
    char reply[2];
    ASSERT_EQ(::recv(s.fd(), reply, 2, MSG_WAITALL), 2);
    EXPECT_EQ(std::string(reply, 2), "ok");
    ::shutdown(s.fd(), SHUT_WR);
    t.join();
    EXPECT_EQ(sink_.got, data);
    EXPECT_EQ(relay_.forwarded(), data.size());
    EXPECT_EQ(relay_.connections(), 1u);
}

TEST_F(FaultRelayTest, CutAfterResetsTheConnectionAtThatByte)
{
    const std::string data = random_bytes(1 << 20, 2);
    relay_.cut_after(12345);
    std::thread t([&] { sink_.serve(); });
    {
        Socket s(connect_to(relay_.port()));
        send_all(s.fd(), data);
        // The source learns: its connection is reset.
        char c;
        EXPECT_LE(::recv(s.fd(), &c, 1, 0), 0);
    }
    t.join();
    EXPECT_EQ(sink_.got, data.substr(0, 12345));
    EXPECT_EQ(relay_.cuts(), 1u);

    // The next connection goes through whole.
    sink_.got.clear();
    pass(data);
    EXPECT_EQ(sink_.got, data);
}

TEST_F(FaultRelayTest, FlipAtChangesThatByteOnly)
{
    const std::string data = random_bytes(1 << 20, 3);
    relay_.flip_at(700000, 0x10);
    pass(data);
    ASSERT_EQ(sink_.got.size(), data.size());
    std::string want = data;
    want[700000] ^= 0x10;
    EXPECT_EQ(sink_.got, want);
    EXPECT_EQ(relay_.flips(), 1u);
}

TEST_F(FaultRelayTest, StallHoldsEverythingUntilReleased)
{
    const std::string data = random_bytes(64 << 10, 4);
    relay_.stall(true);
    std::thread t([&] { sink_.serve(); });
    Socket s(connect_to(relay_.port()));
    ASSERT_TRUE(send_all(s.fd(), data));
    // Whatever the wait, nothing may come through while stalled.
    ASSERT_TRUE(poll_until(Millis(10000), Millis(10),
                           [&] { return relay_.connections() == 1; }));
    std::this_thread::sleep_for(Millis(200));
    EXPECT_EQ(relay_.forwarded(), 0u);
    relay_.stall(false);
    ::shutdown(s.fd(), SHUT_WR);
    t.join();
    EXPECT_EQ(sink_.got, data);
}

TEST_F(FaultRelayTest, ThrottleAndDelayLoseNothing)
{
    const std::string data = random_bytes(2 << 20, 5);
    relay_.throttle(16 << 20);
    relay_.delay(Millis(20));
    pass(data);
    EXPECT_EQ(sink_.got, data);
    relay_.clear();
    sink_.got.clear();
    pass(data);
    EXPECT_EQ(sink_.got, data);
}

TEST_F(FaultRelayTest, NoTargetRefusesTheConnection)
{
    FaultRelay nowhere;
    Socket s(connect_to(nowhere.port()));
    char c;
    EXPECT_LE(::recv(s.fd(), &c, 1, 0), 0);
    EXPECT_EQ(nowhere.connections(), 0u);
}

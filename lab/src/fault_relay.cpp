// SPDX-License-Identifier: GPL-2.0-or-later
#include "miglab/fault_relay.h"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "miglab/command.h"

namespace miglab {

namespace {

using Clock = std::chrono::steady_clock;

// What one direction may hold before the relay stops reading it: the
// source then waits on its own socket, as it would on a slow link.
constexpr size_t max_queued = 16 << 20;

// Closes fd so that its peer sees a reset, not an orderly end.
void reset_close(int fd)
{
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    ::close(fd);
}

// A piece of the stream read from one side, due on the other at due.
struct Piece {
    Clock::time_point due;
    std::string data;
    size_t done = 0;
};

// One direction of a connection.
struct Flow {
    int from, to;
    bool downstream; // source to destination: the faults act on it
    std::deque<Piece> queue;
    size_t queued = 0;
    bool eof = false;  // from has no more
    bool shut = false; // to has been told so (SHUT_WR)
};

// A connection from the source and the relay's to the destination.
struct Link {
    Link(int src, int dst) : down{src, dst, true, {}}, up{dst, src, false, {}} {}
    ~Link()
    {
        if (reset || cut) {
            reset_close(down.from);
        } else {
            ::close(down.from);
        }
        if (reset) {
            reset_close(down.to);
        } else {
            // After a cut, what was sent arrives, then the end (a reset
            // could discard it in flight).
            ::shutdown(down.to, SHUT_WR);
            ::close(down.to);
        }
    }
    Flow down, up;
    bool reset = false; // on an error: close both with a reset
    bool cut = false;   // cut_after(): reset the source, end the destination
    bool done() const { return reset || cut || (down.shut && up.shut); }
};

// A socket connected to 127.0.0.1:port, non-blocking; -1 if it cannot be.
int connect_to(uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback_address(port);
    if (fd < 0 || port == 0 ||
        ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    int flags = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof(flags));
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

} // namespace

FaultRelay::FaultRelay()
{
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a = loopback_address(0);
    socklen_t len = sizeof(a);
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0 ||
        ::listen(listen_fd_, 64) < 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len) < 0) {
        int e = errno;
        if (listen_fd_ >= 0) {
            ::close(listen_fd_);
        }
        throw std::system_error(e, std::generic_category(),
                                "fault relay: listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        int e = errno;
        ::close(listen_fd_);
        throw std::system_error(e, std::generic_category(), "eventfd");
    }
    thread_ = std::thread([this] { run(); });
}

FaultRelay::~FaultRelay()
{
    stop_ = true;
    change([](Faults &) {});
    thread_.join();
    ::close(wake_fd_);
    ::close(listen_fd_);
}

template <typename F> void FaultRelay::change(F &&f)
{
    {
        std::lock_guard<std::mutex> g(lock_);
        f(faults_);
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void FaultRelay::set_target(uint16_t port)
{
    change([&](Faults &f) { f.target = port; });
}

void FaultRelay::throttle(uint64_t bytes_per_s)
{
    change([&](Faults &f) { f.rate = bytes_per_s; });
}

void FaultRelay::delay(Millis latency)
{
    change([&](Faults &f) { f.latency = latency; });
}

void FaultRelay::stall(bool on)
{
    change([&](Faults &f) { f.stalled = on; });
}

void FaultRelay::cut_after(uint64_t n)
{
    change([&](Faults &f) { f.cut_at = forwarded_ + n; });
}

void FaultRelay::flip_at(uint64_t n, uint8_t mask)
{
    change([&](Faults &f) {
        f.flip_at = read_ + n;
        f.flip_mask = mask;
    });
}

void FaultRelay::clear()
{
    change([](Faults &f) {
        const uint16_t target = f.target;
        f = Faults{};
        f.target = target;
    });
}

void FaultRelay::run()
{
    std::vector<std::unique_ptr<Link>> links;
    double tokens = 0;
    auto refilled = Clock::now();
    std::vector<char> buf(1 << 16);

    while (!stop_) {
        Faults f;
        {
            std::lock_guard<std::mutex> g(lock_);
            f = faults_;
        }
        auto now = Clock::now();
        // Throttled, bytes go out in sends of at least `quantum` (16 KiB, or
        // the burst when smaller), bursts of at most 50 ms of the rate.
        const double burst = std::max(16384.0, static_cast<double>(f.rate) / 20);
        const double quantum = std::min(16384.0, burst);
        if (f.rate) {
            tokens = std::min(burst, tokens + f.rate *
                              std::chrono::duration<double>(now - refilled).count());
        }
        refilled = now;

        // What to wait for: new connections, a change, and per flow
        // room to read and a due piece to write.
        std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
        std::vector<std::pair<Flow *, bool>> what{{nullptr, false}, {nullptr, false}};
        auto wake_at = now + Millis(100);
        for (auto &l : links) {
            for (Flow *fl : {&l->down, &l->up}) {
                const bool held = fl->downstream && f.stalled;
                if (!fl->eof && fl->queued < max_queued && !held) {
                    fds.push_back({fl->from, POLLIN, 0});
                    what.push_back({fl, false});
                }
                if (fl->queue.empty() || held) {
                    continue;
                }
                if (fl->queue.front().due > now) {
                    wake_at = std::min(wake_at, fl->queue.front().due);
                } else if (fl->downstream && f.rate && tokens < quantum) {
                    const auto refill = std::chrono::duration<double>(
                        (quantum - tokens) / static_cast<double>(f.rate));
                    wake_at = std::min(wake_at, now + std::chrono::duration_cast<
                                                          Clock::duration>(refill));
                } else {
                    fds.push_back({fl->to, POLLOUT, 0});
                    what.push_back({fl, true});
                }
            }
        }
        auto wait = std::chrono::duration_cast<Millis>(wake_at - now).count();
        if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(wait, 1))) < 0) {
            continue; // EINTR
        }
        if (fds[0].revents) {
            // A change: take it before anything else happens (the events
            // polled for are still there on the next poll).
            uint64_t n;
            [[maybe_unused]] ssize_t r = ::read(wake_fd_, &n, sizeof(n));
            continue;
        }
        if (fds[1].revents & POLLIN) {
            int src;
            while ((src = ::accept4(listen_fd_, nullptr, nullptr,
                                    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                int dst = connect_to(f.target);
                if (dst < 0) {
                    reset_close(src);
                    continue;
                }
                ++connections_;
                links.push_back(std::make_unique<Link>(src, dst));
            }
        }
        bool cut = false;
        for (size_t i = 2; i < fds.size() && !cut; ++i) {
            if (!fds[i].revents) {
                continue;
            }
            auto [fl, writing] = what[i];
            Link *l = nullptr;
            for (auto &ln : links) {
                if (fl == &ln->down || fl == &ln->up) {
                    l = ln.get();
                }
            }
            if (!writing) {
                ssize_t n = ::recv(fl->from, buf.data(), buf.size(), 0);
                if (n > 0) {
                    if (fl->downstream) {
                        const uint64_t base = read_;
                        if (f.flip_at >= base && f.flip_at < base + n) {
                            buf[f.flip_at - base] ^= static_cast<char>(f.flip_mask);
                            ++flips_;
                            std::lock_guard<std::mutex> g(lock_);
                            faults_.flip_at = UINT64_MAX;
                        }
                        read_ += n;
                    }
                    const auto due = fl->downstream ? now + f.latency : now;
                    fl->queue.push_back({due, std::string(buf.data(), n)});
                    fl->queued += n;
                } else if (n == 0) {
                    fl->eof = true;
                } else if (errno != EAGAIN && errno != EINTR) {
                    l->reset = true;
                }
                continue;
            }
            Piece &p = fl->queue.front();
            size_t len = p.data.size() - p.done;
            if (fl->downstream) {
                if (f.rate) {
                    len = std::min(len, static_cast<size_t>(tokens));
                }
                if (f.cut_at != UINT64_MAX) {
                    len = std::min<uint64_t>(len, f.cut_at - std::min(f.cut_at, forwarded_.load()));
                }
            }
            ssize_t n = len ? ::send(fl->to, p.data.data() + p.done, len,
                                     MSG_NOSIGNAL)
                            : 0;
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    l->reset = true;
                }
                continue;
            }
            p.done += n;
            fl->queued -= n;
            if (p.done == p.data.size()) {
                fl->queue.pop_front();
            }
            if (fl->downstream) {
                forwarded_ += n;
                if (f.rate) {
                    tokens -= n;
                }
                cut = forwarded_ >= f.cut_at;
            }
        }
        if (cut) {
            for (auto &l : links) {
                l->cut = true;
            }
            ++cuts_;
            std::lock_guard<std::mutex> g(lock_);
            faults_.cut_at = UINT64_MAX;
        }
        for (auto &l : links) {
            for (Flow *fl : {&l->down, &l->up}) {
                if (fl->eof && fl->queue.empty() && !fl->shut) {
                    ::shutdown(fl->to, SHUT_WR);
                    fl->shut = true;
                }
            }
        }
        std::erase_if(links, [](const auto &l) { return l->done(); });
    }
}

} // namespace miglab

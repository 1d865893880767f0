// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

#include "miglab/qmp.h"

namespace miglab {

// A loopback TCP relay between a migration's source and its destination
// that can be told to misbehave while the migration runs: every
// connection made to port() (the main channel, multifd channels, the
// return path) is forwarded to the target port. The faults act on the
// source-to-destination bytes (the migration stream); what comes back is
// passed through. Without a fault the relay only forwards.
//
// One thread, started with the object and joined when it goes; every
// connection is closed then.
class FaultRelay {
public:
    FaultRelay();
    ~FaultRelay();
    FaultRelay(const FaultRelay &) = delete;
    FaultRelay &operator=(const FaultRelay &) = delete;

    // Where the source connects (127.0.0.1).
    uint16_t port() const { return port_; }
    // Where new connections go (127.0.0.1); set before the source connects.
    void set_target(uint16_t port);

    // At most this many bytes per second, over all connections; 0: no cap.
    void throttle(uint64_t bytes_per_s);
    // Each piece of the stream reaches the destination this late.
    void delay(Millis latency);
    // Nothing more reaches the destination until stall(false); the
    // connections stay open and the source's socket buffers fill.
    void stall(bool on);
    // Once n more bytes have been sent to the destination, every
    // connection is cut: the source's is reset, the destination's ends
    // after those bytes (as a link that goes away). Later connections are
    // forwarded.
    void cut_after(uint64_t n);
    // The byte n bytes further into the stream (counted over all
    // connections, in the order the relay reads them) is XORed with mask.
    void flip_at(uint64_t n, uint8_t mask = 0xff);
    // No fault from now on (a cut or flip not reached yet is dropped).
    void clear();

    // Bytes that have reached the destination so far.
    uint64_t forwarded() const { return forwarded_; }
    // Connections accepted so far.
    unsigned connections() const { return connections_; }
    // Times cut_after() reset the connections, and bytes flipped.
    unsigned cuts() const { return cuts_; }
    unsigned flips() const { return flips_; }

private:
    struct Faults {
        uint64_t rate = 0;
        Millis latency{0};
        bool stalled = false;
        uint64_t cut_at = UINT64_MAX;  // in forwarded_ bytes
        uint64_t flip_at = UINT64_MAX; // in bytes read from sources
        uint8_t flip_mask = 0;
        uint16_t target = 0;
    };
    template <typename F> void change(F &&f);
    void run();

    int listen_fd_ = -1;
    int wake_fd_ = -1;
    uint16_t port_ = 0;
    std::mutex lock_;
    Faults faults_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> forwarded_{0};
    std::atomic<uint64_t> read_{0};
    std::atomic<unsigned> connections_{0};
    std::atomic<unsigned> cuts_{0};
    std::atomic<unsigned> flips_{0};
    std::thread thread_;
};

} // namespace miglab

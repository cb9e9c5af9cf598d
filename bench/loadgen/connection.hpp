#pragma once
// One MQTT connection of the load generator: a non-blocking loopback TCP socket,
// an output buffer and our stream decoder. No Asio, no threads: the generator
// must cost far less per message than the broker it measures.
#include <sys/epoll.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace loadgen {

struct connection {
    int fd = -1;
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    mqtt::stream_decoder decoder;
    std::string out;         // bytes not yet written
    std::size_t out_off = 0; // first unwritten byte of `out`
    bool want_write = false; // EPOLLOUT armed
    bool dirty = false;      // listed for the next flush
    bool closed = false;

    explicit connection(mqtt::protocol_version v) : version(v), decoder(mqtt::max_packet_size, v) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() { close(); }

    // Appends the encoding of `p`; false if the codec refused it (a bug here).
    bool send(const mqtt::packet& p);
    std::size_t pending() const noexcept { return out.size() - out_off; }
    void close() noexcept;
};

// Blocking connect to host:port (then switched to non-blocking, TCP_NODELAY).
// Returns the fd or -1 with errno set.
int connect_tcp(const std::string& host, std::uint16_t port);

// Reads one buffer's worth into the decoder: bytes read, 0 when nothing is
// available, -1 on EOF or error. Callers take the packets out after each call:
// the decoder's buffer then stays small (it grows by exactly what is missing, so
// feeding a large backlog before decoding it costs quadratic copying).
long read_some(connection& c);

// The epoll set every connection is registered with.
class poller {
public:
    poller();
    ~poller();
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;

    bool add(connection& c);
    // Lists `c` for the next flush (after new output was appended).
    void mark_dirty(connection& c);
    // Writes what is pending on every listed connection; arms EPOLLOUT where the
    // socket is full. Returns the number of connections that failed (now closed).
    int flush();

    // Waits up to timeout_ns (epoll_pwait2: a 10k msg/s schedule needs better
    // than millisecond timeouts); writes on writable connections, calls
    // on_read(c) for readable ones. Returns the number of events or -1.
    template <class F>
    int wait(long timeout_ns, F&& on_read)
    {
        timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
        int n = epoll_pwait2(ep_, events_.data(), static_cast<int>(events_.size()), &ts, nullptr);
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<connection*>(events_[static_cast<std::size_t>(i)].data.ptr);
            std::uint32_t mask = events_[static_cast<std::size_t>(i)].events;
            if (c->closed)
                continue;
            if ((mask & EPOLLOUT) != 0u)
                write_some(*c);
            if ((mask & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0u)
                on_read(*c);
        }
        return n;
    }

private:
    bool write_some(connection& c);
    void set_write_interest(connection& c, bool on);

    int ep_ = -1;
    std::vector<connection*> dirty_;
    std::vector<epoll_event> events_;
};

} // namespace loadgen

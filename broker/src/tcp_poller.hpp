#pragma once
// Readiness of the broker's plain TCP connections, kept outside Asio's reactor:
// one edge-triggered epoll set per I/O thread, nested in that thread's
// io_context as a single descriptor.
//
// Why: a readiness wait through Asio costs an operation object and an
// epoll_ctl per wait, once per read (its waits are never speculative), and a
// pending operation per idle connection. Here a socket is registered once for
// its lifetime, one wake serves every socket that became ready, and an idle
// connection holds nothing in user space but its registration.
#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

namespace mqtt::broker::detail {

class tcp_poller : public std::enable_shared_from_this<tcp_poller> {
public:
    // Runs on the io_context's thread with the events of one wake; each
    // event's data.u64 is the key given to add().
    using handler = std::function<void(const epoll_event* events, std::size_t count)>;

    // Null (with `ec` set) when no epoll set could be created.
    static std::shared_ptr<tcp_poller> create(boost::asio::io_context& ctx, handler on_events,
        boost::system::error_code& ec);

    tcp_poller(boost::asio::io_context& ctx, int epoll_fd, handler on_events);
    tcp_poller(const tcp_poller&) = delete;
    tcp_poller& operator=(const tcp_poller&) = delete;

    // Watches `fd` (non-blocking, connected) for input, output space and the
    // peer's close, edge-triggered: an event means "something changed since
    // you last drained it". Registered sockets keep the io_context running.
    boost::system::error_code add(int fd, std::uint64_t key);
    // Before the socket is closed.
    void remove(int fd) noexcept;
    // No more events; the pending wait ends (call on the io_context's thread,
    // or once it no longer runs).
    void close() noexcept;

    std::size_t registered() const noexcept { return count_; }

private:
    void arm();
    void on_wake(const boost::system::error_code& ec);

    boost::asio::posix::stream_descriptor descriptor_; // owns the epoll set
    handler on_events_;
    std::size_t count_ = 0;
    bool armed_ = false;
    bool closed_ = false;
    std::array<epoll_event, 256> events_{};
};

} // namespace mqtt::broker::detail

// The broker's readiness poller for plain TCP connections (broker/src/tcp_poller.hpp),
// on a socket pair: events carry the registered key, arrive once per change
// (edge-triggered), report the peer's close, and an io_context whose poller
// watches nothing runs out of work (the server's shutdown relies on it).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "tcp_poller.hpp"

namespace {

using mqtt::broker::detail::tcp_poller;

struct socket_pair {
    int ours = -1;
    int peer = -1;
    socket_pair()
    {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        ours = fds[0];
        peer = fds[1];
    }
    ~socket_pair()
    {
        if (ours >= 0)
            ::close(ours);
        if (peer >= 0)
            ::close(peer);
    }
    void send(const char* text) const { REQUIRE(::write(peer, text, std::strlen(text)) > 0); }
    std::size_t drain() const
    {
        char buf[256];
        std::size_t total = 0;
        for (;;) {
            auto n = ::read(ours, buf, sizeof buf);
            if (n <= 0)
                return total;
            total += static_cast<std::size_t>(n);
        }
    }
};

struct seen {
    std::uint64_t key;
    std::uint32_t events;
};

std::shared_ptr<tcp_poller> make_poller(boost::asio::io_context& io, std::vector<seen>& log)
{
    boost::system::error_code ec;
    auto p = tcp_poller::create(io, [&log](const epoll_event* events, std::size_t count) {
        for (std::size_t i = 0; i < count; ++i)
            log.push_back({events[i].data.u64, events[i].events});
    }, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p);
    return p;
}

std::size_t inputs(const std::vector<seen>& log)
{
    std::size_t n = 0;
    for (auto& s : log)
        n += (s.events & EPOLLIN) != 0;
    return n;
}

} // namespace

TEST_CASE("tcp_poller reports input with the registered key, once per arrival", "[tcp_poller]")
{
    boost::asio::io_context io;
    std::vector<seen> log;
    auto poller = make_poller(io, log);
    socket_pair sp;
    REQUIRE_FALSE(poller->add(sp.ours, 0x1234'0000'0042ull));
    CHECK(poller->registered() == 1);

    sp.send("CONNECT");
    io.run_for(std::chrono::seconds(5));
    REQUIRE(inputs(log) == 1);
    CHECK(log.back().key == 0x1234'0000'0042ull);

    // Not read, nothing new: no second report (edge-triggered).
    io.restart();
    io.poll();
    CHECK(inputs(log) == 1);

    // New bytes: reported again, even though the old ones are still unread.
    sp.send("PUBLISH");
    io.restart();
    io.run_for(std::chrono::seconds(5));
    CHECK(inputs(log) == 2);
    CHECK(sp.drain() == 14);
    poller->remove(sp.ours);
}

TEST_CASE("tcp_poller reports the peer's close", "[tcp_poller]")
{
    boost::asio::io_context io;
    std::vector<seen> log;
    auto poller = make_poller(io, log);
    socket_pair sp;
    REQUIRE_FALSE(poller->add(sp.ours, 7));
    ::close(sp.peer);
    sp.peer = -1;
    io.run_for(std::chrono::seconds(5));
    REQUIRE_FALSE(log.empty());
    CHECK((log.back().events & EPOLLRDHUP) != 0);
    CHECK(log.back().key == 7);
    poller->remove(sp.ours);
}

TEST_CASE("an io_context whose tcp_poller watches nothing runs out of work", "[tcp_poller]")
{
    boost::asio::io_context io;
    std::vector<seen> log;
    auto poller = make_poller(io, log);
    socket_pair a;
    socket_pair b;
    REQUIRE_FALSE(poller->add(a.ours, 1));
    REQUIRE_FALSE(poller->add(b.ours, 2));
    poller->remove(a.ours);
    CHECK(poller->registered() == 1);
    io.poll();
    CHECK_FALSE(io.stopped()); // still watching b

    poller->remove(b.ours);
    CHECK(poller->registered() == 0);
    io.run_for(std::chrono::seconds(5));
    CHECK(io.stopped());
    CHECK(inputs(log) == 0); // registration reports room for output, nothing more

    // Watching again after the wait ended.
    io.restart();
    REQUIRE_FALSE(poller->add(a.ours, 3));
    a.send("x");
    io.run_for(std::chrono::seconds(5));
    REQUIRE(inputs(log) == 1);
    CHECK(log.back().key == 3);
    poller->remove(a.ours);
}

TEST_CASE("a closed tcp_poller reports nothing and refuses new sockets", "[tcp_poller]")
{
    boost::asio::io_context io;
    std::vector<seen> log;
    auto poller = make_poller(io, log);
    socket_pair sp;
    REQUIRE_FALSE(poller->add(sp.ours, 9));
    poller->close();
    sp.send("late");
    io.run_for(std::chrono::seconds(5));
    CHECK(io.stopped());
    CHECK(log.empty()); // not even the output room reported at registration
    CHECK(poller->add(sp.ours, 10) == boost::asio::error::operation_aborted);
}

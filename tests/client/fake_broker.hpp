#pragma once
// An in-process fake broker for client tests: an acceptor on 127.0.0.1:0 whose
// connections are driven by a test script (a coroutine) that reads and writes
// packets with the core's codec. Everything runs on one io_context, one thread;
// every wait is bounded by the harness deadline.
#include <array>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include "mqtt/client/client.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace mqtt::test {

namespace net = boost::asio;
using net::awaitable;
using net::use_awaitable;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Catch macros must not contain co_await (GCC 12 miscompiles it): await first.
#define CHECK_CLOSED(conn)                                \
    do {                                                  \
        const bool closed_by_client = co_await (conn).expect_close(); \
        CHECK(closed_by_client);                          \
    } while (false)

inline std::string packet_name(const packet& p) { return std::string(to_string(type_of(p))); }

// A failed check inside the fake broker. Its scripts may run on another thread
// than the test (io_context runners), where Catch's macros must not be used, even
// passing ones: the exception ends the script, the harness keeps it and the test
// rethrows it on its own thread (harness::finish), and Catch reports it there.
inline void broker_check(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("fake broker: " + what);
}

// One accepted client connection.
class broker_connection {
public:
    explicit broker_connection(tcp::socket s) : socket_(std::move(s)), decoder_(max_packet_size, std::nullopt) {}

    protocol_version version() const noexcept { return version_; }
    void set_version(protocol_version v) noexcept
    {
        version_ = v;
        decoder_.set_version(v);
    }

    // The next packet, or nullopt once the client closed the connection.
    awaitable<std::optional<packet>> receive()
    {
        while (true) {
            if (auto next = decoder_.next()) {
                broker_check(next->has_value(), "the client sent a malformed packet");
                auto p = std::move(next->value());
                if (auto* c = std::get_if<mqtt::connect>(&p))
                    version_ = c->version;
                co_return p;
            }
            auto [ec, n] = co_await socket_.async_read_some(net::buffer(buf_), net::as_tuple(use_awaitable));
            if (ec)
                co_return std::nullopt;
            decoder_.feed(std::string_view(buf_.data(), n));
        }
    }

    // The next packet, which must be a P.
    template <class P>
    awaitable<P> expect()
    {
        auto p = co_await receive();
        broker_check(p.has_value(), "the client closed the connection, a packet was expected");
        broker_check(std::holds_alternative<P>(*p), "received " + packet_name(*p) + ", another packet was expected");
        co_return std::get<P>(std::move(*p));
    }

    // Skips PINGREQ (answering it) until another packet comes.
    template <class P>
    awaitable<P> expect_skipping_pings()
    {
        while (true) {
            auto p = co_await receive();
            broker_check(p.has_value(), "the client closed the connection, a packet was expected");
            if (std::holds_alternative<pingreq>(*p)) {
                co_await send(pingresp{});
                continue;
            }
            broker_check(std::holds_alternative<P>(*p), "received " + packet_name(*p) + ", another packet was expected");
            co_return std::get<P>(std::move(*p));
        }
    }

    // True when the client closes the connection before sending anything else.
    awaitable<bool> expect_close()
    {
        auto p = co_await receive();
        if (p)
            UNSCOPED_INFO("unexpected " << packet_name(*p));
        co_return !p.has_value();
    }

    awaitable<void> send(const packet& p)
    {
        std::string out;
        broker_check(!encode(p, version_, out), "cannot encode " + packet_name(p));
        co_await net::async_write(socket_, net::buffer(out), use_awaitable);
    }

    awaitable<void> send_raw(std::string bytes) { co_await net::async_write(socket_, net::buffer(bytes), use_awaitable); }

    void close()
    {
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    tcp::socket socket_;
    stream_decoder decoder_;
    protocol_version version_ = protocol_version::v5;
    std::array<char, 4096> buf_{};
};

class fake_broker {
public:
    explicit fake_broker(net::io_context& ioc) : acceptor_(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    awaitable<broker_connection> accept()
    {
        auto socket = co_await acceptor_.async_accept(use_awaitable);
        socket.set_option(tcp::no_delay(true));
        co_return broker_connection(std::move(socket));
    }

    // Accepts, reads CONNECT, answers CONNACK (success unless told otherwise).
    awaitable<broker_connection> accept_session(connack ack = {}, mqtt::connect* received = nullptr)
    {
        auto conn = co_await accept();
        auto c = co_await conn.expect<mqtt::connect>();
        if (received)
            *received = c;
        co_await conn.send(ack);
        co_return conn;
    }

    void close() { acceptor_.close(); }

private:
    tcp::acceptor acceptor_;
};

// An io_context, a fake broker, scripts and a deadline.
struct harness {
    net::io_context ioc;
    fake_broker broker{ioc};
    std::exception_ptr failure;
    int scripts_running = 0;

    client_options options(protocol_version v = protocol_version::v5)
    {
        client_options o;
        o.endpoint.host = "127.0.0.1";
        o.endpoint.port = broker.port();
        o.connect.version = v;
        o.connect.client_id = "test-client";
        o.connect.keep_alive = 0;
        o.connect.connect_timeout = 5s;
        o.reconnect.enabled = false;
        o.reconnect.initial_delay = 1ms;
        o.reconnect.max_delay = 10ms;
        return o;
    }

    void spawn(std::function<awaitable<void>()> script)
    {
        ++scripts_running;
        net::co_spawn(ioc, std::move(script), [this](std::exception_ptr e) {
            --scripts_running;
            if (e && !failure)
                failure = e;
        });
    }

    // Runs until `done` holds (fails after `limit`); scripts may still be running.
    void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s)
    {
        run_while([&] { return !done(); }, limit);
        REQUIRE(done());
    }

    // Runs until every script has finished (fails after `limit`).
    void finish(std::chrono::milliseconds limit = 10s)
    {
        run_while([&] { return scripts_running != 0; }, limit);
        REQUIRE(scripts_running == 0);
    }

    void run_while(const std::function<bool()>& busy, std::chrono::milliseconds limit)
    {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (busy() && !failure && std::chrono::steady_clock::now() < deadline) {
            if (ioc.stopped())
                ioc.restart();
            ioc.run_one_for(50ms);
        }
        if (failure)
            std::rethrow_exception(failure);
    }

    // Lets queued handlers run (e.g. after stop()).
    void settle()
    {
        if (ioc.stopped())
            ioc.restart();
        ioc.poll();
    }
};

// Records what callbacks received.
template <class T>
struct outcome {
    bool done = false;
    std::error_code ec;
    T value{};
    auto handler()
    {
        return [this](std::error_code e, T v) {
            done = true;
            ec = e;
            value = std::move(v);
        };
    }
};

} // namespace mqtt::test

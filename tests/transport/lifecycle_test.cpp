// Connection failures, timeouts, executors and the lifetime of streams with
// operations in flight.
#include <catch2/catch.hpp>

#include <boost/asio/strand.hpp>

#include "test_pki.hpp"
#include "test_support.hpp"

using namespace transport_test;

namespace {

std::shared_ptr<t::server_tls_context> server_tls()
{
    const auto& pki = test_pki::get();
    t::tls_options o;
    o.cert_file = pki.server_cert;
    o.key_file = pki.server_key;
    std::string error;
    auto ctx = t::make_server_tls_context(o, error);
    INFO(error);
    REQUIRE(ctx != nullptr);
    return ctx;
}

} // namespace

TEST_CASE("connect: a refused connection is an error code, never inline", "[transport]")
{
    asio::io_context io;
    std::uint16_t port = 0;
    {
        listener closed_soon(io); // take a free port, then free it
        port = closed_soon.port();
    }
    t::endpoint ep;
    ep.kind = GENERATE(t::scheme::tcp, t::scheme::tls, t::scheme::ws, t::scheme::wss);
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.tls.verify_peer = false;
    connection_pair p;
    connect_one(io, ep, p);
    CHECK_FALSE(p.client_done);
    REQUIRE(run_until(io, [&] { return p.client_done; }));
    CHECK(p.client_ec == asio::error::connection_refused);
    CHECK(p.client == nullptr);
}

TEST_CASE("connect and stream handlers run on the given strand", "[transport]")
{
    asio::io_context io;
    auto strand = asio::make_strand(io);
    listener l(io);
    const auto kind = GENERATE(t::scheme::tcp, t::scheme::wss);
    std::shared_ptr<t::server_tls_context> tls = t::uses_tls(kind) ? server_tls() : nullptr;
    connection_pair p;
    accept_one(l, kind, tls, p);

    t::endpoint ep = endpoint_for(kind, l);
    ep.tls.ca_file = test_pki::get().ca_file;
    bool connect_on_strand = false;
    t::async_connect(strand, ep, [&](error_code ec, std::unique_ptr<t::stream> s) {
        connect_on_strand = strand.running_in_this_thread();
        p.client_ec = ec;
        p.client = std::move(s);
        p.client_done = true;
    });
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    REQUIRE_FALSE(p.client_ec);
    CHECK(connect_on_strand);

    std::array<char, 8> buf{};
    bool read_on_strand = false;
    bool read_done = false;
    p.client->async_read_some(asio::buffer(buf), [&](error_code, std::size_t) {
        read_on_strand = strand.running_in_this_thread();
        read_done = true;
    });
    auto w = write_parts(*p.server, {"x"});
    REQUIRE(run_until(io, [&] { return read_done && w->done; }));
    CHECK(read_on_strand);
}

TEST_CASE("connect_timeout ends a handshake the server never answers", "[transport]")
{
    asio::io_context io;
    listener silent(io); // the kernel completes TCP connects; nobody speaks TLS
    t::endpoint ep = endpoint_for(GENERATE(t::scheme::tls, t::scheme::ws), silent);
    ep.tls.verify_peer = false;
    ep.connect_timeout = std::chrono::milliseconds(50);
    connection_pair p;
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.client_done; }));
    CHECK(p.client_ec == asio::error::timed_out);
    CHECK(p.client == nullptr);
}

TEST_CASE("accept: the handshake timeout drops a silent client", "[transport]")
{
    asio::io_context io;
    listener l(io);
    const auto kind = GENERATE(t::scheme::tls, t::scheme::ws, t::scheme::wss);
    connection_pair p;
    accept_one(l, kind, t::uses_tls(kind) ? server_tls() : nullptr, p, std::chrono::milliseconds(50));
    tcp::socket silent(io);
    silent.async_connect({asio::ip::make_address("127.0.0.1"), l.port()}, [](error_code) {});
    REQUIRE(run_until(io, [&] { return p.server_done; }));
    CHECK(p.server_ec == asio::error::timed_out);
    CHECK(p.server == nullptr);
}

TEST_CASE("accept: TLS without a server context is refused", "[transport]")
{
    asio::io_context io;
    listener l(io);
    connection_pair p;
    accept_one(l, GENERATE(t::scheme::tls, t::scheme::wss), nullptr, p);
    tcp::socket client(io);
    client.async_connect({asio::ip::make_address("127.0.0.1"), l.port()}, [](error_code) {});
    REQUIRE(run_until(io, [&] { return p.server_done; }));
    CHECK(p.server_ec == t::transport_errc::no_tls_context);
}

TEST_CASE("accept: plain TCP completes outside the initiating call", "[transport][tcp]")
{
    asio::io_context io;
    listener l(io);
    tcp::socket client(io);
    bool connected = false;
    client.async_connect({asio::ip::make_address("127.0.0.1"), l.port()}, [&](error_code) { connected = true; });
    tcp::socket accepted(io);
    bool socket_ready = false;
    l.acceptor.async_accept(accepted, [&](error_code) { socket_ready = true; });
    REQUIRE(run_until(io, [&] { return connected && socket_ready; }));

    connection_pair p;
    t::async_accept(std::move(accepted), t::scheme::tcp, nullptr, [&](error_code ec, std::unique_ptr<t::stream> s) {
        p.server_ec = ec;
        p.server = std::move(s);
        p.server_done = true;
    });
    CHECK_FALSE(p.server_done);
    REQUIRE(run_until(io, [&] { return p.server_done; }));
    REQUIRE_FALSE(p.server_ec);
    CHECK(p.server->kind() == t::scheme::tcp);
}

TEST_CASE("destroying a stream with operations in flight is safe", "[transport]")
{
    asio::io_context io;
    listener l(io);
    const auto kind = GENERATE(t::scheme::tcp, t::scheme::tls, t::scheme::ws, t::scheme::wss);
    std::shared_ptr<t::server_tls_context> tls = t::uses_tls(kind) ? server_tls() : nullptr;
    connection_pair p;
    accept_one(l, kind, tls, p);
    t::endpoint ep = endpoint_for(kind, l);
    ep.tls.ca_file = test_pki::get().ca_file;
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    REQUIRE(p.client);
    REQUIRE(p.server);

    auto buf = std::make_shared<std::array<char, 16>>();
    error_code read_ec;
    bool read_done = false;
    p.client->async_read_some(asio::buffer(*buf), [&, buf](error_code ec, std::size_t) {
        read_ec = ec;
        read_done = true;
    });
    const std::string big = pattern(4 * 1024 * 1024, 3); // more than the socket buffers hold
    error_code write_ec;
    bool write_done = false;
    const asio::const_buffer out = asio::buffer(big);
    p.client->async_write({&out, 1}, [&](error_code ec, std::size_t) {
        write_ec = ec;
        write_done = true;
    });
    p.client.reset();
    REQUIRE(run_until(io, [&] { return read_done && write_done; }));
    CHECK(read_ec == asio::error::operation_aborted);
    CHECK(write_ec == asio::error::operation_aborted);
}

TEST_CASE("a zero-byte read completes at once", "[transport][tcp]")
{
    asio::io_context io;
    listener l(io);
    connection_pair p;
    accept_one(l, t::scheme::tcp, nullptr, p);
    connect_one(io, endpoint_for(t::scheme::tcp, l), p);
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    REQUIRE(p.client);
    bool done = false;
    std::size_t got = 99;
    error_code ec = asio::error::eof;
    p.client->async_read_some(asio::mutable_buffer(), [&](error_code e, std::size_t n) {
        ec = e;
        got = n;
        done = true;
    });
    REQUIRE(run_until(io, [&] { return done; }));
    CHECK_FALSE(ec);
    CHECK(got == 0);
}

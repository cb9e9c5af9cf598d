// Reading without a buffer held while idle: async_wait_readable + read_some_now,
// which the broker uses so that a quiet TCP connection holds no read buffer.
#include <catch2/catch.hpp>

#include "test_pki.hpp"
#include "test_support.hpp"

using namespace transport_test;

namespace {

struct tcp_pair {
    asio::io_context io;
    listener l{io};
    connection_pair p;

    tcp_pair()
    {
        accept_one(l, t::scheme::tcp, nullptr, p);
        connect_one(io, endpoint_for(t::scheme::tcp, l), p);
        REQUIRE(run_until(io, [&] { return p.both_done(); }));
        REQUIRE(p.client);
        REQUIRE(p.server);
    }
};

} // namespace

TEST_CASE("tcp: wait for readable, then read what is there without blocking", "[transport][tcp]")
{
    tcp_pair x;
    std::array<char, 64> buf{};
    error_code ec;
    CHECK(x.p.server->read_some_now(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::would_block); // nothing sent yet

    bool ready = false;
    error_code wait_ec = asio::error::fault;
    REQUIRE(x.p.server->async_wait_readable([&](error_code e) {
        wait_ec = e;
        ready = true;
    }));
    auto w = write_parts(*x.p.client, {"hello", " world"});
    REQUIRE(run_until(x.io, [&] { return ready && w->done; }));
    CHECK_FALSE(wait_ec);
    std::string got;
    while (got.size() < 11) {
        auto n = x.p.server->read_some_now(asio::buffer(buf), ec);
        if (ec == asio::error::would_block) {
            ready = false;
            REQUIRE(x.p.server->async_wait_readable([&](error_code) { ready = true; }));
            REQUIRE(run_until(x.io, [&] { return ready; }));
            continue;
        }
        REQUIRE_FALSE(ec);
        got.append(buf.data(), n);
    }
    CHECK(got == "hello world");
    CHECK(x.p.server->read_some_now(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::would_block); // drained
}

TEST_CASE("tcp: the peer's close wakes the wait and reads as eof", "[transport][tcp]")
{
    tcp_pair x;
    bool ready = false;
    REQUIRE(x.p.server->async_wait_readable([&](error_code) { ready = true; }));
    x.p.client->close();
    REQUIRE(run_until(x.io, [&] { return ready; }));
    std::array<char, 16> buf{};
    error_code ec;
    CHECK(x.p.server->read_some_now(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::eof);
}

TEST_CASE("tcp: close aborts a pending wait", "[transport][tcp]")
{
    tcp_pair x;
    bool ready = false;
    error_code wait_ec;
    REQUIRE(x.p.server->async_wait_readable([&](error_code e) {
        wait_ec = e;
        ready = true;
    }));
    x.p.server->close();
    REQUIRE(run_until(x.io, [&] { return ready; }));
    CHECK(wait_ec == asio::error::operation_aborted);
    std::array<char, 16> buf{};
    error_code ec;
    x.p.server->read_some_now(asio::buffer(buf), ec);
    CHECK(ec == asio::error::operation_aborted);
}

TEST_CASE("tls and websocket streams do not offer the readiness wait", "[transport]")
{
    asio::io_context io;
    listener l(io);
    const auto kind = GENERATE(t::scheme::tls, t::scheme::ws, t::scheme::wss);
    const auto& pki = test_pki::get();
    std::shared_ptr<t::server_tls_context> tls;
    if (t::uses_tls(kind)) {
        t::tls_options o;
        o.cert_file = pki.server_cert;
        o.key_file = pki.server_key;
        std::string error;
        tls = t::make_server_tls_context(o, error);
        REQUIRE(tls);
    }
    connection_pair p;
    accept_one(l, kind, tls, p);
    t::endpoint ep = endpoint_for(kind, l);
    ep.tls.ca_file = pki.ca_file;
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    REQUIRE(p.server);
    bool called = false;
    CHECK_FALSE(p.server->async_wait_readable([&](error_code) { called = true; }));
    std::array<char, 16> buf{};
    error_code ec;
    CHECK(p.server->read_some_now(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::operation_not_supported);
    io.poll();
    CHECK_FALSE(called);
}

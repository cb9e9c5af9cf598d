// Each layer end to end on 127.0.0.1: handshakes, a gather write, 1 MiB both
// ways at once, close with reads pending, and use after close.
#include <catch2/catch.hpp>

#include "test_pki.hpp"
#include "test_support.hpp"

using namespace transport_test;

namespace {

std::shared_ptr<t::server_tls_context> server_tls(const t::tls_options& options = {})
{
    const auto& pki = test_pki::get();
    t::tls_options o = options;
    o.cert_file = pki.server_cert;
    o.key_file = pki.server_key;
    std::string error;
    auto ctx = t::make_server_tls_context(o, error);
    INFO(error);
    REQUIRE(ctx != nullptr);
    CHECK(error.empty());
    return ctx;
}

void check_round_trip(t::scheme kind, const std::string& host)
{
    asio::io_context io;
    listener l(io);
    std::shared_ptr<t::server_tls_context> tls;
    t::endpoint ep = endpoint_for(kind, l, host);
    if (t::uses_tls(kind)) {
        tls = server_tls();
        ep.tls.ca_file = test_pki::get().ca_file;
    }

    connection_pair p;
    accept_one(l, kind, tls, p);
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    INFO("client: " << p.client_ec.message() << ", server: " << p.server_ec.message());
    REQUIRE_FALSE(p.client_ec);
    REQUIRE_FALSE(p.server_ec);
    REQUIRE(p.client != nullptr);
    REQUIRE(p.server != nullptr);

    CHECK(p.client->kind() == kind);
    CHECK(p.server->kind() == kind);
    CHECK(p.client->remote_endpoint() == "127.0.0.1:" + std::to_string(l.port()));
    CHECK(p.server->remote_endpoint().rfind("127.0.0.1:", 0) == 0);
    CHECK(p.client->peer_common_name() == (t::uses_tls(kind) ? "localhost" : ""));
    CHECK(p.server->peer_common_name().empty()); // no client certificate asked for

    SECTION("a gather write arrives as one byte sequence")
    {
        auto r = read_exactly(*p.client, 11);
        auto w = write_parts(*p.server, {"he", "llo ", "", "world"});
        REQUIRE(run_until(io, [&] { return r->done && w->done; }));
        CHECK_FALSE(w->ec);
        CHECK(w->written == 11);
        CHECK_FALSE(r->ec);
        CHECK(r->data == "hello world");
    }

    SECTION("1 MiB each way, reads and writes in flight together")
    {
        const std::string up = pattern(1024 * 1024, 1);
        const std::string down = pattern(1024 * 1024, 2);
        auto server_reads = read_exactly(*p.server, up.size());
        auto client_reads = read_exactly(*p.client, down.size());
        auto client_writes = write_parts(*p.client, {up.substr(0, 5), up.substr(5)});
        auto server_writes = write_parts(*p.server, {down});
        REQUIRE(run_until(io, [&] {
            return server_reads->done && client_reads->done && client_writes->done && server_writes->done;
        }));
        CHECK_FALSE(client_writes->ec);
        CHECK_FALSE(server_writes->ec);
        CHECK(client_writes->written == up.size());
        CHECK(server_writes->written == down.size());
        CHECK_FALSE(server_reads->ec);
        CHECK_FALSE(client_reads->ec);
        CHECK(server_reads->data == up); // CHECK(a == b) on 1 MiB prints a lot only on failure
        CHECK(client_reads->data == down);
    }

    SECTION("close aborts pending reads here and ends the stream there")
    {
        auto client_read = read_exactly(*p.client, 1);
        auto server_read = read_exactly(*p.server, 1);
        p.client->close();
        p.client->close(); // idempotent
        REQUIRE(run_until(io, [&] { return client_read->done && server_read->done; }));
        CHECK(client_read->ec == asio::error::operation_aborted);
        CHECK(client_read->data.empty());
        INFO("server read: " << server_read->ec.message());
        CHECK(server_read->ec == asio::error::eof);
        CHECK(server_read->data.empty());

        auto late_write = write_parts(*p.client, {"x"});
        auto late_read = read_exactly(*p.client, 1);
        REQUIRE(run_until(io, [&] { return late_write->done && late_read->done; }));
        CHECK(late_write->ec == asio::error::operation_aborted);
        CHECK(late_read->ec == asio::error::operation_aborted);
        CHECK(p.client->remote_endpoint() == "127.0.0.1:" + std::to_string(l.port())); // still known
    }
}

} // namespace

TEST_CASE("tcp: connect, exchange and close, an ordered lossless byte stream both ways "
          "[MQTT-4.2.0-1] [MQTT-7.1.1-1] [MQTT-7.1.2-1]",
    "[transport][tcp][MQTT-4.2.0-1][MQTT-7.1.1-1][MQTT-7.1.2-1]")
{
    check_round_trip(t::scheme::tcp, "127.0.0.1");
}

TEST_CASE("tcp: a name resolving to several addresses tries each", "[transport][tcp]")
{
    // "localhost" may resolve to ::1 first; the listener is on 127.0.0.1 only.
    check_round_trip(t::scheme::tcp, "localhost");
}

TEST_CASE("tls: connect, exchange and close, an ordered lossless byte stream both ways "
          "[MQTT-4.2.0-1] [MQTT-7.1.1-1] [MQTT-7.1.2-1]",
    "[transport][tls][MQTT-4.2.0-1][MQTT-7.1.1-1][MQTT-7.1.2-1]")
{
    check_round_trip(t::scheme::tls, "localhost");
}

TEST_CASE("tls: an IP address is verified against the certificate's IP SAN", "[transport][tls]")
{
    check_round_trip(t::scheme::tls, "127.0.0.1");
}

TEST_CASE("ws: connect, exchange and close, an ordered lossless byte stream both ways "
          "[MQTT-4.2.0-1] [MQTT-7.1.1-1] [MQTT-7.1.2-1]",
    "[transport][ws][MQTT-4.2.0-1][MQTT-7.1.1-1][MQTT-7.1.2-1]")
{
    check_round_trip(t::scheme::ws, "127.0.0.1");
}

TEST_CASE("wss: connect, exchange and close, an ordered lossless byte stream both ways "
          "[MQTT-4.2.0-1] [MQTT-7.1.1-1] [MQTT-7.1.2-1]",
    "[transport][wss][MQTT-4.2.0-1][MQTT-7.1.1-1][MQTT-7.1.2-1]")
{
    check_round_trip(t::scheme::wss, "localhost");
}

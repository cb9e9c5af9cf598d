// TLS verification in both directions: host names, trust anchors, --insecure,
// mutual TLS, and configuration errors.
#include <catch2/catch.hpp>

#include "test_pki.hpp"
#include "test_support.hpp"

using namespace transport_test;

namespace {

std::shared_ptr<t::server_tls_context> server_tls(t::tls_options o = {})
{
    const auto& pki = test_pki::get();
    o.cert_file = pki.server_cert;
    o.key_file = pki.server_key;
    std::string error;
    auto ctx = t::make_server_tls_context(o, error);
    INFO(error);
    REQUIRE(ctx != nullptr);
    return ctx;
}

t::tls_options trusting_client()
{
    t::tls_options o;
    o.ca_file = test_pki::get().ca_file;
    return o;
}

// Runs both handshakes to completion.
void handshake(asio::io_context& io, connection_pair& p, t::scheme kind, std::shared_ptr<t::server_tls_context> tls,
    const t::tls_options& client, const std::string& host = "localhost")
{
    listener l(io);
    t::endpoint ep = endpoint_for(kind, l, host);
    ep.tls = client;
    accept_one(l, kind, std::move(tls), p);
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.both_done(); }));
    INFO("client: " << p.client_ec.message() << "; server: " << p.server_ec.message());
    CHECK((p.client != nullptr) == !p.client_ec);
    CHECK((p.server != nullptr) == !p.server_ec);
}

void check_bytes_flow(asio::io_context& io, connection_pair& p)
{
    REQUIRE(p.client);
    REQUIRE(p.server);
    auto r = read_exactly(*p.server, 4);
    auto w = write_parts(*p.client, {"pi", "ng"});
    REQUIRE(run_until(io, [&] { return r->done && w->done; }));
    CHECK_FALSE(r->ec);
    CHECK(r->data == "ping");
}

// The client may finish its TLS 1.3 handshake before the server has judged
// its certificate; the refusal then shows on the first read.
void check_client_refused_by_server(asio::io_context& io, connection_pair& p)
{
    CHECK(p.server_ec);
    if (p.client) {
        auto r = read_exactly(*p.client, 1);
        REQUIRE(run_until(io, [&] { return r->done; }));
        CHECK(r->ec);
    } else {
        CHECK(p.client_ec);
    }
}

} // namespace

TEST_CASE("tls: a certificate naming another host is rejected", "[transport][tls]")
{
    const auto kind = GENERATE(t::scheme::tls, t::scheme::wss);
    asio::io_context io;
    connection_pair p;
    auto client = trusting_client();
    client.server_name = "wrong.example";
    handshake(io, p, kind, server_tls(), client);
    REQUIRE(p.client_ec);
    CHECK(p.client == nullptr);
    CHECK_THAT(p.client_ec.message(), Catch::Contains("certificate verify failed"));
}

TEST_CASE("tls: an IP address not in the certificate is rejected", "[transport][tls]")
{
    asio::io_context io;
    connection_pair p;
    auto client = trusting_client();
    client.server_name = "127.0.0.2"; // the certificate names 127.0.0.1 only
    handshake(io, p, t::scheme::tls, server_tls(), client);
    CHECK(p.client_ec);
}

TEST_CASE("tls: verify_hostname=false accepts a trusted certificate for another name", "[transport][tls]")
{
    asio::io_context io;
    connection_pair p;
    auto client = trusting_client();
    client.server_name = "wrong.example";
    client.verify_hostname = false;
    handshake(io, p, t::scheme::tls, server_tls(), client);
    REQUIRE_FALSE(p.client_ec);
    check_bytes_flow(io, p);
}

TEST_CASE("tls: a server certificate from an untrusted CA is rejected", "[transport][tls]")
{
    const auto kind = GENERATE(t::scheme::tls, t::scheme::wss);
    asio::io_context io;
    connection_pair p;
    t::tls_options client;
    client.ca_file = test_pki::get().other_ca_file;
    handshake(io, p, kind, server_tls(), client);
    REQUIRE(p.client_ec);
    CHECK_THAT(p.client_ec.message(), Catch::Contains("certificate verify failed"));
}

TEST_CASE("tls: without ca_file/ca_path the system store is used, which does not know the test CA",
    "[transport][tls]")
{
    asio::io_context io;
    connection_pair p;
    handshake(io, p, t::scheme::tls, server_tls(), t::tls_options{});
    CHECK(p.client_ec);
}

TEST_CASE("tls: verify_peer=false (--insecure) accepts an untrusted, misnamed certificate", "[transport][tls]")
{
    const auto kind = GENERATE(t::scheme::tls, t::scheme::wss);
    asio::io_context io;
    connection_pair p;
    t::tls_options client;
    client.ca_file = test_pki::get().other_ca_file;
    client.server_name = "wrong.example";
    client.verify_peer = false;
    handshake(io, p, kind, server_tls(), client);
    REQUIRE_FALSE(p.client_ec);
    CHECK(p.client->peer_common_name().empty()); // nothing was verified
    check_bytes_flow(io, p);
}

TEST_CASE("tls: trusted CAs from a hashed directory (ca_path)", "[transport][tls]")
{
    asio::io_context io;
    connection_pair p;
    t::tls_options client;
    client.ca_path = test_pki::get().ca_dir;
    handshake(io, p, t::scheme::tls, server_tls(), client);
    REQUIRE_FALSE(p.client_ec);
    check_bytes_flow(io, p);
}

TEST_CASE("tls: mutual TLS with a required client certificate", "[transport][tls]")
{
    const auto& pki = test_pki::get();
    const auto kind = GENERATE(t::scheme::tls, t::scheme::wss);
    t::tls_options server;
    server.ca_file = pki.ca_file;
    server.require_client_certificate = true;
    asio::io_context io;
    connection_pair p;

    SECTION("without a client certificate the handshake fails")
    {
        handshake(io, p, kind, server_tls(server), trusting_client());
        check_client_refused_by_server(io, p);
    }
    SECTION("a client certificate from another CA fails")
    {
        auto client = trusting_client();
        client.cert_file = pki.other_client_cert;
        client.key_file = pki.other_client_key;
        handshake(io, p, kind, server_tls(server), client);
        check_client_refused_by_server(io, p);
    }
    SECTION("with the client certificate the server learns its Common Name")
    {
        auto client = trusting_client();
        client.cert_file = pki.client_cert;
        client.key_file = pki.client_key;
        handshake(io, p, kind, server_tls(server), client);
        REQUIRE_FALSE(p.client_ec);
        REQUIRE_FALSE(p.server_ec);
        CHECK(p.server->peer_common_name() == client_common_name);
        CHECK(p.client->peer_common_name() == "localhost");
        check_bytes_flow(io, p);
    }
}

TEST_CASE("tls: with a CA but no requirement, client certificates are optional", "[transport][tls]")
{
    const auto& pki = test_pki::get();
    t::tls_options server;
    server.ca_path = pki.ca_dir;
    asio::io_context io;
    connection_pair p;

    SECTION("no certificate: accepted, anonymous")
    {
        handshake(io, p, t::scheme::tls, server_tls(server), trusting_client());
        REQUIRE_FALSE(p.server_ec);
        CHECK(p.server->peer_common_name().empty());
        check_bytes_flow(io, p);
    }
    SECTION("a certificate: verified and named")
    {
        auto client = trusting_client();
        client.cert_file = pki.client_cert;
        client.key_file = pki.client_key;
        handshake(io, p, t::scheme::tls, server_tls(server), client);
        REQUIRE_FALSE(p.server_ec);
        CHECK(p.server->peer_common_name() == client_common_name);
    }
}

TEST_CASE("tls: make_server_tls_context names the file that is wrong", "[transport][tls]")
{
    const auto& pki = test_pki::get();
    t::tls_options o;
    o.cert_file = pki.server_cert;
    o.key_file = pki.server_key;
    std::string error = "stale";

    SECTION("valid files")
    {
        CHECK(t::make_server_tls_context(o, error) != nullptr);
        CHECK(error.empty());
    }
    SECTION("missing certificate file")
    {
        o.cert_file = (pki.dir / "missing.crt").string();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains(o.cert_file));
    }
    SECTION("missing key file")
    {
        o.key_file = (pki.dir / "missing.key").string();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains(o.key_file));
    }
    SECTION("a key that belongs to another certificate")
    {
        o.key_file = pki.client_key;
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains("match") && Catch::Contains(pki.client_key));
    }
    SECTION("a certificate file that holds no certificate")
    {
        o.cert_file = pki.server_key;
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains(pki.server_key));
    }
    SECTION("missing CA file")
    {
        o.ca_file = (pki.dir / "missing-ca.crt").string();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains(o.ca_file));
    }
    SECTION("a CA directory that does not exist")
    {
        o.ca_path = (pki.dir / "no-such-dir").string();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains(o.ca_path));
    }
    SECTION("no certificate or key at all")
    {
        o.cert_file.clear();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains("certificate"));
        o.cert_file = pki.server_cert;
        o.key_file.clear();
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains("key"));
    }
    SECTION("requiring client certificates without a CA")
    {
        o.require_client_certificate = true;
        CHECK(t::make_server_tls_context(o, error) == nullptr);
        CHECK_THAT(error, Catch::Contains("CA"));
    }
}

TEST_CASE("tls: client configuration errors arrive as error codes, asynchronously", "[transport][tls]")
{
    const auto& pki = test_pki::get();
    asio::io_context io;
    t::endpoint ep;
    ep.kind = GENERATE(t::scheme::tls, t::scheme::wss);
    ep.host = "127.0.0.1";
    ep.port = 1; // never reached
    ep.tls.ca_file = pki.ca_file;
    t::error_code expected;

    SECTION("missing CA file")
    {
        ep.tls.ca_file = (pki.dir / "missing-ca.crt").string();
        expected = t::transport_errc::tls_ca_failed;
    }
    SECTION("missing CA directory")
    {
        ep.tls.ca_file.clear();
        ep.tls.ca_path = (pki.dir / "no-such-dir").string();
        expected = t::transport_errc::tls_ca_failed;
    }
    SECTION("missing client certificate")
    {
        ep.tls.cert_file = (pki.dir / "missing.crt").string();
        ep.tls.key_file = pki.client_key;
        expected = t::transport_errc::tls_certificate_failed;
    }
    SECTION("a key without a certificate")
    {
        ep.tls.key_file = pki.client_key;
        expected = t::transport_errc::tls_certificate_failed;
    }
    SECTION("a key that does not match the certificate")
    {
        ep.tls.cert_file = pki.client_cert;
        ep.tls.key_file = pki.server_key;
        expected = t::transport_errc::tls_key_failed;
    }

    connection_pair p;
    connect_one(io, ep, p);
    CHECK_FALSE(p.client_done); // never from inside async_connect
    REQUIRE(run_until(io, [&] { return p.client_done; }));
    CHECK(p.client_ec == expected);
    CHECK(p.client == nullptr);
}

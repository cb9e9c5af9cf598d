// parse_url: schemes, hosts, ports, WebSocket paths and the error messages.
#include <catch2/catch.hpp>

#include "mqtt/transport/stream.hpp"

namespace t = mqtt::transport;

namespace {

struct good_case {
    const char* url;
    t::scheme kind;
    const char* host;
    std::uint16_t port;
    const char* path;
};

struct bad_case {
    const char* url;
    const char* message_part; // the error must say what is wrong
};

} // namespace

TEST_CASE("parse_url accepts every scheme, default ports and paths", "[transport][url]")
{
    const good_case cases[] = {
        {"mqtt://broker.example", t::scheme::tcp, "broker.example", 1883, "/mqtt"},
        {"tcp://broker.example:1884", t::scheme::tcp, "broker.example", 1884, "/mqtt"},
        {"MQTT://Broker.Example/", t::scheme::tcp, "Broker.Example", 1883, "/mqtt"},
        {"mqtts://broker.example", t::scheme::tls, "broker.example", 8883, "/mqtt"},
        {"ssl://10.0.0.1:9000", t::scheme::tls, "10.0.0.1", 9000, "/mqtt"},
        {"tls://host", t::scheme::tls, "host", 8883, "/mqtt"},
        {"ws://host", t::scheme::ws, "host", 80, "/mqtt"},
        {"ws://host:8080/", t::scheme::ws, "host", 8080, "/"},
        {"ws://host:8080/ws/mqtt?token=abc", t::scheme::ws, "host", 8080, "/ws/mqtt?token=abc"},
        {"ws://host?x=1", t::scheme::ws, "host", 80, "/?x=1"},
        {"wss://host", t::scheme::wss, "host", 443, "/mqtt"},
        {"wss://[::1]:8443/mqtt", t::scheme::wss, "::1", 8443, "/mqtt"},
        {"mqtt://[fe80::1%eth0]", t::scheme::tcp, "fe80::1%eth0", 1883, "/mqtt"},
        {"mqtt://[2001:db8::5]:65535", t::scheme::tcp, "2001:db8::5", 65535, "/mqtt"},
        {"localhost", t::scheme::tcp, "localhost", 1883, "/mqtt"},
        {"localhost:1", t::scheme::tcp, "localhost", 1, "/mqtt"},
        {"my_host-1.local", t::scheme::tcp, "my_host-1.local", 1883, "/mqtt"},
    };
    for (const auto& c : cases) {
        INFO(c.url);
        t::endpoint ep;
        ep.tls.ca_file = "kept.pem";
        std::string error;
        REQUIRE(t::parse_url(c.url, ep, error));
        CHECK(ep.kind == c.kind);
        CHECK(ep.host == c.host);
        CHECK(ep.port == c.port);
        CHECK(ep.path == c.path);
        CHECK(ep.tls.ca_file == "kept.pem"); // only the address parts change
    }
}

TEST_CASE("parse_url rejects bad URLs with a clear message", "[transport][url]")
{
    const bad_case cases[] = {
        {"http://host", "unknown scheme 'http'"},
        {"://host", "unknown scheme ''"},
        {"mqtt://", "empty host"},
        {"mqtt://:1883", "empty host"},
        {"ws:///mqtt", "empty host"},
        {"mqtt://[]:1883", "empty host"},
        {"", "empty host"},
        {"mqtt://host:", "bad port ''"},
        {"mqtt://host:0", "bad port '0'"},
        {"mqtt://host:65536", "bad port '65536'"},
        {"mqtt://host:123456", "bad port '123456'"},
        {"mqtt://host:12a", "bad port '12a'"},
        {"mqtt://host:-1", "bad port '-1'"},
        {"mqtt://::1", "brackets"},
        {"mqtt://[::1", "missing ']'"},
        {"mqtt://[::1]x", "unexpected text after ']'"},
        {"mqtt://[not-ipv6]", "bad IPv6 address"},
        {"mqtt://user:pw@host", "user information"},
        {"mqtt://ho st", "bad character in host"},
        {"mqtt://host/topic", "only meaningful for ws"},
        {"ws://host/a b", "bad character in the path"},
        {"ws://host/#frag", "fragment"},
    };
    for (const auto& c : cases) {
        INFO(c.url);
        t::endpoint ep;
        ep.host = "unchanged";
        std::string error;
        CHECK_FALSE(t::parse_url(c.url, ep, error));
        CHECK_THAT(error, Catch::Contains(c.message_part));
        CHECK(ep.host == "unchanged");
    }
}

TEST_CASE("scheme names and predicates", "[transport][url]")
{
    CHECK(t::to_string(t::scheme::tcp) == "mqtt");
    CHECK(t::to_string(t::scheme::tls) == "mqtts");
    CHECK(t::to_string(t::scheme::ws) == "ws");
    CHECK(t::to_string(t::scheme::wss) == "wss");
    CHECK(t::uses_tls(t::scheme::wss));
    CHECK_FALSE(t::uses_tls(t::scheme::ws));
    CHECK(t::uses_websocket(t::scheme::ws));
    CHECK_FALSE(t::uses_websocket(t::scheme::tls));
}

TEST_CASE("transport error codes have their own category and messages", "[transport]")
{
    const t::error_code ec = t::transport_errc::websocket_text_frame;
    CHECK(ec.category() == t::transport_category());
    CHECK(std::string(ec.category().name()) == "mqtt.transport");
    CHECK_THAT(ec.message(), Catch::Contains("binary"));
    const t::error_code refused = t::transport_errc::websocket_subprotocol_refused;
    CHECK_THAT(refused.message(), Catch::Contains("mqtt"));
    CHECK(refused != ec);
}

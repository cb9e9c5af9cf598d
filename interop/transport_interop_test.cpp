// TLS (with and without a client certificate, hostname checks), WebSocket and
// secure WebSocket against Mosquitto's listeners.
#include "helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

// Publishes through `listener` and checks mosquitto_sub (plain TCP) gets it.
void round_trip(mosquitto& b, const std::string& listener, protocol_version v)
{
    INFO(listener << " MQTT " << version_name(v));
    auto topic = "interop/" + listener + "/" + version_arg(v);
    auto sub = mosquitto_sub(b, "tcp", {"-t", topic, "-C", "2", "-q", "1"});
    sync_client c(b.options(listener, v));
    auto [ec, ack] = c.connect();
    INFO("connect: " << ec.message());
    REQUIRE_FALSE(ec);
    // And receive through the same listener.
    REQUIRE_FALSE(std::get<0>(c.subscribe(topic, qos::exactly_once)));
    REQUIRE_FALSE(std::get<0>(c.publish(topic, "one", qos::at_least_once)));
    REQUIRE_FALSE(std::get<0>(c.publish(topic, std::string(100'000, 'z'), qos::exactly_once)));
    REQUIRE(c.wait_messages(2));
    auto msgs = c.messages();
    CHECK(msgs[0].payload == "one");
    CHECK(msgs[1].payload.size() == 100'000);
    CHECK(finish(*sub) == 0);
    auto lines = lines_with(sub->out(), "MSG ");
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "1 0 " + topic + " one");
    CHECK_FALSE(c.disconnect());
}

} // namespace

TEST_CASE("TLS with server verification", "[interop][tls]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    round_trip(b, "tls", protocol_version::v5);
    round_trip(b, "tls", protocol_version::v3_1_1);
}

TEST_CASE("TLS with a client certificate (mutual TLS)", "[interop][tls]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    round_trip(b, "mtls", protocol_version::v5);
    // Without a certificate the listener refuses the handshake.
    auto o = b.options("mtls");
    o.endpoint.tls.cert_file.clear();
    o.endpoint.tls.key_file.clear();
    sync_client c(o);
    auto [ec, ack] = c.connect();
    CHECK(ec);
}

TEST_CASE("TLS: a certificate that does not name the host is rejected", "[interop][tls]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    auto o = b.options("tls");
    o.endpoint.tls.server_name = "not-this-server.example";
    {
        sync_client c(o);
        auto [ec, ack] = c.connect();
        CHECK(ec);
    }
    // The name the certificate carries is accepted, by DNS name too.
    auto ok = b.options("tls");
    ok.endpoint.host = "localhost";
    sync_client c(ok);
    auto [ec, ack] = c.connect();
    INFO(ec.message());
    CHECK_FALSE(ec);
    // With hostname checks off (--insecure), the mismatched name connects.
    o.endpoint.tls.verify_hostname = false;
    sync_client insecure(o);
    CHECK_FALSE(std::get<0>(insecure.connect()));
}

TEST_CASE("TLS: a server from an unknown CA is rejected", "[interop][tls]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    auto o = b.options("tls");
    o.endpoint.tls.ca_file.clear(); // the system store does not know the test CA
    sync_client c(o);
    auto [ec, ack] = c.connect();
    CHECK(ec);
}

TEST_CASE("WebSocket and secure WebSocket", "[interop][ws]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    round_trip(b, "ws", protocol_version::v5);
    round_trip(b, "ws", protocol_version::v3_1_1);
    round_trip(b, "wss", protocol_version::v5);
    round_trip(b, "wss", protocol_version::v3_1_1);
}

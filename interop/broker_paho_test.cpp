// Python Paho (paho-mqtt 1.6) against our mqtt-broker: the scripts in interop/paho
// each run one scenario and print OK or FAIL: why.
#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

command_result paho_on(const our_broker& b, const std::string& script, const std::string& listener,
    protocol_version v, const std::string& prefix)
{
    return paho(script, cat(paho_args(b, listener), {"--version", paho_version(v), "--prefix", prefix}));
}

void run_script(const std::string& script, protocol_version v, const std::vector<std::string>& listeners = {"tcp"})
{
    SKIP_WITHOUT_PAHO();
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    for (auto& l : listeners) {
        INFO(script << " over " << l << ", MQTT " << version_name(v));
        auto r = paho_on(b, script, l, v, "paho/" + l + "/" + paho_version(v));
        CHECK_PAHO_OK(b, r);
    }
}

} // namespace

TEST_CASE("Paho: QoS 0/1/2 publish and subscribe over TCP, TLS, WebSocket and secure WebSocket", "[interop][broker][paho][ws][tls]")
{
    SECTION("MQTT 3.1.1 [v311]") { run_script("paho_pubsub.py", protocol_version::v3_1_1, {"tcp", "tls", "ws", "wss"}); }
    SECTION("MQTT 5.0 [v5]") { run_script("paho_pubsub.py", protocol_version::v5, {"tcp", "tls", "ws", "wss"}); }
}

TEST_CASE("Paho: retained messages set, replaced, kept and cleared", "[interop][broker][paho][retain]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.3.1-5][MQTT-3.3.1-6][MQTT-3.3.1-7][MQTT-3.3.1-8][MQTT-3.3.1-9][MQTT-3.3.1-10][MQTT-3.3.1-11][MQTT-3.3.1-12]")
    {
        run_script("paho_retained.py", protocol_version::v3_1_1, {"tcp", "ws"});
    }
    SECTION("MQTT 5.0 [v5][MQTT-3.3.1-5][MQTT-3.3.1-6][MQTT-3.3.1-7][MQTT-3.3.1-8][MQTT-3.3.1-9][MQTT-3.3.1-12]")
    {
        run_script("paho_retained.py", protocol_version::v5, {"tcp", "ws"});
    }
}

TEST_CASE("Paho: will published when the connection drops, not after DISCONNECT", "[interop][broker][paho][will]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.2-8][MQTT-3.14.4-3]") { run_script("paho_will.py", protocol_version::v3_1_1, {"tcp", "ws"}); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.2-8][MQTT-3.14.4-3]") { run_script("paho_will.py", protocol_version::v5, {"tcp", "ws"}); }
}

TEST_CASE("Paho: persistent session gets the messages queued while away, session present set", "[interop][broker][paho][session]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.2-4][MQTT-3.1.2-5][MQTT-3.2.2-1][MQTT-3.2.2-2][MQTT-3.2.2-3]")
    {
        run_script("paho_session.py", protocol_version::v3_1_1);
    }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.2-5][MQTT-3.1.2-6][MQTT-3.1.2-23][MQTT-3.2.2-2][MQTT-3.2.2-3]")
    {
        run_script("paho_session.py", protocol_version::v5);
    }
}

TEST_CASE("Paho: password listener CONNACK codes", "[interop][broker][paho][auth]")
{
    SECTION("MQTT 3.1.1 [v311]") { run_script("paho_auth.py", protocol_version::v3_1_1, {"auth"}); }
    SECTION("MQTT 5.0 [v5]") { run_script("paho_auth.py", protocol_version::v5, {"auth"}); }
}

TEST_CASE("Paho 5.0: shared subscription $share/g/t delivers each message to one subscriber, round robin [MQTT-4.8.2-3]", "[interop][broker][paho][shared][v5][MQTT-4.8.2-3]")
{
    run_script("paho_shared.py", protocol_version::v5, {"tcp", "ws"});
}

TEST_CASE("Paho 5.0: publish properties round trip and subscription identifiers [MQTT-3.3.2-15][MQTT-3.3.2-16][MQTT-3.3.2-17][MQTT-3.3.2-18][MQTT-3.3.2-20][MQTT-3.3.2-6][MQTT-3.3.4-3]", "[interop][broker][paho][properties][v5][MQTT-3.3.2-15][MQTT-3.3.2-16][MQTT-3.3.2-17][MQTT-3.3.2-18][MQTT-3.3.2-20][MQTT-3.3.2-6][MQTT-3.3.4-3]")
{
    run_script("paho_properties.py", protocol_version::v5);
}

namespace {

void feature(const std::string& name, const char* version = "5")
{
    SKIP_WITHOUT_PAHO();
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto r = paho("paho_v5_features.py", cat(paho_args(b, "tcp"), {"--version", version, "--prefix", "paho/" + name, "--case", name}));
    CHECK_PAHO_OK(b, r);
}

} // namespace

TEST_CASE("Paho 5.0: will delay interval, no will when the client returns in time [MQTT-3.1.3-9]", "[interop][broker][paho][will][v5][MQTT-3.1.3-9][MQTT-3.1.2-8]")
{
    feature("will_delay");
}

TEST_CASE("Paho 5.0: queued messages expire, the rest arrive with a reduced expiry interval [MQTT-3.3.2-5][MQTT-3.3.2-6]", "[interop][broker][paho][expiry][v5][MQTT-3.3.2-5][MQTT-3.3.2-6]")
{
    feature("message_expiry");
}

TEST_CASE("Paho 5.0: retain handling 0/1/2 and retain as published [MQTT-3.3.1-9][MQTT-3.3.1-10][MQTT-3.3.1-11][MQTT-3.3.1-12][MQTT-3.3.1-13][MQTT-3.8.4-4]", "[interop][broker][paho][retain][v5][MQTT-3.3.1-9][MQTT-3.3.1-10][MQTT-3.3.1-11][MQTT-3.3.1-12][MQTT-3.3.1-13][MQTT-3.8.4-4]")
{
    feature("retain_options");
}

TEST_CASE("Paho 5.0: no local subscription option [MQTT-3.8.3-3]", "[interop][broker][paho][v5][MQTT-3.8.3-3]")
{
    feature("no_local");
}

TEST_CASE("Paho 5.0: a session is discarded once its expiry interval has passed [MQTT-4.1.0-2]", "[interop][broker][paho][session][v5][MQTT-4.1.0-2][MQTT-3.1.2-23]")
{
    feature("session_expiry");
}

TEST_CASE("Paho 5.0: an empty client id gets a new Assigned Client Identifier [MQTT-3.2.2-16]", "[interop][broker][paho][v5][MQTT-3.2.2-16]")
{
    feature("assigned_id");
}

TEST_CASE("Paho 5.0: topic alias set and used by the publisher", "[interop][broker][paho][v5]")
{
    feature("topic_alias");
}

TEST_CASE("3.1.1 CONNECT refusals on the wire: identifier rejected, unacceptable protocol level [MQTT-3.1.3-8][MQTT-3.1.2-2]", "[interop][broker][v311][MQTT-3.1.3-8][MQTT-3.1.2-2][MQTT-3.2.2-4][MQTT-3.2.2-5]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto r = run({our_programs::python(), our_programs::paho_script("raw_connect.py"), "--port", std::to_string(b.ports().tcp)}, 30s);
    CHECK_PAHO_OK(b, r);
}

TEST_CASE("Paho 5.0: an expired retained message is not sent to new subscribers", "[interop][broker][paho][retain][expiry][v5]")
{
    feature("retained_expiry");
}

TEST_CASE("Paho: UNSUBSCRIBE compares filters literally, handles several filters, stops deliveries", "[interop][broker][paho][unsubscribe]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.10.4-1][MQTT-3.10.4-2][MQTT-3.10.4-4][MQTT-3.10.4-6]") { feature("unsubscribe", "3"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.10.4-1][MQTT-3.10.4-2][MQTT-3.10.4-4][MQTT-3.10.4-6][MQTT-3.11.3-1][MQTT-3.11.3-2]") { feature("unsubscribe", "5"); }
}

TEST_CASE("Paho: session takeover with Clean Start 0 closes the old connection and continues the session", "[interop][broker][paho][takeover][session]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.4-2][MQTT-3.1.2-4]") { feature("takeover", "3"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.4-3][MQTT-3.1.2-5]") { feature("takeover", "5"); }
}

// mosquitto_pub and mosquitto_sub (mosquitto-clients 2.0) against our mqtt-broker.
// The Debian mosquitto clients have no WebSocket support: WS is covered by Paho
// and our client (broker_paho_test.cpp, broker_client_test.cpp).
#include <algorithm>
#include <csignal>

#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

const char* levels[] = {"0", "1", "2"};

// QoS 0/1/2, each message once and in order; and a QoS 2 publish to a QoS 1
// subscription arrives at QoS 1.
void qos_round_trip(const char* v)
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    for (auto q : levels) {
        INFO(v << " QoS " << q);
        auto topic = std::string("broker/tools/") + v + "/" + q;
        auto sub = mosquitto_sub(b, "tcp", {"-V", v, "-q", q, "-t", topic, "-C", "3"});
        for (auto m : {"m0", "m1", "m2"}) {
            auto r = mosquitto_pub(b, "tcp", {"-V", v, "-q", q, "-t", topic, "-m", m});
            INFO(r.err);
            REQUIRE(r.code == 0);
        }
        CHECK(finish(*sub) == 0);
        std::string p = std::string(q) + " 0 " + topic + " ";
        CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{p + "m0", p + "m1", p + "m2"});
    }
    auto topic = std::string("broker/tools/") + v + "/downgrade";
    auto sub = mosquitto_sub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-C", "1"});
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "2", "-t", topic, "-m", "x"}).code == 0);
    CHECK(finish(*sub) == 0);
    CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"1 0 " + topic + " x"});
}

// Set, replace at QoS 0, not replaced by a plain publish, cleared by an empty
// retained publish; an established subscriber sees every message with RETAIN 0.
void retained(const char* v)
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    const auto topic = std::string("broker/tools/retained/") + v;
    auto live = mosquitto_sub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-C", "4"}, "%r [%p]");
    // The first message a new subscriber gets: the retained one if any, else a
    // marker published on another topic it also subscribed to.
    auto first = [&] {
        auto s = mosquitto_sub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-t", topic + "/marker", "-C", "1"}, "%r %p");
        REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-t", topic + "/marker", "-m", "marker"}).code == 0);
        CHECK(finish(*s) == 0);
        auto got = lines_with(s->out(), "MSG ");
        return got.empty() ? std::string("nothing") : got.front();
    };
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-r", "-t", topic, "-m", "one"}).code == 0);
    CHECK(first() == "1 one");
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "0", "-r", "-t", topic, "-m", "two"}).code == 0);
    CHECK(first() == "1 two");
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-m", "three"}).code == 0);
    CHECK(first() == "1 two");
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-r", "-t", topic, "-n"}).code == 0);
    CHECK(first() == "0 marker");
    CHECK(finish(*live) == 0);
    CHECK(lines_with(live->out(), "MSG ") == std::vector<std::string>{"0 [one]", "0 [two]", "0 [three]", "0 []"});
}

// A will discarded on DISCONNECT, published (retained) when the client is killed.
void will_on_kill(const char* v)
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    const auto topic = std::string("broker/tools/will/") + v;
    auto watcher = mosquitto_sub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-C", "2"}, "%q %r %p");
    {
        // Ends with DISCONNECT after its one message.
        auto polite = mosquitto_sub(b, "tcp", {"-V", v, "-t", topic + "/polite", "-C", "1", "--will-topic", topic,
            "--will-payload", "normal-bye", "--will-qos", "1"});
        REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-t", topic + "/polite", "-m", "bye"}).code == 0);
        CHECK(finish(*polite) == 0);
    }
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-m", "marker"}).code == 0);
    auto victim = mosquitto_sub(b, "tcp", {"-V", v, "-t", topic + "/victim", "--will-topic", topic, "--will-payload",
        "gone", "--will-qos", "1", "--will-retain"});
    victim->signal(SIGKILL);
    CHECK(finish(*watcher) == 0);
    CHECK(lines_with(watcher->out(), "MSG ") == std::vector<std::string>{"1 0 marker", "1 0 gone"});
    // --will-retain: the will was published retained.
    auto late = run(cat(cat({programs::mosquitto_sub()}, b.tool_args("tcp")), {"-V", v, "-t", topic, "-C", "1", "-W", "5", "-F", "%r %p"}));
    CHECK(late.code == 0);
    CHECK(late.out == "1 gone\n");
}

// QoS 1 and 2 messages published while a -c subscriber is away arrive when it returns.
void persistent_session(const char* v)
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    const auto id = std::string("tools-persist-") + v;
    const auto topic = std::string("broker/tools/persist/") + v;
    auto first = run(cat(cat({programs::mosquitto_sub()}, b.tool_args("tcp")), {"-V", v, "-c", "-i", id, "-q", "2", "-t", topic, "-E"}));
    INFO(first.err);
    REQUIRE(first.code == 0);
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-m", "a"}).code == 0);
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "2", "-t", topic, "-m", "b"}).code == 0);
    REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-m", "c"}).code == 0);
    auto back = run(cat(cat({programs::mosquitto_sub()}, b.tool_args("tcp")), {"-V", v, "-c", "-i", id, "-q", "2", "-t", topic, "-C", "3", "-W", "10", "-F", "%q %p"}));
    INFO(back.err << "\nbroker log:\n" << tail(b.log(), 3000));
    CHECK(back.code == 0);
    // libmosquitto hands a QoS 2 message over at PUBREL, after later QoS 1 ones: compare as a set.
    auto got = lines_with(back.out, "");
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::string>{"1 a", "1 c", "2 b"});
}

} // namespace

TEST_CASE("Our broker: mosquitto_pub -> mosquitto_sub, QoS 0/1/2 and QoS downgrade", "[interop][broker][tools]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.8.4-6]") { qos_round_trip("mqttv311"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.8.4-8]") { qos_round_trip("mqttv5"); }
}

TEST_CASE("Our broker: retained messages set, replaced, kept, cleared with mosquitto_pub/sub", "[interop][broker][tools][retain]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.3.1-5][MQTT-3.3.1-6][MQTT-3.3.1-7][MQTT-3.3.1-8][MQTT-3.3.1-9][MQTT-3.3.1-10][MQTT-3.3.1-11][MQTT-3.3.1-12]")
    {
        retained("mqttv311");
    }
    SECTION("MQTT 5.0 [v5][MQTT-3.3.1-5][MQTT-3.3.1-6][MQTT-3.3.1-7][MQTT-3.3.1-8][MQTT-3.3.1-9][MQTT-3.3.1-12]")
    {
        retained("mqttv5");
    }
}

TEST_CASE("Our broker: will discarded on DISCONNECT, published retained when mosquitto_sub is killed", "[interop][broker][tools][will]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.2-8][MQTT-3.1.2-10][MQTT-3.14.4-3][MQTT-3.1.2-17]") { will_on_kill("mqttv311"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.2-8][MQTT-3.1.2-10][MQTT-3.14.4-3][MQTT-3.1.2-15]") { will_on_kill("mqttv5"); }
}

TEST_CASE("Our broker: mosquitto_sub -c receives the QoS 1/2 messages queued while it was away", "[interop][broker][tools][session]")
{
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.2-4][MQTT-3.1.2-5]") { persistent_session("mqttv311"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.2-5][MQTT-3.1.2-23]") { persistent_session("mqttv5"); }
}

TEST_CASE("Our broker: mosquitto_pub/sub over TLS with the test CA and with a client certificate", "[interop][broker][tools][tls]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    for (std::string listener : {"tls", "mtls"}) {
        for (const char* v : {"mqttv311", "mqttv5"}) {
            INFO(listener << " " << v);
            auto topic = "broker/tools/" + listener + "/" + v;
            auto sub = mosquitto_sub(b, listener, {"-V", v, "-q", "2", "-t", topic, "-C", "1"});
            auto r = mosquitto_pub(b, listener, {"-V", v, "-q", "2", "-t", topic, "-m", "secret"});
            INFO(r.err);
            CHECK(r.code == 0);
            CHECK(finish(*sub) == 0);
            CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"2 0 " + topic + " secret"});
        }
    }
    // Without a client certificate the mutual-TLS listener refuses the handshake.
    auto anon = run({programs::mosquitto_pub(), "-h", "127.0.0.1", "-p", std::to_string(b.ports().mtls), "--cafile",
        pki().ca_cert, "-t", "x", "-m", "y"});
    CHECK(anon.code != 0);
}

// Our client library against the real Mosquitto and its mosquitto_pub / mosquitto_sub.
#include "helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

const protocol_version versions[] = {protocol_version::v3_1_1, protocol_version::v5};
const qos levels[] = {qos::at_most_once, qos::at_least_once, qos::exactly_once};

std::string qs(qos q) { return std::to_string(static_cast<int>(q)); }

} // namespace

TEST_CASE("Our client publishes, mosquitto_sub receives: QoS 0/1/2, 3.1.1 and 5.0", "[interop][publish]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        for (auto q : levels) {
            INFO("MQTT " << version_name(v) << " QoS " << qs(q));
            auto topic = "interop/pub/" + version_arg(v) + "/" + qs(q);
            auto sub = mosquitto_sub(b, "tcp", {"-V", version_arg(v), "-q", qs(q), "-t", topic, "-C", "3"});
            sync_client c(b.options("tcp", v));
            REQUIRE_FALSE(std::get<0>(c.connect()));
            for (int i = 0; i < 3; ++i) {
                auto [ec, r] = c.publish(topic, "m" + std::to_string(i), q);
                CHECK_FALSE(ec);
                CHECK_FALSE(is_error(r.code));
            }
            CHECK(finish(*sub) == 0);
            auto got = lines_with(sub->out(), "MSG ");
            CHECK(got == std::vector<std::string>{qs(q) + " 0 " + topic + " m0", qs(q) + " 0 " + topic + " m1",
                             qs(q) + " 0 " + topic + " m2"});
            CHECK_FALSE(c.disconnect());
        }
    }
}

TEST_CASE("mosquitto_pub publishes, our client receives: QoS 0/1/2, 3.1.1 and 5.0", "[interop][subscribe]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        for (auto q : levels) {
            INFO("MQTT " << version_name(v) << " QoS " << qs(q));
            auto topic = "interop/sub/" + version_arg(v) + "/" + qs(q);
            sync_client c(b.options("tcp", v));
            REQUIRE_FALSE(std::get<0>(c.connect()));
            auto [sec, granted] = c.subscribe(topic, q);
            REQUIRE_FALSE(sec);
            REQUIRE(granted.codes == std::vector<reason_code>{static_cast<reason_code>(q)});
            for (int i = 0; i < 3; ++i) {
                auto r = run(cat({programs::mosquitto_pub()}, cat(b.tool_args("tcp"),
                    {"-V", version_arg(v), "-q", qs(q), "-t", topic, "-m", "p" + std::to_string(i)})));
                REQUIRE(r.code == 0);
            }
            REQUIRE(c.wait_messages(3));
            auto msgs = c.messages();
            REQUIRE(msgs.size() == 3); // QoS 2: exactly once
            for (std::size_t i = 0; i < msgs.size(); ++i) {
                CHECK(msgs[i].topic == topic);
                CHECK(msgs[i].payload == "p" + std::to_string(i));
                CHECK(msgs[i].qos == q);
                CHECK_FALSE(msgs[i].retain);
            }
            CHECK_FALSE(c.disconnect());
        }
    }
}

TEST_CASE("Retained messages both ways", "[interop][retain]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        auto ours = "interop/retain/ours/" + version_arg(v);
        auto theirs = "interop/retain/theirs/" + version_arg(v);
        {
            sync_client c(b.options("tcp", v));
            REQUIRE_FALSE(std::get<0>(c.connect()));
            REQUIRE_FALSE(std::get<0>(c.publish(ours, "kept", qos::at_least_once, true)));
            CHECK_FALSE(c.disconnect());
        }
        // A later subscriber gets it with the retain flag.
        auto sub = mosquitto_sub(b, "tcp", {"-V", version_arg(v), "-t", ours, "-C", "1"});
        CHECK(finish(*sub) == 0);
        CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"0 1 " + ours + " kept"});

        REQUIRE(run(cat({programs::mosquitto_pub()}, cat(b.tool_args("tcp"), {"-V", version_arg(v), "-t", theirs, "-m", "stay", "-r", "-q", "1"}))).code == 0);
        sync_client c(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(c.connect()));
        REQUIRE_FALSE(std::get<0>(c.subscribe(theirs, qos::at_least_once)));
        REQUIRE(c.wait_messages(1));
        auto m = c.messages().front();
        CHECK(m.payload == "stay");
        CHECK(m.retain);
        // An empty retained message clears it.
        REQUIRE_FALSE(std::get<0>(c.publish(theirs, "", qos::at_least_once, true)));
        CHECK_FALSE(c.disconnect());
        sync_client late(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(late.connect()));
        REQUIRE_FALSE(std::get<0>(late.subscribe(theirs, qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(late.publish(theirs, "live", qos::at_least_once)));
        REQUIRE(late.wait_messages(1));
        CHECK(late.messages().front().payload == "live"); // nothing retained came first
    }
}

TEST_CASE("Will published on abnormal disconnect, not on a normal one [MQTT-3.1.2-8]", "[interop][will][MQTT-3.1.2-8][MQTT-3.1.2-10][MQTT-3.14.4-3]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        auto topic = "interop/will/" + version_arg(v);
        auto sub = mosquitto_sub(b, "tcp", {"-V", "mqttv5", "-q", "1", "-t", topic, "-C", "2"}, "%q %r %t %p|%C|%P");

        // Normal DISCONNECT: the will is discarded; the marker published after it comes first.
        auto o = b.options("tcp", v);
        will w;
        w.topic = buffer(topic);
        w.payload = buffer("normal-bye");
        o.connect.will = w;
        {
            sync_client c(o);
            REQUIRE_FALSE(std::get<0>(c.connect()));
            CHECK_FALSE(c.disconnect());
        }
        {
            sync_client marker(b.options("tcp"));
            REQUIRE_FALSE(std::get<0>(marker.connect()));
            REQUIRE_FALSE(std::get<0>(marker.publish(topic, "marker", qos::at_least_once)));
            CHECK_FALSE(marker.disconnect());
        }
        // Abnormal close (stop(): no DISCONNECT): the will is published.
        w.payload = buffer("gone");
        w.qos = qos::at_least_once;
        if (v == protocol_version::v5) {
            w.props.add(property_id::content_type, std::string("text/plain"));
            w.props.add_user_property("device", "d1");
        }
        o.connect.will = w;
        {
            sync_client c(o);
            REQUIRE_FALSE(std::get<0>(c.connect()));
            c.stop();
        }
        CHECK(finish(*sub) == 0);
        auto got = lines_with(sub->out(), "MSG ");
        REQUIRE(got.size() == 2);
        CHECK(got[0] == "1 0 " + topic + " marker||");
        if (v == protocol_version::v5)
            CHECK(got[1] == "1 0 " + topic + " gone|text/plain|device:d1");
        else
            CHECK(got[1] == "1 0 " + topic + " gone||");
    }
}

TEST_CASE("5.0 DISCONNECT with reason 0x04 asks the broker to publish the will", "[interop][will][v5]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    const std::string topic = "interop/will/0x04";
    auto sub = mosquitto_sub(b, "tcp", {"-V", "mqttv5", "-t", topic, "-C", "1"});
    auto o = b.options("tcp");
    will w;
    w.topic = buffer(topic);
    w.payload = buffer("asked");
    o.connect.will = w;
    sync_client c(o);
    REQUIRE_FALSE(std::get<0>(c.connect()));
    CHECK_FALSE(c.disconnect(reason_code::disconnect_with_will_message));
    CHECK(finish(*sub) == 0);
    CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"0 0 " + topic + " asked"});
}

TEST_CASE("5.0 properties round trip: user properties, content type, response topic, correlation data, expiry", "[interop][properties][v5]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    const std::string topic = "interop/props";
    sync_client receiver(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(receiver.connect()));
    REQUIRE_FALSE(std::get<0>(receiver.subscribe(topic, qos::at_least_once)));
    auto sub = mosquitto_sub(b, "tcp", {"-V", "mqttv5", "-t", topic, "-C", "1"}, "%p|%C|%R|%D|%E|%P");

    properties props;
    props.add_user_property("k1", "v1");
    props.add_user_property("k2", "v2");
    props.add(property_id::content_type, std::string("application/json"));
    props.add(property_id::response_topic, std::string("interop/reply"));
    props.add(property_id::correlation_data, std::string("corr-42"));
    props.add(property_id::message_expiry_interval, 3600u);
    props.add(property_id::payload_format_indicator, 1u);
    sync_client sender(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(sender.connect()));
    REQUIRE_FALSE(std::get<0>(sender.publish(topic, "{}", qos::at_least_once, false, props)));

    REQUIRE(receiver.wait_messages(1));
    auto m = receiver.messages().front();
    auto users = m.props.user_properties();
    REQUIRE(users.size() == 2);
    CHECK(users[0].name == "k1");
    CHECK(users[1].value == "v2");
    CHECK(m.props.get_string(property_id::content_type) == "application/json");
    CHECK(m.props.get_string(property_id::response_topic) == "interop/reply");
    CHECK(m.props.get_string(property_id::correlation_data) == "corr-42");
    auto expiry = m.props.get_integer(property_id::message_expiry_interval);
    REQUIRE(expiry.has_value());
    CHECK(*expiry > 3500u);
    CHECK(*expiry <= 3600u);
    CHECK(m.props.get_integer(property_id::payload_format_indicator) == 1u);

    CHECK(finish(*sub) == 0);
    auto line = lines_with(sub->out(), "MSG ");
    REQUIRE(line.size() == 1);
    CHECK(line[0].rfind("{}|application/json|interop/reply|corr-42|", 0) == 0);
    CHECK(line[0].find("|k1:v1 k2:v2") != std::string::npos);

    // And the other way: mosquitto_pub -D properties reach our client.
    auto r = run(cat({programs::mosquitto_pub()}, cat(b.tool_args("tcp"),
        {"-V", "mqttv5", "-t", topic, "-m", "x", "-q", "1", "-D", "publish", "user-property", "from", "mosquitto", "-D",
            "publish", "content-type", "text/plain", "-D", "publish", "correlation-data", "c1", "-D", "publish",
            "response-topic", "back"})));
    REQUIRE(r.code == 0);
    REQUIRE(receiver.wait_messages(2));
    auto m2 = receiver.messages()[1];
    CHECK(m2.props.get_string(property_id::content_type) == "text/plain");
    CHECK(m2.props.get_string(property_id::correlation_data) == "c1");
    CHECK(m2.props.get_string(property_id::response_topic) == "back");
    REQUIRE(m2.props.user_properties().size() == 1);
    CHECK(m2.props.user_properties()[0].value == "mosquitto");
}

TEST_CASE("Password listener: right credentials connect, wrong ones are refused and not retried", "[interop][auth]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        {
            sync_client c(b.options("auth", v));
            REQUIRE_FALSE(std::get<0>(c.connect()));
            CHECK_FALSE(c.disconnect());
        }
        auto o = b.options("auth", v);
        o.connect.password = "not-it";
        o.reconnect.enabled = true; // a permanent refusal still stops
        sync_client c(o);
        auto [ec, ack] = c.connect();
        CHECK((ec == make_error_code(reason_code::bad_user_name_or_password) || ec == make_error_code(reason_code::not_authorized)));
        auto events = c.events();
        CHECK(std::none_of(events.begin(), events.end(), [](auto& e) { return e.kind == connection_event_kind::reconnecting; }));
        CHECK(std::any_of(events.begin(), events.end(), [](auto& e) { return e.kind == connection_event_kind::refused; }));
    }
}

TEST_CASE("Server-assigned client identifier with an empty client id (5.0) [MQTT-3.2.2-16]", "[interop][connect][v5][MQTT-3.2.2-16]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    auto o = b.options("tcp");
    o.connect.client_id = "";
    sync_client c(o);
    auto [ec, ack] = c.connect();
    REQUIRE_FALSE(ec);
    auto id = ack.props.get_string(property_id::assigned_client_identifier);
    REQUIRE(id.has_value());
    CHECK_FALSE(id->empty());
    CHECK_FALSE(c.disconnect());
}

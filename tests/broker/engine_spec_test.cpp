// Broker engine against the normative statements of both specs that are about the
// server: packet identifiers of answers, CONNECT handling, subscriptions, routing,
// ordering and error handling. Each test names the statements it checks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "engine_harness.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

namespace {
// Sends a CONNECT built by the test and returns what came back.
std::vector<packet> connect_with(broker_fixture& b, fake_client& c, mqtt::connect pkt)
{
    c.send(pkt, b.now);
    b.settle();
    return c.take();
}

mqtt::connect make_connect(protocol_version v, std::string id, bool clean = true)
{
    mqtt::connect c;
    c.version = v;
    c.client_id = std::move(id);
    c.clean_start = clean;
    c.keep_alive = 0;
    return c;
}
} // namespace

TEST_CASE("Acknowledgments carry the packet identifier of the PUBLISH they answer "
          "[MQTT-2.3.1-6] [MQTT-2.2.1-5] [MQTT-3.3.4-1]",
    "[broker][spec][MQTT-2.3.1-6][MQTT-2.2.1-5][MQTT-3.3.4-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "zero", qos::at_most_once), b.now);
    p.send(broker_fixture::msg("t", "one", qos::at_least_once, 0x1234), b.now);
    p.send(broker_fixture::msg("t", "two", qos::exactly_once, 0xBEEF), b.now);
    b.settle();
    auto got = p.take();
    // QoS 0: no answer; QoS 1: PUBACK; QoS 2: PUBREC (Table 3.4).
    REQUIRE(got.size() == 2);
    REQUIRE(std::holds_alternative<puback>(got[0]));
    CHECK(std::get<puback>(got[0]).packet_id == 0x1234);
    REQUIRE(std::holds_alternative<pubrec>(got[1]));
    CHECK(std::get<pubrec>(got[1]).packet_id == 0xBEEF);
    p.send(mqtt::pubrel{0xBEEF, reason_code::success, {}}, b.now);
    b.settle();
    auto comp = p.take_of<pubcomp>();
    REQUIRE(comp.size() == 1);
    CHECK(comp[0].packet_id == 0xBEEF);
}

TEST_CASE("SUBACK and UNSUBACK carry the identifier of their request, one answer per request, codes in "
          "request order [MQTT-2.3.1-7] [MQTT-2.2.1-6] [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-4] [MQTT-3.8.4-5] "
          "[MQTT-3.9.3-1] [MQTT-3.10.4-4] [MQTT-3.10.4-6] [MQTT-3.11.3-1]",
    "[broker][spec][MQTT-2.3.1-7][MQTT-2.2.1-6][MQTT-3.8.4-1][MQTT-3.8.4-2][MQTT-3.8.4-4][MQTT-3.8.4-5]"
    "[MQTT-3.9.3-1][MQTT-3.10.4-4][MQTT-3.10.4-6][MQTT-3.11.3-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    s.send(mqtt::subscribe{0x0A0B,
               {{"a/2", {qos::exactly_once}}, {"a/0", {qos::at_most_once}}, {"a/1", {qos::at_least_once}}}, {}},
        b.now);
    b.settle();
    auto sa = s.take_of<suback>();
    REQUIRE(sa.size() == 1);
    CHECK(sa[0].packet_id == 0x0A0B);
    CHECK(sa[0].codes ==
          std::vector<reason_code>{reason_code::granted_qos_2, reason_code::granted_qos_0, reason_code::granted_qos_1});
    CHECK(b.e.subscription_count() == 3);

    s.send(mqtt::unsubscribe{0x0C0D, {"a/1", "nothing", "a/2"}, {}}, b.now);
    b.settle();
    auto ua = s.take_of<unsuback>();
    REQUIRE(ua.size() == 1);
    CHECK(ua[0].packet_id == 0x0C0D);
    if (v == v5)
        CHECK(ua[0].codes == std::vector<reason_code>{reason_code::success, reason_code::no_subscription_existed,
                                 reason_code::success});
    CHECK(b.e.subscription_count() == 1);
}

TEST_CASE("A CONNECT with a protocol level the server does not support is answered 0x01 / 0x84 and closed "
          "[MQTT-3.1.2-2]",
    "[broker][spec][connect][MQTT-3.1.2-2]")
{
    broker_fixture b;
    auto& c = b.open(v311);
    // CONNECT "MQTT" level 6, clean session, keep alive 60, empty client id.
    const std::string level6("\x10\x0C\x00\x04MQTT\x06\x02\x00\x3C\x00\x00", 14);
    b.e.received(c.id, level6, b.now);
    b.settle();
    auto got = c.take();
    CHECK(c.closed);
    REQUIRE(got.size() <= 1); // a CONNACK is allowed, nothing else
    if (!got.empty()) {
        REQUIRE(std::holds_alternative<connack>(got[0]));
        CHECK(std::get<connack>(got[0]).code == reason_code::unsupported_protocol_version);
    }
    CHECK(b.e.session_count() == 0);
}

TEST_CASE("Clean session / Clean Start 1 discards the previous session [MQTT-3.1.2-6] [MQTT-3.1.2-4] [MQTT-3.1.4-4]",
    "[broker][spec][session][MQTT-3.1.2-6][MQTT-3.1.2-4][MQTT-3.1.4-4]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto props = v == v5 ? expiry(600) : properties{};
    auto& s = b.connect(v, "s", false, props);
    b.subscribe(s, "t", {qos::at_least_once});
    s.drop(b.now);
    b.settle();

    connack ack;
    auto& again = b.connect(v, "s", true, props, std::nullopt, &ack);
    CHECK_FALSE(ack.session_present);
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "after", qos::at_least_once, 1), b.now);
    b.settle();
    CHECK(again.take_of<mqtt::publish>().empty()); // the old subscription is gone
}

TEST_CASE("Retained messages outlive the session of their publisher [MQTT-3.1.2-7]",
    "[broker][spec][retain][MQTT-3.1.2-7]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& p = b.connect(v, "p", true);
    p.send(broker_fixture::msg("r", "kept", qos::at_least_once, 1, true), b.now);
    b.settle();
    p.send(mqtt::disconnect{}, b.now);
    b.settle();
    p.drop(b.now);
    b.settle();
    auto& s = b.connect(v, "s");
    b.subscribe(s, "r", {qos::at_least_once});
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].retain);
    CHECK(got[0].payload == std::string_view("kept"));
}

TEST_CASE("No will without the Will Flag, and a will with Will Retain 0 is not retained "
          "[MQTT-3.1.2-12] [MQTT-3.1.2-16] [MQTT-3.1.2-14] [MQTT-3.1.2-7]",
    "[broker][spec][will][MQTT-3.1.2-12][MQTT-3.1.2-16][MQTT-3.1.2-14][MQTT-3.1.2-7]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& watcher = b.connect(v, "watcher");
    b.subscribe(watcher, "#", {qos::at_least_once});

    auto& plain = b.connect(v, "plain");
    plain.drop(b.now); // abnormal close, no will
    b.settle();
    CHECK(watcher.take_of<mqtt::publish>().empty());

    will w;
    w.topic = buffer("wills/x");
    w.payload = buffer("bye");
    w.qos = qos::exactly_once; // any of 0, 1, 2 is accepted
    w.retain = false;
    auto& a = b.connect(v, "a", true, {}, w);
    a.drop(b.now);
    b.settle();
    auto got = watcher.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[0].retain);
    CHECK(b.e.retained_count() == 0);
}

TEST_CASE("Client identifiers of 1 to 23 characters [0-9a-zA-Z] are accepted [MQTT-3.1.3-5]",
    "[broker][spec][connect][MQTT-3.1.3-5]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    const std::string chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (std::size_t len : {std::size_t{1}, std::size_t{22}, std::size_t{23}}) {
        for (std::size_t from = 0; from + len <= chars.size(); from += 23) {
            connack ack;
            b.connect(v, chars.substr(from, len), true, {}, std::nullopt, &ack);
            CHECK(ack.code == reason_code::success);
        }
    }
}

TEST_CASE("3.1.1: a refused client identifier gets return code 0x02 and the connection is closed "
          "[MQTT-3.1.3-9] [MQTT-3.2.2-5]",
    "[broker][spec][connect][v311][MQTT-3.1.3-9][MQTT-3.2.2-5]")
{
    broker_fixture b;
    auto& c = b.open(v311);
    auto got = connect_with(b, c, make_connect(v311, "", false)); // empty id needs clean session 1
    CHECK_FALSE(require_refused(c, got, reason_code::client_identifier_not_valid).session_present);
}

namespace {
struct refuse_all final : access_control {
    reason_code authenticate(const connection_info&, std::optional<std::string_view>,
        const std::optional<std::string>&) override
    {
        return reason_code::not_authorized;
    }
};
} // namespace

TEST_CASE("A refused CONNECT is answered, then the connection is closed and nothing after it is processed "
          "[MQTT-3.2.2-5] [MQTT-3.2.2-7] [MQTT-3.1.4-6]",
    "[broker][spec][connect][MQTT-3.2.2-5][MQTT-3.2.2-7][MQTT-3.1.4-6]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b({}, std::make_shared<refuse_all>());
    auto& c = b.open(v);
    std::string bytes;
    REQUIRE_FALSE(encode(make_connect(v, "x"), v, bytes));
    // A PUBLISH pipelined behind the refused CONNECT must not be routed.
    REQUIRE_FALSE(encode(broker_fixture::msg("t", "sneaky", qos::at_least_once, 1), v, bytes));
    b.e.received(c.id, bytes, b.now);
    b.settle();
    auto got = c.take();
    require_refused(c, got, reason_code::not_authorized);
    CHECK(b.e.metrics().messages_received == 0);
    CHECK(b.e.session_count() == 0);
}

TEST_CASE("The first packet the server sends is the CONNACK, even with queued messages waiting "
          "[MQTT-3.2.0-1]",
    "[broker][spec][connect][MQTT-3.2.0-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto props = v == v5 ? expiry(600) : properties{};
    auto& s = b.connect(v, "s", false, props);
    b.subscribe(s, "t", {qos::at_least_once});
    s.drop(b.now);
    b.settle();
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "queued", qos::at_least_once, 1), b.now);
    b.settle();
    auto& back = b.open(v);
    auto got = connect_with(b, back, make_connect(v, "s", false));
    REQUIRE(got.size() >= 2);
    REQUIRE(std::holds_alternative<connack>(got[0]));
    CHECK(std::get<connack>(got[0]).session_present);
    CHECK(std::holds_alternative<mqtt::publish>(got[1]));
}

TEST_CASE("5.0: a second CONNECT is a protocol error: no second CONNACK, DISCONNECT 0x82 "
          "[MQTT-3.2.0-2] [MQTT-4.13.1-1]",
    "[broker][spec][connect][v5][MQTT-3.2.0-2][MQTT-4.13.1-1]")
{
    broker_fixture b;
    auto& c = b.connect(v5, "twice");
    auto got = connect_with(b, c, make_connect(v5, "twice"));
    CHECK(c.closed);
    for (auto& pkt : got)
        CHECK_FALSE(std::holds_alternative<connack>(pkt));
    REQUIRE(got.size() == 1);
    REQUIRE(std::holds_alternative<mqtt::disconnect>(got[0]));
    CHECK(std::get<mqtt::disconnect>(got[0]).code == reason_code::protocol_error);
}

TEST_CASE("5.0: a malformed packet after CONNACK gets DISCONNECT 0x81, before CONNACK no DISCONNECT at all "
          "[MQTT-4.13.1-1] [MQTT-3.14.0-1]",
    "[broker][spec][errors][v5][MQTT-4.13.1-1][MQTT-3.14.0-1]")
{
    broker_fixture b;
    SECTION("after CONNACK")
    {
        auto& c = b.connect(v5, "c");
        const std::string bad("\x30\x04\x00\x09zz", 6); // topic length runs past the packet
        b.e.received(c.id, bad, b.now);
        b.settle();
        auto got = c.take();
        CHECK(c.closed);
        REQUIRE(got.size() == 1);
        REQUIRE(std::holds_alternative<mqtt::disconnect>(got[0]));
        CHECK(std::get<mqtt::disconnect>(got[0]).code == reason_code::malformed_packet);
        CHECK_FALSE(std::get<mqtt::disconnect>(got[0]).props.contains(property_id::session_expiry_interval));
    }
    SECTION("before CONNACK")
    {
        auto& c = b.open(v5);
        const std::string bad("\x30\x04\x00\x01t\x00", 6); // a PUBLISH instead of CONNECT
        b.e.received(c.id, bad, b.now);
        b.settle();
        auto got = c.take();
        CHECK(c.closed);
        for (auto& pkt : got)
            CHECK_FALSE(std::holds_alternative<mqtt::disconnect>(pkt));
    }
}

TEST_CASE("5.0: a server DISCONNECT never carries a Session Expiry Interval [MQTT-3.14.2-2]",
    "[broker][spec][v5][MQTT-3.14.2-2]")
{
    broker_fixture b;
    auto& first = b.connect(v5, "same", false, expiry(600));
    b.connect(v5, "same", false, expiry(600)); // takeover
    auto got = first.take_of<mqtt::disconnect>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].code == reason_code::session_taken_over);
    CHECK_FALSE(got[0].props.contains(property_id::session_expiry_interval));
}

TEST_CASE("The DUP flag of an incoming PUBLISH is not propagated to subscribers [MQTT-3.3.1-3]",
    "[broker][spec][routing][MQTT-3.3.1-3]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "t", {qos::exactly_once});
    auto& p = b.connect(v, "p");
    auto m = broker_fixture::msg("t", "resent", qos::at_least_once, 9);
    m.dup = true;
    p.send(m, b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[0].dup); // first time this PUBLISH goes to s
}

TEST_CASE("Subscribers get the topic name of the PUBLISH, not the filter [MQTT-3.3.2-3]",
    "[broker][spec][routing][MQTT-3.3.2-3]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "a/+/c", {qos::at_most_once});
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("a/b/c", "x", qos::at_most_once), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].topic == std::string_view("a/b/c"));
}

TEST_CASE("5.0: Payload Format Indicator forwarded unaltered, will user properties kept in order "
          "[MQTT-3.3.2-4] [MQTT-3.1.3-10]",
    "[broker][spec][v5][MQTT-3.3.2-4][MQTT-3.1.3-10]")
{
    broker_fixture b;
    auto& s = b.connect(v5, "s");
    b.subscribe(s, "#", {qos::at_least_once});

    auto& p = b.connect(v5, "p");
    auto m = broker_fixture::msg("t", "text", qos::at_least_once, 1);
    m.props.add(property_id::payload_format_indicator, 1u);
    p.send(m, b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].props.get_integer(property_id::payload_format_indicator) == 1u);

    will w;
    w.topic = buffer("wills/w");
    w.payload = buffer("bye");
    w.props.add_user_property("z", "1");
    w.props.add_user_property("a", "2");
    w.props.add_user_property("z", "3");
    auto& a = b.connect(v5, "a", true, {}, w);
    a.drop(b.now);
    b.settle();
    auto wills = s.take_of<mqtt::publish>();
    REQUIRE(wills.size() == 1);
    auto ups = wills[0].props.user_properties();
    REQUIRE(ups.size() == 3);
    CHECK(ups[0].name == "z");
    CHECK(ups[0].value == "1");
    CHECK(ups[1].name == "a");
    CHECK(ups[2].value == "3");
}

TEST_CASE("Subscribing again to the same filter replaces the subscription, no message is lost "
          "[MQTT-3.8.4-3]",
    "[broker][spec][subscribe][MQTT-3.8.4-3]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "t/#", {qos::at_most_once}, {}, 1);
    b.subscribe(s, "t/#", {qos::exactly_once}, {}, 2);
    CHECK(b.e.subscription_count() == 1);
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t/1", "x", qos::exactly_once, 1), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1); // one subscription, not two
    CHECK(got[0].qos == qos::exactly_once);
}

TEST_CASE("5.0 Retain Handling: 0 sends retained on every subscribe, 1 only for a new subscription, 2 never "
          "[MQTT-3.8.4-4] [MQTT-3.3.1-10] [MQTT-3.3.1-11]",
    "[broker][spec][retain][v5][MQTT-3.8.4-4][MQTT-3.3.1-10][MQTT-3.3.1-11]")
{
    broker_fixture b;
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("r/1", "kept", qos::at_most_once, 0, true), b.now);
    b.settle();
    auto& s = b.connect(v5, "s");
    auto count_after_subscribe = [&](retain_handling rh, std::uint16_t id) {
        subscribe_options o{qos::at_most_once};
        o.retain_handling = rh;
        b.subscribe(s, "r/#", o, {}, id);
        return s.take_of<mqtt::publish>().size();
    };
    CHECK(count_after_subscribe(retain_handling::send_on_subscribe, 1) == 1);
    CHECK(count_after_subscribe(retain_handling::send_on_subscribe, 2) == 1); // again: sent again
    CHECK(count_after_subscribe(retain_handling::send_if_new_subscription, 3) == 0); // exists already
    s.send(mqtt::unsubscribe{4, {"r/#"}, {}}, b.now);
    b.settle();
    s.take();
    CHECK(count_after_subscribe(retain_handling::send_if_new_subscription, 5) == 1); // new again
    CHECK(count_after_subscribe(retain_handling::do_not_send, 6) == 0);
}

TEST_CASE("UNSUBSCRIBE matches filters character by character and stops new messages "
          "[MQTT-3.10.4-1] [MQTT-3.10.4-2]",
    "[broker][spec][unsubscribe][MQTT-3.10.4-1][MQTT-3.10.4-2]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "a/b", {qos::at_most_once}, {}, 1);
    b.subscribe(s, "a/+", {qos::at_most_once}, {}, 2);
    s.send(mqtt::unsubscribe{3, {"a/#"}, {}}, b.now); // matches a/b as a topic, but is not the same filter
    b.settle();
    s.take();
    CHECK(b.e.subscription_count() == 2);
    s.send(mqtt::unsubscribe{4, {"a/+"}, {}}, b.now);
    b.settle();
    s.take();
    CHECK(b.e.subscription_count() == 1);
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("a/c", "no longer", qos::at_most_once), b.now);
    p.send(broker_fixture::msg("a/b", "still", qos::at_most_once), b.now);
    b.settle();
    CHECK(payloads(s.take_of<mqtt::publish>()) == std::vector<std::string>{"still"});
}

TEST_CASE("A QoS 2 delivery already started completes after UNSUBSCRIBE [MQTT-3.10.4-3]",
    "[broker][spec][unsubscribe][MQTT-3.10.4-3]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "t", {qos::exactly_once});
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "x", qos::exactly_once, 1), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    s.send(mqtt::unsubscribe{7, {"t"}, {}}, b.now);
    s.send(mqtt::pubrec{got[0].packet_id, reason_code::success, {}}, b.now);
    b.settle();
    auto rel = s.take_of<pubrel>();
    REQUIRE(rel.size() == 1);
    CHECK(rel[0].packet_id == got[0].packet_id);
    s.send(mqtt::pubcomp{got[0].packet_id, reason_code::success, {}}, b.now);
    b.settle();
    CHECK_FALSE(s.closed);
}

TEST_CASE("Session lifetime: kept while connected, discarded once closed and expired [MQTT-4.1.0-2]",
    "[broker][spec][session][MQTT-4.1.0-2]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s", true); // clean: lasts exactly as long as the connection
    b.subscribe(s, "t", {qos::at_least_once});
    b.now += std::chrono::hours(48);
    b.e.tick(b.now);
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "still connected", qos::at_least_once, 1), b.now);
    b.settle();
    CHECK(s.take_of<mqtt::publish>().size() == 1);
    s.drop(b.now);
    b.settle();
    CHECK(b.e.find_session("s") == nullptr);

    if (v == v5) {
        auto& e = b.connect(v, "e", false, expiry(10));
        e.drop(b.now);
        b.settle();
        b.now += std::chrono::seconds(5);
        b.e.tick(b.now);
        CHECK(b.e.find_session("e") != nullptr);
        b.now += std::chrono::seconds(6);
        b.e.tick(b.now);
        CHECK(b.e.find_session("e") == nullptr);
    }
}

TEST_CASE("Outgoing QoS 1 messages in flight at once use distinct unused packet identifiers [MQTT-4.3.2-1]",
    "[broker][spec][qos1][MQTT-4.3.2-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "t", {qos::at_least_once});
    auto& p = b.connect(v, "p");
    for (std::uint16_t i = 1; i <= 10; ++i)
        p.send(broker_fixture::msg("t", std::to_string(i), qos::at_least_once, i), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 10);
    std::set<std::uint16_t> ids;
    for (auto& m : got) {
        CHECK(m.packet_id != 0);
        ids.insert(m.packet_id);
    }
    CHECK(ids.size() == got.size());
}

TEST_CASE("5.0: after PUBACK the same packet identifier starts a new message [MQTT-4.3.2-5]",
    "[broker][spec][qos1][v5][MQTT-4.3.2-5]")
{
    broker_fixture b;
    auto& s = b.connect(v5, "s");
    b.subscribe(s, "t", {qos::at_most_once});
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "first", qos::at_least_once, 42), b.now);
    b.settle();
    REQUIRE(p.take_of<puback>().size() == 1);
    p.send(broker_fixture::msg("t", "second", qos::at_least_once, 42), b.now);
    b.settle();
    CHECK(p.take_of<puback>().size() == 1);
    CHECK(payloads(s.take_of<mqtt::publish>()) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("A message the server accepted goes into the session of an offline persistent subscriber [MQTT-4.5.0-1]",
    "[broker][spec][session][MQTT-4.5.0-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto props = v == v5 ? expiry(600) : properties{};
    auto& s = b.connect(v, "s", false, props);
    b.subscribe(s, "t", {qos::exactly_once});
    s.drop(b.now);
    b.settle();
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "one", qos::at_least_once, 1), b.now);
    p.send(broker_fixture::msg("t", "two", qos::exactly_once, 2), b.now);
    b.settle();
    auto& back = b.connect(v, "s", false, props);
    CHECK(payloads(back.take_of<mqtt::publish>()) == std::vector<std::string>{"one", "two"});
}

TEST_CASE("Messages of one topic reach each subscriber in the order published, whatever their QoS "
          "[MQTT-4.6.0-6]",
    "[broker][spec][order][MQTT-4.6.0-6]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    b.subscribe(s, "o", {qos::exactly_once});
    auto& p = b.connect(v, "p");
    std::vector<std::string> sent;
    for (std::uint16_t i = 1; i <= 12; ++i) {
        sent.push_back(std::to_string(i));
        p.send(broker_fixture::msg("o", sent.back(), static_cast<qos>(i % 3), i), b.now);
        if (i % 3 == 2) // complete the QoS 2 exchanges as a publisher would
            p.send(mqtt::pubrel{i, reason_code::success, {}}, b.now);
    }
    b.settle();
    CHECK(payloads(s.take_of<mqtt::publish>()) == sent);
}

TEST_CASE("5.0 shared subscription: a message refused with an error PUBACK is not sent to another member "
          "[MQTT-4.8.2-6]",
    "[broker][spec][shared][v5][MQTT-4.8.2-6]")
{
    broker_fixture b;
    auto& m1 = b.connect(v5, "m1");
    auto& m2 = b.connect(v5, "m2");
    b.subscribe(m1, "$share/g/t", {qos::at_least_once});
    b.subscribe(m2, "$share/g/t", {qos::at_least_once});
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "once", qos::at_least_once, 1), b.now);
    b.settle();
    auto a = m1.take_of<mqtt::publish>();
    auto c = m2.take_of<mqtt::publish>();
    REQUIRE(a.size() + c.size() == 1);
    auto& receiver = a.empty() ? m2 : m1;
    auto& other = a.empty() ? m1 : m2;
    auto id = a.empty() ? c[0].packet_id : a[0].packet_id;
    receiver.send(mqtt::puback{id, reason_code::unspecified_error, {}}, b.now);
    b.settle();
    CHECK(other.take_of<mqtt::publish>().empty());
    CHECK(receiver.take_of<mqtt::publish>().empty());
}

TEST_CASE("5.0 shared subscription: a member that was sent a message gets it again when it resumes "
          "[MQTT-4.8.2-4]",
    "[broker][spec][shared][v5][MQTT-4.8.2-4]")
{
    broker_fixture b;
    auto& m1 = b.connect(v5, "m1", false, expiry(600));
    b.subscribe(m1, "$share/g/t", {qos::at_least_once});
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "owed", qos::at_least_once, 1), b.now);
    b.settle();
    REQUIRE(m1.take_of<mqtt::publish>().size() == 1);
    m1.drop(b.now); // no PUBACK
    b.settle();
    auto& back = b.connect(v5, "m1", false, expiry(600));
    auto got = back.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == std::string_view("owed"));
    CHECK(got[0].dup);
}

TEST_CASE("5.0: without Server Keep Alive in CONNACK the client's Keep Alive is enforced at 1.5x [MQTT-3.2.2-22]",
    "[broker][spec][keepalive][v5][MQTT-3.2.2-22]")
{
    broker_fixture b;
    auto& c = b.open(v5);
    auto pkt = make_connect(v5, "k");
    pkt.keep_alive = 10;
    auto got = connect_with(b, c, pkt);
    REQUIRE(got.size() == 1);
    REQUIRE(std::holds_alternative<connack>(got[0]));
    CHECK_FALSE(std::get<connack>(got[0]).props.contains(property_id::server_keep_alive));
    auto deadline = b.e.keep_alive_deadline(c.id);
    REQUIRE(deadline);
    CHECK(*deadline == b.now + std::chrono::seconds(15));
    CHECK(b.e.next_timer() == deadline);
}

TEST_CASE("Keep Alive: the engine's ticks close a silent client at 1.5x and publish its will, and traffic "
          "moves the deadline [MQTT-3.1.2-22] [MQTT-3.1.2-24]",
    "[broker][spec][keepalive][MQTT-3.1.2-22][MQTT-3.1.2-24]")
{
    auto v = GENERATE(v5, v311);
    broker_fixture b;
    auto& w = b.connect(v, "watcher");
    b.subscribe(w, "wills/#", {qos::at_least_once});
    auto& c = b.open(v);
    auto pkt = make_connect(v, "k");
    pkt.keep_alive = 10;
    pkt.will = will{buffer("wills/k"), buffer("gone"), qos::at_least_once, false, {}};
    REQUIRE(connect_with(b, c, pkt).size() == 1);

    b.advance(std::chrono::seconds(10));
    c.send(pingreq{}, b.now); // moves the deadline to 25 s
    b.settle();
    CHECK(c.take_of<pingresp>().size() == 1);
    b.advance(std::chrono::seconds(5)); // 15 s: the first deadline, no longer due
    b.e.tick(b.now);
    b.settle();
    CHECK_FALSE(c.closed);
    CHECK(b.e.keep_alive_deadline(c.id) == b.now + std::chrono::seconds(10));

    b.advance(std::chrono::seconds(9)); // 24 s
    b.e.fire_timers(b.now);
    b.settle();
    CHECK_FALSE(c.closed);
    b.advance(std::chrono::seconds(1)); // 25 s: 1.5 x 10 s of silence
    b.e.fire_timers(b.now);
    b.settle();
    CHECK(c.closed);
    if (v == v5) {
        auto d = c.take_of<mqtt::disconnect>();
        REQUIRE(d.size() == 1);
        CHECK(d[0].code == reason_code::keep_alive_timeout);
    }
    auto wills = w.take_of<mqtt::publish>();
    REQUIRE(wills.size() == 1);
    CHECK(wills[0].payload == std::string_view("gone"));
}

TEST_CASE("5.0 Maximum QoS: advertised, SUBSCRIBE at QoS 2 still accepted at the maximum, will QoS above it "
          "refused with 0x9B [MQTT-3.2.2-9] [MQTT-3.2.2-10] [MQTT-3.2.2-12]",
    "[broker][spec][v5][MQTT-3.2.2-9][MQTT-3.2.2-10][MQTT-3.2.2-12]")
{
    engine_options o;
    o.max_qos = 1;
    broker_fixture b(o);
    connack ack;
    auto& s = b.connect(v5, "s", true, {}, std::nullopt, &ack);
    CHECK(ack.props.get_integer(property_id::maximum_qos) == 1u);
    s.send(mqtt::subscribe{1, {{"t", {qos::exactly_once}}}, {}}, b.now);
    b.settle();
    auto sa = s.take_of<suback>();
    REQUIRE(sa.size() == 1);
    CHECK(sa[0].codes == std::vector<reason_code>{reason_code::granted_qos_1});

    auto& w = b.open(v5);
    auto pkt = make_connect(v5, "w");
    pkt.will = will{buffer("wills/w"), buffer("x"), qos::exactly_once, false, {}};
    auto got = connect_with(b, w, pkt);
    require_refused(w, got, reason_code::qos_not_supported);
}

TEST_CASE("5.0 Retain Available 0: a will with Will Retain 1 is refused with 0x9A [MQTT-3.2.2-13]",
    "[broker][spec][v5][MQTT-3.2.2-13]")
{
    engine_options o;
    o.retain_available = false;
    broker_fixture b(o);
    auto& w = b.open(v5);
    auto pkt = make_connect(v5, "w");
    pkt.will = will{buffer("wills/w"), buffer("x"), qos::at_most_once, true, {}};
    auto got = connect_with(b, w, pkt);
    require_refused(w, got, reason_code::retain_not_supported);
}

TEST_CASE("5.0: an Authentication Method the server does not support is refused [MQTT-4.12.0-1] [MQTT-3.1.2-28]",
    "[broker][spec][v5][auth][MQTT-4.12.0-1][MQTT-3.1.2-28]")
{
    broker_fixture b;
    auto& c = b.open(v5);
    auto pkt = make_connect(v5, "a");
    pkt.props.add(property_id::authentication_method, std::string("SCRAM-SHA-1"));
    auto got = connect_with(b, c, pkt);
    require_refused(c, got, reason_code::bad_authentication_method);

    // Request Response Information 0 (the default): no Response Information in CONNACK.
    connack ack;
    b.connect(v5, "r", true, {}, std::nullopt, &ack);
    CHECK_FALSE(ack.props.contains(property_id::response_information));
}

TEST_CASE("message_size_limit: a larger payload is not routed, 5.0 QoS 1 gets PUBACK 0x83, 3.1.1 a plain PUBACK",
    "[broker][limits]")
{
    auto v = GENERATE(v311, v5);
    engine_options o;
    o.message_size_limit = 8;
    broker_fixture b(o);
    auto& s = b.connect(v, "s");
    b.subscribe(s, "t", {qos::at_least_once});
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("t", "far too long for the limit", qos::at_least_once, 3), b.now);
    p.send(broker_fixture::msg("t", "short", qos::at_least_once, 4), b.now);
    b.settle();
    auto acks = p.take_of<puback>();
    REQUIRE(acks.size() == 2);
    CHECK(acks[0].packet_id == 3);
    CHECK(acks[0].code == (v == v5 ? reason_code::implementation_specific_error : reason_code::success));
    CHECK(acks[1].code == reason_code::success);
    CHECK(payloads(s.take_of<mqtt::publish>()) == std::vector<std::string>{"short"});
}

TEST_CASE("An accepted CONNECT is answered with CONNACK 0x00 and the session starts [MQTT-3.1.4-5]",
    "[broker][spec][MQTT-3.1.4-5]")
{
    auto v = GENERATE(v5, v311);
    broker_fixture b;
    auto& c = b.open(v);
    auto got = connect_with(b, c, make_connect(v, "ok"));
    REQUIRE(got.size() == 1);
    auto* ack = std::get_if<connack>(&got[0]);
    REQUIRE(ack);
    CHECK(ack->code == reason_code::success);
    CHECK_FALSE(ack->session_present);
    CHECK_FALSE(c.closed);
    CHECK(b.e.has_session(c.id));
}

TEST_CASE("The Client Identifier names the session state: each persistent client gets back its own "
          "subscriptions and queued messages, no one else's [MQTT-3.1.3-2]",
    "[broker][spec][MQTT-3.1.3-2]")
{
    auto v = GENERATE(v5, v311);
    broker_fixture b;
    auto props = v == v5 ? expiry(600) : properties{};
    auto& a = b.connect(v, "client-a", false, props);
    b.subscribe(a, "for/a", {qos::at_least_once});
    auto& c = b.connect(v, "client-b", false, props);
    b.subscribe(c, "for/b", {qos::at_least_once});
    a.drop(b.now);
    c.drop(b.now);
    auto& p = b.connect(v, "pub");
    p.send(broker_fixture::msg("for/a", "to a", qos::at_least_once, 1), b.now);
    p.send(broker_fixture::msg("for/b", "to b", qos::at_least_once, 2), b.now);
    b.settle();

    connack ack;
    auto& b2 = b.connect(v, "client-b", false, props, std::nullopt, &ack);
    CHECK(ack.session_present);
    CHECK(payloads(b2.take_of<mqtt::publish>()) == std::vector<std::string>{"to b"});
    auto& a2 = b.connect(v, "client-a", false, props, std::nullopt, &ack);
    CHECK(ack.session_present);
    CHECK(payloads(a2.take_of<mqtt::publish>()) == std::vector<std::string>{"to a"});
    // And another identifier has no state at all.
    auto& n = b.connect(v, "client-c", false, props, std::nullopt, &ack);
    CHECK_FALSE(ack.session_present);
    CHECK(n.take_of<mqtt::publish>().empty());
}

TEST_CASE("UNSUBSCRIBE of a filter that matches no subscription still gets its UNSUBACK "
          "[MQTT-3.10.4-5] [MQTT-3.10.4-4]",
    "[broker][spec][MQTT-3.10.4-5][MQTT-3.10.4-4]")
{
    auto v = GENERATE(v5, v311);
    broker_fixture b;
    auto& c = b.connect(v, "u");
    c.send(mqtt::unsubscribe{9, {"never/subscribed"}, {}}, b.now);
    b.settle();
    auto acks = c.take_of<unsuback>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 9);
    if (v == v5)
        CHECK(acks[0].codes == std::vector<reason_code>{reason_code::no_subscription_existed});
    CHECK_FALSE(c.closed);
}

TEST_CASE("QoS 2 received from a publisher: the PUBREL is answered with PUBCOMP even after the message's expiry "
          "[MQTT-4.3.3-13]",
    "[broker][spec][qos2][v5][MQTT-4.3.3-13]")
{
    broker_fixture b;
    auto& p = b.connect(v5, "p");
    auto m = broker_fixture::msg("t", "short-lived", qos::exactly_once, 5);
    m.props.add(property_id::message_expiry_interval, 1u);
    p.send(m, b.now);
    b.settle();
    auto recs = p.take_of<pubrec>();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].packet_id == 5);
    b.advance(std::chrono::seconds(30)); // long expired
    b.e.tick(b.now);
    p.send(pubrel{5, reason_code::success, {}}, b.now);
    b.settle();
    auto comps = p.take_of<pubcomp>();
    REQUIRE(comps.size() == 1);
    CHECK(comps[0].packet_id == 5);
    CHECK(comps[0].code == reason_code::success);
    CHECK_FALSE(p.closed);
}

TEST_CASE("5.0 shared subscription: a message owed to a member whose session ends is not sent to another member "
          "[MQTT-4.8.2-5]",
    "[broker][spec][shared][v5][MQTT-4.8.2-5]")
{
    broker_fixture b;
    auto& m1 = b.connect(v5, "m1", false, expiry(10));
    auto& m2 = b.connect(v5, "m2", false, expiry(600));
    b.subscribe(m1, "$share/g/t", {qos::at_least_once});
    b.subscribe(m2, "$share/g/t", {qos::at_least_once});
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "owed", qos::at_least_once, 1), b.now);
    b.settle();
    auto a = m1.take_of<mqtt::publish>();
    auto c = m2.take_of<mqtt::publish>();
    REQUIRE(a.size() + c.size() == 1);
    if (a.empty()) {
        // Round robin picked m2: send another so that m1 holds one.
        m2.send(mqtt::puback{c[0].packet_id, reason_code::success, {}}, b.now);
        p.send(broker_fixture::msg("t", "owed", qos::at_least_once, 2), b.now);
        b.settle();
        a = m1.take_of<mqtt::publish>();
        REQUIRE(m2.take_of<mqtt::publish>().empty());
    }
    REQUIRE(a.size() == 1);
    m1.drop(b.now); // no PUBACK: the message is m1's
    b.settle();
    b.advance(std::chrono::seconds(11)); // m1's session expires
    b.e.tick(b.now);
    b.settle();
    CHECK(b.e.find_session("m1") == nullptr);
    CHECK(m2.take_of<mqtt::publish>().empty());
    // A new m1 has no session and gets nothing either.
    connack ack;
    auto& back = b.connect(v5, "m1", false, expiry(10), std::nullopt, &ack);
    CHECK_FALSE(ack.session_present);
    CHECK(back.take_of<mqtt::publish>().empty());
}

TEST_CASE("5.0: without an Authentication Method in CONNECT the server sends no AUTH and none in CONNACK, and an AUTH "
          "from the client is a protocol error [MQTT-4.12.0-6] [MQTT-4.12.0-7]",
    "[broker][spec][auth][v5][MQTT-4.12.0-6][MQTT-4.12.0-7]")
{
    broker_fixture b;
    connack ack;
    auto& c = b.connect(v5, "a", true, {}, std::nullopt, &ack);
    CHECK_FALSE(ack.props.contains(property_id::authentication_method));
    c.send(mqtt::auth{reason_code::continue_authentication, {}}, b.now);
    b.settle();
    CHECK(c.take_of<mqtt::auth>().empty());
    auto d = c.take_of<mqtt::disconnect>();
    REQUIRE(d.size() == 1);
    CHECK(d[0].code == reason_code::protocol_error);
    CHECK(c.closed);
}

TEST_CASE("A CONNECT that does not match the packet format closes the connection without a session "
          "[MQTT-3.1.4-1] [MQTT-4.8.0-1]",
    "[broker][spec][errors][MQTT-3.1.4-1][MQTT-4.8.0-1]")
{
    auto v = GENERATE(v5, v311);
    broker_fixture b;
    auto& c = b.open(v);
    // Connect Flags with the reserved bit set [MQTT-3.1.2-3].
    std::string bad = v == v5 ? std::string("\x10\x0e\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x01x", 16)
                              : std::string("\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01x", 15);
    b.e.received(c.id, bad, b.now);
    b.settle();
    CHECK(c.closed);
    CHECK_FALSE(b.e.has_session(c.id));
    for (auto& pkt : c.take()) {
        auto* ack = std::get_if<connack>(&pkt);
        if (ack) // 5.0 may answer with an error code first [MQTT-4.13.1-1]
            CHECK(is_error(ack->code));
        else
            CHECK(std::holds_alternative<connack>(pkt));
    }
    CHECK(b.e.find_session("x") == nullptr);
}

TEST_CASE("5.0: a client whose shared and non-shared subscriptions both match gets a copy for each, and each copy "
          "carries the Subscription Identifier of its own subscription [MQTT-3.3.4-5]",
    "[broker][spec][shared][v5][MQTT-3.3.4-5]")
{
    broker_fixture b;
    auto& s = b.connect(v5, "s");
    properties id5;
    id5.add(property_id::subscription_identifier, 5u);
    properties id7;
    id7.add(property_id::subscription_identifier, 7u);
    b.subscribe(s, "$share/g/t", {qos::at_most_once}, id5, 1);
    b.subscribe(s, "t", {qos::at_most_once}, id7, 2);
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "m", qos::at_most_once), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 2);
    std::vector<std::vector<std::uint32_t>> ids;
    for (auto& m : got)
        ids.push_back(m.props.subscription_identifiers());
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::vector<std::uint32_t>>{{5}, {7}});
}

TEST_CASE("3.1.1: a SUBSCRIBE or UNSUBSCRIBE with a filter that breaks the wildcard rules or is empty closes "
          "the connection [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-4.8.0-1]",
    "[broker][spec][v311][MQTT-4.7.1-2][MQTT-4.7.1-3][MQTT-4.7.3-1][MQTT-4.8.0-1]")
{
    // Packet id 1, one filter, QoS 0 (SUBSCRIBE) / the filter alone (UNSUBSCRIBE).
    auto subscribe = [](std::string_view f) {
        return std::string("\x82", 1) + char(4 + f.size() + 1) + std::string("\x00\x01\x00", 3) + char(f.size())
            + std::string(f) + std::string("\x00", 1);
    };
    auto unsubscribe = [](std::string_view f) {
        return std::string("\xA2", 1) + char(4 + f.size()) + std::string("\x00\x01\x00", 3) + char(f.size())
            + std::string(f);
    };
    for (std::string_view f : {"a/#/b", "a+", "#b", "a/b#", "+a/b", ""}) {
        for (bool sub : {true, false}) {
            INFO((sub ? "SUBSCRIBE " : "UNSUBSCRIBE ") << "'" << f << "'");
            broker_fixture b;
            auto& c = b.connect(v311, "c");
            b.e.received(c.id, sub ? subscribe(f) : unsubscribe(f), b.now);
            b.settle();
            CHECK(c.closed);
            CHECK(c.take().empty()); // no SUBACK 0x80 / UNSUBACK
            CHECK(b.e.subscription_count() == 0);
        }
    }
    // The same packets with valid filters are answered.
    broker_fixture b;
    auto& c = b.connect(v311, "c");
    b.e.received(c.id, subscribe("a/+/#"), b.now);
    b.e.received(c.id, unsubscribe("a/+/#"), b.now);
    b.settle();
    CHECK(!c.closed);
    CHECK(c.take_of<suback>().size() == 1);
    CHECK(c.take_of<unsuback>().size() == 1);
}

TEST_CASE("5.0: a filter that breaks the wildcard rules is refused with 0x8F in SUBACK and UNSUBACK, and the "
          "connection stays",
    "[broker][spec][v5]")
{
    broker_fixture b;
    auto& c = b.connect(v5, "c");
    const std::string sub("\x82\x0B\x00\x01\x00\x00\x05" "a/#/b" "\x00", 13);
    const std::string unsub("\xA2\x0A\x00\x02\x00\x00\x05" "a/#/b", 12);
    b.e.received(c.id, sub + unsub, b.now);
    b.settle();
    CHECK(!c.closed);
    auto sa = c.take_of<suback>();
    REQUIRE(sa.size() == 1);
    CHECK(sa[0].codes == std::vector<reason_code>{reason_code::topic_filter_invalid});
    auto ua = c.take_of<unsuback>();
    REQUIRE(ua.size() == 1);
    CHECK(ua[0].codes == std::vector<reason_code>{reason_code::topic_filter_invalid});
}

TEST_CASE("max_packet_size applies to 3.1.1 clients too: a larger packet closes the connection and is not "
          "delivered",
    "[broker][spec][v311]")
{
    engine_options o;
    o.max_packet_size = 100;
    for (auto v : {v311, v5}) {
        INFO((v == v5 ? "5.0" : "3.1.1"));
        broker_fixture b(o);
        auto& sub = b.connect(v, "s");
        b.subscribe(sub, "t", {qos::at_most_once});
        auto& pub = b.connect(v, "p");
        pub.send(broker_fixture::msg("t", std::string(200, 'x'), qos::at_most_once), b.now);
        pub.send(broker_fixture::msg("t", "small", qos::at_most_once), b.now);
        b.settle();
        CHECK(pub.closed);
        if (v == v5) {
            auto d = pub.take_of<mqtt::disconnect>();
            REQUIRE(d.size() == 1);
            CHECK(d[0].code == reason_code::packet_too_large);
        }
        CHECK(sub.take_of<mqtt::publish>().empty());
        // Within the limit, a message goes through.
        auto& pub2 = b.connect(v, "p2");
        pub2.send(broker_fixture::msg("t", std::string(50, 'x'), qos::at_most_once), b.now);
        b.settle();
        CHECK(sub.take_of<mqtt::publish>().size() == 1);
    }
}

TEST_CASE("A session taken over by a connection that continues it does not publish the old connection's Will, "
          "one taken over with a clean start does [MQTT-3.1.3-9] [MQTT-3.1.4-3]",
    "[broker][spec][will][MQTT-3.1.3-9][MQTT-3.1.4-3]")
{
    auto v = GENERATE(v311, v5);
    will w;
    w.topic = buffer("wills/x");
    w.payload = buffer("bye");
    w.qos = qos::at_least_once;
    properties persistent = v == v5 ? expiry(60) : properties{};
    for (bool clean_again : {false, true}) {
        INFO("new connection with clean start " << clean_again);
        broker_fixture b;
        auto& watcher = b.connect(v, "watcher");
        b.subscribe(watcher, "wills/#", {qos::at_least_once});
        auto& first = b.connect(v, "dev", false, persistent, w);
        b.connect(v, "dev", clean_again, persistent);
        b.settle();
        CHECK(first.closed);
        CHECK(watcher.take_of<mqtt::publish>().size() == (clean_again ? 1u : 0u));
    }
}

TEST_CASE("Clients cannot publish to $SYS or to a $share/ topic name, other $ topics are theirs",
    "[broker][spec][sys]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& watcher = b.connect(v, "watcher");
    b.subscribe(watcher, "$SYS/#", {qos::at_least_once});
    b.subscribe(watcher, "$share/g/t", {qos::at_least_once}, {}, 2);
    b.subscribe(watcher, "$test/#", {qos::at_least_once}, {}, 3);
    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("$SYS/broker/uptime", "fake", qos::at_least_once, 1), b.now);
    p.send(broker_fixture::msg("$share/g/t", "x", qos::at_least_once, 2), b.now);
    p.send(broker_fixture::msg("$SYS", "x", qos::at_most_once), b.now);
    p.send(broker_fixture::msg("$test/ok", "mine", qos::at_least_once, 3), b.now);
    // A bridge's state notification (Mosquitto's bridges publish it) is let through.
    p.send(broker_fixture::msg("$SYS/broker/connection/p/state", "1", qos::at_least_once, 4), b.now);
    b.settle();
    auto acks = p.take_of<puback>();
    REQUIRE(acks.size() == 4);
    if (v == v5) {
        CHECK(acks[0].code == reason_code::not_authorized);
        CHECK(acks[1].code == reason_code::not_authorized);
        CHECK(acks[2].code == reason_code::success);
        CHECK(acks[3].code == reason_code::success);
    }
    auto got = watcher.take_of<mqtt::publish>();
    REQUIRE(got.size() == 2);
    CHECK(got[0].topic == "$test/ok");
    CHECK(got[1].topic == "$SYS/broker/connection/p/state");
}

TEST_CASE("A 5.0 client that allows topic aliases gets them: the first PUBLISH of a topic carries it with an "
          "alias, the next ones the alias alone, within the client's maximum [MQTT-3.3.2-11]",
    "[broker][spec][v5][alias][MQTT-3.3.2-11]")
{
    broker_fixture b;
    properties props;
    props.add(property_id::topic_alias_maximum, 1u);
    auto& sub = b.connect(v5, "sub", true, props);
    b.subscribe(sub, "t/#", {qos::exactly_once});
    auto& plain = b.connect(v5, "plain"); // allows none: full topics only
    b.subscribe(plain, "t/#", {qos::exactly_once});
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t/a", "0", qos::at_most_once), b.now);
    p.send(broker_fixture::msg("t/a", "1", qos::at_least_once, 1), b.now);
    p.send(broker_fixture::msg("t/b", "2", qos::at_most_once), b.now); // no alias left
    p.send(broker_fixture::msg("t/a", "3", qos::exactly_once, 2), b.now);
    b.settle();
    auto got = sub.take_of<mqtt::publish>();
    REQUIRE(got.size() == 4);
    CHECK(got[0].topic == "t/a");
    CHECK(got[0].props.get_integer(property_id::topic_alias) == std::optional<std::uint32_t>(1));
    CHECK(got[1].topic.empty());
    CHECK(got[1].props.get_integer(property_id::topic_alias) == std::optional<std::uint32_t>(1));
    CHECK(got[2].topic == "t/b");
    CHECK(!got[2].props.contains(property_id::topic_alias));
    CHECK(got[3].topic.empty());
    CHECK(got[3].props.get_integer(property_id::topic_alias) == std::optional<std::uint32_t>(1));
    for (auto& m : plain.take_of<mqtt::publish>()) {
        CHECK(!m.topic.empty());
        CHECK(!m.props.contains(property_id::topic_alias));
    }
}

TEST_CASE("max_qos and retain_available hold for 3.1.1 clients too: a PUBLISH beyond them closes the connection "
          "and is not delivered or retained",
    "[broker][spec][v311]")
{
    engine_options o;
    o.max_qos = 1;
    o.retain_available = false;
    broker_fixture b(o);
    auto& sub = b.connect(v311, "s");
    b.subscribe(sub, "t/#", {qos::at_least_once});
    auto& q2 = b.connect(v311, "q2");
    q2.send(broker_fixture::msg("t/q", "x", qos::exactly_once, 1), b.now);
    b.settle();
    CHECK(q2.closed);
    CHECK(q2.take_of<pubrec>().empty());
    auto& r = b.connect(v311, "r");
    r.send(broker_fixture::msg("t/r", "x", qos::at_most_once, 0, true), b.now);
    b.settle();
    CHECK(r.closed);
    CHECK(b.e.retained_count() == 0);
    CHECK(sub.take_of<mqtt::publish>().empty());
    // Within the limits: delivered.
    auto& ok = b.connect(v311, "ok");
    ok.send(broker_fixture::msg("t/ok", "x", qos::at_least_once, 1), b.now);
    b.settle();
    CHECK(!ok.closed);
    CHECK(sub.take_of<mqtt::publish>().size() == 1);
}

// Broker engine: sessions, routing, retained messages, wills, shared subscriptions
// and access control, driven with real packet bytes.
#include <catch2/catch.hpp>

#include "engine_harness.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

TEST_CASE("Publish reaches subscribers at the lower of published and granted QoS [MQTT-3.8.4-8] [MQTT-3.8.4-6]",
    "[broker][routing][MQTT-3.8.4-8][MQTT-3.8.4-6][MQTT-3.3.5-1]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& sub0 = b.connect(v, "sub0");
    auto& sub2 = b.connect(v, "sub2");
    auto& pub = b.connect(v, "pub");
    b.subscribe(sub0, "a/+", {qos::at_most_once});
    b.subscribe(sub2, "a/#", {qos::exactly_once});
    pub.send(broker_fixture::msg("a/b", "x", qos::at_least_once, 7), b.now);
    b.settle();
    auto acks = pub.take_of<puback>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 7);
    auto got0 = sub0.take_of<mqtt::publish>();
    auto got2 = sub2.take_of<mqtt::publish>();
    REQUIRE(got0.size() == 1);
    REQUIRE(got2.size() == 1);
    CHECK(got0[0].qos == qos::at_most_once);
    CHECK(got2[0].qos == qos::at_least_once);
    CHECK(got2[0].payload == std::string_view("x"));
    CHECK_FALSE(got2[0].retain);
}

TEST_CASE("Overlapping subscriptions give one copy at the highest QoS with every subscription identifier "
          "[MQTT-3.3.5-1] [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4]",
    "[broker][routing][MQTT-3.3.5-1][MQTT-3.3.4-2][MQTT-3.3.4-3][MQTT-3.3.4-4]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    auto& p = b.connect(v, "p");
    properties id1, id2;
    id1.add(property_id::subscription_identifier, 11u);
    id2.add(property_id::subscription_identifier, 22u);
    b.subscribe(s, "x/+", {qos::at_least_once}, v == v5 ? id1 : properties{}, 1);
    b.subscribe(s, "x/#", {qos::at_most_once}, v == v5 ? id2 : properties{}, 2);
    p.send(broker_fixture::msg("x/y", "m", qos::exactly_once, 3), b.now);
    b.settle();
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].qos == qos::at_least_once);
    if (v == v5) {
        auto ids = got[0].props.subscription_identifiers();
        std::sort(ids.begin(), ids.end());
        CHECK(ids == std::vector<std::uint32_t>{11, 22});
    }
}

TEST_CASE("QoS 2 from a publisher: PUBREC, PUBREL, PUBCOMP, duplicates are not routed twice",
    "[broker][qos2][MQTT-4.3.3-10]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& s = b.connect(v, "s");
    auto& p = b.connect(v, "p");
    b.subscribe(s, "t", {qos::exactly_once});
    auto m = broker_fixture::msg("t", "once", qos::exactly_once, 9);
    p.send(m, b.now);
    m.dup = true;
    p.send(m, b.now);
    p.send(m, b.now);
    b.settle();
    CHECK(p.take_of<pubrec>().size() == 3);
    CHECK_FALSE(p.closed);
    p.send(pubrel{9, reason_code::success, {}}, b.now);
    b.settle();
    CHECK(p.take_of<pubcomp>().size() == 1);
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].qos == qos::exactly_once);
}

TEST_CASE("5.0: PUBACK says No matching subscribers when nobody subscribed", "[broker][v5]")
{
    broker_fixture b;
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("nobody/here", "x", qos::at_least_once, 1), b.now);
    b.settle();
    auto acks = p.take_of<puback>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code == reason_code::no_matching_subscribers);
}

TEST_CASE("Retained messages: stored, replaced, cleared by an empty payload, sent on subscribe with RETAIN 1 "
          "[MQTT-3.3.1-5] [MQTT-3.3.1-8] [MQTT-3.3.1-9] [MQTT-3.3.1-10]",
    "[broker][retained][v311][MQTT-3.3.1-5][MQTT-3.3.1-8][MQTT-3.3.1-9][MQTT-3.3.1-10][MQTT-3.3.1-11]")
{
    broker_fixture b;
    auto& p = b.connect(v311, "p");
    p.send(broker_fixture::msg("r/1", "old", qos::at_most_once, 0, true), b.now);
    p.send(broker_fixture::msg("r/1", "new", qos::at_most_once, 0, true), b.now);
    p.send(broker_fixture::msg("r/2", "two", qos::at_least_once, 1, true), b.now);
    b.settle();
    CHECK(b.e.retained_count() == 2);

    auto& s = b.connect(v311, "s");
    b.subscribe(s, "r/#", {qos::at_least_once});
    auto got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 2);
    for (auto& g : got)
        CHECK(g.retain);
    auto bodies = payloads(got);
    std::sort(bodies.begin(), bodies.end());
    CHECK(bodies == std::vector<std::string>{"new", "two"});

    // A live message published with RETAIN goes to existing subscribers with RETAIN 0.
    p.send(broker_fixture::msg("r/1", "live", qos::at_most_once, 0, true), b.now);
    b.settle();
    got = s.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[0].retain);

    // An empty retained payload clears the topic.
    p.send(broker_fixture::msg("r/1", "", qos::at_most_once, 0, true), b.now);
    b.settle();
    CHECK(b.e.retained_count() == 1);
}

TEST_CASE("5.0 Retain Handling and Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13]",
    "[broker][retained][v5][MQTT-3.3.1-12][MQTT-3.3.1-13][MQTT-3.3.1-9]")
{
    broker_fixture b;
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("k", "kept", qos::at_most_once, 0, true), b.now);
    b.settle();
    auto& s = b.connect(v5, "s");

    subscribe_options never{qos::at_most_once};
    never.retain_handling = retain_handling::do_not_send;
    b.subscribe(s, "k", never, {}, 1);
    CHECK(s.take_of<mqtt::publish>().empty());

    subscribe_options if_new{qos::at_most_once};
    if_new.retain_handling = retain_handling::send_if_new_subscription;
    b.subscribe(s, "k/#", if_new, {}, 2);
    CHECK(s.take_of<mqtt::publish>().size() == 1);
    b.subscribe(s, "k/#", if_new, {}, 3); // existed: nothing again
    CHECK(s.take_of<mqtt::publish>().empty());

    subscribe_options rap{qos::at_most_once};
    rap.retain_as_published = true;
    rap.retain_handling = retain_handling::do_not_send;
    auto& s2 = b.connect(v5, "s2");
    b.subscribe(s2, "k", rap);
    p.send(broker_fixture::msg("k", "again", qos::at_most_once, 0, true), b.now);
    b.settle();
    auto got = s2.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].retain);
}

TEST_CASE("No Local: a client's own messages are not sent back to it [MQTT-3.8.3-3]", "[broker][v5][MQTT-3.8.3-3]")
{
    broker_fixture b;
    auto& c = b.connect(v5, "c");
    subscribe_options o{qos::at_most_once};
    o.no_local = true;
    b.subscribe(c, "loop", o);
    c.send(broker_fixture::msg("loop", "x", qos::at_most_once), b.now);
    b.settle();
    CHECK(c.take_of<mqtt::publish>().empty());
    auto& other = b.connect(v5, "other");
    other.send(broker_fixture::msg("loop", "y", qos::at_most_once), b.now);
    b.settle();
    CHECK(c.take_of<mqtt::publish>().size() == 1);
}

TEST_CASE("Will: published on abnormal close, not after DISCONNECT, published after DISCONNECT 0x04 "
          "[MQTT-3.1.2-8] [MQTT-3.1.2-10]",
    "[broker][will][MQTT-3.1.2-8][MQTT-3.1.2-10]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& watcher = b.connect(v, "watcher");
    b.subscribe(watcher, "wills/#", {qos::at_least_once});
    will w;
    w.topic = buffer("wills/a");
    w.payload = buffer("gone");
    w.qos = qos::at_least_once;

    SECTION("network failure publishes it")
    {
        auto& a = b.connect(v, "a", true, {}, w);
        a.drop(b.now);
        b.settle();
        auto got = watcher.take_of<mqtt::publish>();
        REQUIRE(got.size() == 1);
        CHECK(got[0].payload == std::string_view("gone"));
    }
    SECTION("normal DISCONNECT discards it")
    {
        auto& a = b.connect(v, "a", true, {}, w);
        a.send(mqtt::disconnect{}, b.now);
        b.settle();
        a.drop(b.now);
        b.settle();
        CHECK(watcher.take_of<mqtt::publish>().empty());
    }
    if (v == v5) {
        SECTION("DISCONNECT with 0x04 publishes it")
        {
            auto& a = b.connect(v, "a", true, {}, w);
            a.send(mqtt::disconnect{reason_code::disconnect_with_will_message, {}}, b.now);
            b.settle();
            CHECK(watcher.take_of<mqtt::publish>().size() == 1);
        }
    }
}

TEST_CASE("Will Delay Interval: published after the delay, not if the client comes back in time",
    "[broker][will][v5]")
{
    broker_fixture b;
    auto& watcher = b.connect(v5, "watcher");
    b.subscribe(watcher, "wills/#", {qos::at_most_once});
    will w;
    w.topic = buffer("wills/d");
    w.payload = buffer("late");
    w.props.add(property_id::will_delay_interval, 30u);
    properties expiry;
    expiry.add(property_id::session_expiry_interval, 300u);

    auto& a = b.connect(v5, "delayed", false, expiry, w);
    a.drop(b.now);
    b.settle();
    CHECK(watcher.take_of<mqtt::publish>().empty());

    SECTION("after the delay")
    {
        b.now += std::chrono::seconds(31);
        b.e.tick(b.now);
        b.settle();
        CHECK(watcher.take_of<mqtt::publish>().size() == 1);
    }
    SECTION("back in time: no will")
    {
        b.now += std::chrono::seconds(10);
        b.connect(v5, "delayed", false, expiry);
        b.now += std::chrono::seconds(60);
        b.e.tick(b.now);
        b.settle();
        CHECK(watcher.take_of<mqtt::publish>().empty());
    }
}

TEST_CASE("Session takeover: the old connection is closed, 5.0 with DISCONNECT 0x8E [MQTT-3.1.4-2] [MQTT-3.1.4-3]",
    "[broker][session][MQTT-3.1.4-2][MQTT-3.1.4-3]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b;
    auto& first = b.connect(v, "same");
    auto& second = b.connect(v, "same");
    (void)second;
    auto pk = first.take();
    CHECK(first.closed);
    if (v == v5) {
        REQUIRE(pk.size() == 1);
        REQUIRE(std::holds_alternative<mqtt::disconnect>(pk[0]));
        CHECK(std::get<mqtt::disconnect>(pk[0]).code == reason_code::session_taken_over);
    }
}

TEST_CASE("Persistent session: QoS 1/2 messages are kept while away and delivered on return, QoS 0 is not "
          "[MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2] [MQTT-3.2.2-3]",
    "[broker][session][v311][MQTT-3.1.2-4][MQTT-3.1.2-5][MQTT-3.2.2-2][MQTT-3.2.2-3]")
{
    broker_fixture b;
    connack ack;
    auto& s = b.connect(v311, "durable", false, {}, std::nullopt, &ack);
    CHECK_FALSE(ack.session_present);
    b.subscribe(s, "q/#", {qos::exactly_once});
    s.drop(b.now);
    b.settle();
    auto& p = b.connect(v311, "p");
    p.send(broker_fixture::msg("q/1", "one", qos::at_least_once, 1), b.now);
    p.send(broker_fixture::msg("q/2", "two", qos::exactly_once, 2), b.now);
    p.send(broker_fixture::msg("q/0", "zero", qos::at_most_once), b.now);
    b.settle();

    auto& back = b.connect(v311, "durable", false, {}, std::nullopt, &ack);
    CHECK(ack.session_present);
    auto got = back.take_of<mqtt::publish>();
    CHECK(payloads(got) == std::vector<std::string>{"one", "two"});

    // Clean session discards it.
    back.drop(b.now);
    b.settle();
    b.connect(v311, "durable", true, {}, std::nullopt, &ack);
    CHECK_FALSE(ack.session_present); // [MQTT-3.2.2-1]
}

TEST_CASE("Session Expiry Interval: the session is kept for that long and then discarded",
    "[broker][session][v5][MQTT-3.1.2-23]")
{
    broker_fixture b;
    properties expiry;
    expiry.add(property_id::session_expiry_interval, 60u);
    auto& s = b.connect(v5, "exp", false, expiry);
    b.subscribe(s, "e", {qos::at_least_once});
    s.drop(b.now);
    b.settle();
    CHECK(b.e.find_session("exp") != nullptr);
    b.now += std::chrono::seconds(59);
    b.e.tick(b.now);
    CHECK(b.e.find_session("exp") != nullptr);
    b.now += std::chrono::seconds(2);
    b.e.tick(b.now);
    CHECK(b.e.find_session("exp") == nullptr);
    CHECK(b.e.subscription_count() == 0);
}

TEST_CASE("Zero-length client id: assigned in 5.0, refused in 3.1.1 without clean session "
          "[MQTT-3.1.3-8] [MQTT-3.2.2-16] [MQTT-3.1.3-6]",
    "[broker][connect][MQTT-3.1.3-8][MQTT-3.2.2-16][MQTT-3.1.3-6]")
{
    broker_fixture b;
    connack ack;
    b.connect(v5, "", true, {}, std::nullopt, &ack);
    CHECK(ack.code == reason_code::success);
    auto assigned = ack.props.get_string(property_id::assigned_client_identifier);
    REQUIRE(assigned);
    CHECK_FALSE(assigned->empty());

    b.connect(v311, "", true, {}, std::nullopt, &ack);
    CHECK(ack.code == reason_code::success);
    b.connect(v311, "", false, {}, std::nullopt, &ack);
    CHECK(ack.code == reason_code::client_identifier_not_valid); // 3.1.1 return code 0x02
}

TEST_CASE("Shared subscriptions: round robin between members, skipping offline ones", "[broker][shared][v5]")
{
    broker_fixture b;
    auto& m1 = b.connect(v5, "m1");
    auto& m2 = b.connect(v5, "m2");
    b.subscribe(m1, "$share/g/jobs/#", {qos::at_least_once});
    b.subscribe(m2, "$share/g/jobs/#", {qos::at_least_once});
    auto& p = b.connect(v5, "p");
    for (int i = 0; i < 4; ++i)
        p.send(broker_fixture::msg("jobs/x", std::to_string(i), qos::at_most_once), b.now);
    b.settle();
    auto a = m1.take_of<mqtt::publish>();
    auto c = m2.take_of<mqtt::publish>();
    CHECK(a.size() == 2);
    CHECK(c.size() == 2);
    // Retained messages are not sent to shared subscriptions; each message goes to one member only.
    CHECK(a.size() + c.size() == 4);
}

namespace {
struct deny_secret : access_control {
    reason_code authenticate(const connection_info&, std::optional<std::string_view> username,
        const std::optional<std::string>&) override
    {
        return username && *username == "mallory" ? reason_code::bad_user_name_or_password : reason_code::success;
    }
    bool can_publish(const client_identity&, std::string_view topic) override { return topic.rfind("secret", 0) != 0; }
    bool can_subscribe(const client_identity&, std::string_view filter) override { return filter != "secret/#"; }
    bool can_receive(const client_identity& who, std::string_view topic) override
    {
        return !(topic == "private" && who.client_id != "owner");
    }
};
} // namespace

TEST_CASE("Access control: refused CONNECT, SUBACK 0x80/0x87, denied PUBLISH 0x87 or dropped, no leaking deliveries "
          "[MQTT-3.3.5-2]",
    "[broker][acl][MQTT-3.3.5-2]")
{
    auto v = GENERATE(v311, v5);
    broker_fixture b({}, std::make_shared<deny_secret>());
    auto& bad = b.open(v);
    mqtt::connect c;
    c.version = v;
    c.client_id = "m";
    c.username = "mallory";
    c.password = "x";
    bad.send(c, b.now);
    b.settle();
    auto acks = bad.take_of<connack>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code == reason_code::bad_user_name_or_password);
    CHECK(bad.closed);

    auto& s = b.connect(v, "s");
    s.send(mqtt::subscribe{1, {{"secret/#", {}}, {"private", {}}}, {}}, b.now);
    b.settle();
    auto sa = s.take_of<suback>();
    REQUIRE(sa.size() == 1);
    REQUIRE(sa[0].codes.size() == 2);
    CHECK(sa[0].codes[0] == (v == v5 ? reason_code::not_authorized : reason_code::unspecified_error));
    CHECK(sa[0].codes[1] == reason_code::granted_qos_0);

    auto& p = b.connect(v, "p");
    p.send(broker_fixture::msg("secret/x", "no", qos::at_least_once, 4), b.now);
    p.send(broker_fixture::msg("private", "not for s", qos::at_most_once), b.now);
    b.settle();
    auto pa = p.take_of<puback>();
    REQUIRE(pa.size() == 1);
    CHECK(pa[0].code == (v == v5 ? reason_code::not_authorized : reason_code::success));
    CHECK(s.take_of<mqtt::publish>().empty());
}

TEST_CASE("$SYS topics are not matched by a leading wildcard [MQTT-4.7.2-1]", "[broker][sys][MQTT-4.7.2-1]")
{
    broker_fixture b;
    auto& all = b.connect(v5, "all");
    auto& sys = b.connect(v5, "sys");
    b.subscribe(all, "#", {qos::at_most_once});
    b.subscribe(sys, "$SYS/#", {qos::at_most_once});
    mqtt::publish m;
    m.topic = buffer("$SYS/broker/uptime");
    m.payload = buffer("1 seconds");
    b.e.publish_internal(m, b.now);
    b.settle();
    CHECK(all.take_of<mqtt::publish>().empty());
    CHECK(sys.take_of<mqtt::publish>().size() == 1);
}

TEST_CASE("UNSUBSCRIBE answers each filter, 5.0 says No subscription existed [MQTT-3.10.4-5]",
    "[broker][v5][MQTT-3.10.4-5][MQTT-3.10.4-4]")
{
    broker_fixture b;
    auto& s = b.connect(v5, "s");
    b.subscribe(s, "a", {});
    s.send(mqtt::unsubscribe{5, {"a", "b"}, {}}, b.now);
    b.settle();
    auto ua = s.take_of<unsuback>();
    REQUIRE(ua.size() == 1);
    CHECK(ua[0].packet_id == 5);
    CHECK(ua[0].codes == std::vector<reason_code>{reason_code::success, reason_code::no_subscription_existed});
    CHECK(b.e.subscription_count() == 0);
}

TEST_CASE("A malformed packet closes only that connection", "[broker][errors]")
{
    broker_fixture b;
    auto& good = b.connect(v5, "good");
    b.subscribe(good, "t", {});
    auto& bad = b.connect(v5, "bad");
    std::string garbage("\x30\x04\x00\x09zz", 6); // topic length runs past the packet
    b.e.received(bad.id, garbage, b.now);
    b.settle();
    bad.take();
    CHECK(bad.closed);
    auto& p = b.connect(v5, "p");
    p.send(broker_fixture::msg("t", "still here", qos::at_most_once), b.now);
    b.settle();
    CHECK(good.take_of<mqtt::publish>().size() == 1);
    CHECK_FALSE(good.closed);
}

TEST_CASE("Offline queue bound: messages beyond max_queued_messages are dropped and counted", "[broker][queue]")
{
    engine_options o;
    o.max_queued_messages = 3;
    broker_fixture b(o);
    auto& s = b.connect(v311, "slow", false);
    b.subscribe(s, "q", {qos::at_least_once});
    s.drop(b.now);
    auto& p = b.connect(v311, "p");
    for (std::uint16_t i = 1; i <= 5; ++i)
        p.send(broker_fixture::msg("q", std::to_string(i), qos::at_least_once, i), b.now);
    b.settle();
    CHECK(b.e.metrics().dropped_queue_full == 2);
    auto& back = b.connect(v311, "slow", false);
    CHECK(payloads(back.take_of<mqtt::publish>()) == std::vector<std::string>{"1", "2", "3"});
}

namespace {

// The persistent 3.1.1 subscriber "away", subscribed to `filter` at QoS 1 and
// then offline, and a connected publisher.
fake_client& offline_subscriber_and_publisher(broker_fixture& b, const std::string& filter)
{
    auto& s = b.connect(v311, "away", false);
    b.subscribe(s, filter, {qos::at_least_once});
    s.drop(b.now);
    b.settle();
    return b.connect(v311, "p");
}

// The one message queued for "away".
mqtt::publish queued_for_away(broker_fixture& b)
{
    const auto* rec = b.e.find_session("away");
    REQUIRE(rec);
    auto st = rec->core->state();
    REQUIRE(st.outgoing.size() == 1);
    return st.outgoing.front().msg;
}

} // namespace

TEST_CASE("A message queued for an offline client owns its bytes: it does not pin the read it came in",
    "[broker][queue][memory]")
{
    broker_fixture b;
    auto& p = offline_subscriber_and_publisher(b, "q/kept");
    // One read carrying a message for the offline client between two for nobody.
    std::string bytes;
    std::uint16_t id = 0;
    for (auto* topic : {"q/other", "q/kept", "q/other"}) {
        std::string one;
        REQUIRE_FALSE(encode(broker_fixture::msg(topic, std::string(100, 'x'), qos::at_least_once, ++id), v311, one));
        bytes += one;
    }
    b.e.received(p.id, bytes, b.now);
    b.settle();

    const auto kept = queued_for_away(b);
    CHECK(kept.topic == std::string_view("q/kept"));
    CHECK(kept.payload == std::string(100, 'x'));
    // Topic and payload share one allocation of their own size, not the read's.
    REQUIRE(kept.payload.owner());
    CHECK(kept.topic.owner() == kept.payload.owner());
    const auto* start = static_cast<const char*>(kept.payload.owner().get());
    CHECK(kept.topic.data() == start);
    CHECK(kept.payload.data() == start + kept.topic.size());
}

TEST_CASE("A large message queued for an offline client is not copied", "[broker][queue][memory]")
{
    broker_fixture b;
    auto& p = offline_subscriber_and_publisher(b, "big");
    const std::string payload(100'000, 'x');
    p.send(broker_fixture::msg("big", payload, qos::at_least_once, 1), b.now);
    b.settle();
    const auto kept = queued_for_away(b);
    CHECK(kept.payload == payload);
    // Still the view into the buffer it was decoded into: the packet's header
    // and topic come first there, so the payload does not follow the topic's
    // bytes at the start of the allocation as in a copy.
    REQUIRE(kept.payload.owner());
    const auto* start = static_cast<const char*>(kept.payload.owner().get());
    CHECK(kept.payload.data() != start + kept.topic.size());
    CHECK(kept.topic.data() != start);
}

TEST_CASE("persistent_client_expiration caps a session's expiry asked for in CONNECT and in DISCONNECT",
    "[broker][session][v5]")
{
    engine_options o;
    o.persistent_client_expiration = std::chrono::seconds(60);
    broker_fixture b(o);
    properties connect_expiry;
    connect_expiry.add(property_id::session_expiry_interval, 30u);
    // 0xFFFFFFFF: never expires (3.3.2.3.2). In CONNECT, then in DISCONNECT.
    for (bool in_disconnect : {false, true}) {
        INFO((in_disconnect ? "DISCONNECT" : "CONNECT") << " asks for a session that never expires");
        properties never;
        never.add(property_id::session_expiry_interval, 0xFFFFFFFFu);
        auto& c = b.connect(v5, "capped", false, in_disconnect ? connect_expiry : never);
        c.send(mqtt::disconnect{reason_code::normal_disconnection, in_disconnect ? never : properties{}}, b.now);
        b.settle();
        CHECK(c.closed);
        b.now += std::chrono::seconds(59);
        b.e.tick(b.now);
        CHECK(b.e.session_count() == 1); // within the cap: kept
        b.now += std::chrono::seconds(2);
        b.e.tick(b.now);
        CHECK(b.e.session_count() == 0); // the cap, not what the client asked for
    }
}

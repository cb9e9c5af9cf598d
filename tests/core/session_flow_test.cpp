// Flow control, packet ids, packet size limits, topic aliases and expiry in the session core.
#include <catch2/catch.hpp>

#include "session_harness.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {
const auto v5 = protocol_version::v5;
const auto v311 = protocol_version::v3_1_1;
} // namespace

TEST_CASE("The sender keeps at most Receive Maximum QoS>0 publishes in flight and queues the rest "
          "[MQTT-3.3.4-7] [MQTT-4.9.0-1] [MQTT-4.9.0-2]",
    "[session][flow][v5][MQTT-3.3.4-7][MQTT-4.9.0-1][MQTT-4.9.0-2]")
{
    client_session c;
    properties props;
    props.add(property_id::receive_maximum, 2u);
    connect_client(c, v5, false, props);
    for (int i = 0; i < 5; ++i)
        c.publish(make_publish("t", std::to_string(i), i % 2 ? qos::exactly_once : qos::at_least_once), 1, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 2);
    CHECK(c.inflight_count() == 2);
    CHECK(c.queued_count() == 3);

    c.receive(packet(puback{pubs[0].packet_id, reason_code::success, {}}), t0());
    auto next = sent_of<publish>(take(c));
    REQUIRE(next.size() == 1);
    CHECK(next[0].payload == std::string_view("2"));

    // A QoS 2 message holds its slot until PUBCOMP, not PUBREC.
    c.receive(packet(pubrec{pubs[1].packet_id, reason_code::success, {}}), t0());
    CHECK(sent_of<publish>(take(c)).empty());
    c.receive(packet(pubcomp{pubs[1].packet_id, reason_code::success, {}}), t0());
    auto after = sent_of<publish>(take(c));
    REQUIRE(after.size() == 1);
    CHECK(after[0].payload == std::string_view("3"));
}

TEST_CASE("A PUBREC with an error frees the send quota [MQTT-3.3.4-7]", "[session][flow][v5][MQTT-3.3.4-7]")
{
    server_session s;
    auto c = make_connect(v5);
    c.props.add(property_id::receive_maximum, 1u);
    connect_server(s, v5, false, {}, c);
    s.publish(make_publish("t", "a", qos::exactly_once), 1, t0());
    s.publish(make_publish("t", "b", qos::exactly_once), 2, t0());
    auto pubs = sent_of<publish>(take(s));
    REQUIRE(pubs.size() == 1); // [MQTT-3.3.4-9]
    s.receive(packet(pubrec{pubs[0].packet_id, reason_code::unspecified_error, {}}), t0());
    auto next = sent_of<publish>(take(s));
    REQUIRE(next.size() == 1);
    CHECK(next[0].payload == std::string_view("b"));
}

TEST_CASE("The server respects the client's Receive Maximum [MQTT-3.3.4-9]", "[session][flow][v5][MQTT-3.3.4-9]")
{
    server_session s;
    auto c = make_connect(v5);
    c.props.add(property_id::receive_maximum, 3u);
    connect_server(s, v5, false, {}, c);
    for (int i = 0; i < 10; ++i)
        s.publish(make_publish("t", "m", qos::at_least_once), 0, t0());
    CHECK(sent_of<publish>(take(s)).size() == 3);
    CHECK(s.peer_receive_maximum() == 3);
}

TEST_CASE("Other packets are not delayed by a full send quota [MQTT-3.3.4-8] [MQTT-4.9.0-3] [MQTT-3.3.4-10]",
    "[session][flow][v5][MQTT-3.3.4-8][MQTT-4.9.0-3][MQTT-3.3.4-10]")
{
    client_session c;
    properties props;
    props.add(property_id::receive_maximum, 1u);
    connect_client(c, v5, false, props);
    c.publish(make_publish("t", "a", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "b", qos::at_least_once), 2, t0());
    take(c);
    c.subscribe(subscribe{0, {{"x/#", {}}}, {}}, 3, t0());
    CHECK(sent_of<subscribe>(take(c)).size() == 1);
    auto p = make_publish("in", "z", qos::at_least_once);
    p.packet_id = 500;
    c.receive(packet(p), t0());
    CHECK(sent_of<puback>(take(c)).size() == 1);
    c.receive(packet(pingreq{}), t0()); // a client does not receive PINGREQ: protocol error
    CHECK(closed(take(c)));

    server_session s;
    auto cc = make_connect(v5);
    cc.props.add(property_id::receive_maximum, 1u);
    connect_server(s, v5, false, {}, cc);
    s.publish(make_publish("t", "a", qos::at_least_once), 1, t0());
    s.publish(make_publish("t", "b", qos::at_least_once), 2, t0());
    take(s);
    s.receive(packet(pingreq{}), t0());
    CHECK(sent(take(s)).size() == 1); // PINGRESP goes out at once
}

TEST_CASE("A peer that exceeds our Receive Maximum is disconnected with 0x93", "[session][flow][v5]")
{
    session_options o;
    o.manual_ack = true;
    server_session s(o);
    properties props;
    props.add(property_id::receive_maximum, 2u);
    connect_server(s, v5, false, props);
    for (std::uint16_t id = 1; id <= 2; ++id) {
        auto p = make_publish("t", "x", qos::exactly_once);
        p.packet_id = id;
        s.receive(packet(p), t0());
        CHECK_FALSE(closed(take(s)));
    }
    auto p = make_publish("t", "x", qos::at_least_once);
    p.packet_id = 3;
    s.receive(packet(p), t0());
    auto a = take(s);
    REQUIRE(closed(a));
    auto d = sent_of<disconnect>(a);
    REQUIRE(d.size() == 1);
    CHECK(d[0].code == reason_code::receive_maximum_exceeded);
}

TEST_CASE("Packet ids: never an id in flight, exhaustion waits for an acknowledgment [MQTT-2.2.1-3]",
    "[session][ids][v5][MQTT-2.2.1-3]")
{
    session_options o;
    o.maximum_packet_id = 3;
    client_session c(o);
    connect_client(c, v5);
    for (int i = 0; i < 5; ++i)
        c.publish(make_publish("t", std::to_string(i), qos::at_least_once), static_cast<std::uint64_t>(i + 1), t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 3);
    std::set<std::uint16_t> ids;
    for (auto& p : pubs)
        ids.insert(p.packet_id);
    CHECK(ids.size() == 3);
    // SUBSCRIBE shares the id space and fails clearly when none is free.
    c.subscribe(subscribe{0, {{"a", {}}}, {}}, 99, t0());
    auto sd = only<subscribe_done>(take(c));
    REQUIRE(sd.size() == 1);
    CHECK(sd[0].ec == make_error_code(errc::packet_id_exhausted));

    c.receive(packet(puback{pubs[1].packet_id, reason_code::success, {}}), t0());
    auto next = sent_of<publish>(take(c));
    REQUIRE(next.size() == 1);
    CHECK(next[0].payload == std::string_view("3"));
    CHECK(ids.count(next[0].packet_id) == 1);
    CHECK(next[0].packet_id != pubs[0].packet_id);
    CHECK(next[0].packet_id != pubs[2].packet_id);
}

TEST_CASE("The offline queue is bounded in messages and bytes, overflow completes with queue_full",
    "[session][queue]")
{
    session_options o;
    o.max_queued_messages = 2;
    o.max_queued_bytes = 10;
    client_session c(o);
    c.publish(make_publish("t", "12345", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "12345", qos::at_least_once), 2, t0());
    c.publish(make_publish("t", "1", qos::at_least_once), 3, t0()); // over the message bound
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 3);
    CHECK(done[0].ec == make_error_code(errc::queue_full));
    CHECK(c.queued_count() == 2);
    CHECK(c.queued_bytes() == 10);
    // Queued while offline, sent in order once connected.
    auto pubs = sent_of<publish>(connect_client(c, v5));
    REQUIRE(pubs.size() == 2);
    CHECK_FALSE(pubs[0].dup);
}

TEST_CASE("A PUBLISH larger than the peer's Maximum Packet Size is not sent [MQTT-3.2.2-15] [MQTT-3.1.2-24] "
          "[MQTT-3.1.2-25]",
    "[session][size][v5][MQTT-3.2.2-15][MQTT-3.1.2-24][MQTT-3.1.2-25]")
{
    client_session c;
    properties props;
    props.add(property_id::maximum_packet_size, 64u);
    connect_client(c, v5, false, props);
    c.publish(make_publish("t", std::string(100, 'x'), qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "small", qos::at_least_once), 2, t0());
    auto a = take(c);
    auto pubs = sent_of<publish>(a);
    REQUIRE(pubs.size() == 1);
    CHECK(pubs[0].payload == std::string_view("small"));
    auto done = only<publish_done>(a);
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 1);
    CHECK(done[0].ec == make_error_code(reason_code::packet_too_large));

    // Server side: discarded as if sent.
    server_session s;
    auto cc = make_connect(v5);
    cc.props.add(property_id::maximum_packet_size, 64u);
    connect_server(s, v5, false, {}, cc);
    s.publish(make_publish("t", std::string(100, 'x'), qos::at_most_once), 0, t0());
    CHECK(sent_of<publish>(take(s)).empty());
    CHECK(s.queued_count() == 0);
}

TEST_CASE("A packet that does not fit the peer's Maximum Packet Size even without diagnostics is not sent "
          "[MQTT-3.1.2-24]",
    "[session][size][v5][MQTT-3.1.2-24]")
{
    // A CONNACK takes at least 5 bytes; a client that allows 4 gets none.
    server_session s;
    auto cc = make_connect(v5);
    cc.props.add(property_id::maximum_packet_size, 4u);
    properties ack;
    ack.add(property_id::reason_string, std::string("welcome"));
    auto a = connect_server(s, v5, false, ack, cc);
    for (auto& p : sent(a)) {
        auto size = encoded_size(p, v5);
        REQUIRE(size);
        CHECK(*size <= 4);
    }
    CHECK(sent_of<connack>(a).empty());
    CHECK(closed(a)); // and no session starts without a CONNACK
    CHECK(!s.is_connected());
}

namespace {

// A Reason String and a User Property of 100 bytes each.
properties diagnostics()
{
    properties p;
    p.add(property_id::reason_string, std::string(100, 'r'));
    p.add_user_property("k", std::string(100, 'v'));
    return p;
}

// Every packet sent fits `limit` (when given) and carries neither a Reason
// String nor a User Property; returns the actions for sent_of<T>().
std::vector<action> check_plain(std::vector<action> a, std::optional<std::uint32_t> limit)
{
    for (auto& p : sent(a)) {
        if (limit) {
            auto size = encoded_size(p, v5);
            REQUIRE(size);
            CHECK(*size <= *limit);
        }
        std::visit(
            [](auto& x) {
                if constexpr (requires { x.props; }) {
                    CHECK_FALSE(x.props.contains(property_id::reason_string));
                    CHECK_FALSE(x.props.contains(property_id::user_property));
                }
            },
            p);
    }
    return a;
}

} // namespace

TEST_CASE("Reason Strings and User Properties are dropped from any packet but PUBLISH that they would make "
          "larger than the peer's Maximum Packet Size, and the packet still goes out "
          "[MQTT-3.1.2-25] [MQTT-3.2.2-19] [MQTT-3.2.2-20] [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] "
          "[MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] [MQTT-3.9.2-1] "
          "[MQTT-3.9.2-2] [MQTT-3.11.2-1] [MQTT-3.11.2-2] [MQTT-3.14.2-3] [MQTT-3.14.2-4] [MQTT-3.15.2-2] "
          "[MQTT-3.15.2-3]",
    "[session][size][v5][MQTT-3.1.2-25][MQTT-3.2.2-19][MQTT-3.2.2-20][MQTT-3.4.2-2][MQTT-3.4.2-3][MQTT-3.5.2-2]"
    "[MQTT-3.5.2-3][MQTT-3.6.2-2][MQTT-3.6.2-3][MQTT-3.7.2-2][MQTT-3.7.2-3][MQTT-3.9.2-1][MQTT-3.9.2-2]"
    "[MQTT-3.11.2-1][MQTT-3.11.2-2][MQTT-3.14.2-3][MQTT-3.14.2-4][MQTT-3.15.2-2][MQTT-3.15.2-3]")
{
    constexpr std::uint32_t limit = 64;
    session_options o;
    o.manual_ack = true;
    server_session s(o);
    auto cc = make_connect(v5);
    cc.props.add(property_id::maximum_packet_size, limit);
    // CONNACK
    auto a = connect_server(s, v5, false, diagnostics(), cc);
    auto acks = sent_of<connack>(check_plain(a, limit));
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code == reason_code::success);

    // PUBACK and PUBREC, with the reason code kept.
    auto p1 = make_publish("t", "x", qos::at_least_once);
    p1.packet_id = 1;
    s.receive(packet(p1), t0());
    auto p2 = make_publish("t", "y", qos::exactly_once);
    p2.packet_id = 2;
    s.receive(packet(p2), t0());
    take(s);
    s.acknowledge(1, reason_code::not_authorized, t0(), diagnostics());
    s.acknowledge(2, reason_code::success, t0(), diagnostics());
    auto acts = check_plain(take(s), limit);
    REQUIRE(sent_of<puback>(acts).size() == 1);
    CHECK(sent_of<puback>(acts)[0].code == reason_code::not_authorized);
    REQUIRE(sent_of<pubrec>(acts).size() == 1);
    // PUBCOMP answers the PUBREL.
    s.receive(packet(pubrel{2, reason_code::success, {}}), t0());
    REQUIRE(sent_of<pubcomp>(check_plain(take(s), limit)).size() == 1);

    // PUBREL: the sender's answer to PUBREC.
    s.publish(make_publish("out", "z", qos::exactly_once), 7, t0());
    auto sent_pub = sent_of<mqtt::publish>(check_plain(take(s), std::nullopt));
    REQUIRE(sent_pub.size() == 1);
    s.receive(packet(pubrec{sent_pub[0].packet_id, reason_code::success, {}}), t0());
    REQUIRE(sent_of<pubrel>(check_plain(take(s), limit)).size() == 1);

    // SUBACK, UNSUBACK, AUTH, DISCONNECT.
    s.send(suback{3, {reason_code::granted_qos_1}, diagnostics()}, t0());
    s.send(unsuback{4, {reason_code::success}, diagnostics()}, t0());
    s.send(auth{reason_code::continue_authentication, diagnostics()}, t0());
    acts = check_plain(take(s), limit);
    CHECK(sent_of<suback>(acts).size() == 1);
    CHECK(sent_of<unsuback>(acts).size() == 1);
    CHECK(sent_of<auth>(acts).size() == 1);
    s.disconnect(mqtt::disconnect{reason_code::administrative_action, diagnostics()}, t0());
    auto d = sent_of<mqtt::disconnect>(check_plain(take(s), limit));
    REQUIRE(d.size() == 1);
    CHECK(d[0].code == reason_code::administrative_action);

    // Without a limit, nothing is dropped.
    server_session big(o);
    a = connect_server(big, v5, false, diagnostics());
    auto big_acks = sent_of<connack>(a);
    REQUIRE(big_acks.size() == 1);
    CHECK(big_acks[0].props.get_string(property_id::reason_string) == std::string(100, 'r'));
}

TEST_CASE("Request Problem Information 0: no Reason String or User Property on any packet but PUBLISH, "
          "CONNACK and DISCONNECT [MQTT-3.1.2-29]",
    "[session][v5][MQTT-3.1.2-29]")
{
    session_options o;
    o.manual_ack = true;
    server_session s(o);
    auto cc = make_connect(v5);
    cc.props.add(property_id::request_problem_information, 0u);
    auto a = connect_server(s, v5, false, diagnostics(), cc);
    auto acks = sent_of<connack>(a);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].props.contains(property_id::reason_string)); // allowed on CONNACK

    auto p1 = make_publish("t", "x", qos::at_least_once);
    p1.packet_id = 1;
    s.receive(packet(p1), t0());
    take(s);
    s.acknowledge(1, reason_code::not_authorized, t0(), diagnostics());
    s.send(suback{3, {reason_code::granted_qos_1}, diagnostics()}, t0());
    auto acts = check_plain(take(s), std::nullopt);
    REQUIRE(sent_of<puback>(acts).size() == 1);
    CHECK(sent_of<puback>(acts)[0].code == reason_code::not_authorized);
    CHECK(sent_of<suback>(acts).size() == 1);

    auto m = make_publish("out", "z", qos::at_most_once);
    m.props.add_user_property("app", "data"); // an application's user property travels on
    s.publish(m, 0, t0());
    auto pubs = sent_of<mqtt::publish>(take(s));
    REQUIRE(pubs.size() == 1);
    CHECK(pubs[0].props.contains(property_id::user_property));

    s.disconnect(mqtt::disconnect{reason_code::administrative_action, diagnostics()}, t0());
    auto d = sent_of<mqtt::disconnect>(take(s));
    REQUIRE(d.size() == 1);
    CHECK(d[0].props.contains(property_id::reason_string)); // allowed on DISCONNECT

    // A later connection that asks for them gets them again.
    server_session s2(o);
    connect_server(s2, v5);
    auto p2 = make_publish("t", "x", qos::at_least_once);
    p2.packet_id = 1;
    s2.receive(packet(p2), t0());
    take(s2);
    s2.acknowledge(1, reason_code::not_authorized, t0(), diagnostics());
    auto acks2 = sent_of<puback>(take(s2));
    REQUIRE(acks2.size() == 1);
    CHECK(acks2[0].props.contains(property_id::reason_string));
}

TEST_CASE("Incoming topic aliases: set, use, reject 0 or above the maximum, forget on reconnect "
          "[MQTT-3.3.2-12] [MQTT-3.3.2-10] [MQTT-3.3.2-7]",
    "[session][alias][v5][MQTT-3.3.2-12][MQTT-3.3.2-10][MQTT-3.3.2-7]")
{
    server_session s;
    properties props;
    props.add(property_id::topic_alias_maximum, 5u);
    connect_server(s, v5, false, props);
    auto p = make_publish("long/topic/name", "1", qos::at_most_once);
    p.props.add(property_id::topic_alias, 5u);
    s.receive(packet(p), t0());
    auto p2 = make_publish("", "2", qos::at_most_once);
    p2.props.add(property_id::topic_alias, 5u);
    s.receive(packet(p2), t0());
    auto got = only<deliver_message>(take(s));
    REQUIRE(got.size() == 2);
    CHECK(got[1].msg.topic == std::string_view("long/topic/name"));
    CHECK_FALSE(got[1].msg.props.contains(property_id::topic_alias));
    // The table holds its own copy of the topic, not the bytes the first message
    // came in (a broker would otherwise keep that whole read for the connection).
    CHECK(got[1].msg.topic.owner() != got[0].msg.topic.owner());
    CHECK(got[1].msg.topic.data() != got[0].msg.topic.data());

    auto bad = make_publish("x", "3", qos::at_most_once);
    bad.props.add(property_id::topic_alias, 6u);
    s.receive(packet(bad), t0());
    auto a = take(s);
    REQUIRE(closed(a));
    REQUIRE(sent_of<disconnect>(a).size() == 1);
    CHECK(sent_of<disconnect>(a)[0].code == reason_code::topic_alias_invalid);

    // A new connection does not know the old mapping.
    connect_server(s, v5, false, props);
    s.receive(packet(p2), t0());
    a = take(s);
    CHECK(closed(a));
    CHECK(only<deliver_message>(a).empty());
}

TEST_CASE("Outgoing topic aliases are assigned within the peer's maximum and never used without it "
          "[MQTT-3.3.2-8] [MQTT-3.3.2-9] [MQTT-3.2.2-17] [MQTT-3.2.2-18] [MQTT-3.1.2-26] [MQTT-3.1.2-27] [MQTT-3.3.2-11]",
    "[session][alias][v5][MQTT-3.3.2-8][MQTT-3.3.2-9][MQTT-3.2.2-17][MQTT-3.2.2-18][MQTT-3.1.2-26][MQTT-3.1.2-27]"
    "[MQTT-3.3.2-11]")
{
    session_options o;
    o.auto_topic_alias = true;
    client_session c(o);
    properties props;
    props.add(property_id::topic_alias_maximum, 1u);
    connect_client(c, v5, false, props);
    c.publish(make_publish("a/b", "1", qos::at_most_once), 0, t0());
    c.publish(make_publish("a/b", "2", qos::at_most_once), 0, t0());
    c.publish(make_publish("c/d", "3", qos::at_most_once), 0, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 3);
    CHECK(pubs[0].topic == std::string_view("a/b"));
    CHECK(pubs[0].props.get_integer(property_id::topic_alias) == 1u);
    CHECK(pubs[1].topic.empty());
    CHECK(pubs[1].props.get_integer(property_id::topic_alias) == 1u);
    CHECK(pubs[2].topic == std::string_view("c/d"));
    CHECK_FALSE(pubs[2].props.contains(property_id::topic_alias));

    // No Topic Alias Maximum from the server: no aliases at all.
    client_session c2(o);
    connect_client(c2, v5);
    c2.publish(make_publish("a/b", "1", qos::at_most_once), 0, t0());
    c2.publish(make_publish("a/b", "1", qos::at_most_once), 0, t0());
    for (auto& p : sent_of<publish>(take(c2)))
        CHECK_FALSE(p.props.contains(property_id::topic_alias));

    // The server role follows the client's maximum the same way.
    server_session s(o);
    auto cc = make_connect(v5);
    cc.props.add(property_id::topic_alias_maximum, 2u);
    connect_server(s, v5, false, {}, cc);
    for (auto t : {"x", "y", "z", "x"})
        s.publish(make_publish(t, "m", qos::at_most_once), 0, t0());
    for (auto& p : sent_of<publish>(take(s))) {
        auto alias = p.props.get_integer(property_id::topic_alias);
        if (alias) {
            CHECK(*alias >= 1u);
            CHECK(*alias <= 2u);
        }
    }
}

TEST_CASE("Message expiry counts down while queued and drops expired messages [MQTT-3.3.2-5] [MQTT-3.3.2-6] "
          "[MQTT-4.3.3-7]",
    "[session][expiry][v5][MQTT-3.3.2-5][MQTT-3.3.2-6][MQTT-4.3.3-7]")
{
    server_session s;
    auto m1 = make_publish("t", "keeps", qos::at_least_once);
    m1.props.add(property_id::message_expiry_interval, 100u);
    auto m2 = make_publish("t", "expires", qos::at_least_once);
    m2.props.add(property_id::message_expiry_interval, 5u);
    s.publish(m1, 1, t0());
    s.publish(m2, 2, t0());
    auto later = t0() + std::chrono::seconds(30);
    auto a = connect_server(s, v5, false, {}, make_connect(v5), later);
    auto pubs = sent_of<publish>(a);
    REQUIRE(pubs.size() == 1);
    CHECK(pubs[0].payload == std::string_view("keeps"));
    CHECK(pubs[0].props.get_integer(property_id::message_expiry_interval) == 70u);
    auto done = only<publish_done>(a);
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 2);
    CHECK(done[0].ec == make_error_code(errc::message_expired));

    // Once sent, a QoS 2 message is not expired on resend.
    server_session s2;
    auto q = make_publish("t", "q2", qos::exactly_once);
    q.props.add(property_id::message_expiry_interval, 5u);
    connect_server(s2, v5);
    s2.publish(q, 1, t0());
    take(s2);
    s2.connection_lost(t0());
    auto resumed = sent_of<publish>(connect_server(s2, v5, true, {}, make_connect(v5, false), t0() + std::chrono::hours(1)));
    REQUIRE(resumed.size() == 1);
    CHECK(resumed[0].dup);
}

TEST_CASE("A client never sends a Subscription Identifier in PUBLISH [MQTT-3.3.4-6]", "[session][v5][MQTT-3.3.4-6]")
{
    client_session c;
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::at_most_once);
    p.props.add(property_id::subscription_identifier, 4u);
    c.publish(p, 0, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 1);
    CHECK_FALSE(pubs[0].props.contains(property_id::subscription_identifier));
}

TEST_CASE("The server enforces the Maximum QoS and Retain Available it granted", "[session][v5]")
{
    server_session s;
    properties props;
    props.add(property_id::maximum_qos, 1u);
    props.add(property_id::retain_available, 0u);
    connect_server(s, v5, false, props);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 1;
    s.receive(packet(p), t0());
    auto a = take(s);
    REQUIRE(sent_of<disconnect>(a).size() == 1);
    CHECK(sent_of<disconnect>(a)[0].code == reason_code::qos_not_supported);

    connect_server(s, v5, false, props);
    s.receive(packet(make_publish("t", "x", qos::at_most_once, true)), t0());
    a = take(s);
    REQUIRE(sent_of<disconnect>(a).size() == 1);
    CHECK(sent_of<disconnect>(a)[0].code == reason_code::retain_not_supported);
}

TEST_CASE("feed() then process() handles the buffered packets a limited number at a time, like receive()",
    "[session][receive]")
{
    client_session c;
    connect_client(c, v5);
    for (int i = 0; i < 5; ++i)
        c.publish(make_publish("t", std::to_string(i), qos::at_least_once), static_cast<std::uint64_t>(i + 1), t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 5);
    std::string bytes;
    for (auto& p : pubs) {
        std::string one;
        REQUIRE_FALSE(encode(puback{p.packet_id, reason_code::success, {}}, v5, one));
        bytes += one;
    }
    // The last acknowledgment arrives in two pieces.
    c.feed(std::string_view(bytes).substr(0, bytes.size() - 1));
    CHECK(only<publish_done>(take(c)).empty()); // buffered, not handled

    CHECK(c.process(t0(), 2)); // stopped at the limit
    auto first = only<publish_done>(take(c));
    REQUIRE(first.size() == 2);
    CHECK(first[0].tag == 1);
    CHECK(first[1].tag == 2);
    CHECK(c.inflight_count() == 3);

    c.process(t0(), 10); // the rest of the whole packets
    auto second = only<publish_done>(take(c));
    REQUIRE(second.size() == 2);
    CHECK(second[1].tag == 4);
    CHECK_FALSE(c.process(t0(), 10)); // nothing whole is left

    c.feed(std::string_view(bytes).substr(bytes.size() - 1));
    CHECK_FALSE(c.process(t0(), 10));
    auto last = only<publish_done>(take(c));
    REQUIRE(last.size() == 1);
    CHECK(last[0].tag == 5);
    CHECK(c.inflight_count() == 0);
}

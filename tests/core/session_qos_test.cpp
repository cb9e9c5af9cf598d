// QoS 0/1/2 state machines of the session core, both roles, both versions.
#include <catch2/catch.hpp>

#include "session_harness.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

const auto v5 = protocol_version::v5;
const auto v311 = protocol_version::v3_1_1;

} // namespace

TEST_CASE("QoS 0 is sent once with DUP 0 and completes at once [MQTT-4.3.1-1]", "[session][qos0][MQTT-4.3.1-1]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v);
    c.publish(make_publish("a/b", "hello", qos::at_most_once), 7, t0());
    auto a = take(c);
    auto pubs = sent_of<publish>(a);
    REQUIRE(pubs.size() == 1);
    CHECK(pubs[0].qos == qos::at_most_once);
    CHECK_FALSE(pubs[0].dup);
    CHECK(pubs[0].packet_id == 0);
    auto done = only<publish_done>(a);
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 7);
    CHECK_FALSE(done[0].ec);
    CHECK(c.state().outgoing.empty()); // at most once: nothing kept
}

TEST_CASE("QoS 1 sender keeps the message until PUBACK [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.2-3]",
    "[session][qos1][v5][MQTT-4.3.2-1][MQTT-4.3.2-2][MQTT-4.3.2-3]")
{
    client_session c;
    connect_client(c, v5);
    c.publish(make_publish("t", "1", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "2", qos::at_least_once), 2, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 2);
    CHECK(pubs[0].packet_id != 0);
    CHECK(pubs[1].packet_id != 0);
    CHECK(pubs[0].packet_id != pubs[1].packet_id); // an unused id for each new message
    CHECK_FALSE(pubs[0].dup);
    CHECK(c.state().outgoing.size() == 2);

    c.receive(packet(puback{pubs[0].packet_id, reason_code::success, {}}), t0());
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 1);
    CHECK_FALSE(done[0].ec);
    REQUIRE(c.state().outgoing.size() == 1);
    CHECK(c.state().outgoing[0].msg.payload == std::string_view("2"));
}

TEST_CASE("PUBACK with an error code completes the publish with that reason and is not retransmitted [MQTT-4.4.0-2]",
    "[session][qos1][v5][MQTT-4.4.0-2]")
{
    client_session c;
    connect_client(c, v5);
    c.publish(make_publish("t", "x", qos::at_least_once), 9, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(puback{id, reason_code::not_authorized, {}}), t0());
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 1);
    CHECK(done[0].ec == make_error_code(reason_code::not_authorized));
    CHECK(c.state().outgoing.empty());
    // A reconnect does not bring it back.
    c.connection_lost(t0());
    auto a = connect_client(c, v5, true, {}, false);
    CHECK(sent_of<publish>(a).empty());
}

TEST_CASE("Lost PUBACK: unacknowledged QoS 1 messages are resent with DUP=1, original ids, original order "
          "[MQTT-4.4.0-1] [MQTT-4.6.0-1]",
    "[session][qos1][MQTT-4.4.0-1][MQTT-4.6.0-1][MQTT-3.3.1-1]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v, false, {}, false);
    for (int i = 0; i < 5; ++i)
        c.publish(make_publish("t", std::to_string(i), qos::at_least_once), static_cast<std::uint64_t>(i + 1), t0());
    auto first = sent_of<publish>(take(c));
    REQUIRE(first.size() == 5);
    c.receive(packet(puback{first[1].packet_id, reason_code::success, {}}), t0()); // only #1 acknowledged
    take(c);
    c.connection_lost(t0());
    take(c);

    auto resent = sent_of<publish>(connect_client(c, v, true, {}, false));
    REQUIRE(resent.size() == 4);
    std::vector<std::string> order;
    for (auto& p : resent) {
        CHECK(p.dup);
        order.push_back(p.payload.str());
    }
    CHECK(order == std::vector<std::string>{"0", "2", "3", "4"});
    CHECK(resent[0].packet_id == first[0].packet_id);
    CHECK(resent[3].packet_id == first[4].packet_id);
}

TEST_CASE("QoS 1 receiver delivers and answers PUBACK with the same id [MQTT-4.3.2-4] [MQTT-3.3.4-1]",
    "[session][qos1][v5][MQTT-4.3.2-4][MQTT-3.3.4-1]")
{
    client_session c;
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::at_least_once);
    p.packet_id = 42;
    c.receive(packet(p), t0());
    auto a = take(c);
    REQUIRE(only<deliver_message>(a).size() == 1);
    auto acks = sent_of<puback>(a);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 42);
    // After PUBACK the same id is a new message [MQTT-4.3.2-5].
    c.receive(packet(p), t0());
    CHECK(only<deliver_message>(take(c)).size() == 1);
}

TEST_CASE("QoS 1 receiver, 3.1.1 [MQTT-4.3.2-2]", "[session][qos1][v311][MQTT-4.3.2-2]")
{
    server_session s;
    connect_server(s, v311);
    auto p = make_publish("t", "x", qos::at_least_once);
    p.packet_id = 3;
    s.receive(packet(p), t0());
    auto a = take(s);
    CHECK(only<deliver_message>(a).size() == 1);
    REQUIRE(sent_of<puback>(a).size() == 1);
    CHECK(sent_of<puback>(a)[0].packet_id == 3);
}

TEST_CASE("Manual acknowledgment: PUBACK only after acknowledge()", "[session][qos1][manual]")
{
    session_options o;
    o.manual_ack = true;
    server_session s(o);
    connect_server(s, v5);
    auto p = make_publish("t", "x", qos::at_least_once);
    p.packet_id = 5;
    s.receive(packet(p), t0());
    auto a = take(s);
    CHECK(only<deliver_message>(a).size() == 1);
    CHECK(sent_of<puback>(a).empty());
    // A duplicate while the application still holds it is not delivered twice.
    p.dup = true;
    s.receive(packet(p), t0());
    CHECK(only<deliver_message>(take(s)).empty());
    s.acknowledge(5, reason_code::success, t0());
    auto acks = sent_of<puback>(take(s));
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 5);
}

TEST_CASE("QoS 2 sender: PUBLISH, PUBREC, PUBREL, PUBCOMP [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] [MQTT-4.3.3-4] "
          "[MQTT-4.3.3-5]",
    "[session][qos2][v5][MQTT-4.3.3-1][MQTT-4.3.3-2][MQTT-4.3.3-3][MQTT-4.3.3-4][MQTT-4.3.3-5]")
{
    client_session c;
    connect_client(c, v5);
    c.publish(make_publish("t", "x", qos::exactly_once), 11, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 1);
    auto id = pubs[0].packet_id;
    CHECK(id != 0);
    CHECK(pubs[0].qos == qos::exactly_once);
    CHECK_FALSE(pubs[0].dup);
    REQUIRE(c.state().outgoing.size() == 1);
    CHECK(c.state().outgoing[0].stage == outgoing_stage::awaiting_ack);

    c.receive(packet(pubrec{id, reason_code::success, {}}), t0());
    auto a = take(c);
    auto rels = sent_of<pubrel>(a);
    REQUIRE(rels.size() == 1);
    CHECK(rels[0].packet_id == id);
    CHECK(only<publish_done>(a).empty()); // not done before PUBCOMP
    CHECK(c.state().outgoing.at(0).stage == outgoing_stage::awaiting_comp);

    c.receive(packet(pubcomp{id, reason_code::success, {}}), t0());
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 11);
    CHECK_FALSE(done[0].ec);
    CHECK(c.state().outgoing.empty());
}

TEST_CASE("QoS 2 sender, 3.1.1 [MQTT-4.3.3-1]", "[session][qos2][v311][MQTT-4.3.3-1]")
{
    client_session c;
    connect_client(c, v311);
    c.publish(make_publish("t", "x", qos::exactly_once), 1, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(pubrec{id, reason_code::success, {}}), t0());
    REQUIRE(sent_of<pubrel>(take(c)).size() == 1);
    c.receive(packet(pubcomp{id, reason_code::success, {}}), t0());
    CHECK(only<publish_done>(take(c)).size() == 1);
}

TEST_CASE("Lost PUBREC: the PUBLISH is resent with DUP on resumption [MQTT-4.4.0-1]", "[session][qos2][v5][MQTT-4.4.0-1]")
{
    client_session c;
    connect_client(c, v5, false, {}, false);
    c.publish(make_publish("t", "x", qos::exactly_once), 1, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.connection_lost(t0());
    auto resent = sent_of<publish>(connect_client(c, v5, true, {}, false));
    REQUIRE(resent.size() == 1);
    CHECK(resent[0].dup);
    CHECK(resent[0].packet_id == id);
}

TEST_CASE("Lost PUBCOMP: PUBREL is resent, the PUBLISH never again [MQTT-4.3.3-6] [MQTT-4.4.0-1]",
    "[session][qos2][MQTT-4.3.3-6][MQTT-4.4.0-1]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v, false, {}, false);
    c.publish(make_publish("t", "x", qos::exactly_once), 1, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(pubrec{id, reason_code::success, {}}), t0());
    take(c);
    c.connection_lost(t0());
    auto a = connect_client(c, v, true, {}, false);
    CHECK(sent_of<publish>(a).empty());
    auto rels = sent_of<pubrel>(a);
    REQUIRE(rels.size() == 1);
    CHECK(rels[0].packet_id == id);
    c.receive(packet(pubcomp{id, reason_code::success, {}}), t0());
    CHECK(only<publish_done>(take(c)).size() == 1);
}

TEST_CASE("PUBREC with an error code ends the QoS 2 flow without PUBREL [MQTT-4.4.0-2] [MQTT-4.3.3-4]",
    "[session][qos2][v5][MQTT-4.4.0-2][MQTT-4.3.3-4]")
{
    client_session c;
    connect_client(c, v5);
    c.publish(make_publish("t", "x", qos::exactly_once), 4, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(pubrec{id, reason_code::quota_exceeded, {}}), t0());
    auto a = take(c);
    CHECK(sent_of<pubrel>(a).empty());
    auto done = only<publish_done>(a);
    REQUIRE(done.size() == 1);
    CHECK(done[0].ec == make_error_code(reason_code::quota_exceeded));
    CHECK(c.state().outgoing.empty());
}

TEST_CASE("A duplicate PUBREC is answered with PUBREL again", "[session][qos2]")
{
    client_session c;
    connect_client(c, v5);
    c.publish(make_publish("t", "x", qos::exactly_once), 4, t0());
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(pubrec{id, reason_code::success, {}}), t0());
    take(c);
    c.receive(packet(pubrec{id, reason_code::success, {}}), t0());
    auto a = take(c);
    CHECK(sent_of<pubrel>(a).size() == 1);
    CHECK(sent_of<publish>(a).empty());
}

TEST_CASE("QoS 2 receiver: any number of duplicates get PUBREC and are never delivered again, no DISCONNECT "
          "(Mosquitto issue 3602 regression) [MQTT-4.3.3-8] [MQTT-4.3.3-10]",
    "[session][qos2][MQTT-4.3.3-8][MQTT-4.3.3-10][MQTT-4.3.3-2]")
{
    auto v = GENERATE(v311, v5);
    server_session s;
    connect_server(s, v);
    auto p = make_publish("t", "once", qos::exactly_once);
    p.packet_id = 77;
    s.receive(packet(p), t0());
    auto a = take(s);
    CHECK(only<deliver_message>(a).size() == 1);
    REQUIRE(sent_of<pubrec>(a).size() == 1);
    CHECK(sent_of<pubrec>(a)[0].packet_id == 77);

    p.dup = true;
    for (int i = 0; i < 50; ++i) {
        s.receive(packet(p), t0());
        auto d = take(s);
        CHECK(only<deliver_message>(d).empty());
        CHECK(sent_of<pubrec>(d).size() == 1);
        CHECK(sent_of<disconnect>(d).empty());
        CHECK_FALSE(closed(d));
    }
    REQUIRE(s.state().qos2_received == std::vector<std::uint16_t>{77});
}

TEST_CASE("QoS 2 receiver: PUBREL releases the id with PUBCOMP, the id then starts a new message "
          "[MQTT-4.3.3-11] [MQTT-4.3.3-12]",
    "[session][qos2][v5][MQTT-4.3.3-11][MQTT-4.3.3-12]")
{
    client_session c;
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 8;
    c.receive(packet(p), t0());
    take(c);
    c.receive(packet(pubrel{8, reason_code::success, {}}), t0());
    auto comps = sent_of<pubcomp>(take(c));
    REQUIRE(comps.size() == 1);
    CHECK(comps[0].packet_id == 8);
    CHECK(comps[0].code == reason_code::success);
    CHECK(c.state().qos2_received.empty());
    c.receive(packet(p), t0());
    CHECK(only<deliver_message>(take(c)).size() == 1);
}

TEST_CASE("PUBREL for an unknown id gets PUBCOMP 0x92 in 5.0 and a plain PUBCOMP in 3.1.1", "[session][qos2]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v);
    c.receive(packet(pubrel{99, reason_code::success, {}}), t0());
    auto comps = sent_of<pubcomp>(take(c));
    REQUIRE(comps.size() == 1);
    CHECK(comps[0].packet_id == 99);
    CHECK(comps[0].code == (v == v5 ? reason_code::packet_identifier_not_found : reason_code::success));
}

TEST_CASE("QoS 2 manual acknowledgment: PUBREC only after acknowledge(), duplicates before it are silent",
    "[session][qos2][manual]")
{
    session_options o;
    o.manual_ack = true;
    client_session c(o);
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 12;
    c.receive(packet(p), t0());
    auto a = take(c);
    CHECK(only<deliver_message>(a).size() == 1);
    CHECK(sent_of<pubrec>(a).empty());
    p.dup = true;
    c.receive(packet(p), t0());
    a = take(c);
    CHECK(only<deliver_message>(a).empty());
    CHECK(sent_of<pubrec>(a).empty());
    c.acknowledge(12, reason_code::success, t0());
    CHECK(sent_of<pubrec>(take(c)).size() == 1);
    c.receive(packet(p), t0());
    a = take(c);
    CHECK(only<deliver_message>(a).empty());
    CHECK(sent_of<pubrec>(a).size() == 1);
}

TEST_CASE("QoS 2 receiver that rejects with PUBREC >= 0x80 treats the id as new afterwards [MQTT-4.3.3-9]",
    "[session][qos2][v5][MQTT-4.3.3-9]")
{
    session_options o;
    o.manual_ack = true;
    client_session c(o);
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 13;
    c.receive(packet(p), t0());
    take(c);
    c.acknowledge(13, reason_code::not_authorized, t0());
    auto recs = sent_of<pubrec>(take(c));
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].code == reason_code::not_authorized);
    c.receive(packet(p), t0());
    CHECK(only<deliver_message>(take(c)).size() == 1);
}

TEST_CASE("QoS 2 received ids survive a reconnect: a resent PUBLISH is not delivered again", "[session][qos2]")
{
    auto v = GENERATE(v311, v5);
    server_session s;
    connect_server(s, v);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 21;
    s.receive(packet(p), t0());
    take(s);
    s.connection_lost(t0());
    take(s);
    auto c = make_connect(v, false);
    connect_server(s, v, true, {}, c);
    p.dup = true;
    s.receive(packet(p), t0());
    auto a = take(s);
    CHECK(only<deliver_message>(a).empty());
    CHECK(sent_of<pubrec>(a).size() == 1);
}

TEST_CASE("PUBACKs are sent in the order the PUBLISH packets arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3]",
    "[session][order][MQTT-4.6.0-2][MQTT-4.6.0-3]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v);
    for (std::uint16_t id : {std::uint16_t(5), std::uint16_t(3), std::uint16_t(9)}) {
        auto p = make_publish("t", "x", qos::at_least_once);
        p.packet_id = id;
        c.receive(packet(p), t0());
        auto q = make_publish("t", "y", qos::exactly_once);
        q.packet_id = static_cast<std::uint16_t>(id + 100);
        c.receive(packet(q), t0());
    }
    auto a = take(c);
    std::vector<std::uint16_t> acks, recs;
    for (auto& x : sent_of<puback>(a))
        acks.push_back(x.packet_id);
    for (auto& x : sent_of<pubrec>(a))
        recs.push_back(x.packet_id);
    CHECK(acks == std::vector<std::uint16_t>{5, 3, 9});
    CHECK(recs == std::vector<std::uint16_t>{105, 103, 109});
}

TEST_CASE("PUBRELs are sent in the order the PUBRECs arrived [MQTT-4.6.0-4]", "[session][order][MQTT-4.6.0-4]")
{
    client_session c;
    connect_client(c, v5);
    for (int i = 0; i < 3; ++i)
        c.publish(make_publish("t", "x", qos::exactly_once), 1, t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 3);
    for (int i : {2, 0, 1})
        c.receive(packet(pubrec{pubs[static_cast<std::size_t>(i)].packet_id, reason_code::success, {}}), t0());
    auto rels = sent_of<pubrel>(take(c));
    REQUIRE(rels.size() == 3);
    CHECK(rels[0].packet_id == pubs[2].packet_id);
    CHECK(rels[1].packet_id == pubs[0].packet_id);
    CHECK(rels[2].packet_id == pubs[1].packet_id);
}

TEST_CASE("A resent PUBLISH or PUBREL keeps the packet identifier of its first send, client and server alike "
          "[MQTT-2.3.1-3] [MQTT-2.3.1-4]",
    "[session][resend][MQTT-2.3.1-3][MQTT-2.3.1-4]")
{
    auto v = GENERATE(v311, v5);
    auto check_resend = [&](auto& session, auto reconnect) {
        session.publish(make_publish("t", "one", qos::at_least_once), 1, t0());
        session.publish(make_publish("t", "two", qos::exactly_once), 2, t0());
        auto first = sent_of<publish>(take(session));
        REQUIRE(first.size() == 2);
        CHECK(first[0].packet_id != first[1].packet_id);
        session.receive(packet(pubrec{first[1].packet_id, reason_code::success, {}}), t0());
        auto rel = sent_of<pubrel>(take(session));
        REQUIRE(rel.size() == 1);
        session.connection_lost(t0());
        take(session);

        auto again = reconnect();
        auto pubs = sent_of<publish>(again);
        REQUIRE(pubs.size() == 1); // the QoS 1 message; the QoS 2 one is past PUBREC
        CHECK(pubs[0].dup);
        CHECK(pubs[0].packet_id == first[0].packet_id);
        auto rels = sent_of<pubrel>(again);
        REQUIRE(rels.size() == 1);
        CHECK(rels[0].packet_id == first[1].packet_id);
    };
    SECTION("client")
    {
        client_session c;
        connect_client(c, v, false, {}, false);
        check_resend(c, [&] { return connect_client(c, v, true, {}, false); });
    }
    SECTION("server")
    {
        server_session s;
        connect_server(s, v, true);
        check_resend(s, [&] { return connect_server(s, v, true); });
    }
}

TEST_CASE("The client acknowledges every PUBLISH it receives as its QoS requires: PUBACK for QoS 1, PUBREC and "
          "after PUBREL a PUBCOMP for QoS 2, nothing for QoS 0 [MQTT-4.5.0-2]",
    "[session][client][MQTT-4.5.0-2]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    connect_client(c, v);
    auto q0 = make_publish("t", "0", qos::at_most_once);
    auto q1 = make_publish("t", "1", qos::at_least_once);
    q1.packet_id = 10;
    auto q2 = make_publish("t", "2", qos::exactly_once);
    q2.packet_id = 11;
    c.receive(packet(q0), t0());
    c.receive(packet(q1), t0());
    c.receive(packet(q2), t0());
    auto a = take(c);
    CHECK(only<deliver_message>(a).size() == 3);
    auto acks = sent_of<puback>(a);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 10);
    auto recs = sent_of<pubrec>(a);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].packet_id == 11);
    CHECK(sent(a).size() == 2); // the QoS 0 message is not acknowledged
    c.receive(packet(pubrel{11, reason_code::success, {}}), t0());
    auto comps = sent_of<pubcomp>(take(c));
    REQUIRE(comps.size() == 1);
    CHECK(comps[0].packet_id == 11);
}

TEST_CASE("QoS 2 receiver: clear() keeps an id whose PUBREC went out and forgets one still waiting for "
          "acknowledge() [MQTT-4.3.3-10]",
    "[session][qos2][manual][MQTT-4.3.3-10]")
{
    session_options o;
    o.manual_ack = true;
    client_session c(o);
    connect_client(c, v5);
    auto p = make_publish("t", "x", qos::exactly_once);
    p.packet_id = 21;
    c.receive(packet(p), t0());
    p.packet_id = 22;
    c.receive(packet(p), t0());
    take(c);
    c.acknowledge(21, reason_code::success, t0()); // PUBREC for 21; 22 not acknowledged
    REQUIRE(sent_of<pubrec>(take(c)).size() == 1);
    c.clear(make_error_code(errc::cancelled));
    CHECK(c.state().qos2_received == std::vector<std::uint16_t>{21});
}

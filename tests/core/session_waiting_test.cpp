// Messages that wait before their first send (no connection, a full window) are
// kept as compact entries after the in-flight list; these tests cross that
// boundary: order, content, counts, the session state, clear() and adopt_session().
#include <catch2/catch.hpp>

#include "session_harness.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

const auto v5 = protocol_version::v5;

std::vector<std::string> payloads(const std::vector<publish>& pubs)
{
    std::vector<std::string> out;
    for (auto& p : pubs)
        out.push_back(p.payload.str());
    return out;
}

// A message whose topic and payload share one owner, the way a broker keeps a
// message for an offline client (one allocation for both).
publish one_owner(std::string_view topic, std::string_view payload, qos q)
{
    auto bytes = std::make_shared<const std::string>(std::string(topic) + std::string(payload));
    publish p;
    p.topic = buffer(bytes, std::string_view(*bytes).substr(0, topic.size()));
    p.payload = buffer(bytes, std::string_view(*bytes).substr(topic.size()));
    p.qos = q;
    return p;
}

} // namespace

TEST_CASE("Messages queued while offline go out in order, with their content, across the window "
          "[MQTT-4.6.0-5] [MQTT-4.6.0-6]",
    "[session][queue][v5][MQTT-4.6.0-5][MQTT-4.6.0-6]")
{
    server_session s;
    auto c = make_connect(v5, false);
    c.props.add(property_id::receive_maximum, 2u);
    connect_server(s, v5, false, {}, c);
    s.connection_lost(t0());
    take(s);

    // Offline: everything waits. Mixed QoS, both ways of owning the bytes, properties.
    std::vector<std::string> expected;
    for (int i = 0; i < 12; ++i) {
        auto q = static_cast<qos>(i % 3);
        auto text = "message " + std::to_string(i);
        auto msg = i % 2 ? make_publish("t/" + std::to_string(i), text, q) : one_owner("t/" + std::to_string(i), text, q);
        if (i == 4) {
            msg.props.add(property_id::content_type, std::string("text/plain"));
            msg.props.add_user_property("k", "v");
        }
        msg.retain = i == 5;
        s.publish(std::move(msg), 0, t0());
        expected.push_back(text);
    }
    CHECK(s.queued_count() == 12);
    std::size_t bytes = 0;
    for (auto& e : expected)
        bytes += e.size();
    CHECK(s.queued_bytes() == bytes);

    // The stored form lists the QoS 1/2 ones, in order, as queued.
    auto st = s.state();
    REQUIRE(st.outgoing.size() == 8);
    CHECK(st.outgoing[0].msg.payload == std::string_view("message 1"));
    CHECK(st.outgoing[1].msg.payload == std::string_view("message 2"));
    CHECK(st.outgoing[2].msg.payload == std::string_view("message 4"));
    for (auto& m : st.outgoing)
        CHECK(m.stage == outgoing_stage::queued);

    // Reconnect with the session: QoS 0 flows, QoS 1/2 two at a time.
    auto c2 = make_connect(v5, false);
    c2.props.add(property_id::receive_maximum, 2u);
    s.receive(packet(c2), t0());
    take(s);
    s.accept(connack{true, reason_code::success, {}}, t0());
    // Acknowledge every PUBLISH as it comes and complete every PUBREL.
    std::vector<publish> got;
    for (bool progress = true; progress && got.size() <= expected.size();) {
        progress = false;
        for (auto& a : take(s)) {
            auto* sp = std::get_if<send_packet>(&a);
            if (!sp)
                continue;
            if (auto* p = std::get_if<publish>(&sp->pkt)) {
                got.push_back(*p);
                progress = true;
                if (p->qos == qos::at_least_once)
                    s.receive(packet(puback{p->packet_id, reason_code::success, {}}), t0());
                else if (p->qos == qos::exactly_once)
                    s.receive(packet(pubrec{p->packet_id, reason_code::success, {}}), t0());
            } else if (auto* rel = std::get_if<pubrel>(&sp->pkt)) {
                s.receive(packet(pubcomp{rel->packet_id, reason_code::success, {}}), t0());
                progress = true;
            }
        }
    }
    REQUIRE(payloads(got) == expected);
    CHECK(s.queued_count() == 0);
    CHECK(s.queued_bytes() == 0);
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].topic == "t/" + std::to_string(i));
        CHECK(got[i].retain == (i == 5));
        CHECK(!got[i].dup);
    }
    CHECK(got[4].props.get_string(property_id::content_type) == std::optional<std::string_view>("text/plain"));
    CHECK(got[4].props.user_properties() == std::vector<string_pair>{{"k", "v"}});
}

TEST_CASE("A message behind a full window waits and goes out when an acknowledgment frees a slot, "
          "after the ones ahead of it [MQTT-4.9.0-2]",
    "[session][queue][flow][v5][MQTT-4.9.0-2]")
{
    client_session c;
    properties props;
    props.add(property_id::receive_maximum, 1u);
    connect_client(c, v5, false, props);
    c.publish(make_publish("t", "a", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "b", qos::at_most_once), 2, t0()); // nothing waits: straight out
    c.publish(make_publish("t", "c", qos::at_least_once), 3, t0());
    c.publish(make_publish("t", "d", qos::at_most_once), 4, t0()); // behind "c": waits to keep the order
    auto first = sent_of<publish>(take(c));
    REQUIRE(payloads(first) == std::vector<std::string>{"a", "b"});
    CHECK(c.queued_count() == 2);

    c.receive(packet(puback{first[0].packet_id, reason_code::success, {}}), t0());
    auto next = sent_of<publish>(take(c));
    CHECK(payloads(next) == std::vector<std::string>{"c", "d"});
    CHECK(c.queued_count() == 0);
    CHECK(c.inflight_count() == 1);
}

TEST_CASE("clear() fails waiting messages with their tags, in order, after the ones sent before",
    "[session][queue]")
{
    client_session c;
    properties props;
    props.add(property_id::receive_maximum, 1u);
    connect_client(c, v5, false, props);
    for (std::uint64_t tag = 1; tag <= 2; ++tag)
        c.publish(make_publish("t", std::to_string(tag), qos::at_least_once), tag, t0());
    c.connection_lost(t0());
    for (std::uint64_t tag = 3; tag <= 5; ++tag) // offline: compact entries
        c.publish(make_publish("t", std::to_string(tag), qos::at_least_once), tag, t0());
    take(c);
    CHECK(c.queued_count() == 5);
    CHECK(c.queued_bytes() == 5);
    c.clear(make_error_code(errc::cancelled));
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 5);
    for (std::uint64_t i = 0; i < 5; ++i) {
        CHECK(done[i].tag == i + 1);
        CHECK(done[i].ec == make_error_code(errc::cancelled));
    }
    CHECK(c.queued_count() == 0);
    CHECK(c.queued_bytes() == 0);
    CHECK(c.inflight_count() == 0);
}

TEST_CASE("adopt_session() takes over the waiting messages, in order, and sends them on the new connection",
    "[session][queue]")
{
    server_session old_one;
    auto c = make_connect(v5, false);
    c.props.add(property_id::receive_maximum, 1u);
    connect_server(old_one, v5, false, {}, c);
    for (int i = 0; i < 2; ++i)
        old_one.publish(one_owner("t", std::to_string(i), qos::at_least_once), 0, t0());
    auto sent_before = sent_of<publish>(take(old_one));
    REQUIRE(sent_before.size() == 1);
    old_one.connection_lost(t0());
    for (int i = 2; i < 4; ++i) // offline: compact entries behind the two above
        old_one.publish(one_owner("t", std::to_string(i), qos::at_least_once), 0, t0());
    take(old_one);

    server_session fresh;
    connect_server(fresh, v5, true);
    fresh.adopt_session(old_one);
    CHECK(fresh.queued_count() == 4);
    CHECK(old_one.queued_count() == 0);
    fresh.publish(one_owner("t", "4", qos::at_least_once), 0, t0()); // behind the adopted ones
    auto got = sent_of<publish>(take(fresh));
    REQUIRE(got.size() == 5); // the new connection allows 65,535 in flight
    CHECK(payloads(got) == std::vector<std::string>{"0", "1", "2", "3", "4"});
    CHECK(got[0].dup); // sent before, on the old connection
    CHECK(got[0].packet_id == sent_before[0].packet_id);
    CHECK(!got[1].dup);
}

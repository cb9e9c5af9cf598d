// Connection lifecycle in the session core: CONNECT/CONNACK, session present,
// keep alive, protocol errors, and the role rules.
#include <catch2/catch.hpp>

#include "session_harness.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {
const auto v5 = protocol_version::v5;
const auto v311 = protocol_version::v3_1_1;

// A client can never send server-only packets, and the other way round: compile-time checks.
template <class S, class P>
concept can_send = requires(S s, P p) { s.send(p, clock::time_point{}); };
static_assert(!can_send<client_session, suback>);
static_assert(!can_send<client_session, unsuback>);
static_assert(can_send<server_session, suback>);
static_assert(can_send<server_session, unsuback>);
static_assert(can_send<client_session, auth>);
template <class S>
concept can_subscribe = requires(S s) { s.subscribe(subscribe{}, 0, clock::time_point{}); };
static_assert(can_subscribe<client_session>);
static_assert(!can_subscribe<server_session>);
template <class S>
concept can_connect = requires(S s) { s.connect(connect{}, clock::time_point{}); };
static_assert(can_connect<client_session>);
static_assert(!can_connect<server_session>);
} // namespace

TEST_CASE("Client: CONNECT first, then CONNACK starts the session", "[session][connect]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    c.connect(make_connect(v), t0());
    auto a = take(c);
    auto conns = sent_of<connect>(a);
    REQUIRE(conns.size() == 1);
    CHECK_FALSE(c.is_connected());
    c.receive(packet(connack{false, reason_code::success, {}}), t0());
    a = take(c);
    CHECK(only<connected>(a).size() == 1);
    CHECK(c.is_connected());
}

TEST_CASE("Client: a refused CONNACK is reported and the connection closed", "[session][connect]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    c.connect(make_connect(v), t0());
    take(c);
    c.receive(packet(connack{false, reason_code::bad_user_name_or_password, {}}), t0());
    auto a = take(c);
    auto refused = only<connection_refused>(a);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].ack.code == reason_code::bad_user_name_or_password);
    auto cl = only<close_connection>(a);
    REQUIRE(cl.size() == 1);
    CHECK(cl[0].reason == make_error_code(reason_code::bad_user_name_or_password));
    CHECK_FALSE(c.is_connected());
}

TEST_CASE("Client: anything but CONNACK first from the server is a protocol error", "[session][connect]")
{
    client_session c;
    c.connect(make_connect(v5), t0());
    take(c);
    c.receive(packet(make_publish("t", "x", qos::at_most_once)), t0());
    auto a = take(c);
    CHECK(closed(a));
    CHECK(only<deliver_message>(a).empty());
}

TEST_CASE("Client: Session Present 1 after asking for a clean start closes the connection [MQTT-3.2.2-4]",
    "[session][connect][v5][MQTT-3.2.2-4]")
{
    client_session c;
    c.connect(make_connect(v5, true), t0());
    take(c);
    c.receive(packet(connack{true, reason_code::success, {}}), t0());
    auto a = take(c);
    CHECK(closed(a));
    CHECK(only<connected>(a).empty());
}

TEST_CASE("Client: Session Present 0 discards the session state, unacknowledged QoS 1 is sent again as new "
          "[MQTT-3.2.2-5]",
    "[session][connect][v5][MQTT-3.2.2-5]")
{
    client_session c;
    connect_client(c, v5, false, {}, false);
    c.publish(make_publish("t", "q1", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "q2", qos::exactly_once), 2, t0());
    auto pubs = sent_of<publish>(take(c));
    c.receive(packet(pubrec{pubs[1].packet_id, reason_code::success, {}}), t0());
    take(c);
    c.connection_lost(t0());
    take(c);
    c.connect(make_connect(v5, false), t0());
    take(c);
    c.receive(packet(connack{false, reason_code::success, {}}), t0()); // the server lost our session
    auto a = take(c);
    auto again = sent_of<publish>(a);
    REQUIRE(again.size() == 1);
    CHECK(again[0].payload == std::string_view("q1"));
    CHECK_FALSE(again[0].dup); // a new message in a new session
    CHECK(sent_of<pubrel>(a).empty());
    auto done = only<publish_done>(a);
    REQUIRE(done.size() == 1); // the QoS 2 message was already owned by the server
    CHECK(done[0].tag == 2);
}

TEST_CASE("Client: Server Keep Alive overrides the client's keep alive [MQTT-3.1.2-21] [MQTT-3.2.2-21]",
    "[session][keepalive][v5][MQTT-3.1.2-21][MQTT-3.2.2-21]")
{
    client_session c;
    c.connect(make_connect(v5, true, 60), t0());
    take(c);
    properties props;
    props.add(property_id::server_keep_alive, 10u);
    c.receive(packet(connack{false, reason_code::success, props}), t0());
    auto timers = only<set_timer>(take(c));
    REQUIRE(timers.size() == 1);
    CHECK(timers[0].at == t0() + std::chrono::seconds(10));
}

TEST_CASE("Client keep alive: PINGREQ when idle, closed when no answer comes [MQTT-3.1.2-20] [MQTT-3.1.2-23]",
    "[session][keepalive][MQTT-3.1.2-20][MQTT-3.1.2-23]")
{
    auto v = GENERATE(v311, v5);
    client_session c;
    c.connect(make_connect(v, true, 10), t0());
    take(c);
    c.receive(packet(connack{false, reason_code::success, {}}), t0());
    auto timers = only<set_timer>(take(c));
    REQUIRE(timers.size() == 1);
    CHECK(timers[0].id == timer_id::keep_alive);

    auto now = timers[0].at;
    c.timer_fired(timer_id::keep_alive, now);
    auto a = take(c);
    REQUIRE(sent_of<pingreq>(a).size() == 1);
    timers = only<set_timer>(a);
    REQUIRE(timers.size() == 1);

    SECTION("PINGRESP keeps the connection")
    {
        c.receive(packet(pingresp{}), now + std::chrono::seconds(1));
        c.timer_fired(timer_id::keep_alive, timers[0].at);
        CHECK_FALSE(closed(take(c)));
        CHECK(c.is_connected());
    }
    SECTION("silence closes it")
    {
        c.timer_fired(timer_id::keep_alive, timers[0].at);
        auto b = take(c);
        REQUIRE(closed(b));
        CHECK(only<close_connection>(b)[0].reason == make_error_code(errc::timeout));
    }
}

TEST_CASE("Client keep alive: no PINGREQ while packets flow both ways", "[session][keepalive]")
{
    client_session c;
    c.connect(make_connect(v5, true, 10), t0());
    take(c);
    c.receive(packet(connack{false, reason_code::success, {}}), t0());
    auto at = only<set_timer>(take(c)).at(0).at;
    auto now = t0() + std::chrono::seconds(6);
    c.publish(make_publish("t", "x", qos::at_least_once), 1, now);
    auto id = sent_of<publish>(take(c)).at(0).packet_id;
    c.receive(packet(puback{id, reason_code::success, {}}), now);
    take(c);
    c.timer_fired(timer_id::keep_alive, at);
    auto a = take(c);
    CHECK(sent_of<pingreq>(a).empty());
    auto re = only<set_timer>(a);
    REQUIRE(re.size() == 1);
    CHECK(re[0].at == now + std::chrono::seconds(10));
}

TEST_CASE("Server keep alive: closes after 1.5x the keep alive without a packet [MQTT-3.1.2-22] [MQTT-3.1.2-24]",
    "[session][keepalive][MQTT-3.1.2-22][MQTT-3.1.2-24]")
{
    auto v = GENERATE(v311, v5);
    server_session s;
    auto c = make_connect(v, true, 10);
    auto a = connect_server(s, v, false, {}, c);
    auto timers = only<set_timer>(a);
    REQUIRE(timers.size() == 1);
    CHECK(timers[0].at == t0() + std::chrono::seconds(15));

    s.receive(packet(pingreq{}), t0() + std::chrono::seconds(10));
    auto pong = take(s);
    CHECK(sent_of<pingresp>(pong).size() == 1); // [MQTT-3.12.4-1]
    s.timer_fired(timer_id::keep_alive, timers[0].at);
    a = take(s);
    CHECK_FALSE(closed(a));
    auto re = only<set_timer>(a);
    REQUIRE(re.size() == 1);
    CHECK(re[0].at == t0() + std::chrono::seconds(25));
    s.timer_fired(timer_id::keep_alive, re[0].at);
    a = take(s);
    REQUIRE(closed(a));
    if (v == v5) {
        REQUIRE(sent_of<disconnect>(a).size() == 1);
        CHECK(sent_of<disconnect>(a)[0].code == reason_code::keep_alive_timeout);
    } else {
        CHECK(sent(a).empty()); // 3.1.1 has no server DISCONNECT
    }
}

TEST_CASE("Server answers PINGREQ with PINGRESP [MQTT-3.12.4-1]", "[session][MQTT-3.12.4-1]")
{
    auto v = GENERATE(v311, v5);
    server_session s;
    connect_server(s, v);
    s.receive(packet(pingreq{}), t0());
    CHECK(sent_of<pingresp>(take(s)).size() == 1);
}

TEST_CASE("Server: the first packet must be CONNECT [MQTT-3.1.0-1]", "[session][connect][MQTT-3.1.0-1]")
{
    server_session s;
    s.receive(packet(make_publish("t", "x", qos::at_most_once)), t0());
    auto a = take(s);
    CHECK(closed(a));
    CHECK(only<deliver_message>(a).empty());
    CHECK(only<connect_received>(a).empty());
}

TEST_CASE("Server: a second CONNECT is a protocol error and closes the connection [MQTT-3.1.0-2]",
    "[session][connect][MQTT-3.1.0-2]")
{
    auto v = GENERATE(v311, v5);
    server_session s;
    connect_server(s, v);
    s.receive(packet(make_connect(v)), t0());
    auto a = take(s);
    REQUIRE(closed(a));
    CHECK(only<connect_received>(a).empty());
    if (v == v5) {
        REQUIRE(sent_of<disconnect>(a).size() == 1);
        CHECK(sent_of<disconnect>(a)[0].code == reason_code::protocol_error);
    }
}

TEST_CASE("Server: packets after CONNECT wait until it is accepted, and are dropped when it is refused "
          "[MQTT-3.1.4-5]",
    "[session][connect][v311][MQTT-3.1.4-5]")
{
    server_session s;
    s.receive(packet(make_connect(v311)), t0());
    auto p = make_publish("t", "early", qos::at_least_once);
    p.packet_id = 1;
    s.receive(packet(p), t0());
    auto a = take(s);
    CHECK(only<connect_received>(a).size() == 1);
    CHECK(only<deliver_message>(a).empty());

    SECTION("accepted: processed after CONNACK")
    {
        s.accept(connack{false, reason_code::success, {}}, t0());
        a = take(s);
        auto pk = sent(a);
        REQUIRE(pk.size() == 2);
        CHECK(std::holds_alternative<connack>(pk[0]));
        CHECK(std::holds_alternative<puback>(pk[1]));
        CHECK(only<deliver_message>(a).size() == 1);
    }
    SECTION("refused: never processed")
    {
        s.accept(connack{true, reason_code::not_authorized, {}}, t0());
        a = take(s);
        auto acks = sent_of<connack>(a);
        REQUIRE(acks.size() == 1);
        CHECK_FALSE(acks[0].session_present); // [MQTT-3.2.2-4] (3.1.1)
        CHECK(only<deliver_message>(a).empty());
        CHECK(closed(a));
    }
}

TEST_CASE("Server: a refusing CONNACK has Session Present 0 and closes [MQTT-3.2.2-6] [MQTT-4.13.2-1]",
    "[session][connect][v5][MQTT-3.2.2-6][MQTT-4.13.2-1]")
{
    server_session s;
    s.receive(packet(make_connect(v5)), t0());
    take(s);
    s.accept(connack{true, reason_code::banned, {}}, t0());
    auto a = take(s);
    auto acks = sent_of<connack>(a);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code == reason_code::banned);
    CHECK_FALSE(acks[0].session_present);
    CHECK(closed(a));
}

TEST_CASE("Server: the resumed session resends unacknowledged messages to the client [MQTT-4.4.0-1] [MQTT-3.1.2-4]",
    "[session][connect][v311][MQTT-4.4.0-1][MQTT-3.1.2-4][MQTT-3.1.2-5]")
{
    server_session s;
    connect_server(s, v311, false, {}, make_connect(v311, false));
    s.publish(make_publish("t", "a", qos::at_least_once), 1, t0());
    auto first = sent_of<publish>(take(s));
    REQUIRE(first.size() == 1);
    s.connection_lost(t0());
    take(s);
    // While the client is away, messages are kept for it.
    s.publish(make_publish("t", "b", qos::exactly_once), 2, t0());
    CHECK(sent(take(s)).empty());
    auto pubs = sent_of<publish>(connect_server(s, v311, true, {}, make_connect(v311, false)));
    REQUIRE(pubs.size() == 2);
    CHECK(pubs[0].dup);
    CHECK(pubs[0].packet_id == first[0].packet_id);
    CHECK_FALSE(pubs[1].dup);
}

TEST_CASE("A received DISCONNECT is reported and closes the connection", "[session][disconnect][v5]")
{
    server_session s;
    connect_server(s, v5);
    s.receive(packet(disconnect{reason_code::disconnect_with_will_message, {}}), t0());
    auto a = take(s);
    auto d = only<disconnect_received>(a);
    REQUIRE(d.size() == 1);
    CHECK(d[0].pkt.code == reason_code::disconnect_with_will_message);
    CHECK(closed(a));
    CHECK_FALSE(s.is_connected());
}

TEST_CASE("disconnect() sends DISCONNECT (not from a 3.1.1 server) and closes", "[session][disconnect]")
{
    client_session c;
    connect_client(c, v311);
    c.disconnect({}, t0());
    auto a = take(c);
    CHECK(sent_of<disconnect>(a).size() == 1);
    CHECK(closed(a));

    server_session s;
    connect_server(s, v311);
    s.disconnect({}, t0());
    a = take(s);
    CHECK(sent(a).empty());
    CHECK(closed(a));
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE complete with their acknowledgments, a lost connection fails them",
    "[session][subscribe]")
{
    client_session c;
    connect_client(c, v5);
    c.subscribe(subscribe{0, {{"a/+", {qos::at_least_once}}, {"b/#", {qos::exactly_once}}}, {}}, 1, t0());
    auto subs = sent_of<subscribe>(take(c));
    REQUIRE(subs.size() == 1);
    CHECK(subs[0].packet_id != 0);
    c.receive(packet(suback{subs[0].packet_id, {reason_code::granted_qos_1, reason_code::granted_qos_2}, {}}), t0());
    auto done = only<subscribe_done>(take(c));
    REQUIRE(done.size() == 1);
    CHECK(done[0].tag == 1);
    CHECK_FALSE(done[0].ec);
    CHECK(done[0].ack.codes.size() == 2);

    c.unsubscribe(unsubscribe{0, {"a/+"}, {}}, 2, t0());
    c.subscribe(subscribe{0, {{"c", {}}}, {}}, 3, t0());
    take(c);
    c.connection_lost(t0());
    auto a = take(c);
    auto ud = only<unsubscribe_done>(a);
    auto sd = only<subscribe_done>(a);
    REQUIRE(ud.size() == 1);
    REQUIRE(sd.size() == 1);
    CHECK(ud[0].ec == make_error_code(errc::connection_lost));
    CHECK(sd[0].ec == make_error_code(errc::connection_lost));
}

TEST_CASE("A SUBACK with the wrong number of reason codes is a protocol error [MQTT-3.8.4-6]",
    "[session][subscribe][v5][MQTT-3.8.4-6]")
{
    client_session c;
    connect_client(c, v5);
    c.subscribe(subscribe{0, {{"a", {}}, {"b", {}}}, {}}, 1, t0());
    auto id = sent_of<subscribe>(take(c)).at(0).packet_id;
    c.receive(packet(suback{id, {reason_code::granted_qos_0}, {}}), t0());
    CHECK(closed(take(c)));
}

TEST_CASE("Invalid requests fail at once with a clear error", "[session][requests]")
{
    client_session c;
    c.subscribe(subscribe{0, {{"a", {}}}, {}}, 1, t0());
    CHECK(only<subscribe_done>(take(c)).at(0).ec == make_error_code(errc::not_connected));
    connect_client(c, v5);
    c.subscribe(subscribe{0, {{"a/#/b", {}}}, {}}, 2, t0());
    CHECK(only<subscribe_done>(take(c)).at(0).ec == make_error_code(reason_code::topic_filter_invalid));
    c.publish(make_publish("a/+", "x", qos::at_most_once), 3, t0());
    CHECK(only<publish_done>(take(c)).at(0).ec == make_error_code(reason_code::topic_name_invalid));
}

TEST_CASE("3.1.1 timed retransmission is off by default and bounded when on", "[session][retransmit][v311]")
{
    session_options o;
    o.retransmit_interval = std::chrono::seconds(5);
    o.max_retransmits = 2;
    client_session c(o);
    auto a = connect_client(c, v311);
    c.publish(make_publish("t", "x", qos::at_least_once), 1, t0());
    a = take(c);
    auto timers = only<set_timer>(a);
    REQUIRE(timers.size() == 1);
    CHECK(timers[0].id == timer_id::retransmit);
    auto now = timers[0].at;
    int resends = 0;
    for (int i = 0; i < 5; ++i) {
        c.timer_fired(timer_id::retransmit, now);
        auto b = take(c);
        for (auto& p : sent_of<publish>(b)) {
            CHECK(p.dup);
            ++resends;
        }
        now += std::chrono::seconds(5);
    }
    CHECK(resends == 2);

    client_session plain;
    connect_client(plain, v311);
    plain.publish(make_publish("t", "x", qos::at_least_once), 1, t0());
    CHECK(only<set_timer>(take(plain)).empty());

    client_session five(o); // never for 5.0
    connect_client(five, v5);
    five.publish(make_publish("t", "x", qos::at_least_once), 1, t0());
    CHECK(only<set_timer>(take(five)).empty());
}

TEST_CASE("Session state is a value: saved, restored into a new session, resumed", "[session][state]")
{
    auto v = GENERATE(v311, v5);
    session_state saved;
    std::uint16_t q1_id = 0, q2_id = 0;
    {
        client_session c;
        connect_client(c, v, false, {}, false);
        c.publish(make_publish("t", "one", qos::at_least_once), 1, t0());
        c.publish(make_publish("t", "two", qos::exactly_once), 2, t0());
        auto pubs = sent_of<publish>(take(c));
        q1_id = pubs[0].packet_id;
        q2_id = pubs[1].packet_id;
        c.receive(packet(pubrec{q2_id, reason_code::success, {}}), t0());
        auto in = make_publish("in", "x", qos::exactly_once);
        in.packet_id = 300;
        c.receive(packet(in), t0());
        c.publish(make_publish("t", "three", qos::at_least_once), 3, t0());
        take(c);
        saved = c.state(); // the process dies here
    }
    REQUIRE(saved.outgoing.size() == 3);
    CHECK(saved.outgoing[1].stage == outgoing_stage::awaiting_comp);
    CHECK(saved.qos2_received == std::vector<std::uint16_t>{300});

    client_session c;
    c.restore(saved);
    CHECK(c.state() == saved);
    auto a = connect_client(c, v, true, {}, false);
    auto pk = sent(a);
    REQUIRE(pk.size() == 3);
    REQUIRE(std::holds_alternative<publish>(pk[0]));
    CHECK(std::get<publish>(pk[0]).packet_id == q1_id);
    CHECK(std::get<publish>(pk[0]).dup);
    REQUIRE(std::holds_alternative<pubrel>(pk[1]));
    CHECK(std::get<pubrel>(pk[1]).packet_id == q2_id);
    REQUIRE(std::holds_alternative<publish>(pk[2]));
    CHECK(std::get<publish>(pk[2]).payload == std::string_view("three"));
    // The restored QoS 2 id still suppresses the duplicate.
    auto in = make_publish("in", "x", qos::exactly_once);
    in.packet_id = 300;
    in.dup = true;
    c.receive(packet(in), t0());
    auto b = take(c);
    CHECK(only<deliver_message>(b).empty());
    CHECK(sent_of<pubrec>(b).size() == 1);
}

TEST_CASE("clear() fails everything outstanding with the given reason", "[session][state]")
{
    client_session c;
    c.publish(make_publish("t", "a", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "b", qos::exactly_once), 2, t0());
    c.clear(make_error_code(errc::cancelled));
    auto done = only<publish_done>(take(c));
    REQUIRE(done.size() == 2);
    CHECK(done[0].ec == make_error_code(errc::cancelled));
    CHECK(c.state().outgoing.empty());
    CHECK(c.queued_count() == 0);
}

TEST_CASE("A topic published with again is checked once, and any other bytes are checked anew", "[session][requests]")
{
    client_session c;
    connect_client(c, v5);
    const buffer whole("a/b+c");
    const auto valid = whole.substr(0, 3);   // "a/b"
    const auto invalid = whole.substr(0, 4); // "a/b+": same first byte, one more
    auto outcome = [&](const buffer& topic, std::uint64_t tag) {
        mqtt::publish p;
        p.topic = topic;
        p.payload = buffer("x");
        c.publish(std::move(p), tag, t0());
        auto done = only<publish_done>(take(c));
        REQUIRE(done.size() == 1);
        return done[0].ec;
    };
    CHECK_FALSE(outcome(valid, 1));
    CHECK_FALSE(outcome(valid, 2)); // the remembered topic
    CHECK(outcome(invalid, 3) == make_error_code(reason_code::topic_name_invalid));
    CHECK(outcome(buffer("x/#"), 4) == make_error_code(reason_code::topic_name_invalid));
    CHECK_FALSE(outcome(valid, 5));
    CHECK(outcome(buffer(""), 6) == make_error_code(reason_code::topic_name_invalid));
}

namespace {
std::string wire(const packet& p, protocol_version v)
{
    std::string out;
    REQUIRE(!encode(p, v, out));
    return out;
}
} // namespace

TEST_CASE("Server: bytes after a refused CONNECT are not decoded, even malformed ones, so the refusal gets "
          "its own CONNACK [MQTT-3.1.4-6] [MQTT-3.1.4-5]",
    "[session][connect][MQTT-3.1.4-6][MQTT-3.1.4-5]")
{
    const std::string malformed_publish("\x30\x00", 2); // no topic
    for (auto v : {v5, v311}) {
        INFO((v == v5 ? "5.0" : "3.1.1"));
        auto c = make_connect(v);
        {
            server_session s;
            s.receive(wire(packet(c), v) + malformed_publish, t0());
            auto actions = take(s);
            CHECK(only<connect_received>(actions).size() == 1);
            CHECK(!closed(actions)); // the decoding error waits for the verdict on the CONNECT
            auto refusal = v == v5 ? reason_code::bad_authentication_method : reason_code::client_identifier_not_valid;
            s.accept(connack{false, refusal, {}}, t0());
            actions = take(s);
            auto acks = sent_of<connack>(actions);
            REQUIRE(acks.size() == 1);
            CHECK(acks[0].code == refusal);
            CHECK(closed(actions));
        }
        {
            // Accepted: the error counts now, after the CONNACK.
            server_session s;
            s.receive(wire(packet(c), v) + malformed_publish, t0());
            take(s);
            s.accept(connack{false, reason_code::success, {}}, t0());
            auto actions = take(s);
            auto out = sent(actions);
            REQUIRE(!out.empty());
            CHECK(std::holds_alternative<connack>(out[0]));
            if (v == v5) {
                auto d = sent_of<mqtt::disconnect>(actions);
                REQUIRE(d.size() == 1);
                CHECK(d[0].code == reason_code::malformed_packet);
            }
            CHECK(closed(actions));
            CHECK(!s.is_connected());
        }
    }
}

TEST_CASE("Server: a CONNACK larger than the client's Maximum Packet Size even without diagnostics is not "
          "sent, and no session starts [MQTT-3.1.2-24] [MQTT-3.2.0-1]",
    "[session][connect][v5][MQTT-3.1.2-24][MQTT-3.2.0-1]")
{
    server_session s;
    auto c = make_connect(v5);
    c.props.add(property_id::maximum_packet_size, 10u);
    s.receive(packet(c), t0());
    take(s);
    connack ack{false, reason_code::success, {}};
    ack.props.add(property_id::assigned_client_identifier, std::string("an-assigned-identifier"));
    s.accept(ack, t0());
    auto actions = take(s);
    CHECK(sent(actions).empty());
    CHECK(closed(actions));
    CHECK(!s.is_connected());
    // Nothing is answered afterwards either.
    s.receive(packet(pingreq{}), t0());
    CHECK(sent(take(s)).empty());

    // A CONNACK that fits is sent.
    server_session fits;
    fits.receive(packet(c), t0());
    take(fits);
    fits.accept(connack{false, reason_code::success, {}}, t0());
    CHECK(sent_of<connack>(take(fits)).size() == 1);
    CHECK(fits.is_connected());
}

TEST_CASE("Server: a DISCONNECT with a Session Expiry Interval after a CONNECT with none is a protocol error, "
          "not a valid DISCONNECT",
    "[session][disconnect][v5]")
{
    mqtt::disconnect d{reason_code::normal_disconnection, {}};
    d.props.add(property_id::session_expiry_interval, 100u);
    {
        server_session s;
        connect_server(s, v5);
        s.receive(packet(d), t0());
        auto actions = take(s);
        CHECK(only<disconnect_received>(actions).empty()); // so the Will stays due
        auto out = sent_of<mqtt::disconnect>(actions);
        REQUIRE(out.size() == 1);
        CHECK(out[0].code == reason_code::protocol_error);
        CHECK(closed(actions));
    }
    {
        // With a Session Expiry Interval in the CONNECT, the DISCONNECT may change it.
        server_session s;
        auto c = make_connect(v5);
        c.props.add(property_id::session_expiry_interval, 10u);
        connect_server(s, v5, false, {}, c);
        s.receive(packet(d), t0());
        auto actions = take(s);
        CHECK(only<disconnect_received>(actions).size() == 1);
        CHECK(sent(actions).empty());
        CHECK(closed(actions));
    }
}

TEST_CASE("Client: with an Authentication Method in its CONNECT, nothing but AUTH goes out before the CONNACK "
          "[MQTT-3.1.2-30]",
    "[session][connect][v5][MQTT-3.1.2-30]")
{
    client_session c;
    auto pkt = make_connect(v5);
    pkt.props.add(property_id::authentication_method, std::string("SCRAM-SHA-1"));
    c.connect(pkt, t0());
    auto first = sent(take(c));
    REQUIRE(first.size() == 1);
    CHECK(std::holds_alternative<mqtt::connect>(first[0]));

    c.publish(make_publish("t", "early", qos::at_least_once), 1, t0());
    c.publish(make_publish("t", "early0", qos::at_most_once), 2, t0());
    c.subscribe(mqtt::subscribe{0, {{"t", {qos::at_least_once}}}, {}}, 3, t0());
    c.receive(packet(auth{reason_code::continue_authentication, {}}), t0());
    auto before = take(c);
    CHECK(sent(before).empty()); // the application answers the challenge itself
    CHECK(only<subscribe_done>(before).size() == 1); // refused at once: not connected
    mqtt::auth answer{reason_code::continue_authentication, {}};
    answer.props.add(property_id::authentication_method, std::string("SCRAM-SHA-1"));
    c.send(answer, t0());
    auto out = sent(take(c));
    REQUIRE(out.size() == 1);
    CHECK(std::holds_alternative<mqtt::auth>(out[0]));

    c.receive(packet(connack{false, reason_code::success, {}}), t0());
    auto pubs = sent_of<publish>(take(c));
    REQUIRE(pubs.size() == 2);
    CHECK(pubs[0].payload == std::string_view("early"));
    CHECK(pubs[1].payload == std::string_view("early0"));
}

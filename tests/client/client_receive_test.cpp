// Subscribing, receiving (handler and async_receive), manual acknowledgment.
#include "fake_broker.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

void connect_client(harness& h, client& c)
{
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    REQUIRE_FALSE(done.ec);
}

mqtt::publish message(std::string topic, std::string payload, qos q, std::uint16_t id)
{
    mqtt::publish p;
    p.topic = buffer(std::move(topic));
    p.payload = buffer(std::move(payload));
    p.qos = q;
    p.packet_id = id;
    return p;
}

} // namespace

TEST_CASE("Subscribe sends every filter with its options and completes with per-filter codes", "[client][subscribe][v5]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    mqtt::subscribe got;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        got = co_await conn.expect<mqtt::subscribe>();
        suback ack{got.packet_id, {reason_code::granted_qos_1, reason_code::not_authorized}, {}};
        ack.props.add(property_id::reason_string, std::string("partly"));
        co_await conn.send(ack);
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    std::vector<subscription> filters;
    filters.push_back({"a/#", subscribe_options{qos::at_least_once, true, true, retain_handling::do_not_send}});
    filters.push_back({"secret/+", subscribe_options{qos::exactly_once}});
    properties props;
    props.add(property_id::subscription_identifier, 7u);
    outcome<subscribe_result> r;
    c.async_subscribe(filters, props, r.handler());
    h.run_until([&] { return r.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(r.ec);
    CHECK(r.value.codes == std::vector<reason_code>{reason_code::granted_qos_1, reason_code::not_authorized});
    CHECK(r.value.props.get_string(property_id::reason_string) == "partly");
    CHECK(got.subscriptions == filters);
    CHECK(got.props.subscription_identifiers() == std::vector<std::uint32_t>{7});
}

TEST_CASE("Unsubscribe completes with per-filter codes (5.0) and none for 3.1.1", "[client][unsubscribe]")
{
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        harness h;
        client c(h.ioc.get_executor(), h.options(v));
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept_session();
            auto u = co_await conn.expect<mqtt::unsubscribe>();
            CHECK(u.filters == std::vector<std::string>{"a", "b"});
            unsuback ack{u.packet_id, {}, {}};
            if (v == protocol_version::v5)
                ack.codes = {reason_code::success, reason_code::no_subscription_existed};
            co_await conn.send(ack);
            CHECK_CLOSED(conn);
        });
        connect_client(h, c);
        outcome<unsubscribe_result> r;
        c.async_unsubscribe({"a", "b"}, {}, r.handler());
        h.run_until([&] { return r.done; });
        c.stop();
        h.finish();
        CHECK_FALSE(r.ec);
        if (v == protocol_version::v5)
            CHECK(r.value.codes == std::vector<reason_code>{reason_code::success, reason_code::no_subscription_existed});
        else
            CHECK(r.value.codes.empty());
    }
}

TEST_CASE("A subscribe made before connecting waits for the connection", "[client][subscribe][offline]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto s = co_await conn.expect<mqtt::subscribe>();
        suback ack{s.packet_id, {reason_code::granted_qos_0}, {}};
        co_await conn.send(ack);
        CHECK_CLOSED(conn);
    });
    outcome<subscribe_result> r;
    c.async_subscribe("early/#", qos::at_most_once, r.handler());
    connect_client(h, c);
    h.run_until([&] { return r.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(r.ec);
    CHECK(r.value.codes == std::vector<reason_code>{reason_code::granted_qos_0});
}

TEST_CASE("After a reconnect without session the client subscribes again", "[client][subscribe][reconnect]")
{
    harness h;
    auto o = h.options();
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    mqtt::subscribe again;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto s = co_await conn.expect<mqtt::subscribe>();
        suback ack{s.packet_id, {reason_code::granted_qos_1, reason_code::granted_qos_0}, {}};
        co_await conn.send(ack);
        conn.close();
        auto conn2 = co_await h.broker.accept_session(); // session present = 0
        again = co_await conn2.expect<mqtt::subscribe>();
        suback ack2{again.packet_id, {reason_code::granted_qos_1, reason_code::granted_qos_0}, {}};
        co_await conn2.send(ack2);
        c.stop();
        CHECK_CLOSED(conn2);
    });
    connect_client(h, c);
    outcome<subscribe_result> r;
    c.async_subscribe({{"x/#", subscribe_options{qos::at_least_once}}, {"y", subscribe_options{}}}, {}, r.handler());
    h.run_until([&] { return r.done && !again.subscriptions.empty(); });
    h.finish();
    REQUIRE(again.subscriptions.size() == 2);
    CHECK(again.subscriptions[0].filter == "x/#");
    CHECK(again.subscriptions[0].options.qos == qos::at_least_once);
    CHECK(again.subscriptions[1].filter == "y");
}

TEST_CASE("Messages reach the message handler, and QoS 1 is acknowledged [MQTT-4.3.2-4]", "[client][receive][MQTT-4.3.2-4]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    std::vector<mqtt::publish> got;
    c.set_message_handler([&](mqtt::publish m) { got.push_back(std::move(m)); });
    puback ack;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto m = message("a/b", "one", qos::at_least_once, 9);
        m.props.add(property_id::correlation_data, std::string("\x01\x02", 2));
        co_await conn.send(m);
        ack = co_await conn.expect<puback>();
        co_await conn.send(message("a/c", "two", qos::at_most_once, 0));
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    h.run_until([&] { return got.size() == 2; });
    c.stop();
    h.finish();
    CHECK(ack.packet_id == 9);
    CHECK(got[0].topic == "a/b");
    CHECK(got[0].payload == "one");
    CHECK(got[0].props.get_string(property_id::correlation_data) == std::string("\x01\x02", 2));
    CHECK(got[1].payload == "two");
}

TEST_CASE("async_receive returns messages in order, also those that arrived earlier", "[client][receive]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        for (int i = 0; i < 5; ++i)
            co_await conn.send(message("t", std::to_string(i), qos::at_most_once, 0));
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    std::vector<std::string> seen;
    for (int i = 0; i < 5; ++i) {
        outcome<mqtt::publish> r;
        c.async_receive(r.handler());
        h.run_until([&] { return r.done; });
        REQUIRE_FALSE(r.ec);
        seen.push_back(r.value.payload.str());
    }
    c.stop();
    h.finish();
    CHECK(seen == std::vector<std::string>{"0", "1", "2", "3", "4"});
}

TEST_CASE("A QoS 2 message resent with DUP is delivered once [MQTT-4.3.3-10]", "[client][receive][qos2][MQTT-4.3.3-10][MQTT-4.3.3-11]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    std::vector<mqtt::publish> got;
    c.set_message_handler([&](mqtt::publish m) { got.push_back(std::move(m)); });
    pubcomp comp;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto m = message("t", "once", qos::exactly_once, 5);
        co_await conn.send(m);
        (void)co_await conn.expect<pubrec>();
        m.dup = true;
        co_await conn.send(m);
        auto rec = co_await conn.expect<pubrec>();
        CHECK(rec.packet_id == 5);
        co_await conn.send(pubrel{5, reason_code::success, {}});
        comp = co_await conn.expect<pubcomp>();
        c.stop();
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    h.run_until([&] { return comp.packet_id == 5; });
    h.finish();
    CHECK(got.size() == 1);
}

TEST_CASE("A QoS 2 message PUBREC'd before stop() is not delivered again when the session resumes "
          "[MQTT-4.3.3-10]",
    "[client][receive][qos2][stop][MQTT-4.3.3-10][MQTT-4.1.0-1]")
{
    harness h;
    auto o = h.options();
    o.connect.clean_start = false;
    o.connect.session_expiry = 600;
    client c(h.ioc.get_executor(), o);
    std::vector<mqtt::publish> got;
    c.set_message_handler([&](mqtt::publish m) { got.push_back(std::move(m)); });
    pubcomp comp;
    bool reconnected = false;
    h.spawn([&]() -> awaitable<void> {
        auto first = co_await h.broker.accept_session();
        auto m = message("t", "once", qos::exactly_once, 7);
        co_await first.send(m);
        (void)co_await first.expect<pubrec>();
        // The application stops the client before the PUBREL came; the session,
        // its received ids with it, lives on (broker and Session Expiry).
        c.stop();
        CHECK_CLOSED(first);
        c.async_connect([&](std::error_code ec, connack) { reconnected = !ec; });
        connack present;
        present.session_present = true;
        auto second = co_await h.broker.accept_session(present);
        // The PUBREC may have been lost with the connection: the broker resends.
        m.dup = true;
        co_await second.send(m);
        auto rec = co_await second.expect<pubrec>();
        CHECK(rec.packet_id == 7);
        co_await second.send(pubrel{7, reason_code::success, {}});
        comp = co_await second.expect<pubcomp>();
        c.stop();
        CHECK_CLOSED(second);
    });
    connect_client(h, c);
    h.run_until([&] { return comp.packet_id == 7; });
    h.finish();
    CHECK(reconnected);
    CHECK(got.size() == 1);
}

TEST_CASE("Manual ack: PUBACK / PUBREC only after acknowledge(), with its reason code", "[client][receive][manual-ack][v5]")
{
    harness h;
    auto o = h.options();
    o.session.manual_ack = true;
    client c(h.ioc.get_executor(), o);
    std::vector<mqtt::publish> got;
    c.set_message_handler([&](mqtt::publish m) { got.push_back(std::move(m)); });
    puback ack;
    pubrec rec;
    bool nothing_early = false;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        co_await conn.send(message("t", "q1", qos::at_least_once, 1));
        co_await conn.send(message("t", "q2", qos::exactly_once, 2));
        // Nothing is acknowledged until the application has both messages.
        ack = co_await conn.expect<puback>();
        nothing_early = got.size() == 2;
        rec = co_await conn.expect<pubrec>();
        c.stop();
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    h.run_until([&] { return got.size() == 2; });
    c.acknowledge(got[0], reason_code::success);
    c.acknowledge(got[1], reason_code::quota_exceeded);
    h.run_until([&] { return rec.packet_id == 2; });
    h.finish();
    CHECK(nothing_early);
    CHECK(ack.packet_id == 1);
    CHECK(ack.code == reason_code::success);
    CHECK(rec.code == reason_code::quota_exceeded);
}

TEST_CASE("Topic aliases from the broker are resolved before delivery", "[client][receive][v5]")
{
    harness h;
    auto o = h.options();
    o.connect.topic_alias_maximum = 5;
    client c(h.ioc.get_executor(), o);
    std::vector<mqtt::publish> got;
    c.set_message_handler([&](mqtt::publish m) { got.push_back(std::move(m)); });
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto m = message("long/topic/name", "1", qos::at_most_once, 0);
        m.props.add(property_id::topic_alias, 3u);
        co_await conn.send(m);
        auto m2 = message("", "2", qos::at_most_once, 0);
        m2.props.add(property_id::topic_alias, 3u);
        co_await conn.send(m2);
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    h.run_until([&] { return got.size() == 2; });
    c.stop();
    h.finish();
    CHECK(got[1].topic == "long/topic/name");
    CHECK_FALSE(got[1].props.contains(property_id::topic_alias));
}

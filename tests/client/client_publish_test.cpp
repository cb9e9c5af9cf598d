// Publish outcomes, the offline queue, resumption and cancellation.
#include <atomic>
#include <thread>

#include "fake_broker.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

// Connects `c` to a broker script already spawned; returns once connected.
void connect_client(harness& h, client& c)
{
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    REQUIRE_FALSE(done.ec);
}

} // namespace

TEST_CASE("QoS 0 publish completes once written", "[client][publish][qos0]")
{
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        harness h;
        client c(h.ioc.get_executor(), h.options(v));
        mqtt::publish got;
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept_session();
            got = co_await conn.expect<mqtt::publish>();
            CHECK_CLOSED(conn);
        });
        connect_client(h, c);
        outcome<publish_result> r;
        c.async_publish("a/b", "hello", qos::at_most_once, r.handler());
        h.run_until([&] { return r.done; });
        CHECK_FALSE(r.ec);
        CHECK(r.value.code == reason_code::success);
        c.stop();
        h.finish();
        CHECK(got.topic == "a/b");
        CHECK(got.payload == "hello");
        CHECK(got.qos == qos::at_most_once);
    }
}

TEST_CASE("QoS 1 publish completes with the PUBACK reason code and properties [MQTT-4.3.2-2]", "[client][publish][qos1][v5][MQTT-4.3.2-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    mqtt::publish got;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        got = co_await conn.expect<mqtt::publish>();
        puback ack{got.packet_id, reason_code::no_matching_subscribers, {}};
        ack.props.add(property_id::reason_string, std::string("nobody listens"));
        co_await conn.send(ack);
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    properties props;
    props.add(property_id::content_type, std::string("text/plain"));
    props.add_user_property("k", "v");
    outcome<publish_result> r;
    c.async_publish("a/b", "x", qos::at_least_once, true, props, r.handler());
    h.run_until([&] { return r.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(r.ec);
    CHECK(r.value.code == reason_code::no_matching_subscribers);
    CHECK(r.value.props.get_string(property_id::reason_string) == "nobody listens");
    CHECK(got.qos == qos::at_least_once);
    CHECK_FALSE(got.dup);
    CHECK(got.packet_id != 0);
    CHECK(got.retain);
    CHECK(got.props.get_string(property_id::content_type) == "text/plain");
}

TEST_CASE("QoS 1 publish refused by the broker completes with the reason as error [MQTT-4.4.0-2]", "[client][publish][qos1][v5][MQTT-4.4.0-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        co_await conn.send(puback{p.packet_id, reason_code::not_authorized, {}});
        CHECK_CLOSED(conn); // never retransmitted
    });
    connect_client(h, c);
    outcome<publish_result> r;
    c.async_publish("a/b", "x", qos::at_least_once, r.handler());
    h.run_until([&] { return r.done; });
    c.stop();
    h.finish();
    CHECK(r.ec == make_error_code(reason_code::not_authorized));
    CHECK(r.value.code == reason_code::not_authorized);
}

TEST_CASE("QoS 2 publish: PUBREC, PUBREL, PUBCOMP, then completion [MQTT-4.3.3-4]", "[client][publish][qos2][MQTT-4.3.3-2][MQTT-4.3.3-4]")
{
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        harness h;
        client c(h.ioc.get_executor(), h.options(v));
        pubrel rel;
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept_session();
            auto p = co_await conn.expect<mqtt::publish>();
            CHECK(p.qos == qos::exactly_once);
            CHECK_FALSE(p.dup);
            co_await conn.send(pubrec{p.packet_id, reason_code::success, {}});
            rel = co_await conn.expect<pubrel>();
            CHECK(rel.packet_id == p.packet_id);
            pubcomp comp{p.packet_id, reason_code::success, {}};
            if (v == protocol_version::v5)
                comp.props.add_user_property("done", "yes");
            co_await conn.send(comp);
            CHECK_CLOSED(conn);
        });
        connect_client(h, c);
        outcome<publish_result> r;
        c.async_publish("a/b", "x", qos::exactly_once, r.handler());
        h.run_until([&] { return r.done; });
        c.stop();
        h.finish();
        CHECK_FALSE(r.ec);
        CHECK(r.value.code == reason_code::success);
        if (v == protocol_version::v5)
            CHECK(r.value.props.user_properties().size() == 1);
    }
}

TEST_CASE("QoS 2 publish refused with PUBREC >= 0x80 ends without PUBREL", "[client][publish][qos2][v5][MQTT-4.4.0-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        co_await conn.send(pubrec{p.packet_id, reason_code::quota_exceeded, {}});
        CHECK_CLOSED(conn); // no PUBREL
    });
    connect_client(h, c);
    outcome<publish_result> r;
    c.async_publish("a/b", "x", qos::exactly_once, r.handler());
    h.run_until([&] { return r.done; });
    c.stop();
    h.finish();
    CHECK(r.ec == make_error_code(reason_code::quota_exceeded));
}

TEST_CASE("An invalid topic completes at once with topic_name_invalid", "[client][publish]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    outcome<publish_result> r;
    c.async_publish("a/+/b", "x", qos::at_least_once, r.handler());
    h.run_until([&] { return r.done; });
    CHECK(r.ec == make_error_code(reason_code::topic_name_invalid));
}

TEST_CASE("Offline queue: publishes wait for the connection, in order, bounded by messages", "[client][publish][offline]")
{
    harness h;
    auto o = h.options();
    o.session.max_queued_messages = 3;
    client c(h.ioc.get_executor(), o);
    std::vector<std::string> seen;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        for (int i = 0; i < 3; ++i) {
            auto p = co_await conn.expect<mqtt::publish>();
            seen.push_back(p.payload.str());
            if (p.qos == qos::at_least_once)
                co_await conn.send(puback{p.packet_id, reason_code::success, {}});
        }
        CHECK_CLOSED(conn);
    });
    std::vector<outcome<publish_result>> r(4);
    c.async_publish("t", "m0", qos::at_least_once, r[0].handler());
    c.async_publish("t", "m1", qos::at_most_once, r[1].handler());
    c.async_publish("t", "m2", qos::at_least_once, r[2].handler());
    c.async_publish("t", "m3", qos::at_least_once, r[3].handler()); // over the bound
    h.run_until([&] { return r[3].done; });
    CHECK(r[3].ec == make_error_code(errc::queue_full));
    CHECK_FALSE(r[0].done); // still waiting: nobody is connected
    connect_client(h, c);
    h.run_until([&] { return r[0].done && r[1].done && r[2].done; });
    c.stop();
    h.finish();
    for (int i = 0; i < 3; ++i)
        CHECK_FALSE(r[static_cast<std::size_t>(i)].ec);
    CHECK(seen == std::vector<std::string>{"m0", "m1", "m2"});
}

TEST_CASE("Offline queue bounded in bytes", "[client][publish][offline]")
{
    harness h;
    auto o = h.options();
    o.session.max_queued_bytes = 10;
    client c(h.ioc.get_executor(), o);
    outcome<publish_result> a, b;
    c.async_publish("t", "123456", qos::at_least_once, a.handler());
    c.async_publish("t", "123456", qos::at_least_once, b.handler());
    h.run_until([&] { return b.done; });
    CHECK(b.ec == make_error_code(errc::queue_full));
    CHECK_FALSE(a.done);
    c.stop();
    h.run_until([&] { return a.done; });
    CHECK(a.ec == make_error_code(errc::cancelled));
}

TEST_CASE("Unacknowledged QoS 1 and PUBREL are resent with DUP after reconnect [MQTT-4.4.0-1] [MQTT-3.3.1-1]", "[client][publish][reconnect][v5][MQTT-4.4.0-1][MQTT-3.3.1-1][MQTT-4.3.3-6]")
{
    harness h;
    auto o = h.options();
    o.connect.clean_start = false;
    o.connect.session_expiry = 300;
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    mqtt::publish first, again;
    pubrel rel_again;
    mqtt::connect reconnect_packet;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        first = co_await conn.expect<mqtt::publish>(); // QoS 1, left unacknowledged
        auto q2 = co_await conn.expect<mqtt::publish>();
        co_await conn.send(pubrec{q2.packet_id, reason_code::success, {}});
        (void)co_await conn.expect<pubrel>(); // PUBREL left without PUBCOMP
        conn.close();
        auto conn2 = co_await h.broker.accept_session(connack{true, reason_code::success, {}}, &reconnect_packet);
        again = co_await conn2.expect<mqtt::publish>();
        rel_again = co_await conn2.expect<pubrel>(); // not the PUBLISH [MQTT-4.3.3-6]
        co_await conn2.send(puback{again.packet_id, reason_code::success, {}});
        co_await conn2.send(pubcomp{rel_again.packet_id, reason_code::success, {}});
        CHECK_CLOSED(conn2);
    });
    connect_client(h, c);
    outcome<publish_result> r1, r2;
    c.async_publish("t", "one", qos::at_least_once, r1.handler());
    c.async_publish("t", "two", qos::exactly_once, r2.handler());
    h.run_until([&] { return r1.done && r2.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(r1.ec);
    CHECK_FALSE(r2.ec);
    CHECK_FALSE(reconnect_packet.clean_start);
    CHECK_FALSE(first.dup);
    CHECK(again.dup);
    CHECK(again.packet_id == first.packet_id);
    CHECK(again.payload == "one");
}

TEST_CASE("stop() completes outstanding publishes, subscribes and receives with cancelled", "[client][cancel]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<mqtt::publish>(); // never acknowledged
        (void)co_await conn.expect<mqtt::subscribe>(); // never acknowledged
        c.stop();
        CHECK_CLOSED(conn); // no DISCONNECT: an abnormal close
    });
    connect_client(h, c);
    outcome<publish_result> p, queued;
    outcome<subscribe_result> s;
    outcome<mqtt::publish> m;
    c.async_publish("t", "x", qos::at_least_once, p.handler());
    c.async_subscribe("f/#", qos::at_least_once, s.handler());
    c.async_receive(m.handler());
    h.run_until([&] { return p.done && s.done && m.done; });
    CHECK(p.ec == make_error_code(errc::cancelled));
    CHECK(s.ec == make_error_code(errc::cancelled));
    CHECK(m.ec == make_error_code(errc::cancelled));
    // A stopped client does not hang a new receive.
    outcome<mqtt::publish> late;
    c.async_receive(late.handler());
    h.run_until([&] { return late.done; });
    h.finish();
    CHECK(late.ec == make_error_code(errc::cancelled));
}

TEST_CASE("async_disconnect cancels what is outstanding after the DISCONNECT", "[client][cancel][disconnect]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<mqtt::publish>();
        (void)co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    outcome<publish_result> p;
    c.async_publish("t", "x", qos::exactly_once, p.handler());
    bool disconnected = false;
    c.async_disconnect([&](std::error_code) { disconnected = true; });
    h.run_until([&] { return p.done && disconnected; });
    h.finish();
    CHECK(p.ec == make_error_code(errc::cancelled));
}

TEST_CASE("With reconnect off, a lost connection fails what is outstanding", "[client][cancel]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<mqtt::publish>();
        conn.close();
    });
    connect_client(h, c);
    outcome<publish_result> p;
    c.async_publish("t", "x", qos::at_least_once, p.handler());
    h.run_until([&] { return p.done; });
    h.finish();
    CHECK(p.ec == make_error_code(errc::connection_lost));
}

TEST_CASE("The session store holds in-flight messages, and a new client resumes them", "[client][store][reconnect][MQTT-4.4.0-1]")
{
    auto store = std::make_shared<memory_session_store>();
    std::uint16_t id = 0;
    {
        harness h;
        auto o = h.options();
        o.connect.clean_start = false;
        o.connect.session_expiry = 300;
        o.store = store;
        client c(h.ioc.get_executor(), o);
        bool got = false;
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept_session();
            auto p = co_await conn.expect<mqtt::publish>();
            id = p.packet_id;
            got = true;
            CHECK_CLOSED(conn); // never acknowledged: the process "dies"
        });
        connect_client(h, c);
        c.async_publish("t", "persist", qos::at_least_once, [](std::error_code, publish_result) {});
        h.run_until([&] { return got; });
        // Simulate a crash: the state must already be in the store.
        auto saved = store->snapshot();
        REQUIRE(saved.outgoing.size() == 1);
        CHECK(saved.outgoing[0].stage == outgoing_stage::awaiting_ack);
        CHECK(saved.outgoing[0].msg.payload == "persist");
        h.broker.close();
        // A crash leaves the store as it is; stop() would cancel, so compare before it.
        session_state before = store->snapshot();
        CHECK(before == saved);
        c.stop();
        h.finish();
        store->save(saved); // what the crashed process left behind
    }
    harness h;
    auto o = h.options();
    o.connect.clean_start = false;
    o.connect.session_expiry = 300;
    o.store = store;
    client c(h.ioc.get_executor(), o);
    mqtt::publish resent;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session(connack{false, reason_code::success, {}});
        resent = co_await conn.expect<mqtt::publish>();
        co_await conn.send(puback{resent.packet_id, reason_code::success, {}});
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    h.run_until([&] { return !resent.topic.empty() && store->snapshot().outgoing.empty(); });
    c.stop();
    h.finish();
    CHECK(resent.payload == "persist");
}

TEST_CASE("Receive Maximum from CONNACK bounds the in-flight window [MQTT-4.9.0-2]", "[client][publish][flow][v5][MQTT-4.9.0-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    int in_flight_seen = 0;
    h.spawn([&]() -> awaitable<void> {
        connack ack;
        ack.props.add(property_id::receive_maximum, 2u);
        auto conn = co_await h.broker.accept_session(ack);
        auto a = co_await conn.expect<mqtt::publish>();
        auto b = co_await conn.expect<mqtt::publish>();
        in_flight_seen = 2;
        // The third waits for an acknowledgment.
        co_await conn.send(puback{a.packet_id, reason_code::success, {}});
        auto third = co_await conn.expect<mqtt::publish>();
        CHECK(third.payload == "2");
        co_await conn.send(puback{b.packet_id, reason_code::success, {}});
        co_await conn.send(puback{third.packet_id, reason_code::success, {}});
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    std::vector<outcome<publish_result>> r(3);
    for (std::size_t i = 0; i < 3; ++i)
        c.async_publish("t", std::to_string(i), qos::at_least_once, r[i].handler());
    h.run_until([&] { return r[0].done && r[1].done && r[2].done; });
    c.stop();
    h.finish();
    CHECK(in_flight_seen == 2);
}

TEST_CASE("Large payloads go out intact through the gather write", "[client][publish]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    std::string big(300'000, 'x');
    for (std::size_t i = 0; i < big.size(); i += 7)
        big[i] = static_cast<char>('a' + i % 26);
    std::vector<std::string> seen;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        for (int i = 0; i < 3; ++i)
            seen.push_back((co_await conn.expect<mqtt::publish>()).payload.str());
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    std::vector<outcome<publish_result>> r(3);
    c.async_publish("t", big, qos::at_most_once, r[0].handler());
    c.async_publish("t", "small", qos::at_most_once, r[1].handler());
    c.async_publish("t", big.substr(1000), qos::at_most_once, r[2].handler());
    h.run_until([&] { return r[2].done && seen.size() == 3; });
    c.stop();
    h.finish();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == big);
    CHECK(seen[1] == "small");
    CHECK(seen[2] == big.substr(1000));
}

TEST_CASE("Maximum QoS and Retain Available of CONNACK are respected [MQTT-3.2.2-11] [MQTT-3.2.2-14]", "[client][publish][v5][MQTT-3.2.2-11][MQTT-3.2.2-14]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    std::vector<mqtt::publish> seen;
    h.spawn([&]() -> awaitable<void> {
        connack ack;
        ack.props.add(property_id::maximum_qos, 1u);
        ack.props.add(property_id::retain_available, 0u);
        auto conn = co_await h.broker.accept_session(ack);
        auto p = co_await conn.expect<mqtt::publish>();
        seen.push_back(p);
        co_await conn.send(puback{p.packet_id, reason_code::success, {}});
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);
    outcome<publish_result> q2, retained, q1;
    c.async_publish("t", "2", qos::exactly_once, q2.handler());
    c.async_publish("t", "r", qos::at_most_once, true, {}, retained.handler());
    c.async_publish("t", "1", qos::at_least_once, q1.handler());
    h.run_until([&] { return q2.done && retained.done && q1.done; });
    c.stop();
    h.finish();
    CHECK(q2.ec == make_error_code(reason_code::qos_not_supported));
    CHECK(retained.ec == make_error_code(reason_code::retain_not_supported));
    CHECK_FALSE(q1.ec);
    REQUIRE(seen.size() == 1); // nothing the broker cannot take was sent
    CHECK(seen[0].payload == "1");
}

TEST_CASE("Publishes submitted from completions and from another thread all go out once, each thread's in order, "
          "while acknowledgments arrive many per read",
    "[client][publish][threads]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    constexpr int chained = 600;  // each published from an earlier one's completion
    constexpr int window = 70;
    constexpr int from_thread = 300;
    constexpr int total = chained + from_thread;
    std::vector<std::string> got;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        // Acknowledged 50 at a time in one write: the client reads more
        // acknowledgments at once than it handles per slice.
        std::string acks;
        int pending = 0;
        for (int n = 1; n <= total; ++n) {
            auto p = co_await conn.expect<mqtt::publish>();
            got.push_back(p.payload.str());
            std::string one;
            REQUIRE_FALSE(encode(puback{p.packet_id, reason_code::success, {}}, protocol_version::v5, one));
            acks += one;
            if (++pending == 50 || n == total) {
                co_await conn.send_raw(std::move(acks));
                acks.clear();
                pending = 0;
            }
        }
        CHECK_CLOSED(conn);
    });
    connect_client(h, c);

    int published = 0, completed = 0, failed = 0;
    bool pumping = false;
    std::function<void()> pump = [&] {
        if (pumping)
            return;
        pumping = true;
        while (published < chained && published - completed < window) {
            c.async_publish("t", "c" + std::to_string(published++), qos::at_least_once,
                [&](std::error_code ec, publish_result) {
                    ++completed;
                    failed += ec ? 1 : 0;
                    pump();
                });
        }
        pumping = false;
    };
    std::atomic<int> thread_done{0};
    std::thread other([&] {
        for (int i = 0; i < from_thread; ++i)
            c.async_publish("t", "o" + std::to_string(i), qos::at_least_once,
                [&](std::error_code ec, publish_result) { thread_done += ec ? 0 : 1; });
    });
    pump();
    h.run_until([&] { return completed == chained && thread_done == from_thread; }, 30s);
    other.join();
    c.stop();
    h.finish();
    CHECK(failed == 0);
    REQUIRE(got.size() == static_cast<std::size_t>(total));
    std::vector<std::string> mine, theirs, want_mine, want_theirs;
    for (auto& g : got)
        (g[0] == 'c' ? mine : theirs).push_back(g);
    for (int i = 0; i < chained; ++i)
        want_mine.push_back("c" + std::to_string(i));
    for (int i = 0; i < from_thread; ++i)
        want_theirs.push_back("o" + std::to_string(i));
    CHECK(mine == want_mine);
    CHECK(theirs == want_theirs);
}

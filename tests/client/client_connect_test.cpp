// Connecting, refusal, reconnection and events, against the in-process fake broker.
#include <vector>

#include "fake_broker.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

struct event_log {
    std::vector<connection_event> events;
    std::function<void(const connection_event&)> handler()
    {
        return [this](const connection_event& e) { events.push_back(e); };
    }
    std::size_t count(connection_event_kind k) const
    {
        std::size_t n = 0;
        for (auto& e : events)
            n += e.kind == k ? 1 : 0;
        return n;
    }
};

} // namespace

TEST_CASE("CONNECT carries every 5.0 connect option, first packet is CONNECT [MQTT-3.1.0-1]", "[client][connect][v5][MQTT-3.1.0-1]")
{
    harness h;
    auto o = h.options();
    o.connect.client_id = "dev-42";
    o.connect.clean_start = false;
    o.connect.session_expiry = 3600;
    o.connect.keep_alive = 30;
    o.connect.username = "alice";
    o.connect.password = std::string("s\0cret", 6);
    will w;
    w.topic = buffer("dev/42/status");
    w.payload = buffer("offline");
    w.qos = qos::at_least_once;
    w.retain = true;
    w.props.add(property_id::will_delay_interval, 5u);
    w.props.add(property_id::content_type, std::string("text/plain"));
    o.connect.will = w;
    o.connect.receive_maximum = 100;
    o.connect.maximum_packet_size = 65536;
    o.connect.topic_alias_maximum = 10;
    o.connect.props.add_user_property("site", "lab");

    client c(h.ioc.get_executor(), o);
    mqtt::connect received;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept();
        auto first = co_await conn.receive(); // the very first packet
        REQUIRE(first.has_value());
        REQUIRE(std::holds_alternative<mqtt::connect>(*first));
        received = std::get<mqtt::connect>(*first);
        connack ack;
        ack.props.add(property_id::receive_maximum, 20u);
        co_await conn.send(ack);
        CHECK_CLOSED(conn); // after stop()
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    c.stop();
    h.finish();

    CHECK_FALSE(done.ec);
    CHECK(received.version == protocol_version::v5);
    CHECK(received.client_id == "dev-42");
    CHECK_FALSE(received.clean_start);
    CHECK(received.keep_alive == 30);
    CHECK(received.username == std::optional<std::string>("alice"));
    CHECK(received.password == std::optional<std::string>(std::string("s\0cret", 6)));
    REQUIRE(received.will.has_value());
    CHECK(received.will->topic == "dev/42/status");
    CHECK(received.will->payload == "offline");
    CHECK(received.will->qos == qos::at_least_once);
    CHECK(received.will->retain);
    CHECK(received.will->props.get_integer(property_id::will_delay_interval) == 5u);
    CHECK(received.will->props.get_string(property_id::content_type) == "text/plain");
    CHECK(received.props.get_integer(property_id::session_expiry_interval) == 3600u);
    CHECK(received.props.get_integer(property_id::receive_maximum) == 100u);
    CHECK(received.props.get_integer(property_id::maximum_packet_size) == 65536u);
    CHECK(received.props.get_integer(property_id::topic_alias_maximum) == 10u);
    auto users = received.props.user_properties();
    REQUIRE(users.size() == 1);
    CHECK(users[0].name == "site");
    CHECK(users[0].value == "lab");
}

TEST_CASE("3.1.1 CONNECT carries no properties and the will without properties", "[client][connect][v311]")
{
    harness h;
    auto o = h.options(protocol_version::v3_1_1);
    o.connect.session_expiry = 100; // ignored for 3.1.1
    will w;
    w.topic = buffer("t");
    w.payload = buffer("gone");
    w.props.add(property_id::will_delay_interval, 5u);
    o.connect.will = w;
    client c(h.ioc.get_executor(), o);
    mqtt::connect received;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session({}, &received);
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(done.ec);
    CHECK(received.version == protocol_version::v3_1_1);
    CHECK(received.props.empty());
    REQUIRE(received.will.has_value());
    CHECK(received.will->props.empty());
}

TEST_CASE("An empty client id uses the Assigned Client Identifier on reconnect [MQTT-3.1.3-7]", "[client][connect][reconnect][v5][MQTT-3.1.3-7]")
{
    harness h;
    auto o = h.options();
    o.connect.client_id = "";
    o.connect.session_expiry = 60;
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    event_log log;
    c.set_event_handler(log.handler());
    mqtt::connect first, second;
    h.spawn([&]() -> awaitable<void> {
        connack ack;
        ack.props.add(property_id::assigned_client_identifier, std::string("auto-7"));
        auto conn = co_await h.broker.accept_session(ack, &first);
        conn.close(); // the network drops
        connack resumed;
        resumed.session_present = true;
        auto conn2 = co_await h.broker.accept_session(resumed, &second);
        CHECK_CLOSED(conn2);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return log.count(connection_event_kind::connected) == 2; });
    c.stop();
    h.finish();
    CHECK(first.client_id.empty());
    CHECK(first.clean_start);
    CHECK(second.client_id == "auto-7");
    CHECK_FALSE(second.clean_start); // resumes the session the first connection started
    CHECK(done.value.props.get_string(property_id::assigned_client_identifier) == "auto-7");
    CHECK(log.count(connection_event_kind::disconnected) >= 1);
    CHECK(log.count(connection_event_kind::reconnecting) >= 1);
    REQUIRE(log.events.back().kind == connection_event_kind::stopped);
}

TEST_CASE("A CONNACK refusing bad credentials is reported and not retried", "[client][connect][refused]")
{
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        harness h;
        auto o = h.options(v);
        o.reconnect.enabled = true; // even so: a permanent refusal stops
        client c(h.ioc.get_executor(), o);
        event_log log;
        c.set_event_handler(log.handler());
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept();
            (void)co_await conn.expect<mqtt::connect>();
            co_await conn.send(connack{false, reason_code::bad_user_name_or_password, {}});
            CHECK_CLOSED(conn);
        });
        outcome<connack> done;
        c.async_connect(done.handler());
        h.run_until([&] { return done.done; });
        h.finish();
        CHECK(done.ec == make_error_code(reason_code::bad_user_name_or_password));
        CHECK(log.count(connection_event_kind::refused) == 1);
        CHECK(log.count(connection_event_kind::reconnecting) == 0);
        REQUIRE_FALSE(log.events.empty());
        CHECK(log.events.back().kind == connection_event_kind::stopped);
        CHECK(log.events.back().reason == make_error_code(reason_code::bad_user_name_or_password));
    }
}

TEST_CASE("A transient refusal is retried with backoff until accepted", "[client][connect][refused][reconnect]")
{
    harness h;
    auto o = h.options();
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    event_log log;
    c.set_event_handler(log.handler());
    h.spawn([&]() -> awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto conn = co_await h.broker.accept();
            (void)co_await conn.expect<mqtt::connect>();
            co_await conn.send(connack{false, reason_code::server_busy, {}});
            CHECK_CLOSED(conn);
        }
        auto conn = co_await h.broker.accept_session();
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(done.ec);
    CHECK(log.count(connection_event_kind::refused) == 2);
    CHECK(log.count(connection_event_kind::reconnecting) == 2);
    CHECK(log.count(connection_event_kind::connected) == 1);
}

TEST_CASE("retry_on_refusal retries a permanent refusal, and max_attempts bounds it", "[client][connect][refused][reconnect]")
{
    harness h;
    auto o = h.options();
    o.reconnect.enabled = true;
    o.reconnect.retry_on_refusal = true;
    o.reconnect.max_attempts = 3;
    client c(h.ioc.get_executor(), o);
    event_log log;
    c.set_event_handler(log.handler());
    h.spawn([&]() -> awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto conn = co_await h.broker.accept();
            (void)co_await conn.expect<mqtt::connect>();
            co_await conn.send(connack{false, reason_code::not_authorized, {}});
            CHECK_CLOSED(conn);
        }
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    h.finish();
    CHECK(done.ec == make_error_code(reason_code::not_authorized));
    CHECK(log.count(connection_event_kind::refused) == 3);
    CHECK(log.count(connection_event_kind::reconnecting) == 2);
}

TEST_CASE("Connection refused at the TCP level completes async_connect with the error", "[client][connect]")
{
    harness h;
    auto o = h.options();
    h.broker.close(); // nothing listens on the port any more
    client c(h.ioc.get_executor(), o);
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    CHECK(done.ec);
}

TEST_CASE("A broker that never sends CONNACK times the attempt out", "[client][connect][timeout]")
{
    harness h;
    auto o = h.options();
    o.connect.connect_timeout = 200ms;
    client c(h.ioc.get_executor(), o);
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept();
        (void)co_await conn.expect<mqtt::connect>();
        CHECK_CLOSED(conn); // the client gives up
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    h.finish();
    CHECK(done.ec == make_error_code(errc::timeout));
}

TEST_CASE("Keep alive: an idle client sends PINGREQ [MQTT-3.1.2-20]", "[client][keepalive][v5][MQTT-3.1.2-20]")
{
    harness h;
    auto o = h.options();
    o.connect.keep_alive = 1;
    client c(h.ioc.get_executor(), o);
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<pingreq>();
        co_await conn.send(pingresp{});
        (void)co_await conn.expect<pingreq>(); // and keeps doing so
        co_await conn.send(pingresp{});
        c.stop();
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; }, 10s);
    h.finish();
}

TEST_CASE("Keep alive uses the Server Keep Alive of CONNACK [MQTT-3.2.2-21]", "[client][keepalive][v5][MQTT-3.2.2-21]")
{
    harness h;
    auto o = h.options();
    o.connect.keep_alive = 600; // the server says 1 s
    client c(h.ioc.get_executor(), o);
    h.spawn([&]() -> awaitable<void> {
        connack ack;
        ack.props.add(property_id::server_keep_alive, 1u);
        auto conn = co_await h.broker.accept_session(ack);
        (void)co_await conn.expect<pingreq>();
        c.stop();
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; }, 10s);
    h.finish();
}

TEST_CASE("A broker that stops answering PINGREQ is detected and the client reconnects", "[client][keepalive][reconnect]")
{
    harness h;
    auto o = h.options(protocol_version::v3_1_1);
    o.connect.keep_alive = 1;
    o.connect.clean_start = false;
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    event_log log;
    c.set_event_handler(log.handler());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<pingreq>(); // never answered
        CHECK_CLOSED(conn);
        auto conn2 = co_await h.broker.accept_session();
        CHECK_CLOSED(conn2);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return log.count(connection_event_kind::connected) == 2; }, 15s);
    c.stop();
    h.run_until([&] { return log.count(connection_event_kind::stopped) == 1; });
    h.finish();
    REQUIRE(log.count(connection_event_kind::disconnected) >= 1);
    auto it = std::find_if(log.events.begin(), log.events.end(),
        [](auto& e) { return e.kind == connection_event_kind::disconnected; });
    CHECK(it->reason == make_error_code(errc::timeout));
    CHECK(log.count(connection_event_kind::connected) == 2);
}

TEST_CASE("A server DISCONNECT is reported with its reason and properties, then the client reconnects", "[client][reconnect][v5]")
{
    harness h;
    auto o = h.options();
    o.reconnect.enabled = true;
    client c(h.ioc.get_executor(), o);
    event_log log;
    c.set_event_handler(log.handler());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        mqtt::disconnect d{reason_code::server_shutting_down, {}};
        d.props.add(property_id::reason_string, std::string("maintenance"));
        co_await conn.send(d);
        CHECK_CLOSED(conn);
        auto conn2 = co_await h.broker.accept_session();
        CHECK_CLOSED(conn2);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return log.count(connection_event_kind::connected) == 2; });
    c.stop();
    h.run_until([&] { return log.count(connection_event_kind::stopped) == 1; });
    h.finish();
    auto it = std::find_if(log.events.begin(), log.events.end(),
        [](auto& e) { return e.kind == connection_event_kind::disconnected; });
    REQUIRE(it != log.events.end());
    CHECK(it->reason == make_error_code(reason_code::server_shutting_down));
    CHECK(it->server_reason == reason_code::server_shutting_down);
    CHECK(it->props.get_string(property_id::reason_string) == "maintenance");
    CHECK(log.count(connection_event_kind::connected) == 2);
}

TEST_CASE("Enhanced authentication: the AUTH exchange goes through the hook [MQTT-4.12.0-3]", "[client][auth][v5][MQTT-4.12.0-3]")
{
    harness h;
    auto o = h.options();
    o.connect.authentication_method = "SCRAM-TEST";
    o.connect.authentication_data = "client-first";
    std::vector<std::string> challenges;
    o.connect.on_auth = [&](const auth& in) -> std::optional<auth> {
        challenges.push_back(std::string(in.props.get_string(property_id::authentication_data).value_or("")));
        auth reply{reason_code::continue_authentication, {}};
        reply.props.add(property_id::authentication_method, std::string("SCRAM-TEST"));
        reply.props.add(property_id::authentication_data, std::string("client-final"));
        return reply;
    };
    client c(h.ioc.get_executor(), o);
    mqtt::connect received;
    auth answer;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept();
        received = co_await conn.expect<mqtt::connect>();
        auth challenge{reason_code::continue_authentication, {}};
        challenge.props.add(property_id::authentication_method, std::string("SCRAM-TEST"));
        challenge.props.add(property_id::authentication_data, std::string("server-first"));
        co_await conn.send(challenge);
        answer = co_await conn.expect<auth>();
        connack ack;
        ack.props.add(property_id::authentication_method, std::string("SCRAM-TEST"));
        co_await conn.send(ack);
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    c.stop();
    h.finish();
    CHECK_FALSE(done.ec);
    CHECK(received.props.get_string(property_id::authentication_method) == "SCRAM-TEST");
    CHECK(received.props.get_string(property_id::authentication_data) == "client-first");
    REQUIRE(challenges.size() == 1);
    CHECK(challenges[0] == "server-first");
    CHECK(answer.code == reason_code::continue_authentication);
    CHECK(answer.props.get_string(property_id::authentication_data) == "client-final");
}

TEST_CASE("An AUTH the hook declines ends the attempt with DISCONNECT not_authorized", "[client][auth][v5]")
{
    harness h;
    auto o = h.options();
    o.connect.authentication_method = "X";
    o.connect.on_auth = [](const auth&) -> std::optional<auth> { return std::nullopt; };
    client c(h.ioc.get_executor(), o);
    mqtt::disconnect got;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept();
        (void)co_await conn.expect<mqtt::connect>();
        auth challenge{reason_code::continue_authentication, {}};
        challenge.props.add(property_id::authentication_method, std::string("X"));
        co_await conn.send(challenge);
        got = co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    outcome<connack> done;
    c.async_connect(done.handler());
    h.run_until([&] { return done.done; });
    h.finish();
    CHECK(done.ec);
    CHECK(got.code == reason_code::not_authorized);
}

TEST_CASE("async_disconnect sends DISCONNECT with reason and properties, then closes [MQTT-3.14.4-2]", "[client][disconnect][v5][MQTT-3.14.4-1][MQTT-3.14.4-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    event_log log;
    c.set_event_handler(log.handler());
    mqtt::disconnect got;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        got = co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn); // nothing after DISCONNECT, then the close
    });
    outcome<connack> connected;
    c.async_connect(connected.handler());
    h.run_until([&] { return connected.done; });
    properties props;
    props.add_user_property("why", "test");
    bool disconnected = false;
    std::error_code dec;
    c.async_disconnect(reason_code::disconnect_with_will_message, props, [&](std::error_code e) {
        dec = e;
        disconnected = true;
    });
    h.run_until([&] { return disconnected; });
    h.finish();
    CHECK_FALSE(dec);
    CHECK(got.code == reason_code::disconnect_with_will_message);
    REQUIRE(got.props.user_properties().size() == 1);
    CHECK(log.events.back().kind == connection_event_kind::stopped);
    CHECK(log.count(connection_event_kind::reconnecting) == 0);
}

TEST_CASE("3.1.1: DISCONNECT then close [MQTT-3.14.4-1]", "[client][disconnect][v311][MQTT-3.14.4-1][MQTT-3.14.4-2]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options(protocol_version::v3_1_1));
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        (void)co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    outcome<connack> connected;
    c.async_connect(connected.handler());
    h.run_until([&] { return connected.done; });
    bool disconnected = false;
    c.async_disconnect([&](std::error_code) { disconnected = true; });
    h.run_until([&] { return disconnected; });
    h.finish();
}

TEST_CASE("async_connect while already connected completes at once with the CONNACK", "[client][connect]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> {
        connack ack;
        ack.props.add_user_property("n", "1");
        auto conn = co_await h.broker.accept_session(ack);
        CHECK_CLOSED(conn);
    });
    outcome<connack> first, second;
    c.async_connect(first.handler());
    h.run_until([&] { return first.done; });
    c.async_connect(second.handler());
    h.run_until([&] { return second.done; });
    CHECK_FALSE(second.ec);
    CHECK(second.value.props.user_properties().size() == 1);
    CHECK(c.is_connected());
    c.stop();
    h.finish();
    CHECK_FALSE(c.is_connected());
}

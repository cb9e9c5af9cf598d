// publish_completion::stored: a QoS 1/2 publish completes once it is in the
// store, and the store keeps it across stop() until the broker acknowledges it.
#include "fake_broker.hpp"
#include "mqtt/client/sqlite_session_store.hpp"
#include "process.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

class failing_store final : public session_store {
public:
    result<session_state> load() override { return session_state{}; }
    std::error_code save(const session_state&) override { return std::make_error_code(std::errc::no_space_on_device); }
};

} // namespace

TEST_CASE("Stored completion: the publish completes before the broker acknowledges, and stop() keeps it", "[client][store][stored]")
{
    harness h;
    auto store = std::make_shared<memory_session_store>();
    auto o = h.options();
    o.connect.clean_start = false;
    o.connect.session_expiry = 300;
    o.store = store;
    o.complete_publish = publish_completion::stored;
    client c(h.ioc.get_executor(), o);

    bool first_seen = false;
    mqtt::publish resent;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        CHECK(p.payload == "kept");
        first_seen = true;
        CHECK_CLOSED(conn); // never acknowledged
        auto again = co_await h.broker.accept_session(connack{true, reason_code::success, {}});
        resent = co_await again.expect<mqtt::publish>();
        co_await again.send(puback{resent.packet_id, reason_code::success, {}});
        CHECK_CLOSED(again);
    });
    outcome<connack> connected;
    c.async_connect(connected.handler());
    h.run_until([&] { return connected.done; });
    outcome<publish_result> r;
    c.async_publish("t", "kept", qos::at_least_once, r.handler());
    h.run_until([&] { return r.done && first_seen; });
    CHECK_FALSE(r.ec);
    CHECK(r.value.code == reason_code::success);
    REQUIRE(store->snapshot().outgoing.size() == 1);

    c.stop();
    h.settle();
    // The store still owns the message; the next connection sends it.
    REQUIRE(store->snapshot().outgoing.size() == 1);
    outcome<connack> reconnected;
    c.async_connect(reconnected.handler());
    h.run_until([&] { return !resent.topic.empty() && store->snapshot().outgoing.empty(); });
    CHECK(resent.payload == "kept");
    CHECK(resent.dup);
    c.stop();
    h.finish();
}

TEST_CASE("Stored completion: what was never stored is cancelled by stop()", "[client][store][stored]")
{
    harness h;
    auto store = std::make_shared<memory_session_store>();
    auto o = h.options();
    o.store = store;
    o.complete_publish = publish_completion::stored;
    client c(h.ioc.get_executor(), o);
    // Not connected: the message waits in the offline queue, stored.
    outcome<publish_result> stored_one;
    c.async_publish("t", "queued", qos::exactly_once, stored_one.handler());
    h.run_until([&] { return stored_one.done; });
    CHECK_FALSE(stored_one.ec);
    REQUIRE(store->snapshot().outgoing.size() == 1);
    CHECK(store->snapshot().outgoing[0].stage == outgoing_stage::queued);
    // QoS 0 is never stored: stop() cancels it.
    outcome<publish_result> qos0;
    c.async_publish("t", "gone", qos::at_most_once, qos0.handler());
    c.stop();
    h.run_until([&] { return qos0.done; });
    CHECK(qos0.ec == make_error_code(errc::cancelled));
    CHECK(store->snapshot().outgoing.size() == 1);
}

TEST_CASE("Stored completion: a store that cannot save completes at the acknowledgment and reports the error", "[client][store][stored]")
{
    harness h;
    auto o = h.options();
    o.store = std::make_shared<failing_store>();
    o.complete_publish = publish_completion::stored;
    std::vector<std::error_code> errors;
    o.on_store_error = [&](std::error_code ec) { errors.push_back(ec); };
    client c(h.ioc.get_executor(), o);
    bool published = false;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        published = true;
        co_await conn.send(puback{p.packet_id, reason_code::no_matching_subscribers, {}});
        CHECK_CLOSED(conn);
    });
    outcome<connack> connected;
    c.async_connect(connected.handler());
    h.run_until([&] { return connected.done; });
    outcome<publish_result> r;
    c.async_publish("t", "x", qos::at_least_once, r.handler());
    h.run_until([&] { return r.done; });
    CHECK(published);
    // The broker's reason code: the completion waited for the acknowledgment.
    CHECK(r.value.code == reason_code::no_matching_subscribers);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors[0] == std::make_error_code(std::errc::no_space_on_device));
    c.stop();
    h.finish();
}

TEST_CASE("Durable store: a client given a corrupt store file reports it, runs without it and leaves the file alone", "[client][store][sqlite][errors]")
{
    harness h;
    interop::temp_dir dir("mqtt-durable");
    const auto path = dir.file("corrupt.db");
    const std::string garbage(4096, '\x17');
    interop::write_file(path, garbage);
    auto o = h.options();
    o.store = std::make_shared<sqlite_session_store>(path);
    o.complete_publish = publish_completion::stored;
    std::vector<std::error_code> errors;
    o.on_store_error = [&](std::error_code ec) { errors.push_back(ec); };
    client c(h.ioc.get_executor(), o);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].category() == sqlite_category());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        co_await conn.send(puback{p.packet_id, reason_code::success, {}});
        CHECK_CLOSED(conn);
    });
    outcome<connack> connected;
    c.async_connect(connected.handler());
    h.run_until([&] { return connected.done; });
    outcome<publish_result> r;
    c.async_publish("t", "x", qos::at_least_once, r.handler());
    h.run_until([&] { return r.done; });
    CHECK_FALSE(r.ec);
    c.stop();
    h.finish();
    CHECK(interop::read_file(path) == garbage);
}

// The example of docs/client.md ("Commit before ack"), against the fake broker.
TEST_CASE("docs/client.md: the durable store example", "[client][docs][store][sqlite]")
{
    harness h;
    interop::temp_dir dir("mqtt-durable");
    const std::string file = dir.file("outbox.db");
    bool released = false;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto p = co_await conn.expect<mqtt::publish>();
        CHECK(p.topic == "orders/42");
        (void)co_await conn.expect<mqtt::disconnect>();
    });
    // ---- the example's body (file name and port changed, std::cout replaced)
    auto store = std::make_shared<mqtt::sqlite_session_store>(file);
    if (auto ec = store->open()) {
        FAIL(store->last_error());
        return;
    }
    auto& ioc = h.ioc;
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = h.broker.port();
    o.connect.client_id = "outbox-1"; // the same id on every run
    o.connect.clean_start = false;
    o.connect.session_expiry = 86400;
    o.store = store;
    o.complete_publish = mqtt::publish_completion::stored;
    o.on_store_error = [](std::error_code ec) { FAIL("store: " << ec.message()); };
    mqtt::client c(ioc.get_executor(), o);
    c.async_connect([&](std::error_code ec, mqtt::connack) {
        if (ec)
            return;
        c.async_publish("orders/42", "{...}", mqtt::qos::exactly_once, [&](std::error_code e, mqtt::publish_result) {
            if (!e)
                released = true; // "stored: safe to release the source record"
            c.async_disconnect([](std::error_code) {}); // the store keeps what is not acknowledged
        });
    });
    // ----
    h.finish();
    CHECK(released);
    auto kept = store->load();
    REQUIRE(kept);
    REQUIRE(kept->outgoing.size() == 1); // never acknowledged: still in the file
    CHECK(kept->outgoing[0].msg.topic == "orders/42");
}

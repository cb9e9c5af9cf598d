// Each completion token kind, calls from other threads and from handlers.
#include <atomic>
#include <future>
#include <thread>

#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>

#include "fake_broker.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

// A broker script that acknowledges every QoS 1/2 publish and subscribe until the
// client closes the connection.
awaitable<void> echo_broker(fake_broker& broker, int* publishes = nullptr)
{
    auto conn = co_await broker.accept_session();
    while (auto p = co_await conn.receive()) {
        if (auto* pub = std::get_if<mqtt::publish>(&*p)) {
            if (publishes)
                ++*publishes;
            if (pub->qos == qos::at_least_once)
                co_await conn.send(puback{pub->packet_id, reason_code::success, {}});
            else if (pub->qos == qos::exactly_once)
                co_await conn.send(pubrec{pub->packet_id, reason_code::success, {}});
            // Echo it back as a delivery to the subscriber (us).
            mqtt::publish back = *pub;
            back.qos = qos::at_most_once;
            back.packet_id = 0;
            back.dup = false;
            co_await conn.send(back);
        } else if (auto* rel = std::get_if<pubrel>(&*p)) {
            co_await conn.send(pubcomp{rel->packet_id, reason_code::success, {}});
        } else if (auto* s = std::get_if<mqtt::subscribe>(&*p)) {
            suback ack{s->packet_id, std::vector<reason_code>(s->subscriptions.size(), reason_code::granted_qos_1), {}};
            co_await conn.send(ack);
        } else if (std::holds_alternative<mqtt::disconnect>(*p)) {
            break;
        }
    }
}

} // namespace

TEST_CASE("Completion token: use_awaitable yields (error_code, result) tuples", "[client][tokens][awaitable]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> { co_await echo_broker(h.broker); });
    bool finished = false;
    h.spawn([&]() -> awaitable<void> {
        auto [ec, ack] = co_await c.async_connect(use_awaitable);
        REQUIRE_FALSE(ec);
        CHECK_FALSE(ack.session_present);
        auto [sec, sres] = co_await c.async_subscribe("t/#", qos::at_least_once, use_awaitable);
        REQUIRE_FALSE(sec);
        CHECK(sres.codes.size() == 1);
        for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
            auto [pec, pres] = co_await c.async_publish("t/x", "payload", q, use_awaitable);
            CHECK_FALSE(pec);
            CHECK(pres.code == reason_code::success);
            auto [rec, msg] = co_await c.async_receive(use_awaitable);
            CHECK_FALSE(rec);
            CHECK(msg.payload == "payload");
        }
        auto dec = co_await c.async_disconnect(use_awaitable);
        CHECK_FALSE(dec);
        finished = true;
    });
    h.run_until([&] { return finished; });
    h.finish();
}

TEST_CASE("Completion token: use_future with the io_context on another thread", "[client][tokens][future]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    h.spawn([&]() -> awaitable<void> { co_await echo_broker(h.broker); });
    auto work = boost::asio::make_work_guard(h.ioc);
    std::thread runner([&] { h.ioc.run_for(20s); });

    auto connected = c.async_connect(boost::asio::use_future);
    REQUIRE(connected.wait_for(10s) == std::future_status::ready);
    auto [ec, ack] = connected.get();
    CHECK_FALSE(ec);
    for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
        auto f = c.async_publish("t", "f", q, boost::asio::use_future);
        REQUIRE(f.wait_for(10s) == std::future_status::ready);
        auto [pec, pres] = f.get();
        CHECK_FALSE(pec);
    }
    auto d = c.async_disconnect(boost::asio::use_future);
    REQUIRE(d.wait_for(10s) == std::future_status::ready);
    CHECK_FALSE(d.get());
    work.reset();
    h.ioc.stop();
    runner.join();
    if (h.failure)
        std::rethrow_exception(h.failure);
}

TEST_CASE("Completion token: deferred runs when invoked, detached completes unobserved", "[client][tokens][deferred]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    int publishes = 0;
    h.spawn([&]() -> awaitable<void> { co_await echo_broker(h.broker, &publishes); });
    outcome<connack> connected;
    auto op = c.async_connect(boost::asio::deferred);
    std::move(op)(connected.handler());
    h.run_until([&] { return connected.done; });
    c.async_publish("t", "fire-and-forget", qos::at_least_once, boost::asio::detached);
    outcome<publish_result> r;
    auto later = c.async_publish("t", "deferred", qos::exactly_once, boost::asio::deferred);
    std::move(later)(r.handler());
    h.run_until([&] { return r.done && publishes == 2; });
    CHECK_FALSE(r.ec);
    bool disconnected = false;
    c.async_disconnect([&](std::error_code) { disconnected = true; });
    h.run_until([&] { return disconnected; });
    h.finish();
}

TEST_CASE("Calls from several threads and from inside handlers all complete", "[client][threads]")
{
    harness h;
    client c(h.ioc.get_executor(), h.options());
    int publishes = 0;
    h.spawn([&]() -> awaitable<void> { co_await echo_broker(h.broker, &publishes); });
    auto work = boost::asio::make_work_guard(h.ioc);
    std::vector<std::thread> runners;
    for (int i = 0; i < 2; ++i)
        runners.emplace_back([&] { h.ioc.run_for(30s); });

    auto connected = c.async_connect(boost::asio::use_future);
    REQUIRE(connected.wait_for(10s) == std::future_status::ready);
    std::atomic<int> completed{0}, failed{0}, chained{0};
    constexpr int per_thread = 200;
    std::vector<std::thread> callers;
    for (int t = 0; t < 3; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                auto q = static_cast<qos>(i % 3);
                c.async_publish("t/" + std::to_string(t), std::to_string(i), q, [&](std::error_code ec, publish_result) {
                    (ec ? failed : completed)++;
                    if (completed % 50 == 0) {
                        // From inside a handler: another operation, no deadlock.
                        c.async_publish("t/chained", "x", qos::at_least_once,
                            [&](std::error_code e, publish_result) { (e ? failed : chained)++; });
                    }
                });
            }
        });
    }
    for (auto& t : callers)
        t.join();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((completed + failed < 3 * per_thread || chained + failed < 3 * per_thread / 50) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    auto d = c.async_disconnect(boost::asio::use_future);
    REQUIRE(d.wait_for(10s) == std::future_status::ready);
    work.reset();
    h.ioc.stop();
    for (auto& r : runners)
        r.join();
    if (h.failure)
        std::rethrow_exception(h.failure);
    CHECK(failed == 0);
    CHECK(completed == 3 * per_thread);
    CHECK(chained == 3 * per_thread / 50);
}

TEST_CASE("Destroying the client with operations outstanding completes them with cancelled", "[client][cancel]")
{
    harness h;
    outcome<publish_result> r;
    {
        client c(h.ioc.get_executor(), h.options());
        c.async_publish("t", "x", qos::at_least_once, r.handler());
    }
    h.run_until([&] { return r.done; });
    CHECK(r.ec == make_error_code(errc::cancelled));
}

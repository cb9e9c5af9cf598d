// The examples of docs/client.md, run against the fake broker, so the
// documentation stays true.
#include <cstdio>

#include <boost/asio/detached.hpp>

#include "fake_broker.hpp"

using namespace mqtt::test;

namespace {

// A broker that acknowledges everything and echoes each PUBLISH back at QoS 2.
awaitable<void> echo(fake_broker& broker, std::vector<mqtt::publish>& seen)
{
    auto conn = co_await broker.accept_session();
    std::uint16_t next_id = 1;
    while (auto p = co_await conn.receive()) {
        if (auto* pub = std::get_if<mqtt::publish>(&*p)) {
            seen.push_back(*pub);
            if (pub->qos == mqtt::qos::at_least_once)
                co_await conn.send(mqtt::puback{pub->packet_id, mqtt::reason_code::success, {}});
            else if (pub->qos == mqtt::qos::exactly_once)
                co_await conn.send(mqtt::pubrec{pub->packet_id, mqtt::reason_code::success, {}});
            mqtt::publish back = *pub;
            back.qos = mqtt::qos::exactly_once;
            back.packet_id = next_id++;
            co_await conn.send(back);
        } else if (auto* rel = std::get_if<mqtt::pubrel>(&*p)) {
            co_await conn.send(mqtt::pubcomp{rel->packet_id, mqtt::reason_code::success, {}});
        } else if (auto* rec = std::get_if<mqtt::pubrec>(&*p)) {
            co_await conn.send(mqtt::pubrel{rec->packet_id, mqtt::reason_code::success, {}});
        } else if (auto* s = std::get_if<mqtt::subscribe>(&*p)) {
            mqtt::suback ack{s->packet_id, {mqtt::reason_code::granted_qos_2}, {}};
            co_await conn.send(ack);
        } else if (std::holds_alternative<mqtt::disconnect>(*p)) {
            break;
        }
    }
}

// ---- the coroutine example, as in docs/client.md
using boost::asio::use_awaitable;

boost::asio::awaitable<void> run(mqtt::client& c)
{
    auto [ec, ack] = co_await c.async_connect(use_awaitable);
    if (ec) co_return;
    co_await c.async_subscribe("sensors/#", mqtt::qos::exactly_once, use_awaitable);

    auto [e0, r0] = co_await c.async_publish("sensors/1/temp", "21.5", mqtt::qos::at_most_once, use_awaitable);
    auto [e1, r1] = co_await c.async_publish("sensors/1/temp", "21.6", mqtt::qos::at_least_once, use_awaitable);
    auto [e2, r2] = co_await c.async_publish("sensors/1/temp", "21.7", mqtt::qos::exactly_once, use_awaitable);

    for (int i = 0; i < 3; ++i) {
        auto [rec, msg] = co_await c.async_receive(use_awaitable);
        if (rec) break;
        std::printf("%s %s\n", msg.topic.str().c_str(), msg.payload.str().c_str());
    }
    co_await c.async_disconnect(use_awaitable);
}

} // namespace

TEST_CASE("docs/client.md: the coroutine example", "[client][docs]")
{
    harness h;
    std::vector<mqtt::publish> seen;
    h.spawn([&]() -> awaitable<void> { co_await echo(h.broker, seen); });
    mqtt::client c(h.ioc.get_executor(), h.options());
    bool done = false;
    boost::asio::co_spawn(h.ioc, run(c), [&](std::exception_ptr) { done = true; });
    h.run_until([&] { return done; });
    h.finish();
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].payload == "21.7");
}

TEST_CASE("docs/client.md: the callback example", "[client][docs]")
{
    harness h;
    std::vector<mqtt::publish> seen;
    h.spawn([&]() -> awaitable<void> { co_await echo(h.broker, seen); });
    auto& ioc = h.ioc;
    std::vector<std::string> printed;
    // ---- the callback example's body, as in docs/client.md (std::cout replaced)
    mqtt::client_options options = h.options();
    std::string error;
    REQUIRE(options.set_url("mqtt://127.0.0.1:" + std::to_string(h.broker.port()), error));
    options.connect.client_id = "sensor-1";

    mqtt::client c(ioc.get_executor(), options);
    c.async_connect([&](std::error_code ec, mqtt::connack) {
        if (ec) { printed.push_back("connect: " + ec.message()); return; }
        for (auto q : {mqtt::qos::at_most_once, mqtt::qos::at_least_once, mqtt::qos::exactly_once}) {
            c.async_publish("sensors/1/temp", "21.5", q, [&, q](std::error_code ec2, mqtt::publish_result r) {
                printed.push_back("QoS " + std::to_string(int(q)) + ": " + (ec2 ? ec2.message() : "acknowledged, reason " +
                                  std::to_string(int(r.code))));
                if (q == mqtt::qos::exactly_once)
                    c.async_disconnect([](std::error_code) {});
            });
        }
    });
    // ----
    h.run_until([&] { return printed.size() == 3; });
    h.finish();
    CHECK(printed == std::vector<std::string>{"QoS 0: acknowledged, reason 0", "QoS 1: acknowledged, reason 0",
                         "QoS 2: acknowledged, reason 0"});
}

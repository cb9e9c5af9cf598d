// A subscriber that stops reading: QoS 0 output to it is bounded, QoS 1/2 are not
// dropped by that bound, and other subscribers are unaffected.
#include <catch2/catch.hpp>

#include "engine_harness.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

TEST_CASE("QoS 0 to a connection that does not read is dropped past the output backlog limit",
    "[broker][backpressure]")
{
    engine_options o;
    o.max_output_backlog = 10'000;
    broker_fixture b(o);
    auto& slow = b.connect(protocol_version::v5, "slow");
    auto& fast = b.connect(protocol_version::v5, "fast");
    b.subscribe(slow, "t", {qos::at_least_once});
    b.subscribe(fast, "t", {qos::at_most_once});
    auto& p = b.connect(protocol_version::v5, "p");

    const std::string payload(100, 'x');
    const int n = 1000;
    std::size_t fast_got = 0;
    for (int i = 0; i < n; ++i) {
        p.send(broker_fixture::msg("t", payload, qos::at_most_once), b.now);
        // Only the publisher and the fast subscriber take their output; the slow
        // one's bytes stay with the engine, as when its socket is full.
        p.collect();
        fast.collect();
        fast_got += fast.take_of<mqtt::publish>().size();
    }
    auto* out = b.e.output(slow.id);
    REQUIRE(out);
    CHECK(out->batch.size() <= o.max_output_backlog + payload.size() + 64);
    CHECK(b.e.metrics().dropped_queue_full >= static_cast<std::uint64_t>(n) - 100);
    CHECK(fast_got == static_cast<std::size_t>(n));

    // QoS 1 is not subject to this bound: it waits in the session (in flight or queued).
    auto before = b.e.metrics().dropped_queue_full;
    p.send(broker_fixture::msg("t", "must arrive", qos::at_least_once, 1), b.now);
    p.collect();
    CHECK(b.e.metrics().dropped_queue_full == before);
    slow.collect();
    auto got = slow.take_of<mqtt::publish>();
    REQUIRE_FALSE(got.empty());
    CHECK(got.back().payload == std::string_view("must arrive"));
    CHECK(got.back().qos == qos::at_least_once);
}

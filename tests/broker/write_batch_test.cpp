// The broker's per-connection write batch: segments in wire order, an O(1) size
// that stays right across append, splice and clear.
#include <catch2/catch.hpp>

#include "mqtt/broker/write_batch.hpp"

namespace {

mqtt::publish make_publish(std::string topic, std::string payload)
{
    mqtt::publish p;
    p.topic = mqtt::buffer(std::move(topic));
    p.payload = mqtt::buffer(std::move(payload));
    return p;
}

std::string joined(const mqtt::broker::write_batch& b)
{
    std::string out;
    b.for_each_segment([&](const char* p, std::size_t n) { out.append(p, n); });
    return out;
}

std::string encoded(const mqtt::packet& p, mqtt::protocol_version v)
{
    std::string out;
    REQUIRE_FALSE(mqtt::encode(p, v, out));
    return out;
}

} // namespace

TEST_CASE("write_batch: size counts headers and shared payloads, segments keep wire order", "[broker][write_batch]")
{
    const auto v5 = mqtt::protocol_version::v5;
    mqtt::broker::write_batch b;
    CHECK(b.empty());
    CHECK(b.size() == 0);
    auto a = make_publish("a/b", "first payload");
    auto c = make_publish("c", "second");
    mqtt::pingresp ping;
    REQUIRE(b.append(a, mqtt::protocol_version::v5));
    REQUIRE(b.append(ping, mqtt::protocol_version::v5));
    REQUIRE(b.append(c, mqtt::protocol_version::v5));
    const auto expected = encoded(a, v5) + encoded(ping, v5) + encoded(c, v5);
    CHECK(joined(b) == expected);
    CHECK(b.size() == expected.size());
    b.clear();
    CHECK(b.empty());
    CHECK(b.size() == 0);
}

TEST_CASE("write_batch: splice appends another batch and empties it", "[broker][write_batch]")
{
    const auto v3 = mqtt::protocol_version::v3_1_1;
    mqtt::broker::write_batch to, from;
    auto a = make_publish("x", "payload one");
    auto c = make_publish("y/z", "payload two, longer");
    REQUIRE(to.append(a, mqtt::protocol_version::v3_1_1));
    REQUIRE(from.append(c, mqtt::protocol_version::v3_1_1));
    REQUIRE(from.append(a, mqtt::protocol_version::v3_1_1));
    const auto expected = encoded(a, v3) + encoded(c, v3) + encoded(a, v3);
    to.splice(std::move(from));
    CHECK(joined(to) == expected);
    CHECK(to.size() == expected.size());
    CHECK(from.empty());
    CHECK(from.size() == 0);
}

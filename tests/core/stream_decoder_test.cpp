// The incremental stream decoder: framing across arbitrary chunk boundaries,
// the maximum packet size, zero-copy views, version handling and poisoning.
#include <random>

#include "codec_test_support.hpp"
#include "mqtt/stream_decoder.hpp"

using namespace mqtt;
using codec_test::decode_ok;
using test_vectors::b;

namespace {

constexpr auto v3 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

// Drains every packet available now; fails the test on an error.
std::vector<packet> drain(stream_decoder& d)
{
    std::vector<packet> out;
    while (auto r = d.next()) {
        INFO("decoder error: " << r->error().message());
        REQUIRE(r->has_value());
        out.push_back(std::move(*r).value());
    }
    return out;
}

reason_code next_error(stream_decoder& d)
{
    auto r = d.next();
    REQUIRE(r.has_value());
    REQUIRE_FALSE(r->has_value());
    return to_reason_code(r->error());
}

std::vector<const test_vectors::vector*> vectors_of(protocol_version v)
{
    std::vector<const test_vectors::vector*> out;
    for (const auto& vec : test_vectors::all)
        if (vec.version == v)
            out.push_back(&vec);
    return out;
}

publish make_publish(std::string topic, std::string payload)
{
    publish p;
    p.topic = buffer(std::move(topic));
    p.payload = buffer(std::move(payload));
    return p;
}

} // namespace

TEST_CASE("Stream decoder: every vector fed one byte at a time", "[stream]")
{
    for (auto v : {v3, v5}) {
        for (const auto* vec : vectors_of(v)) {
            INFO(vec->name);
            stream_decoder d(max_packet_size, v);
            for (std::size_t i = 0; i + 1 < vec->bytes.size(); ++i) {
                d.feed(std::string_view(vec->bytes).substr(i, 1));
                CHECK_FALSE(d.next().has_value());
                CHECK(d.buffered() == i + 1);
            }
            d.feed(std::string_view(vec->bytes).substr(vec->bytes.size() - 1));
            auto got = drain(d);
            REQUIRE(got.size() == 1);
            CHECK(got[0] == decode_ok(vec->bytes, v));
            CHECK(d.buffered() == 0);
        }
    }
}

TEST_CASE("Stream decoder: all vectors back to back in random chunk sizes", "[stream]")
{
    std::mt19937 rng(12345); // fixed seed: reproducible
    for (auto v : {v3, v5}) {
        std::string stream;
        std::vector<packet> expected;
        for (const auto* vec : vectors_of(v)) {
            stream += vec->bytes;
            expected.push_back(decode_ok(vec->bytes, v));
        }
        for (int round = 0; round < 20; ++round) {
            stream_decoder d(max_packet_size, v);
            std::vector<packet> got;
            std::size_t pos = 0;
            while (pos < stream.size()) {
                const auto n = std::min<std::size_t>(stream.size() - pos, std::uniform_int_distribution<std::size_t>(1, 300)(rng));
                d.feed(std::string_view(stream).substr(pos, n));
                pos += n;
                for (auto& p : drain(d))
                    got.push_back(std::move(p));
            }
            REQUIRE(got.size() == expected.size());
            for (std::size_t i = 0; i < got.size(); ++i)
                CHECK(got[i] == expected[i]);
            CHECK(d.buffered() == 0);
        }
    }
}

TEST_CASE("Stream decoder: several packets in one feed come out in order", "[stream]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(test_vectors::get("v5/pingreq").bytes + test_vectors::get("v5/puback/reason").bytes +
        test_vectors::get("v5/publish/qos1_props").bytes + test_vectors::get("v5/pingresp").bytes);
    auto got = drain(d);
    REQUIRE(got.size() == 4);
    CHECK(std::holds_alternative<pingreq>(got[0]));
    CHECK(std::get<puback>(got[1]).code == reason_code::no_matching_subscribers);
    CHECK(std::get<publish>(got[2]).payload == "data");
    CHECK(std::holds_alternative<pingresp>(got[3]));
    CHECK_FALSE(d.next().has_value());
}

TEST_CASE("Stream decoder: the maximum packet size is enforced from the fixed header, before buffering the body",
    "[stream][limits]")
{
    SECTION("a header alone announcing a huge packet")
    {
        stream_decoder d(1024, v5);
        d.feed(b({0x30, 0xFF, 0xFF, 0xFF, 0x7F})); // Remaining Length 268,435,455
        CHECK(next_error(d) == reason_code::packet_too_large);
        CHECK(d.buffered() <= 5);
        d.feed(std::string(100'000, 'x'));
        CHECK(d.buffered() <= 5);
        CHECK(next_error(d) == reason_code::packet_too_large);
    }
    SECTION("header and body in one feed: the body is not kept")
    {
        stream_decoder d(1024, v5);
        std::string big = b({0x30, 0xA0, 0x9C, 0x01}) + std::string(20'000, 'x'); // 20,000 bytes announced
        d.feed(big);
        CHECK(d.buffered() <= 5);
        CHECK(next_error(d) == reason_code::packet_too_large);
    }
    SECTION("the limit counts the whole packet, fixed header included")
    {
        // PUBLISH "t" with a 121-byte payload: Remaining Length 125, 127 bytes in all.
        publish p = make_publish("t", std::string(121, 'x'));
        std::string bytes = codec_test::encode_ok(p, v5);
        REQUIRE(bytes.size() == 127);

        stream_decoder exact(127, v5);
        exact.feed(bytes);
        auto got = drain(exact);
        REQUIRE(got.size() == 1);
        CHECK(std::get<publish>(got[0]) == p);

        stream_decoder under(126, v5);
        under.feed(bytes.substr(0, 2)); // the header is enough to refuse it
        CHECK(next_error(under) == reason_code::packet_too_large);
        CHECK(under.maximum_packet_size() == 126);
    }
    SECTION("packets before the oversized one are still delivered")
    {
        stream_decoder d(64, v5);
        d.feed(test_vectors::get("v5/pingreq").bytes + b({0x30, 0x7F}));
        auto first = d.next();
        REQUIRE(first);
        REQUIRE(first->has_value());
        CHECK(std::holds_alternative<pingreq>(first->value()));
        CHECK(next_error(d) == reason_code::packet_too_large);
    }
    SECTION("the limit can change between packets")
    {
        stream_decoder d(max_packet_size, v5);
        d.set_maximum_packet_size(10);
        d.feed(codec_test::encode_ok(make_publish("t", std::string(20, 'x')), v5));
        CHECK(next_error(d) == reason_code::packet_too_large);
    }
}

TEST_CASE("Stream decoder: a Remaining Length of more than 4 bytes is malformed", "[stream][varint]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(b({0x30, 0x80, 0x80, 0x80, 0x80}));
    CHECK(next_error(d) == reason_code::malformed_packet);

    stream_decoder one_at_a_time(max_packet_size, v5);
    for (int c : {0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}) {
        one_at_a_time.feed(b({c}));
    }
    CHECK(next_error(one_at_a_time) == reason_code::malformed_packet);
    CHECK(one_at_a_time.buffered() <= 5);
}

TEST_CASE("Stream decoder: a first byte of packet type 0 is malformed", "[stream]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(b({0x00, 0x00}));
    CHECK(next_error(d) == reason_code::malformed_packet);
    stream_decoder d2(max_packet_size, v3);
    d2.feed(b({0x0F}));
    CHECK(next_error(d2) == reason_code::malformed_packet);
}

TEST_CASE("Stream decoder: after an error it stays poisoned until reset", "[stream]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(b({0x36, 0x03, 0x00, 0x01, 0x74})); // PUBLISH QoS 3 [MQTT-3.3.1-4]
    CHECK(next_error(d) == reason_code::malformed_packet);
    d.feed(test_vectors::get("v5/pingreq").bytes);
    CHECK(next_error(d) == reason_code::malformed_packet);
    CHECK(next_error(d) == reason_code::malformed_packet);

    d.reset();
    CHECK(d.buffered() == 0);
    CHECK_FALSE(d.next().has_value());
    d.feed(test_vectors::get("v5/pingreq").bytes);
    auto got = drain(d);
    REQUIRE(got.size() == 1);
    CHECK(std::holds_alternative<pingreq>(got[0]));
}

TEST_CASE("Stream decoder: before the version is known only CONNECT is accepted [MQTT-3.1.0-1]",
    "[stream][connect][MQTT-3.1.0-1]")
{
    SECTION("anything else first is a protocol error")
    {
        stream_decoder d;
        CHECK_FALSE(d.version());
        d.feed(test_vectors::get("v5/pingreq").bytes);
        CHECK(next_error(d) == reason_code::protocol_error);
    }
    SECTION("a 3.1.1 CONNECT sets 3.1.1, and what follows in the same feed decodes as 3.1.1")
    {
        stream_decoder d;
        d.feed(test_vectors::get("v311/connect/full").bytes + test_vectors::get("v311/publish/qos1_retain").bytes +
            test_vectors::get("v311/disconnect").bytes);
        auto got = drain(d);
        REQUIRE(got.size() == 3);
        CHECK(std::get<connect>(got[0]).version == v3);
        CHECK(d.version() == v3);
        CHECK(got[1] == decode_ok(test_vectors::get("v311/publish/qos1_retain").bytes, v3));
        CHECK(std::holds_alternative<disconnect>(got[2]));
    }
    SECTION("a 5.0 CONNECT sets 5.0")
    {
        stream_decoder d;
        d.feed(test_vectors::get("v5/connect/full").bytes + test_vectors::get("v5/publish/qos1_props").bytes);
        auto got = drain(d);
        REQUIRE(got.size() == 2);
        CHECK(d.version() == v5);
        CHECK(std::get<publish>(got[1]).props.subscription_identifiers().size() == 2);
    }
    SECTION("set_version lets a client decode the CONNACK")
    {
        stream_decoder d;
        d.set_version(v3);
        d.feed(test_vectors::get("v311/connack/accepted").bytes);
        auto got = drain(d);
        REQUIRE(got.size() == 1);
        CHECK(std::holds_alternative<connack>(got[0]));
    }
    SECTION("an unsupported protocol level is reported as such")
    {
        stream_decoder d;
        std::string bytes = test_vectors::get("v5/connect/minimal").bytes;
        bytes[8] = 0x03;
        d.feed(bytes);
        CHECK(next_error(d) == reason_code::unsupported_protocol_version);
    }
}

TEST_CASE("Stream decoder: PUBLISH topic and payload are views into the receive chunk", "[stream][zero-copy]")
{
    stream_decoder d(max_packet_size, v5);
    const auto a = codec_test::encode_ok(make_publish("a/b", "first payload"), v5);
    const auto c = codec_test::encode_ok(make_publish("c/d", "second payload"), v5);
    d.feed(a + c);
    auto got = drain(d);
    REQUIRE(got.size() == 2);
    const auto& p1 = std::get<publish>(got[0]);
    const auto& p2 = std::get<publish>(got[1]);
    CHECK(p1.payload == "first payload");
    CHECK(p2.payload == "second payload");
    // One chunk holds both packets: same owner, payloads laid out as on the wire.
    REQUIRE(p1.payload.owner() != nullptr);
    CHECK(p1.payload.owner() == p2.payload.owner());
    CHECK(p1.topic.owner() == p1.payload.owner());
    CHECK(p1.payload.owner().use_count() >= 4);
    CHECK(p1.topic.data() + 3 + 1 == p1.payload.data()); // topic, Property Length, payload
    CHECK(p2.payload.data() == p1.payload.data() + p1.payload.size() + 2 + 5 + 1);
}

TEST_CASE("Stream decoder: bytes handed out are never modified by later feeds", "[stream][zero-copy]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(codec_test::encode_ok(make_publish("keep", "kept payload"), v5));
    auto kept = drain(d);
    REQUIRE(kept.size() == 1);
    const auto& k = std::get<publish>(kept[0]);
    const char* where = k.payload.data();

    // Push far more than one chunk through, including a large packet that needs a
    // chunk of its own, and a partial packet left at the end.
    std::mt19937 rng(7);
    for (int i = 0; i < 500; ++i) {
        auto p = make_publish("t/" + std::to_string(i), std::string(static_cast<std::size_t>(rng() % 200), 'z'));
        d.feed(codec_test::encode_ok(p, v5));
        for (auto& got : drain(d))
            CHECK(std::get<publish>(got) == p);
    }
    auto large = make_publish("large", std::string(100'000, 'L'));
    const auto large_bytes = codec_test::encode_ok(large, v5);
    for (std::size_t pos = 0; pos < large_bytes.size(); pos += 777)
        d.feed(std::string_view(large_bytes).substr(pos, 777));
    auto got = drain(d);
    REQUIRE(got.size() == 1);
    CHECK(std::get<publish>(got[0]) == large);
    CHECK(std::get<publish>(got[0]).payload.owner() != k.payload.owner());
    d.feed(b({0x30, 0x10, 0x00}));

    CHECK(k.payload.data() == where);
    CHECK(k.payload == "kept payload");
    CHECK(k.topic == "keep");
}

TEST_CASE("Stream decoder: a large packet fed in pieces", "[stream]")
{
    stream_decoder d(2'000'000, v3);
    auto p = make_publish("big", std::string(1'000'000, 'q'));
    p.qos = qos::at_least_once;
    p.packet_id = 77;
    const auto bytes = codec_test::encode_ok(p, v3);
    std::size_t pos = 0;
    std::mt19937 rng(99);
    while (pos < bytes.size()) {
        const auto n = std::min<std::size_t>(bytes.size() - pos, 1 + rng() % 70'000);
        CHECK_FALSE(d.next().has_value());
        d.feed(std::string_view(bytes).substr(pos, n));
        pos += n;
    }
    auto got = drain(d);
    REQUIRE(got.size() == 1);
    CHECK(std::get<publish>(got[0]) == p);
}

TEST_CASE("Stream decoder: decode errors surface with their reason code", "[stream]")
{
    stream_decoder d(max_packet_size, v5);
    d.feed(b({0x30, 0x06, 0x00, 0x03}) + "a/+" + b({0x00})); // wildcard in a Topic Name
    CHECK(next_error(d) == reason_code::topic_name_invalid);
}

TEST_CASE("Stream decoder: holds no buffer once every packet fed is taken, and packets outlive it", "[stream]")
{
    stream_decoder d(max_packet_size, v3);
    const auto bytes = codec_test::encode_ok(make_publish("idle/topic", "payload kept by the packet"), v3);
    d.feed(std::string_view(bytes).substr(0, 7)); // a packet not complete yet
    CHECK_FALSE(d.next().has_value());
    CHECK(d.held_capacity() > 0);
    d.feed(std::string_view(bytes).substr(7));
    auto got = drain(d);
    REQUIRE(got.size() == 1);
    CHECK(d.held_capacity() == 0); // a quiet connection costs no receive buffer
    CHECK(std::get<publish>(got[0]).payload == "payload kept by the packet");
    d.feed(bytes); // and decoding goes on with a fresh chunk
    auto again = drain(d);
    REQUIRE(again.size() == 1);
    CHECK(std::get<publish>(again[0]) == std::get<publish>(got[0]));
}

TEST_CASE("Stream decoder: a fresh buffer is sized for what the feed brings, so kept packets pin no spare room",
    "[stream][memory]")
{
    stream_decoder d(max_packet_size, v3);
    std::string bytes;
    for (int i = 0; i < 20; ++i)
        bytes += codec_test::encode_ok(make_publish("t/" + std::to_string(i), std::string(60, 'p')), v3);
    REQUIRE(bytes.size() > 1000);
    REQUIRE(bytes.size() < 2000);
    d.feed(bytes);
    CHECK(d.held_capacity() == bytes.size());
    auto got = drain(d);
    REQUIRE(got.size() == 20);
    CHECK(std::get<publish>(got[19]).topic == std::string_view("t/19"));

    // Tiny feeds still share a small buffer rather than one allocation each.
    stream_decoder tiny(max_packet_size, v3);
    tiny.feed(bytes.substr(0, 1));
    const auto first = tiny.held_capacity();
    CHECK(first >= 64);
    for (std::size_t i = 1; i < 40; ++i)
        tiny.feed(bytes.substr(i, 1));
    CHECK(tiny.held_capacity() == first);
}

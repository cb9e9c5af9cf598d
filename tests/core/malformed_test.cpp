// Decode error paths of the fixed header and of every packet but CONNECT and
// CONNACK (see malformed_connect_test.cpp), each with the reason code the spec
// assigns, and the encoder's refusals. Packets are built with pkt(), which
// computes the Remaining Length, so each case differs from a valid packet in one
// place only.
#include <sys/mman.h>

#include "codec_test_support.hpp"

using namespace mqtt;
using codec_test::decode_error;
using codec_test::decode_ok;
using codec_test::encode_error;
using codec_test::pkt;
using codec_test::str;
using test_vectors::b;

namespace {

constexpr auto v3 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;
constexpr auto ok = reason_code::success;
constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol = reason_code::protocol_error;

} // namespace

// ---- fixed header -------------------------------------------------------------

TEST_CASE("Malformed: empty input, truncated or oversized Remaining Length", "[malformed][varint]")
{
    for (auto v : {v3, v5}) {
        CHECK(decode_error("", v) == malformed);
        CHECK(decode_error(b({0xC0}), v) == malformed);                            // no Remaining Length
        CHECK(decode_error(b({0x30, 0x80}), v) == malformed);                      // Remaining Length cut
        CHECK(decode_error(b({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), v) == malformed); // 5 bytes
    }
}

TEST_CASE("Malformed: a non-minimal Remaining Length is rejected [MQTT-1.5.5-1]", "[malformed][varint][MQTT-1.5.5-1]")
{
    // 0x80 0x00 encodes 0 in two bytes. We reject it: the spec requires the minimum
    // number of bytes, and decode-then-encode stays byte-identical.
    CHECK(decode_error(b({0xC0, 0x80, 0x00}), v5) == malformed);
    CHECK(decode_error(b({0xC0, 0x80, 0x80, 0x00}), v3) == malformed);
    // And in a property: Subscription Identifier 1 written as 0x81 0x00.
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x03, 0x0B, 0x81, 0x00}) + str("a") + b({0x00})), v5) == malformed);
}

TEST_CASE("Malformed: the Remaining Length must match the bytes exactly", "[malformed]")
{
    for (const auto& vec : test_vectors::all) {
        INFO(vec.name);
        CHECK(decode_error(vec.bytes + "x", vec.version) == malformed);            // trailing byte
        CHECK(decode_error(vec.bytes.substr(0, vec.bytes.size() - 1), vec.version) == malformed); // one short
    }
}

TEST_CASE("Malformed: every truncation of every vector fails cleanly", "[malformed]")
{
    // Rewrite the Remaining Length to each shorter body: the field that runs out
    // must be detected, never read past.
    for (const auto& vec : test_vectors::all) {
        auto full = decode_ok(vec.bytes, vec.version);
        std::uint32_t rl = 0;
        std::size_t header = 2;
        for (std::size_t i = 1, shift = 0; i < vec.bytes.size(); ++i, shift += 7) {
            rl |= (static_cast<std::uint32_t>(static_cast<unsigned char>(vec.bytes[i])) & 0x7F) << shift;
            if ((static_cast<unsigned char>(vec.bytes[i]) & 0x80) == 0) {
                header = i + 1;
                break;
            }
        }
        for (std::uint32_t n = 0; n < rl; ++n) {
            const auto cut = pkt(static_cast<unsigned char>(vec.bytes[0]), vec.bytes.substr(header, n));
            auto r = decode(cut, vec.version);
            // Some prefixes are valid packets themselves (short forms, fewer filters,
            // a shorter payload); those must then differ from the full packet.
            if (r)
                CHECK_FALSE(*r == full);
        }
    }
}

TEST_CASE("Malformed: packet type 0 is reserved", "[malformed]")
{
    CHECK(decode_error(b({0x00, 0x00}), v3) == malformed);
    CHECK(decode_error(b({0x00, 0x00}), v5) == malformed);
}

namespace {
// Every non-PUBLISH vector of version v with each other value of the flag nibble.
void check_reserved_flags(protocol_version v)
{
    for (const auto& vec : test_vectors::all) {
        const auto first = static_cast<unsigned char>(vec.bytes[0]);
        if (vec.version != v || (first >> 4) == 3)
            continue; // PUBLISH flags carry DUP, QoS and RETAIN
        INFO(vec.name);
        REQUIRE(decode_error(vec.bytes, vec.version) == ok);
        for (int flags = 0; flags < 16; ++flags) {
            if (flags == (first & 0x0F))
                continue;
            auto bytes = vec.bytes;
            bytes[0] = static_cast<char>((first & 0xF0) | flags);
            INFO("flags " << flags);
            CHECK(decode_error(bytes, vec.version) == malformed);
        }
    }
}
} // namespace

TEST_CASE("3.1.1: reserved fixed header flags must be as specified "
          "[MQTT-2.2.2-1] [MQTT-2.2.2-2] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] [MQTT-3.14.1-1]",
    "[malformed][flags][v311][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-3.6.1-1][MQTT-3.8.1-1][MQTT-3.10.1-1][MQTT-3.14.1-1]")
{
    check_reserved_flags(v3);
}

TEST_CASE("5.0: reserved fixed header flags must be as specified "
          "[MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] [MQTT-3.14.1-1] [MQTT-3.15.1-1]",
    "[malformed][flags][v5][MQTT-2.1.3-1][MQTT-3.6.1-1][MQTT-3.8.1-1][MQTT-3.10.1-1][MQTT-3.14.1-1][MQTT-3.15.1-1]")
{
    check_reserved_flags(v5);
}

// ---- PUBLISH --------------------------------------------------------------------------

TEST_CASE("PUBLISH: QoS 3 is malformed [MQTT-3.3.1-4]", "[malformed][publish][MQTT-3.3.1-4]")
{
    CHECK(decode_error(pkt(0x36, str("t") + b({0x00, 0x01})), v3) == malformed);
    CHECK(decode_error(pkt(0x36, str("t") + b({0x00, 0x01, 0x00})), v5) == malformed);
    CHECK(decode_error(pkt(0x37, str("t") + b({0x00, 0x01, 0x00})), v5) == malformed);
}

TEST_CASE("PUBLISH: DUP must be 0 for QoS 0 [MQTT-3.3.1-2]", "[malformed][publish][MQTT-3.3.1-2]")
{
    CHECK(decode_error(pkt(0x38, str("t")), v3) == malformed);
    CHECK(decode_error(pkt(0x38, str("t") + b({0x00})), v5) == malformed);
    publish p;
    p.topic = buffer("t");
    p.dup = true;
    CHECK(encode_error(p, v3) == malformed);
    CHECK(encode_error(p, v5) == malformed);
}

TEST_CASE("PUBLISH: QoS 1 and 2 need a non-zero Packet Identifier, QoS 0 none "
          "[MQTT-2.3.1-1] [MQTT-2.3.1-5] [MQTT-2.2.1-2] [MQTT-2.2.1-3]",
    "[malformed][publish][MQTT-2.3.1-1][MQTT-2.3.1-5][MQTT-2.2.1-2][MQTT-2.2.1-3]")
{
    CHECK(decode_error(pkt(0x32, str("t") + b({0x00, 0x00})), v3) == malformed);
    CHECK(decode_error(pkt(0x34, str("t") + b({0x00, 0x00, 0x00})), v5) == malformed);
    CHECK(decode_error(pkt(0x32, str("t") + b({0x00})), v3) == malformed); // identifier cut
    // QoS 0: the two bytes after the topic are payload, not an identifier.
    auto p = std::get<publish>(decode_ok(pkt(0x30, str("t") + b({0x00, 0x05})), v3));
    CHECK(p.packet_id == 0);
    CHECK(p.payload == b({0x00, 0x05}));

    publish q0;
    q0.topic = buffer("t");
    q0.packet_id = 5;
    CHECK(encode_error(q0, v3) == malformed);
    CHECK(encode_error(q0, v5) == malformed);
    publish q1;
    q1.topic = buffer("t");
    q1.qos = qos::at_least_once;
    CHECK(encode_error(q1, v3) == malformed);
    CHECK(encode_error(q1, v5) == malformed);
}

TEST_CASE("PUBLISH: the Topic Name must be valid UTF-8 [MQTT-3.3.2-1] [MQTT-1.5.3-1] [MQTT-1.5.4-1] "
          "[MQTT-4.7.3-2]",
    "[malformed][publish][utf8][MQTT-3.3.2-1][MQTT-1.5.3-1][MQTT-1.5.4-1][MQTT-4.7.3-2]")
{
    CHECK(decode_error(pkt(0x30, str(b({0xFF}))), v3) == malformed);
    CHECK(decode_error(pkt(0x30, str(b({0xED, 0xBF, 0xBF})) + b({0x00})), v5) == malformed);
    CHECK(decode_error(pkt(0x30, str(std::string("a\0", 2))), v3) == malformed);
    CHECK(decode_error(pkt(0x30, str(std::string("a\0", 2)) + b({0x00})), v5) == malformed);
    // Topic length past the end.
    CHECK(decode_error(pkt(0x30, b({0x00, 0x05}) + "ab"), v3) == malformed);
    CHECK(decode_error(pkt(0x30, b({0x00})), v5) == malformed);
}

TEST_CASE("PUBLISH: a BOM in a topic is kept, not stripped [MQTT-1.5.3-3] [MQTT-1.5.4-3]",
    "[publish][utf8][MQTT-1.5.3-3][MQTT-1.5.4-3]")
{
    const std::string topic = b({0xEF, 0xBB, 0xBF}) + "t";
    auto p3 = std::get<publish>(decode_ok(pkt(0x30, str(topic) + "x"), v3));
    CHECK(p3.topic == topic);
    auto p5 = std::get<publish>(decode_ok(pkt(0x30, str(topic) + b({0x00}) + "x"), v5));
    CHECK(p5.topic == topic);
    CHECK(p5.payload == "x");
}

TEST_CASE("PUBLISH 3.1.1: wildcards in the Topic Name are rejected [MQTT-3.3.2-2] [MQTT-4.7.1-1]",
    "[malformed][publish][v311][MQTT-3.3.2-2][MQTT-4.7.1-1]")
{
    for (std::string_view topic : {"a/+", "#", "a/#", "+/b", "a+b"}) {
        INFO(topic);
        CHECK(decode_error(pkt(0x30, str(topic)), v3) == reason_code::topic_name_invalid);
    }
}

TEST_CASE("PUBLISH 5.0: wildcards in the Topic Name are Topic Name invalid (0x90) [MQTT-3.3.2-2] [MQTT-4.7.0-1]",
    "[malformed][publish][v5][MQTT-3.3.2-2][MQTT-4.7.0-1]")
{
    for (std::string_view topic : {"a/+", "#", "a/#", "+/b", "a+b"}) {
        INFO(topic);
        CHECK(decode_error(pkt(0x30, str(topic) + b({0x00})), v5) == reason_code::topic_name_invalid);
    }
    CHECK(static_cast<int>(reason_code::topic_name_invalid) == 0x90);
}

TEST_CASE("PUBLISH: an empty Topic Name [MQTT-4.7.3-1]", "[malformed][publish][MQTT-4.7.3-1]")
{
    CHECK(decode_error(pkt(0x30, str("") + "x"), v3) == malformed);
    // 5.0: only with a Topic Alias.
    CHECK(decode_error(pkt(0x30, str("") + b({0x00}) + "x"), v5) == protocol);
    CHECK(decode_error(pkt(0x30, str("") + b({0x03, 0x23, 0x00, 0x01}) + "x"), v5) == ok);

    publish p;
    CHECK(encode_error(p, v3) == malformed);
    CHECK(encode_error(p, v5) == malformed);
}

TEST_CASE("PUBLISH 5.0: property errors", "[malformed][publish][v5]")
{
    auto with_props = [](const std::string& props) {
        return pkt(0x30, str("t") + b({static_cast<int>(props.size())}) + props);
    };
    CHECK(decode_error(with_props(b({0x23, 0x00, 0x00})), v5) == protocol);       // Topic Alias 0
    CHECK(decode_error(with_props(b({0x0B, 0x00})), v5) == protocol);             // Subscription Identifier 0
    CHECK(decode_error(with_props(b({0x01, 0x02})), v5) == protocol);             // Payload Format Indicator 2
    CHECK(decode_error(with_props(b({0x01, 0x00, 0x01, 0x01})), v5) == protocol); // duplicate
    CHECK(decode_error(with_props(b({0x08, 0x00, 0x01}) + "#"), v5) == protocol); // [MQTT-3.3.2-14]
    CHECK(decode_error(with_props(b({0x03, 0x00, 0x01, 0xFF})), v5) == malformed); // [MQTT-3.3.2-19]
    CHECK(decode_error(with_props(b({0x11, 0x00, 0x00, 0x00, 0x01})), v5) == malformed); // not a PUBLISH property
    CHECK(decode_error(with_props(b({0x26, 0x00, 0x01, 0xFF, 0x00, 0x00})), v5) == malformed); // [MQTT-1.5.7-1]
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP -----------------------------------------------------

TEST_CASE("Acknowledgements: packet identifier and lengths", "[malformed][ack]")
{
    for (int first : {0x40, 0x50, 0x62, 0x70}) {
        INFO("first byte " << first);
        CHECK(decode_error(b({first, 0x02, 0x00, 0x00}), v3) == malformed); // identifier 0
        CHECK(decode_error(b({first, 0x02, 0x00, 0x00}), v5) == malformed);
        CHECK(decode_error(b({first, 0x01, 0x00}), v3) == malformed);
        CHECK(decode_error(b({first, 0x03, 0x00, 0x01, 0x00}), v3) == malformed); // 3.1.1 has no reason code
        CHECK(decode_error(b({first, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F}), v5) == malformed); // props past end
        CHECK(decode_error(b({first, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}), v5) == malformed); // trailing
    }
    CHECK(encode_error(puback{0, reason_code::success, {}}, v5) == malformed);
    CHECK(encode_error(pubrel{0, reason_code::success, {}}, v3) == malformed);
}

TEST_CASE("Acknowledgements: reason codes must be defined for the packet "
          "[MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]",
    "[malformed][ack][MQTT-3.4.2-1][MQTT-3.5.2-1][MQTT-3.6.2-1][MQTT-3.7.2-1]")
{
    const std::pair<int, packet_type> types[] = {{0x40, packet_type::puback}, {0x50, packet_type::pubrec},
        {0x62, packet_type::pubrel}, {0x70, packet_type::pubcomp}};
    for (auto [first, type] : types) {
        int allowed_count = 0;
        for (int rc = 0; rc < 256; ++rc) {
            const bool allowed = reason_code_allowed(type, static_cast<reason_code>(rc));
            allowed_count += allowed ? 1 : 0;
            INFO(to_string(type) << " reason " << rc);
            CHECK(decode_error(b({first, 0x03, 0x00, 0x01, rc}), v5) == (allowed ? ok : malformed));
        }
        CHECK(allowed_count == (type == packet_type::puback || type == packet_type::pubrec ? 9 : 2));
    }
    CHECK(encode_error(puback{1, reason_code::packet_identifier_not_found, {}}, v5) == malformed);
    CHECK(encode_error(pubrel{1, reason_code::no_matching_subscribers, {}}, v5) == malformed);
    CHECK(encode_error(pubcomp{1, reason_code::unspecified_error, {}}, v5) == malformed);
}

TEST_CASE("Acknowledgements 5.0: invalid properties", "[malformed][ack][v5]")
{
    CHECK(decode_error(b({0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}), v5) == malformed); // Topic Alias
    CHECK(decode_error(b({0x50, 0x0A, 0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00}), v5) ==
        protocol); // two Reason Strings
}

// ---- SUBSCRIBE / SUBACK -----------------------------------------------------------------

TEST_CASE("SUBSCRIBE 3.1.1: at least one topic filter [MQTT-3.8.3-3]", "[malformed][subscribe][v311][MQTT-3.8.3-3]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01})), v3) == protocol);
    CHECK(encode_error(subscribe{1, {}, {}}, v3) == malformed);
}

TEST_CASE("SUBSCRIBE 5.0: at least one topic filter [MQTT-3.8.3-2]", "[malformed][subscribe][v5][MQTT-3.8.3-2]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00})), v5) == protocol);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x02, 0x0B, 0x01})), v5) == protocol); // properties only
    CHECK(encode_error(subscribe{1, {}, {}}, v5) == malformed);
}

TEST_CASE("SUBSCRIBE: a non-zero packet identifier [MQTT-2.3.1-1] [MQTT-2.2.1-3]",
    "[malformed][subscribe][MQTT-2.3.1-1][MQTT-2.2.1-3]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x00}) + str("a") + b({0x00})), v3) == malformed);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x00, 0x00}) + str("a") + b({0x00})), v5) == malformed);
    subscribe s{0, {{"a", {}}}, {}};
    CHECK(encode_error(s, v5) == malformed);
    unsubscribe u{0, {"a"}, {}};
    CHECK(encode_error(u, v3) == malformed);
}

TEST_CASE("SUBSCRIBE 3.1.1: reserved option bits and QoS 3 are malformed [MQTT-3.8.3-4]",
    "[malformed][subscribe][v311][MQTT-3.8.3-4]")
{
    for (int options = 0; options < 256; ++options) {
        INFO("options " << options);
        const bool valid = options <= 2;
        CHECK(decode_error(pkt(0x82, b({0x00, 0x01}) + str("a") + b({options})), v3) == (valid ? ok : malformed));
    }
}

TEST_CASE("SUBSCRIBE 5.0: reserved bits malformed [MQTT-3.8.3-5], QoS 3 and Retain Handling 3 protocol errors",
    "[malformed][subscribe][v5][MQTT-3.8.3-5]")
{
    auto sub = [](int options) { return pkt(0x82, b({0x00, 0x01, 0x00}) + str("a") + b({options})); };
    CHECK(decode_error(sub(0x40), v5) == malformed);
    CHECK(decode_error(sub(0x80), v5) == malformed);
    CHECK(decode_error(sub(0xC1), v5) == malformed);
    CHECK(decode_error(sub(0x03), v5) == protocol);
    CHECK(decode_error(sub(0x30), v5) == protocol);
    for (int options = 0; options < 0x40; ++options) {
        if ((options & 0x03) == 3 || ((options >> 4) & 0x03) == 3)
            continue;
        INFO("options " << options);
        auto s = std::get<subscribe>(decode_ok(sub(options), v5));
        const auto& o = s.subscriptions.at(0).options;
        CHECK(static_cast<int>(o.qos) == (options & 0x03));
        CHECK(o.no_local == ((options & 0x04) != 0));
        CHECK(o.retain_as_published == ((options & 0x08) != 0));
        CHECK(static_cast<int>(o.retain_handling) == ((options >> 4) & 0x03));
    }
}

TEST_CASE("SUBSCRIBE 5.0: No Local on a Shared Subscription is a protocol error [MQTT-3.8.3-4]",
    "[malformed][subscribe][v5][MQTT-3.8.3-4]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00}) + str("$share/g/a") + b({0x04})), v5) == protocol);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00}) + str("$share/g/a") + b({0x00})), v5) == ok);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00}) + str("$shared/a") + b({0x04})), v5) == ok);
}

TEST_CASE("SUBSCRIBE: topic filters must be valid UTF-8 [MQTT-3.8.3-1]", "[malformed][subscribe][MQTT-3.8.3-1]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01}) + str(b({0xFE})) + b({0x00})), v3) == malformed);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00}) + str(std::string("\0", 1)) + b({0x00})), v5) == malformed);
    // Options byte missing.
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01}) + str("a")), v3) == malformed);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x00}) + str("a") + b({0x00}) + str("b")), v5) == malformed);
}

TEST_CASE("SUBSCRIBE 5.0: Subscription Identifier rules", "[malformed][subscribe][v5]")
{
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x02, 0x0B, 0x00}) + str("a") + b({0x00})), v5) == protocol);
    CHECK(decode_error(pkt(0x82, b({0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02}) + str("a") + b({0x00})), v5) ==
        protocol);
}

TEST_CASE("SUBACK: return codes [MQTT-3.9.3-2]", "[malformed][suback][MQTT-3.9.3-2]")
{
    for (int rc = 0; rc < 256; ++rc) {
        INFO("code " << rc);
        const bool v3_ok = rc <= 2 || rc == 0x80;
        CHECK(decode_error(b({0x90, 0x03, 0x00, 0x01, rc}), v3) == (v3_ok ? ok : malformed));
        const bool v5_ok = reason_code_allowed(packet_type::suback, static_cast<reason_code>(rc));
        CHECK(decode_error(b({0x90, 0x04, 0x00, 0x01, 0x00, rc}), v5) == (v5_ok ? ok : malformed));
    }
    CHECK(decode_error(b({0x90, 0x02, 0x00, 0x01}), v3) == protocol); // no codes
    CHECK(decode_error(b({0x90, 0x03, 0x00, 0x01, 0x00}), v5) == protocol);
    CHECK(decode_error(b({0x90, 0x03, 0x00, 0x00, 0x00}), v3) == malformed); // identifier 0
    CHECK(encode_error(suback{1, {reason_code::no_subscription_existed}, {}}, v5) == malformed);
    CHECK(encode_error(suback{1, {reason_code::continue_authentication}, {}}, v3) == malformed);
    CHECK(encode_error(suback{1, {}, {}}, v3) == malformed);
}

// ---- UNSUBSCRIBE / UNSUBACK ------------------------------------------------------------

TEST_CASE("UNSUBSCRIBE: at least one topic filter [MQTT-3.10.3-2]", "[malformed][unsubscribe][MQTT-3.10.3-2]")
{
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x01})), v3) == protocol);
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x01, 0x00})), v5) == protocol);
    CHECK(encode_error(unsubscribe{1, {}, {}}, v5) == malformed);
}

TEST_CASE("UNSUBSCRIBE: topic filters must be valid UTF-8 [MQTT-3.10.3-1]",
    "[malformed][unsubscribe][MQTT-3.10.3-1]")
{
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x01}) + str("a") + str(b({0xC2}))), v3) == malformed);
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x01, 0x00}) + str(b({0xED, 0xA0, 0x80}))), v5) == malformed);
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x00}) + str("a")), v3) == malformed); // identifier 0
    CHECK(decode_error(pkt(0xA2, b({0x00, 0x01}) + str("a") + b({0x00})), v3) == malformed); // half a length
}

TEST_CASE("UNSUBACK: lengths and reason codes [MQTT-3.11.3-2]", "[malformed][unsuback][MQTT-3.11.3-2]")
{
    CHECK(decode_error(b({0xB0, 0x03, 0x00, 0x01, 0x00}), v3) == malformed);
    CHECK(decode_error(b({0xB0, 0x03, 0x00, 0x01, 0x00}), v5) == protocol); // no codes
    for (int rc = 0; rc < 256; ++rc) {
        const bool allowed = reason_code_allowed(packet_type::unsuback, static_cast<reason_code>(rc));
        CHECK(decode_error(b({0xB0, 0x04, 0x00, 0x01, 0x00, rc}), v5) == (allowed ? ok : malformed));
    }
    CHECK(encode_error(unsuback{1, {}, {}}, v5) == malformed);
    CHECK(encode_error(unsuback{1, {reason_code::granted_qos_1}, {}}, v5) == malformed);
}

// ---- PINGREQ, PINGRESP, DISCONNECT, AUTH --------------------------------------------------

TEST_CASE("PINGREQ and PINGRESP have no body", "[malformed][ping]")
{
    for (auto v : {v3, v5}) {
        CHECK(decode_error(b({0xC0, 0x01, 0x00}), v) == malformed);
        CHECK(decode_error(b({0xD0, 0x01, 0x00}), v) == malformed);
    }
}

TEST_CASE("DISCONNECT: 3.1.1 has no body, 5.0 reason codes must be DISCONNECT codes [MQTT-3.14.2-1]",
    "[malformed][disconnect][MQTT-3.14.2-1]")
{
    CHECK(decode_error(b({0xE0, 0x01, 0x00}), v3) == malformed);
    for (int rc = 0; rc < 256; ++rc) {
        const bool allowed = reason_code_allowed(packet_type::disconnect, static_cast<reason_code>(rc));
        CHECK(decode_error(b({0xE0, 0x01, rc}), v5) == (allowed ? ok : malformed));
    }
    CHECK(decode_error(b({0xE0, 0x03, 0x00, 0x01, 0x24}), v5) == malformed); // property cut
    CHECK(decode_error(b({0xE0, 0x04, 0x00, 0x02, 0x24, 0x01}), v5) == malformed); // Maximum QoS not allowed
    CHECK(encode_error(disconnect{reason_code::granted_qos_1, {}}, v5) == malformed);
}

TEST_CASE("AUTH: only in 5.0, reason codes 0x00 0x18 0x19, properties after a reason code [MQTT-3.15.2-1]",
    "[malformed][auth][MQTT-3.15.2-1]")
{
    CHECK(decode_error(b({0xF0, 0x00}), v3) == malformed);
    CHECK(decode_error(b({0xF0, 0x01, 0x18}), v5) == malformed); // Property Length missing
    for (int rc = 0; rc < 256; ++rc) {
        const bool allowed = rc == 0x00 || rc == 0x18 || rc == 0x19;
        CHECK(decode_error(b({0xF0, 0x02, rc, 0x00}), v5) == (allowed ? ok : malformed));
    }
    CHECK(decode_error(b({0xF0, 0x04, 0x18, 0x02, 0x16, 0x00}), v5) == malformed); // data cut
    CHECK(decode_error(b({0xF0, 0x06, 0x18, 0x04, 0x16, 0x00, 0x01, 0x61}), v5) == protocol); // data, no method
    CHECK(encode_error(auth{reason_code::success, {}}, v3) == protocol);
    CHECK(encode_error(auth{reason_code::unspecified_error, {}}, v5) == malformed);
}

// ---- encoder limits -----------------------------------------------------------------------

TEST_CASE("Encoding refuses strings over 65535 bytes [MQTT-4.7.3-3]", "[malformed][encode][MQTT-4.7.3-3]")
{
    const std::string big(65536, 'a');
    publish p;
    p.topic = buffer(big);
    CHECK(encode_error(p, v3) == malformed);
    CHECK(encode_error(p, v5) == malformed);
    CHECK(encode_error(subscribe{1, {{big, {}}}, {}}, v5) == malformed);
    CHECK(encode_error(unsubscribe{1, {big}, {}}, v3) == malformed);
    connect c;
    c.client_id = big;
    CHECK(encode_error(c, v5) == malformed);
    c.client_id = "c";
    c.username = big;
    CHECK(encode_error(c, v5) == malformed);
    c.username.reset();
    c.password = big;
    CHECK(encode_error(c, v5) == malformed);
    c.password.reset();
    c.will = will{buffer("t"), buffer(big), qos::at_most_once, false, {}};
    CHECK(encode_error(c, v5) == malformed);

    // 65535 is fine.
    p.topic = buffer(std::string(65535, 'a'));
    std::string out;
    CHECK_FALSE(encode(p, v3, out));
    CHECK(out.size() == 1 + 3 + 2 + 65535);
}

TEST_CASE("Encoding refuses out-of-range enum values", "[malformed][encode]")
{
    publish p;
    p.topic = buffer("t");
    p.qos = static_cast<qos>(3);
    p.packet_id = 1;
    CHECK(encode_error(p, v5) == malformed);
    CHECK(encode_error(subscribe{1, {{"a", {static_cast<qos>(3)}}}, {}}, v5) == malformed);
    subscription s{"a", {}};
    s.options.retain_handling = static_cast<retain_handling>(3);
    CHECK(encode_error(subscribe{1, {s}, {}}, v5) == malformed);
    connect c;
    c.version = static_cast<protocol_version>(3);
    CHECK(encode_error(c, v5) == reason_code::unsupported_protocol_version);
    c.version = v5;
    c.will = will{buffer("t"), buffer("m"), static_cast<qos>(3), false, {}};
    CHECK(encode_error(c, v5) == malformed);
}

TEST_CASE("Encoding refuses a packet over the maximum Remaining Length", "[malformed][encode][limits]")
{
    // Map (but never touch) a region as large as the largest Remaining Length, so the
    // size checks can be exercised without committing that much memory.
    const std::size_t n = max_remaining_length;
    void* mem = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    const auto* base = static_cast<const char*>(mem);

    publish p;
    p.topic = buffer("t");
    // Topic (3) + Property Length (1) + payload: exactly the maximum is fine...
    p.payload = buffer(nullptr, std::string_view(base, n - 4));
    auto size = encoded_size(p, v5);
    REQUIRE(size.has_value());
    CHECK(*size == max_packet_size);
    // ...one byte more is packet_too_large.
    p.payload = buffer(nullptr, std::string_view(base, n - 3));
    CHECK(to_reason_code(encoded_size(p, v5).error()) == reason_code::packet_too_large);
    std::string out;
    CHECK(to_reason_code(encode(p, v5, out)) == reason_code::packet_too_large);
    CHECK(out.empty());
    std::string header;
    CHECK(to_reason_code(encode_gather(p, v5, header).error()) == reason_code::packet_too_large);
    CHECK(header.empty());
    // 3.1.1 has no Property Length: one byte more room.
    CHECK(encoded_size(p, v3).has_value());

    ::munmap(mem, n);
}

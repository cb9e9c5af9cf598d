// Decode error paths of CONNECT and CONNACK, each with the reason code the spec
// assigns. Packets are built with pkt(), which computes the Remaining Length.
#include "codec_test_support.hpp"
#include "session_harness.hpp"

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

// CONNECT variable header up to the keep alive; `rest` follows (5.0: from the Property Length).
std::string connect_pkt(int level, int flags, const std::string& rest)
{
    return pkt(0x10, str("MQTT") + b({level, flags, 0x00, 0x3C}) + rest);
}
std::string connect_v3(int flags, const std::string& payload) { return connect_pkt(4, flags, payload); }
std::string connect_v5(int flags, const std::string& payload) { return connect_pkt(5, flags, b({0x00}) + payload); }

} // namespace

// ---- CONNECT ----------------------------------------------------------------------

TEST_CASE("CONNECT: MQTT 3.1's name or an unknown level is unsupported_protocol_version, any other name "
          "a protocol error [MQTT-3.1.2-1]",
    "[malformed][connect][v5][MQTT-3.1.2-1]")
{
    // MQTT 3.1: "MQIsdp" level 3.
    CHECK(decode_error(pkt(0x10, str("MQIsdp") + b({0x03, 0x02, 0x00, 0x3C}) + str("c")), v5) ==
        reason_code::unsupported_protocol_version);
    CHECK(decode_error(pkt(0x10, str("MQTX") + b({0x04, 0x02, 0x00, 0x3C}) + str("c")), v5) ==
        reason_code::protocol_error);
    CHECK(decode_error(pkt(0x10, str("mqtt") + b({0x05, 0x02, 0x00, 0x3C, 0x00}) + str("c")), v5) ==
        reason_code::protocol_error);
    for (int level : {0, 3, 6, 255}) {
        INFO("level " << level);
        CHECK(decode_error(connect_pkt(level, 0x02, b({0x00}) + str("c")), v5) ==
            reason_code::unsupported_protocol_version);
    }
    // Cut before the level: malformed.
    CHECK(decode_error(pkt(0x10, str("MQTT")), v5) == malformed);
    CHECK(decode_error(pkt(0x10, b({0x00, 0x04}) + "MQ"), v5) == malformed);
}

TEST_CASE("CONNECT 3.1.1: a CONNECT with an incorrect protocol name is not processed as MQTT 3.1.1 [MQTT-3.1.2-1]",
    "[malformed][connect][v311][MQTT-3.1.2-1]")
{
    // Otherwise a valid 3.1.1 CONNECT: it decodes with "MQTT", and with any other
    // name it is refused (0x01 for MQTT 3.1's name, a close for the others).
    CHECK(decode_error(connect_v3(0x02, str("c")), v3) == ok);
    CHECK(decode_error(pkt(0x10, str("MQIsdp") + b({0x04, 0x02, 0x00, 0x3C}) + str("c")), v3) ==
        reason_code::unsupported_protocol_version);
    for (std::string_view name : {"MQTT ", "MQT", "", "mqtt"}) {
        INFO(name);
        CHECK(decode_error(pkt(0x10, str(name) + b({0x04, 0x02, 0x00, 0x3C}) + str("c")), v3) ==
            reason_code::protocol_error);
    }
}

TEST_CASE("A server closes on a CONNECT that is not MQTT without answering, and answers MQTT 3.1 with "
          "CONNACK 0x01 [MQTT-3.1.2-1] [MQTT-3.1.2-2]",
    "[malformed][connect][session][MQTT-3.1.2-1][MQTT-3.1.2-2]")
{
    for (std::string_view name : {"MQTX", "mqtt"}) {
        INFO(name);
        server_session s;
        s.receive(pkt(0x10, str(name) + b({0x05, 0x02, 0x00, 0x3C, 0x00}) + str("c")), mqtt::test::t0());
        auto actions = mqtt::test::take(s);
        CHECK(mqtt::test::sent(actions).empty()); // no CONNACK a 5.0 client could misread
        CHECK(mqtt::test::closed(actions));
        CHECK(mqtt::test::only<connect_received>(actions).empty());
    }
    server_session s;
    s.receive(pkt(0x10, str("MQIsdp") + b({0x03, 0x02, 0x00, 0x3C}) + str("c")), mqtt::test::t0());
    auto actions = mqtt::test::take(s);
    auto acks = mqtt::test::sent_of<connack>(actions);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code == reason_code::unsupported_protocol_version);
    CHECK(mqtt::test::closed(actions));
}

TEST_CASE("CONNECT: the reserved flag must be 0 [MQTT-3.1.2-3]", "[malformed][connect][MQTT-3.1.2-3]")
{
    CHECK(decode_error(connect_v3(0x02, str("c")), v3) == ok);
    CHECK(decode_error(connect_v3(0x03, str("c")), v3) == malformed);
    CHECK(decode_error(connect_v5(0x02, str("c")), v5) == ok);
    CHECK(decode_error(connect_v5(0x03, str("c")), v5) == malformed);
}

TEST_CASE("CONNECT 3.1.1: Will Flag 0 requires Will QoS 0 and Will Retain 0 "
          "[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]",
    "[malformed][connect][v311][MQTT-3.1.2-11][MQTT-3.1.2-13][MQTT-3.1.2-15]")
{
    for (int flags : {0x0A, 0x12, 0x1A, 0x22}) { // will QoS 1, 2, 3, will retain; will flag 0
        INFO("flags " << flags);
        CHECK(decode_error(connect_v3(flags, str("c")), v3) == malformed);
    }
    CHECK(decode_ok(connect_v3(0x02, str("c")), v3) == packet(connect{v3, true, 60, "c", {}, {}, {}, {}}));
}

TEST_CASE("CONNECT 5.0: Will Flag 0 requires Will QoS 0 and Will Retain 0 [MQTT-3.1.2-11] [MQTT-3.1.2-13]",
    "[malformed][connect][v5][MQTT-3.1.2-11][MQTT-3.1.2-13]")
{
    for (int flags : {0x0A, 0x12, 0x1A, 0x22}) {
        INFO("flags " << flags);
        CHECK(decode_error(connect_v5(flags, str("c")), v5) == malformed);
    }
}

TEST_CASE("CONNECT 3.1.1: Will QoS 0, 1, 2 accepted, 3 malformed [MQTT-3.1.2-14]",
    "[malformed][connect][v311][MQTT-3.1.2-14]")
{
    CHECK(decode_error(connect_v3(0x1E, str("c") + str("t") + str("m")), v3) == malformed);
    for (int q = 0; q < 3; ++q) {
        auto c3 = decode_ok(connect_v3(0x06 | (q << 3), str("c") + str("t") + str("m")), v3);
        CHECK(std::get<connect>(c3).will->qos == static_cast<qos>(q));
    }
}

TEST_CASE("CONNECT 5.0: Will QoS 0, 1, 2 accepted, 3 malformed [MQTT-3.1.2-12]",
    "[malformed][connect][v5][MQTT-3.1.2-12]")
{
    CHECK(decode_error(connect_v5(0x1E, str("c") + b({0x00}) + str("t") + str("m")), v5) == malformed);
    for (int q = 0; q < 3; ++q) {
        auto c5 = decode_ok(connect_v5(0x06 | (q << 3), str("c") + b({0x00}) + str("t") + str("m")), v5);
        CHECK(std::get<connect>(c5).will->qos == static_cast<qos>(q));
    }
}

TEST_CASE("CONNECT 3.1.1: a password requires a user name [MQTT-3.1.2-22]", "[malformed][connect][v311][MQTT-3.1.2-22]")
{
    CHECK(decode_error(connect_v3(0x42, str("c") + str("pw")), v3) == malformed);
    CHECK(decode_error(connect_v3(0xC2, str("c") + str("u") + str("pw")), v3) == ok);
    CHECK(encode_error(connect{v3, true, 60, "c", std::nullopt, std::nullopt, std::string("pw"), {}}, v3) ==
        malformed);
}

TEST_CASE("CONNECT 3.1.1: flagged fields must be present, unflagged ones absent "
          "[MQTT-3.1.2-9] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.2-20] [MQTT-3.1.2-21] [MQTT-3.1.3-3]",
    "[malformed][connect][v311][MQTT-3.1.2-9][MQTT-3.1.2-18][MQTT-3.1.2-19][MQTT-3.1.2-20][MQTT-3.1.2-21]"
    "[MQTT-3.1.3-3]")
{
    // Flag set, field missing.
    CHECK(decode_error(connect_v3(0x06, str("c")), v3) == malformed);            // will topic
    CHECK(decode_error(connect_v3(0x06, str("c") + str("t")), v3) == malformed); // will message
    CHECK(decode_error(connect_v3(0x82, str("c")), v3) == malformed);            // user name
    CHECK(decode_error(connect_v3(0xC2, str("c") + str("u")), v3) == malformed); // password
    // Flag clear, field present: trailing bytes.
    CHECK(decode_error(connect_v3(0x02, str("c") + str("u")), v3) == malformed);
    CHECK(decode_error(connect_v3(0x82, str("c") + str("u") + str("pw")), v3) == malformed);
    // Client Identifier missing altogether.
    CHECK(decode_error(connect_v3(0x02, ""), v3) == malformed);
}

TEST_CASE("CONNECT 5.0: flagged fields must be present, unflagged ones absent "
          "[MQTT-3.1.2-9] [MQTT-3.1.2-16] [MQTT-3.1.2-17] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.3-3]",
    "[malformed][connect][v5][MQTT-3.1.2-9][MQTT-3.1.2-16][MQTT-3.1.2-17][MQTT-3.1.2-18][MQTT-3.1.2-19]"
    "[MQTT-3.1.3-3]")
{
    CHECK(decode_error(connect_v5(0x06, str("c")), v5) == malformed);                       // will properties
    CHECK(decode_error(connect_v5(0x06, str("c") + b({0x00})), v5) == malformed);           // will topic
    CHECK(decode_error(connect_v5(0x06, str("c") + b({0x00}) + str("t")), v5) == malformed); // will payload
    CHECK(decode_error(connect_v5(0x82, str("c")), v5) == malformed);                       // user name
    CHECK(decode_error(connect_v5(0x42, str("c")), v5) == malformed);                       // password
    CHECK(decode_error(connect_v5(0x02, str("c") + str("u")), v5) == malformed);
    CHECK(decode_error(connect_v5(0x82, str("c") + str("u") + str("pw")), v5) == malformed);
    CHECK(decode_error(connect_v5(0x02, ""), v5) == malformed);
}

namespace {
const std::string bad_utf8[] = {b({0xC3, 0x28}), b({0xED, 0xA0, 0x80}) /* U+D800 */, std::string("a\0b", 3),
    b({0xC0, 0xAF}) /* overlong */, b({0xF4, 0x90, 0x80, 0x80}) /* > U+10FFFF */, b({0xE2, 0x82})};
}

TEST_CASE("CONNECT 3.1.1: Client Identifier, Will Topic and User Name must be valid UTF-8 "
          "[MQTT-3.1.3-4] [MQTT-3.1.3-10] [MQTT-3.1.3-11] [MQTT-1.5.3-1] [MQTT-1.5.3-2]",
    "[malformed][connect][utf8][v311][MQTT-3.1.3-4][MQTT-3.1.3-10][MQTT-3.1.3-11][MQTT-1.5.3-1][MQTT-1.5.3-2]")
{
    for (const auto& s : bad_utf8) {
        INFO(codec_test::hex(s));
        CHECK(decode_error(connect_v3(0x02, str(s)), v3) == malformed);
        CHECK(decode_error(connect_v3(0x06, str("c") + str(s) + str("m")), v3) == malformed);
        CHECK(decode_error(connect_v3(0x82, str("c") + str(s)), v3) == malformed);
    }
    // Password and Will Message are binary data: any bytes.
    CHECK(decode_error(connect_v3(0xC6, str("c") + str("t") + str(bad_utf8[0]) + str("u") + str(bad_utf8[1])), v3) ==
        ok);
}

TEST_CASE("CONNECT 5.0: Client Identifier, Will Topic and User Name must be valid UTF-8 "
          "[MQTT-3.1.3-4] [MQTT-3.1.3-11] [MQTT-3.1.3-12] [MQTT-1.5.4-1] [MQTT-1.5.4-2]",
    "[malformed][connect][utf8][v5][MQTT-3.1.3-4][MQTT-3.1.3-11][MQTT-3.1.3-12][MQTT-1.5.4-1][MQTT-1.5.4-2]")
{
    for (const auto& s : bad_utf8) {
        INFO(codec_test::hex(s));
        CHECK(decode_error(connect_v5(0x02, str(s)), v5) == malformed);
        CHECK(decode_error(connect_v5(0x06, str("c") + b({0x00}) + str(s) + str("m")), v5) == malformed);
        CHECK(decode_error(connect_v5(0x82, str("c") + str(s)), v5) == malformed);
    }
    CHECK(decode_error(connect_v5(0x46, str("c") + b({0x00}) + str("t") + str(bad_utf8[0]) + str(bad_utf8[1])), v5) ==
        ok);
}

TEST_CASE("CONNECT: a Will Topic with wildcards is topic_name_invalid", "[malformed][connect]")
{
    CHECK(decode_error(connect_v3(0x06, str("c") + str("a/#") + str("m")), v3) == reason_code::topic_name_invalid);
    CHECK(decode_error(connect_v5(0x06, str("c") + b({0x00}) + str("+") + str("m")), v5) ==
        reason_code::topic_name_invalid);
}

TEST_CASE("CONNECT 5.0: invalid properties", "[malformed][connect][v5]")
{
    // Property Length past the end.
    CHECK(decode_error(connect_pkt(5, 0x02, b({0x05, 0x11})), v5) == malformed);
    // Topic Alias is not a CONNECT property.
    CHECK(decode_error(connect_pkt(5, 0x02, b({0x03, 0x23, 0x00, 0x01}) + str("c")), v5) == malformed);
    // Maximum Packet Size 0.
    CHECK(decode_error(connect_pkt(5, 0x02, b({0x05, 0x27, 0x00, 0x00, 0x00, 0x00}) + str("c")), v5) == protocol);
    // Request Problem Information 2.
    CHECK(decode_error(connect_pkt(5, 0x02, b({0x02, 0x17, 0x02}) + str("c")), v5) == protocol);
    // Will Delay Interval outside the Will Properties.
    CHECK(decode_error(connect_pkt(5, 0x02, b({0x05, 0x18, 0x00, 0x00, 0x00, 0x01}) + str("c")), v5) == malformed);
}

// ---- CONNACK ------------------------------------------------------------------------

TEST_CASE("CONNACK 3.1.1: reserved acknowledge flags must be 0", "[malformed][connack][v311]")
{
    for (int flags = 2; flags < 256; ++flags)
        CHECK(decode_error(b({0x20, 0x02, flags, 0x00}), v3) == malformed);
}

TEST_CASE("CONNACK 5.0: reserved acknowledge flags must be 0 [MQTT-3.2.2-1]", "[malformed][connack][v5][MQTT-3.2.2-1]")
{
    for (int flags = 2; flags < 256; ++flags)
        CHECK(decode_error(b({0x20, 0x03, flags, 0x00, 0x00}), v5) == malformed);
}

TEST_CASE("CONNACK 3.1.1: a refusal never has Session Present [MQTT-3.2.2-4]",
    "[malformed][connack][v311][MQTT-3.2.2-4]")
{
    for (int rc = 1; rc <= 5; ++rc)
        CHECK(decode_error(b({0x20, 0x02, 0x01, rc}), v3) == protocol);
}

TEST_CASE("CONNACK 5.0: a refusal never has Session Present [MQTT-3.2.2-6]", "[malformed][connack][v5][MQTT-3.2.2-6]")
{
    CHECK(decode_error(b({0x20, 0x03, 0x01, 0x87, 0x00}), v5) == protocol);
    CHECK(decode_error(b({0x20, 0x03, 0x01, 0x80, 0x00}), v5) == protocol);
}

TEST_CASE("CONNACK: return codes and reason codes must be defined for CONNACK [MQTT-3.2.2-8]",
    "[malformed][connack][MQTT-3.2.2-8]")
{
    for (int rc = 6; rc < 256; ++rc)
        CHECK(decode_error(b({0x20, 0x02, 0x00, rc}), v3) == malformed);
    for (int rc = 0; rc < 256; ++rc) {
        const bool allowed = reason_code_allowed(packet_type::connack, static_cast<reason_code>(rc));
        CHECK(decode_error(b({0x20, 0x03, 0x00, rc, 0x00}), v5) == (allowed ? ok : malformed));
    }
    CHECK_FALSE(reason_code_allowed(packet_type::connack, reason_code::granted_qos_1));
    CHECK(reason_code_allowed(packet_type::connack, reason_code::banned));
}

TEST_CASE("CONNACK: wrong lengths", "[malformed][connack]")
{
    CHECK(decode_error(b({0x20, 0x01, 0x00}), v3) == malformed);
    CHECK(decode_error(b({0x20, 0x03, 0x00, 0x00, 0x00}), v3) == malformed);
    CHECK(decode_error(b({0x20, 0x02, 0x00, 0x00}), v5) == malformed); // 5.0 needs the Property Length
}

// MQTT 5.0 properties: identifiers, data types, where each may appear, and the
// validation rules of spec 2.2.2 and the per-property sections.
#include <map>
#include <set>

#include "codec_test_support.hpp"
#include "mqtt/property.hpp"

using namespace mqtt;
using codec_test::decode_error;
using codec_test::decode_ok;
using test_vectors::b;

namespace {

constexpr auto v5 = protocol_version::v5;
constexpr auto pt_will = static_cast<packet_type>(0); // marks the Will Properties in the table below

// Spec 2.2.2.2 table, written out independently of the implementation.
const std::map<property_id, std::pair<property_type, std::set<packet_type>>>& spec_table()
{
    using pt = packet_type;
    using ty = property_type;
    static const std::map<property_id, std::pair<property_type, std::set<packet_type>>> t = {
        {property_id::payload_format_indicator, {ty::byte, {pt::publish, pt_will}}},
        {property_id::message_expiry_interval, {ty::four_byte_integer, {pt::publish, pt_will}}},
        {property_id::content_type, {ty::utf8_string, {pt::publish, pt_will}}},
        {property_id::response_topic, {ty::utf8_string, {pt::publish, pt_will}}},
        {property_id::correlation_data, {ty::binary_data, {pt::publish, pt_will}}},
        {property_id::subscription_identifier, {ty::variable_byte_integer, {pt::publish, pt::subscribe}}},
        {property_id::session_expiry_interval, {ty::four_byte_integer, {pt::connect, pt::connack, pt::disconnect}}},
        {property_id::assigned_client_identifier, {ty::utf8_string, {pt::connack}}},
        {property_id::server_keep_alive, {ty::two_byte_integer, {pt::connack}}},
        {property_id::authentication_method, {ty::utf8_string, {pt::connect, pt::connack, pt::auth}}},
        {property_id::authentication_data, {ty::binary_data, {pt::connect, pt::connack, pt::auth}}},
        {property_id::request_problem_information, {ty::byte, {pt::connect}}},
        {property_id::will_delay_interval, {ty::four_byte_integer, {pt_will}}},
        {property_id::request_response_information, {ty::byte, {pt::connect}}},
        {property_id::response_information, {ty::utf8_string, {pt::connack}}},
        {property_id::server_reference, {ty::utf8_string, {pt::connack, pt::disconnect}}},
        {property_id::reason_string, {ty::utf8_string, {pt::connack, pt::puback, pt::pubrec, pt::pubrel, pt::pubcomp,
                                                          pt::suback, pt::unsuback, pt::disconnect, pt::auth}}},
        {property_id::receive_maximum, {ty::two_byte_integer, {pt::connect, pt::connack}}},
        {property_id::topic_alias_maximum, {ty::two_byte_integer, {pt::connect, pt::connack}}},
        {property_id::topic_alias, {ty::two_byte_integer, {pt::publish}}},
        {property_id::maximum_qos, {ty::byte, {pt::connack}}},
        {property_id::retain_available, {ty::byte, {pt::connack}}},
        {property_id::user_property, {ty::utf8_string_pair,
                                         {pt::connect, pt::connack, pt::publish, pt_will, pt::puback, pt::pubrec,
                                             pt::pubrel, pt::pubcomp, pt::subscribe, pt::suback, pt::unsubscribe,
                                             pt::unsuback, pt::disconnect, pt::auth}}},
        {property_id::maximum_packet_size, {ty::four_byte_integer, {pt::connect, pt::connack}}},
        {property_id::wildcard_subscription_available, {ty::byte, {pt::connack}}},
        {property_id::subscription_identifier_available, {ty::byte, {pt::connack}}},
        {property_id::shared_subscription_available, {ty::byte, {pt::connack}}},
    };
    return t;
}

properties one(property_id id, std::uint32_t v)
{
    properties p;
    p.add(id, v);
    return p;
}
properties one(property_id id, std::string v)
{
    properties p;
    p.add(id, std::move(v));
    return p;
}

reason_code check(const properties& p, packet_type t, bool will = false)
{
    return to_reason_code(validate(p, t, will));
}

} // namespace

TEST_CASE("Property identifiers and their data types (2.2.2.2)", "[property]")
{
    REQUIRE(spec_table().size() == 27);
    for (const auto& [id, entry] : spec_table()) {
        INFO(to_string(id));
        CHECK(type_of(static_cast<std::uint8_t>(id)) == entry.first);
        CHECK(type_of(id) == entry.first);
        CHECK(to_string(id) != "Unknown property");
    }
    int known = 0;
    for (int i = 0; i < 256; ++i)
        if (type_of(static_cast<std::uint8_t>(i)))
            ++known;
    CHECK(known == 27);
    CHECK_FALSE(type_of(std::uint8_t{0x00}));
    CHECK_FALSE(type_of(std::uint8_t{0x04}));
    CHECK_FALSE(type_of(std::uint8_t{0x2B}));
    CHECK(to_string(property_id::maximum_packet_size) == "Maximum Packet Size");
}

TEST_CASE("property_allowed follows the spec table for every packet and the Will Properties", "[property]")
{
    for (const auto& [id, entry] : spec_table()) {
        for (int t = 1; t <= 15; ++t) {
            const auto type = static_cast<packet_type>(t);
            INFO(to_string(id) << " in " << to_string(type));
            CHECK(property_allowed(id, type) == (entry.second.count(type) == 1));
        }
        INFO(to_string(id) << " in Will Properties");
        CHECK(property_allowed(id, packet_type::connect, true) == (entry.second.count(pt_will) == 1));
    }
}

TEST_CASE("properties: add, set, remove, find and typed getters", "[property]")
{
    properties p;
    CHECK(p.empty());
    p.add(property_id::topic_alias, 3u);
    p.add_user_property("a", "1");
    p.add(property_id::content_type, std::string("json"));
    p.add_user_property("b", "2");
    p.add(property_id::subscription_identifier, 7u);
    p.add(property_id::subscription_identifier, 9u);
    CHECK(p.size() == 6);
    CHECK(p.get_integer(property_id::topic_alias) == 3u);
    CHECK_FALSE(p.get_string(property_id::topic_alias));
    CHECK(p.get_string(property_id::content_type) == std::string_view("json"));
    CHECK_FALSE(p.get_integer(property_id::content_type));
    CHECK_FALSE(p.get_integer(property_id::receive_maximum));
    CHECK(p.user_properties() == std::vector<string_pair>{{"a", "1"}, {"b", "2"}});
    CHECK(p.subscription_identifiers() == std::vector<std::uint32_t>{7, 9});

    // set() keeps the position of the first occurrence and drops the others.
    p.set(property_id::subscription_identifier, 11u);
    CHECK(p.subscription_identifiers() == std::vector<std::uint32_t>{11});
    CHECK(p.items()[4].id == property_id::subscription_identifier);
    p.set(property_id::content_type, std::string("xml"));
    CHECK(p.get_string(property_id::content_type) == std::string_view("xml"));
    p.set(property_id::receive_maximum, 5u);
    CHECK(p.items().back().id == property_id::receive_maximum);

    CHECK(p.remove(property_id::user_property) == 2);
    CHECK(p.user_properties().empty());
    CHECK(p.remove(property_id::user_property) == 0);
    CHECK(p.contains(property_id::topic_alias));
    CHECK(p.find(property_id::reason_string) == nullptr);
}

TEST_CASE("validate: a property not allowed in the packet is malformed", "[property][validate]")
{
    CHECK(check(one(property_id::topic_alias, 1u), packet_type::connack) == reason_code::malformed_packet);
    CHECK(check(one(property_id::will_delay_interval, 1u), packet_type::connect) == reason_code::malformed_packet);
    CHECK(check(one(property_id::will_delay_interval, 1u), packet_type::connect, true) == reason_code::success);
    CHECK(check(one(property_id::session_expiry_interval, 1u), packet_type::connect, true) ==
        reason_code::malformed_packet);
    CHECK(check(one(property_id::reason_string, std::string("x")), packet_type::publish) ==
        reason_code::malformed_packet);
}

TEST_CASE("validate: a value of the wrong data type or range is malformed", "[property][validate]")
{
    CHECK(check(one(property_id::topic_alias, std::string("x")), packet_type::publish) == reason_code::malformed_packet);
    CHECK(check(one(property_id::content_type, 1u), packet_type::publish) == reason_code::malformed_packet);
    CHECK(check(one(property_id::payload_format_indicator, 256u), packet_type::publish) ==
        reason_code::malformed_packet);
    CHECK(check(one(property_id::topic_alias, 65536u), packet_type::publish) == reason_code::malformed_packet);
    CHECK(check(one(property_id::subscription_identifier, 268'435'456u), packet_type::subscribe) ==
        reason_code::malformed_packet);
    CHECK(check(one(property_id::subscription_identifier, 268'435'455u), packet_type::subscribe) ==
        reason_code::success);
    properties up;
    up.items().push_back({property_id::user_property, std::string("not a pair")});
    CHECK(check(up, packet_type::publish) == reason_code::malformed_packet);
}

TEST_CASE("validate: UTF-8 string properties must be valid MQTT UTF-8 [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.7-1]",
    "[property][validate][MQTT-1.5.4-1][MQTT-1.5.4-2][MQTT-1.5.7-1]")
{
    CHECK(check(one(property_id::reason_string, b({0xC0, 0x80})), packet_type::puback) == reason_code::malformed_packet);
    CHECK(check(one(property_id::reason_string, b({0xED, 0xA0, 0x80})), packet_type::puback) ==
        reason_code::malformed_packet); // U+D800
    CHECK(check(one(property_id::reason_string, std::string("a\0b", 3)), packet_type::puback) ==
        reason_code::malformed_packet);
    // Binary data is not UTF-8 checked.
    CHECK(check(one(property_id::correlation_data, b({0xC0, 0x00})), packet_type::publish) == reason_code::success);

    properties name;
    name.add_user_property(b({0xFF}), "v");
    CHECK(check(name, packet_type::publish) == reason_code::malformed_packet);
    properties value;
    value.add_user_property("k", std::string("\0", 1));
    CHECK(check(value, packet_type::publish) == reason_code::malformed_packet);
}

TEST_CASE("validate: Content Type and Response Topic in PUBLISH are UTF-8 Encoded Strings [MQTT-3.3.2-19]",
    "[property][validate][publish][MQTT-3.3.2-19]")
{
    CHECK(check(one(property_id::content_type, "application/json; charset=\xC3\xA9"), packet_type::publish)
        == reason_code::success);
    CHECK(check(one(property_id::content_type, b({0xFF, 0xFE})), packet_type::publish) == reason_code::malformed_packet);
    CHECK(check(one(property_id::content_type, b({0xED, 0xA0, 0x80})), packet_type::publish)
        == reason_code::malformed_packet); // a surrogate
    CHECK(check(one(property_id::content_type, std::string("a\0b", 3)), packet_type::publish)
        == reason_code::malformed_packet);
}

TEST_CASE("validate: duplicates are a protocol error, except User Property and Subscription Identifier in PUBLISH",
    "[property][validate]")
{
    properties dup;
    dup.add(property_id::message_expiry_interval, 1u);
    dup.add(property_id::message_expiry_interval, 2u);
    CHECK(check(dup, packet_type::publish) == reason_code::protocol_error);

    properties users;
    users.add_user_property("a", "1");
    users.add_user_property("a", "2");
    CHECK(check(users, packet_type::publish) == reason_code::success);
    CHECK(check(users, packet_type::connect, true) == reason_code::success);

    properties subs;
    subs.add(property_id::subscription_identifier, 1u);
    subs.add(property_id::subscription_identifier, 2u);
    CHECK(check(subs, packet_type::publish) == reason_code::success);
    CHECK(check(subs, packet_type::subscribe) == reason_code::protocol_error);

    properties reasons;
    reasons.add(property_id::reason_string, std::string("a"));
    reasons.add(property_id::reason_string, std::string("b"));
    CHECK(check(reasons, packet_type::disconnect) == reason_code::protocol_error);
}

TEST_CASE("validate: zero is a protocol error for Receive Maximum, Maximum Packet Size, Topic Alias and "
          "Subscription Identifier",
    "[property][validate]")
{
    CHECK(check(one(property_id::receive_maximum, 0u), packet_type::connect) == reason_code::protocol_error);
    CHECK(check(one(property_id::receive_maximum, 0u), packet_type::connack) == reason_code::protocol_error);
    CHECK(check(one(property_id::maximum_packet_size, 0u), packet_type::connect) == reason_code::protocol_error);
    CHECK(check(one(property_id::topic_alias, 0u), packet_type::publish) == reason_code::protocol_error);
    CHECK(check(one(property_id::subscription_identifier, 0u), packet_type::subscribe) == reason_code::protocol_error);
    CHECK(check(one(property_id::subscription_identifier, 0u), packet_type::publish) == reason_code::protocol_error);
    // Zero is fine where the spec gives it a meaning.
    CHECK(check(one(property_id::topic_alias_maximum, 0u), packet_type::connect) == reason_code::success);
    CHECK(check(one(property_id::server_keep_alive, 0u), packet_type::connack) == reason_code::success);
    CHECK(check(one(property_id::session_expiry_interval, 0u), packet_type::disconnect) == reason_code::success);
    CHECK(check(one(property_id::receive_maximum, 1u), packet_type::connect) == reason_code::success);
}

TEST_CASE("validate: byte properties with a value other than 0 or 1 are a protocol error", "[property][validate]")
{
    const std::pair<property_id, packet_type> cases[] = {
        {property_id::payload_format_indicator, packet_type::publish},
        {property_id::request_problem_information, packet_type::connect},
        {property_id::request_response_information, packet_type::connect},
        {property_id::maximum_qos, packet_type::connack},
        {property_id::retain_available, packet_type::connack},
        {property_id::wildcard_subscription_available, packet_type::connack},
        {property_id::subscription_identifier_available, packet_type::connack},
        {property_id::shared_subscription_available, packet_type::connack},
    };
    for (auto [id, type] : cases) {
        INFO(to_string(id));
        CHECK(check(one(id, 0u), type) == reason_code::success);
        CHECK(check(one(id, 1u), type) == reason_code::success);
        CHECK(check(one(id, 2u), type) == reason_code::protocol_error);
        CHECK(check(one(id, 255u), type) == reason_code::protocol_error);
    }
    // In the Will Properties too.
    CHECK(check(one(property_id::payload_format_indicator, 2u), packet_type::connect, true) ==
        reason_code::protocol_error);
}

TEST_CASE("validate: Response Topic must be a Topic Name without wildcards [MQTT-3.3.2-13] [MQTT-3.3.2-14]",
    "[property][validate][MQTT-3.3.2-13][MQTT-3.3.2-14]")
{
    CHECK(check(one(property_id::response_topic, std::string("a/b")), packet_type::publish) == reason_code::success);
    CHECK(check(one(property_id::response_topic, std::string("a/+")), packet_type::publish) ==
        reason_code::protocol_error);
    CHECK(check(one(property_id::response_topic, std::string("#")), packet_type::connect, true) ==
        reason_code::protocol_error);
    CHECK(check(one(property_id::response_topic, b({0xFF})), packet_type::publish) == reason_code::malformed_packet);
}

TEST_CASE("validate: Authentication Data without Authentication Method is a protocol error", "[property][validate]")
{
    CHECK(check(one(property_id::authentication_data, std::string("x")), packet_type::connect) ==
        reason_code::protocol_error);
    properties both;
    both.add(property_id::authentication_data, std::string("x"));
    both.add(property_id::authentication_method, std::string("m"));
    CHECK(check(both, packet_type::connect) == reason_code::success);
}

// ---- properties on the wire -----------------------------------------------------

TEST_CASE("Decoding: an unknown property identifier is malformed", "[property][decode]")
{
    // PUBACK, reason 0x00, property length 2, identifier 0x04 (unassigned).
    CHECK(decode_error(b({0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00}), v5) == reason_code::malformed_packet);
    // An identifier written as a two-byte Variable Byte Integer is no known property either.
    CHECK(decode_error(b({0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x9F, 0x01, 0x00}), v5) ==
        reason_code::malformed_packet);
}

TEST_CASE("Decoding: property lengths must stay inside the packet", "[property][decode]")
{
    // Property Length says 5, only 2 bytes follow.
    CHECK(decode_error(b({0x40, 0x06, 0x00, 0x01, 0x00, 0x05, 0x1F, 0x00}), v5) == reason_code::malformed_packet);
    // Reason String length runs past the property block.
    CHECK(decode_error(b({0x40, 0x08, 0x00, 0x01, 0x00, 0x04, 0x1F, 0x00, 0x05, 0x61}), v5) ==
        reason_code::malformed_packet);
    // Four-byte integer cut short.
    CHECK(decode_error(b({0xE0, 0x05, 0x00, 0x03, 0x11, 0x00, 0x00}), v5) == reason_code::malformed_packet);
    // Subscription Identifier whose Variable Byte Integer never ends.
    CHECK(decode_error(b({0x82, 0x0C, 0x00, 0x01, 0x05, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x61, 0x00}), v5) ==
        reason_code::malformed_packet);
    // User Property with the value missing.
    CHECK(decode_error(b({0xE0, 0x07, 0x00, 0x05, 0x26, 0x00, 0x01, 0x61, 0x00}), v5) ==
        reason_code::malformed_packet);
}

TEST_CASE("Decoding: a property not valid for the packet type is malformed", "[property][decode]")
{
    // CONNACK with a Topic Alias.
    CHECK(decode_error(b({0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01}), v5) == reason_code::malformed_packet);
    // DISCONNECT with a Subscription Identifier.
    CHECK(decode_error(b({0xE0, 0x04, 0x00, 0x02, 0x0B, 0x01}), v5) == reason_code::malformed_packet);
    // CONNECT Will Properties with a Session Expiry Interval.
    const std::string connect_with_bad_will = b({0x10, 0x19, 0x00, 0x04}) + "MQTT" +
        b({0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01}) + "c" + b({0x05, 0x11, 0x00, 0x00, 0x00, 0x01}) +
        b({0x00, 0x01}) + "t" + b({0x00, 0x00});
    CHECK(decode_error(connect_with_bad_will, v5) == reason_code::malformed_packet);
}

TEST_CASE("Decoding: a duplicated property is a protocol error", "[property][decode]")
{
    // DISCONNECT with two Session Expiry Intervals.
    CHECK(decode_error(b({0xE0, 0x0C, 0x00, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00, 0x02}), v5) ==
        reason_code::protocol_error);
    // SUBSCRIBE with two Subscription Identifiers.
    CHECK(decode_error(b({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 0x61, 0x00}), v5) ==
        reason_code::protocol_error);
    // PUBLISH with two Subscription Identifiers is fine.
    auto p = decode_ok(b({0x30, 0x09, 0x00, 0x01, 0x74, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x78}), v5);
    CHECK(std::get<publish>(p).props.subscription_identifiers() == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("Decoding: property values out of range are protocol errors on the wire too", "[property][decode]")
{
    // CONNACK Maximum QoS 2.
    CHECK(decode_error(b({0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02}), v5) == reason_code::protocol_error);
    // CONNECT Receive Maximum 0.
    const std::string connect_rm0 = b({0x10, 0x10, 0x00, 0x04}) + "MQTT" +
        b({0x05, 0x02, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00, 0x00, 0x00});
    CHECK(decode_error(connect_rm0, v5) == reason_code::protocol_error);
    // PUBLISH Topic Alias 0 [MQTT-3.3.2-8].
    CHECK(decode_error(b({0x30, 0x08, 0x00, 0x01, 0x74, 0x03, 0x23, 0x00, 0x00, 0x78}), v5) ==
        reason_code::protocol_error);
}

TEST_CASE("Encoding: properties must be allowed and of their data type", "[property][encode]")
{
    puback a{1, reason_code::success, {}};
    a.props.add(property_id::topic_alias, 1u);
    CHECK(codec_test::encode_error(a, v5) == reason_code::malformed_packet);

    publish p;
    p.topic = buffer("t");
    p.props.add(property_id::topic_alias, std::string("x"));
    CHECK(codec_test::encode_error(p, v5) == reason_code::malformed_packet);
    p.props.clear();
    p.props.add(property_id::payload_format_indicator, 300u);
    CHECK(codec_test::encode_error(p, v5) == reason_code::malformed_packet);
    p.props.clear();
    p.props.add(property_id::content_type, std::string(65536, 'a'));
    CHECK(codec_test::encode_error(p, v5) == reason_code::malformed_packet);
    p.props.clear();
    p.props.add(property_id::subscription_identifier, 268'435'456u);
    CHECK(codec_test::encode_error(p, v5) == reason_code::malformed_packet);
    p.props.clear();
    p.props.add_user_property(std::string(65536, 'a'), "v");
    CHECK(codec_test::encode_error(p, v5) == reason_code::malformed_packet);
    p.props.clear();
    p.props.add(property_id::content_type, std::string(65535, 'a'));
    std::string out;
    CHECK_FALSE(encode(p, v5, out));
}

TEST_CASE("Encoding: the property rules of validate() hold for what we send", "[property][encode][v5]")
{
    publish p;
    p.topic = buffer("t");
    p.props.add(property_id::message_expiry_interval, 1u);
    p.props.add(property_id::message_expiry_interval, 2u);
    CHECK(codec_test::encode_error(p, v5) == reason_code::protocol_error); // duplicate
    p.props.clear();
    p.props.add(property_id::payload_format_indicator, 2u);
    CHECK(codec_test::encode_error(p, v5) == reason_code::protocol_error);
    connect c;
    c.props.add(property_id::receive_maximum, 0u);
    CHECK(codec_test::encode_error(c, v5) == reason_code::protocol_error);
    c.props.clear();
    c.props.add(property_id::authentication_data, std::string("d"));
    CHECK(codec_test::encode_error(c, v5) == reason_code::protocol_error);
    // 3.1.1 does not encode properties, so it does not check them.
    c.version = protocol_version::v3_1_1;
    CHECK(codec_test::encode_ok(c, protocol_version::v3_1_1).size() == 14);
}

TEST_CASE("A Topic Alias of 0 is never sent and never accepted [MQTT-3.3.2-8]", "[property][v5][MQTT-3.3.2-8]")
{
    publish p;
    p.topic = buffer("t");
    p.props.add(property_id::topic_alias, 0u);
    CHECK(codec_test::encode_error(p, v5) == reason_code::protocol_error);
    CHECK(decode_error(b({0x30, 0x07, 0x00, 0x01, 0x74, 0x03, 0x23, 0x00, 0x00}), v5) == reason_code::protocol_error);
    p.props.set(property_id::topic_alias, 1u);
    CHECK(std::get<publish>(decode_ok(codec_test::encode_ok(p, v5), v5)) == p);
}

TEST_CASE("Every Variable Byte Integer Subscription Identifier size round-trips", "[property][varint]")
{
    for (std::uint32_t id : {1u, 127u, 128u, 16'383u, 16'384u, 2'097'151u, 2'097'152u, 268'435'455u}) {
        subscribe s;
        s.packet_id = 1;
        s.props.add(property_id::subscription_identifier, id);
        s.subscriptions.push_back({"a", {}});
        auto bytes = codec_test::encode_ok(s, v5);
        CHECK(bytes.size() == 2 + 2 + 1 + 1 + variable_byte_integer_size(id) + 3 + 1);
        CHECK(std::get<subscribe>(decode_ok(bytes, v5)) == s);
    }
}

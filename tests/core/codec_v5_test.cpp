// MQTT 5.0: exact bytes of every control packet, every property, the short forms.
#include <set>

#include "codec_test_support.hpp"

using namespace mqtt;
using codec_test::check_vector;
using codec_test::decode_ok;
using codec_test::encode_ok;
using codec_test::hex;
using test_vectors::b;

namespace {
constexpr auto v5 = protocol_version::v5;

properties user(std::string k, std::string v)
{
    properties p;
    p.add_user_property(std::move(k), std::move(v));
    return p;
}
} // namespace

TEST_CASE("5.0 CONNECT minimal: zero Property Length [MQTT-2.2.2-1] [MQTT-3.1.3-3]",
    "[codec][v5][connect][MQTT-2.2.2-1][MQTT-3.1.3-3]")
{
    connect c;
    c.client_id = "c1";
    check_vector("v5/connect/minimal", c);
}

TEST_CASE("5.0 CONNECT with every CONNECT and Will property, fields in order "
          "[MQTT-3.1.3-1] [MQTT-3.1.2-9] [MQTT-3.1.2-17] [MQTT-3.1.2-19]",
    "[codec][v5][connect][properties][MQTT-3.1.3-1][MQTT-3.1.2-9][MQTT-3.1.2-17][MQTT-3.1.2-19]")
{
    connect c;
    c.clean_start = true;
    c.keep_alive = 30;
    c.client_id = "id";
    c.props.add(property_id::session_expiry_interval, 120u);
    c.props.add(property_id::receive_maximum, 20u);
    c.props.add(property_id::maximum_packet_size, 1024u);
    c.props.add(property_id::topic_alias_maximum, 10u);
    c.props.add(property_id::request_response_information, 1u);
    c.props.add(property_id::request_problem_information, 0u);
    c.props.add_user_property("k", "v");
    c.props.add(property_id::authentication_method, std::string("SCRAM"));
    c.props.add(property_id::authentication_data, b({0x01, 0x02}));
    will w;
    w.topic = buffer("w/t");
    w.payload = buffer("bye");
    w.qos = qos::exactly_once;
    w.retain = true;
    w.props.add(property_id::will_delay_interval, 5u);
    w.props.add(property_id::payload_format_indicator, 1u);
    w.props.add(property_id::message_expiry_interval, 60u);
    w.props.add(property_id::content_type, std::string("text/plain"));
    w.props.add(property_id::response_topic, std::string("r/t"));
    w.props.add(property_id::correlation_data, b({0xAB}));
    w.props.add_user_property("a", "b");
    c.will = w;
    c.username = "user";
    c.password = "pw";
    check_vector("v5/connect/full", c);

    // Typed getters see the decoded values.
    auto d = std::get<connect>(decode_ok(test_vectors::get("v5/connect/full").bytes, v5));
    CHECK(d.props.get_integer(property_id::maximum_packet_size) == 1024u);
    CHECK(d.props.get_string(property_id::authentication_method) == std::string_view("SCRAM"));
    CHECK(d.will->props.get_integer(property_id::will_delay_interval) == 5u);
    CHECK(d.will->props.user_properties() == std::vector<string_pair>{{"a", "b"}});
}

TEST_CASE("5.0 CONNECT: a password without a user name is allowed", "[codec][v5][connect]")
{
    connect c;
    c.client_id = "c";
    c.password = "pw";
    check_vector("v5/connect/password_only", c);
}

TEST_CASE("5.0 CONNACK: reason code, session present and every CONNACK property",
    "[codec][v5][connack][properties]")
{
    check_vector("v5/connack/minimal", connack{});
    check_vector("v5/connack/session_present", connack{true, reason_code::success, {}});
    check_vector("v5/connack/not_authorized", connack{false, reason_code::not_authorized, {}});

    connack a;
    a.props.add(property_id::session_expiry_interval, 60u);
    a.props.add(property_id::receive_maximum, 10u);
    a.props.add(property_id::maximum_qos, 1u);
    a.props.add(property_id::retain_available, 0u);
    a.props.add(property_id::maximum_packet_size, 65536u);
    a.props.add(property_id::assigned_client_identifier, std::string("abc"));
    a.props.add(property_id::topic_alias_maximum, 5u);
    a.props.add(property_id::reason_string, std::string("ok"));
    a.props.add_user_property("x", "y");
    a.props.add(property_id::wildcard_subscription_available, 1u);
    a.props.add(property_id::subscription_identifier_available, 1u);
    a.props.add(property_id::shared_subscription_available, 0u);
    a.props.add(property_id::server_keep_alive, 120u);
    a.props.add(property_id::response_information, std::string("resp"));
    a.props.add(property_id::server_reference, std::string("srv"));
    a.props.add(property_id::authentication_method, std::string("m"));
    a.props.add(property_id::authentication_data, std::string("d"));
    check_vector("v5/connack/full", a);
}

TEST_CASE("5.0 PUBLISH QoS 0 [MQTT-2.2.1-2] [MQTT-3.3.2-1]", "[codec][v5][publish][MQTT-2.2.1-2][MQTT-3.3.2-1]")
{
    publish p;
    p.topic = buffer("a/b");
    p.payload = buffer("hi");
    check_vector("v5/publish/qos0", p);
}

TEST_CASE("5.0 PUBLISH with every PUBLISH property, Subscription Identifier repeated",
    "[codec][v5][publish][properties]")
{
    publish p;
    p.topic = buffer("t");
    p.payload = buffer("data");
    p.qos = qos::at_least_once;
    p.retain = true;
    p.packet_id = 10;
    p.props.add(property_id::payload_format_indicator, 1u);
    p.props.add(property_id::message_expiry_interval, 10u);
    p.props.add(property_id::topic_alias, 1u);
    p.props.add(property_id::response_topic, std::string("r/t"));
    p.props.add(property_id::correlation_data, b({0x01, 0x02}));
    p.props.add_user_property("k", "v");
    p.props.add(property_id::subscription_identifier, 1u);
    p.props.add(property_id::subscription_identifier, 128u);
    p.props.add(property_id::content_type, std::string("json"));
    check_vector("v5/publish/qos1_props", p);

    auto d = std::get<publish>(decode_ok(test_vectors::get("v5/publish/qos1_props").bytes, v5));
    CHECK(d.props.subscription_identifiers() == std::vector<std::uint32_t>{1, 128});
}

TEST_CASE("5.0 PUBLISH QoS 2 with DUP, and an empty topic with a Topic Alias", "[codec][v5][publish]")
{
    publish p;
    p.topic = buffer("t");
    p.qos = qos::exactly_once;
    p.dup = true;
    p.packet_id = 0x1234;
    check_vector("v5/publish/qos2_dup", p);

    publish a;
    a.payload = buffer("p");
    a.props.add(property_id::topic_alias, 2u);
    check_vector("v5/publish/alias_only", a);
}

TEST_CASE("5.0 PUBLISH with a two-byte Remaining Length", "[codec][v5][publish]")
{
    publish p;
    p.topic = buffer("t");
    p.payload = buffer(std::string(200, 'x'));
    check_vector("v5/publish/two_byte_length", p);
}

TEST_CASE("5.0 PUBACK short forms: Remaining Length 2 and 3", "[codec][v5][puback]")
{
    check_vector("v5/puback/short", puback{10, reason_code::success, {}});
    check_vector("v5/puback/reason", puback{10, reason_code::no_matching_subscribers, {}});
    puback p{10, reason_code::unspecified_error, {}};
    p.props.add(property_id::reason_string, std::string("bad"));
    p.props.add_user_property("a", "b");
    check_vector("v5/puback/props", p);

    // Success written out in full (Remaining Length 4) decodes the same.
    auto d = decode_ok(b({0x40, 0x04, 0x00, 0x0A, 0x00, 0x00}), v5);
    CHECK(std::get<puback>(d) == puback{10, reason_code::success, {}});
}

TEST_CASE("5.0 PUBREC, PUBREL (flags 0010) and PUBCOMP [MQTT-3.6.1-1] [MQTT-2.1.3-1]",
    "[codec][v5][ack][MQTT-3.6.1-1][MQTT-2.1.3-1]")
{
    check_vector("v5/pubrec/short", pubrec{11, reason_code::success, {}});
    check_vector("v5/pubrec/reason", pubrec{11, reason_code::packet_identifier_in_use, {}});
    check_vector("v5/pubrel/short", pubrel{12, reason_code::success, {}});
    check_vector("v5/pubrel/not_found", pubrel{12, reason_code::packet_identifier_not_found, {}});
    check_vector("v5/pubcomp/short", pubcomp{13, reason_code::success, {}});
    pubcomp c{13, reason_code::success, {}};
    c.props.add(property_id::reason_string, std::string("ok"));
    check_vector("v5/pubcomp/props", c);
}

TEST_CASE("5.0 SUBSCRIBE (flags 0010) with subscription options and a Subscription Identifier [MQTT-3.8.1-1]",
    "[codec][v5][subscribe][MQTT-3.8.1-1]")
{
    subscribe s;
    s.packet_id = 1;
    s.props.add(property_id::subscription_identifier, 5u);
    s.props.add_user_property("a", "b");
    s.subscriptions.push_back({"a/+", {qos::at_least_once, true, true, retain_handling::send_if_new_subscription}});
    s.subscriptions.push_back({"$share/g/x", {qos::exactly_once, false, false, retain_handling::do_not_send}});
    check_vector("v5/subscribe", s);
}

TEST_CASE("5.0 SUBACK", "[codec][v5][suback]")
{
    suback s;
    s.packet_id = 1;
    s.props.add(property_id::reason_string, std::string("ok"));
    s.codes = {reason_code::granted_qos_1, reason_code::granted_qos_0, reason_code::quota_exceeded};
    check_vector("v5/suback", s);
    check_vector("v5/suback/no_props", suback{1, {reason_code::granted_qos_2}, {}});
}

TEST_CASE("5.0 UNSUBSCRIBE (flags 0010) [MQTT-3.10.1-1]", "[codec][v5][unsubscribe][MQTT-3.10.1-1]")
{
    unsubscribe u;
    u.packet_id = 2;
    u.props = user("a", "b");
    u.filters = {"a/+", "b"};
    check_vector("v5/unsubscribe", u);
}

TEST_CASE("5.0 UNSUBACK with reason codes", "[codec][v5][unsuback]")
{
    check_vector("v5/unsuback", unsuback{2, {reason_code::success, reason_code::no_subscription_existed}, {}});
    unsuback u{2, {reason_code::success, reason_code::no_subscription_existed}, {}};
    u.props.add(property_id::reason_string, std::string("ok"));
    check_vector("v5/unsuback/props", u);
}

TEST_CASE("5.0 PINGREQ and PINGRESP", "[codec][v5][ping]")
{
    check_vector("v5/pingreq", pingreq{});
    check_vector("v5/pingresp", pingresp{});
}

TEST_CASE("5.0 DISCONNECT: Remaining Length 0, reason only, and with properties", "[codec][v5][disconnect]")
{
    check_vector("v5/disconnect/normal", disconnect{});
    check_vector("v5/disconnect/with_will", disconnect{reason_code::disconnect_with_will_message, {}});
    disconnect d{reason_code::unspecified_error, {}};
    d.props.add(property_id::session_expiry_interval, 0u);
    d.props.add(property_id::reason_string, std::string("bye"));
    d.props.add(property_id::server_reference, std::string("s"));
    d.props.add_user_property("a", "b");
    check_vector("v5/disconnect/props", d);

    // Normal disconnection written out with an empty property block decodes the same.
    CHECK(std::get<disconnect>(decode_ok(b({0xE0, 0x02, 0x00, 0x00}), v5)) == disconnect{});
}

TEST_CASE("5.0 AUTH: Remaining Length 0 for Success, else reason code and properties", "[codec][v5][auth]")
{
    check_vector("v5/auth/success", auth{});
    auth a{reason_code::continue_authentication, {}};
    a.props.add(property_id::authentication_method, std::string("SCRAM"));
    a.props.add(property_id::authentication_data, b({0x01, 0x02, 0x03}));
    check_vector("v5/auth/continue", a);
    auth r{reason_code::reauthenticate, {}};
    r.props.add(property_id::authentication_method, std::string("m"));
    r.props.add(property_id::reason_string, std::string("r"));
    r.props.add_user_property("a", "b");
    check_vector("v5/auth/reauthenticate", r);

    // A reason code without properties keeps the Property Length byte.
    CHECK(hex(encode_ok(auth{reason_code::continue_authentication, {}}, v5)) == "F0 02 18 00 ");
}

TEST_CASE("Every 5.0 test vector decodes and re-encodes to the same bytes", "[codec][v5][roundtrip]")
{
    int count = 0;
    for (const auto& vec : test_vectors::all) {
        if (vec.version != v5)
            continue;
        INFO(vec.name);
        auto p = decode_ok(vec.bytes, v5);
        CHECK(hex(encode_ok(p, v5)) == hex(vec.bytes));
        ++count;
    }
    CHECK(count >= 30);
}

TEST_CASE("The 5.0 vectors carry all 27 properties", "[codec][v5][properties]")
{
    std::set<property_id> seen;
    for (const auto& vec : test_vectors::all) {
        if (vec.version != v5)
            continue;
        auto p = decode_ok(vec.bytes, v5);
        std::visit(
            [&](const auto& pkt) {
                if constexpr (requires { pkt.props; })
                    for (const auto& prop : pkt.props)
                        seen.insert(prop.id);
            },
            p);
        if (auto* c = std::get_if<connect>(&p); c && c->will)
            for (const auto& prop : c->will->props)
                seen.insert(prop.id);
    }
    CHECK(seen.size() == 27);
}

TEST_CASE("Encoding emits the minimum number of Remaining Length bytes [MQTT-1.5.5-1]",
    "[codec][v5][varint][MQTT-1.5.5-1]")
{
    const std::pair<std::uint32_t, std::string> cases[] = {{0, b({0x00})}, {127, b({0x7F})},
        {128, b({0x80, 0x01})}, {16'383, b({0xFF, 0x7F})}, {16'384, b({0x80, 0x80, 0x01})},
        {2'097'151, b({0xFF, 0xFF, 0x7F})}, {2'097'152, b({0x80, 0x80, 0x80, 0x01})},
        {268'435'455, b({0xFF, 0xFF, 0xFF, 0x7F})}};
    for (const auto& [value, bytes] : cases) {
        std::string out;
        encode_variable_byte_integer(value, out);
        CHECK(hex(out) == hex(bytes));
        CHECK(variable_byte_integer_size(value) == bytes.size());
    }

    // A PUBLISH of exactly 128 bytes of Remaining Length uses two bytes, 127 one.
    publish p;
    p.topic = buffer("t");
    p.payload = buffer(std::string(124, 'x')); // 3 + 1 + 124 = 128
    auto out = encode_ok(p, v5);
    CHECK(hex(out.substr(0, 3)) == "30 80 01 ");
    p.payload = buffer(std::string(123, 'x'));
    out = encode_ok(p, v5);
    CHECK(hex(out.substr(0, 2)) == "30 7F ");
}

TEST_CASE("encode_gather leaves the PUBLISH payload out and shares it", "[codec][v5][gather]")
{
    publish p;
    p.topic = buffer("a/b");
    p.payload = buffer(std::string(1000, 'z'));
    std::string header = "keep";
    auto payload = encode_gather(p, v5, header);
    REQUIRE(payload.has_value());
    CHECK(payload->data() == p.payload.data()); // same bytes, not a copy
    CHECK(payload->owner() == p.payload.owner());
    CHECK(header.substr(0, 4) == "keep");
    CHECK(header.size() == 4 + encoded_size(p, v5).value() - 1000);
    CHECK(header.substr(4) + payload->str() == encode_ok(p, v5));

    // Other packets come back with an empty payload.
    std::string h2;
    auto none = encode_gather(puback{1, reason_code::success, {}}, v5, h2);
    REQUIRE(none.has_value());
    CHECK(none->empty());
    CHECK(hex(h2) == "40 02 00 01 ");
}

TEST_CASE("encode appends to what the output already holds", "[codec][v5]")
{
    std::string out = "xy";
    REQUIRE_FALSE(encode(pingreq{}, v5, out));
    REQUIRE_FALSE(encode(pingresp{}, v5, out));
    CHECK(hex(out) == "78 79 C0 00 D0 00 ");
}

TEST_CASE("encode_gather writes the same bytes as encode for PUBLISH of every shape, and refuses the same ones",
    "[codec][gather]")
{
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        for (std::size_t topic_len : {0u, 1u, 7u, 300u}) {
            for (std::size_t payload_len : {0u, 5u, 120u, 130u, 20'000u}) {
                for (int q = 0; q <= 3; ++q) {
                    for (int flags = 0; flags < 4; ++flags) {
                        for (bool with_props : {false, true}) {
                            publish p;
                            p.topic = buffer(std::string(topic_len, 't'));
                            p.payload = buffer(std::string(payload_len, 'p'));
                            p.qos = static_cast<qos>(q);
                            p.retain = (flags & 1) != 0;
                            p.dup = (flags & 2) != 0;
                            p.packet_id = q == 0 ? 0 : 513;
                            if (with_props)
                                p.props.add(property_id::content_type, std::string("text/plain"));
                            INFO("v" << static_cast<int>(v) << " topic " << topic_len << " payload " << payload_len
                                     << " qos " << q << " flags " << flags << " props " << with_props);
                            std::string whole;
                            const auto ec = encode(p, v, whole);
                            std::string header = "x";
                            auto gathered = encode_gather(p, v, header);
                            REQUIRE(gathered.has_value() == !ec);
                            if (ec) {
                                CHECK(gathered.error() == ec);
                                CHECK(header == "x"); // nothing appended
                                continue;
                            }
                            CHECK(header.substr(1) + gathered->str() == whole);
                        }
                    }
                }
            }
        }
    }
}

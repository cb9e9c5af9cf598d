// MQTT 3.1.1: exact bytes of every control packet, both directions.
#include "codec_test_support.hpp"

using namespace mqtt;
using codec_test::check_vector;
using codec_test::decode_ok;
using codec_test::encode_ok;
using codec_test::hex;

namespace {
constexpr auto v3 = protocol_version::v3_1_1;
}

TEST_CASE("3.1.1 CONNECT: flags announce exactly the fields present [MQTT-3.1.2-18] [MQTT-3.1.2-20] [MQTT-3.1.3-3]",
    "[codec][v311][connect][MQTT-3.1.2-18][MQTT-3.1.2-20][MQTT-3.1.3-3]")
{
    connect c;
    c.version = v3;
    c.client_id = "c1";
    c.keep_alive = 60;
    c.clean_start = true;
    check_vector("v311/connect/minimal", c);
}

TEST_CASE("3.1.1 CONNECT with will, user name and password, in payload order "
          "[MQTT-3.1.3-1] [MQTT-3.1.2-9] [MQTT-3.1.2-19] [MQTT-3.1.2-21]",
    "[codec][v311][connect][MQTT-3.1.3-1][MQTT-3.1.2-9][MQTT-3.1.2-19][MQTT-3.1.2-21]")
{
    connect c;
    c.version = v3;
    c.clean_start = false;
    c.keep_alive = 300;
    c.client_id = "id";
    c.will = will{buffer("w/t"), buffer("bye"), qos::at_least_once, true, {}};
    c.username = "user";
    c.password = "pw";
    check_vector("v311/connect/full", c);
}

TEST_CASE("3.1.1 CONNECT: 5.0 properties are not encoded", "[codec][v311][connect]")
{
    connect c;
    c.version = v3;
    c.client_id = "c1";
    c.props.add(property_id::session_expiry_interval, 10u);
    CHECK(hex(encode_ok(c, v3)) == hex(test_vectors::get("v311/connect/minimal").bytes));
}

TEST_CASE("3.1.1 CONNACK return codes map to 5.0 reason codes", "[codec][v311][connack]")
{
    check_vector("v311/connack/accepted", connack{false, reason_code::success, {}});
    check_vector("v311/connack/session_present", connack{true, reason_code::success, {}});
    check_vector("v311/connack/not_authorized", connack{false, reason_code::not_authorized, {}});

    const std::pair<int, reason_code> table[] = {{0, reason_code::success},
        {1, reason_code::unsupported_protocol_version}, {2, reason_code::client_identifier_not_valid},
        {3, reason_code::server_unavailable}, {4, reason_code::bad_user_name_or_password},
        {5, reason_code::not_authorized}};
    for (auto [rc, code] : table) {
        const std::string bytes = test_vectors::b({0x20, 0x02, 0x00, rc});
        auto p = decode_ok(bytes, v3);
        CHECK(std::get<connack>(p).code == code);
        CHECK(hex(encode_ok(p, v3)) == hex(bytes));
    }
}

TEST_CASE("3.1.1 CONNACK: a 5.0-only reason code is sent as the nearest return code", "[codec][v311][connack]")
{
    CHECK(encode_ok(connack{false, reason_code::banned, {}}, v3) == test_vectors::b({0x20, 0x02, 0x00, 0x05}));
    CHECK(encode_ok(connack{false, reason_code::server_busy, {}}, v3) == test_vectors::b({0x20, 0x02, 0x00, 0x03}));
    CHECK(encode_ok(connack{false, reason_code::bad_authentication_method, {}}, v3) ==
        test_vectors::b({0x20, 0x02, 0x00, 0x04}));
}

TEST_CASE("3.1.1 PUBLISH QoS 0 carries no packet identifier [MQTT-2.3.1-5] [MQTT-3.3.2-1]",
    "[codec][v311][publish][MQTT-2.3.1-5][MQTT-3.3.2-1]")
{
    publish p;
    p.topic = buffer("a/b");
    p.payload = buffer("hi");
    check_vector("v311/publish/qos0", p);
}

TEST_CASE("3.1.1 PUBLISH QoS 1 and 2 carry the packet identifier [MQTT-2.3.1-1]",
    "[codec][v311][publish][MQTT-2.3.1-1]")
{
    publish p1;
    p1.topic = buffer("t");
    p1.payload = buffer("x");
    p1.qos = qos::at_least_once;
    p1.retain = true;
    p1.packet_id = 10;
    check_vector("v311/publish/qos1_retain", p1);

    publish p2;
    p2.topic = buffer("t");
    p2.qos = qos::exactly_once;
    p2.dup = true;
    p2.packet_id = 0x1234;
    check_vector("v311/publish/qos2_dup", p2);
}

TEST_CASE("3.1.1 PUBLISH with a two-byte Remaining Length", "[codec][v311][publish]")
{
    publish p;
    p.topic = buffer("t");
    p.payload = buffer(std::string(201, 'x'));
    check_vector("v311/publish/two_byte_length", p);
}

TEST_CASE("3.1.1 PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP [MQTT-3.6.1-1] [MQTT-2.2.2-1]",
    "[codec][v311][ack][MQTT-3.6.1-1][MQTT-2.2.2-1]")
{
    check_vector("v311/puback", puback{10, reason_code::success, {}});
    check_vector("v311/pubrec", pubrec{11, reason_code::success, {}});
    check_vector("v311/pubrel", pubrel{12, reason_code::success, {}});
    check_vector("v311/pubcomp", pubcomp{13, reason_code::success, {}});
}

TEST_CASE("3.1.1 acknowledgements drop 5.0 reason codes and properties", "[codec][v311][ack]")
{
    puback a{10, reason_code::no_matching_subscribers, {}};
    a.props.add(property_id::reason_string, std::string("r"));
    CHECK(hex(encode_ok(a, v3)) == hex(test_vectors::get("v311/puback").bytes));
    CHECK(hex(encode_ok(disconnect{reason_code::server_shutting_down, {}}, v3)) == "E0 00 ");
}

TEST_CASE("3.1.1 SUBSCRIBE (flags 0010) with requested QoS [MQTT-3.8.1-1]", "[codec][v311][subscribe][MQTT-3.8.1-1]")
{
    subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"a/+", {qos::at_least_once}});
    s.subscriptions.push_back({"b/#", {qos::exactly_once}});
    check_vector("v311/subscribe", s);
}

TEST_CASE("3.1.1 SUBSCRIBE: 5.0 subscription options are not encoded", "[codec][v311][subscribe]")
{
    subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"a/+", {qos::at_least_once, true, true, retain_handling::do_not_send}});
    s.subscriptions.push_back({"b/#", {qos::exactly_once}});
    CHECK(hex(encode_ok(s, v3)) == hex(test_vectors::get("v311/subscribe").bytes));
}

TEST_CASE("3.1.1 SUBACK return codes [MQTT-3.9.3-2]", "[codec][v311][suback][MQTT-3.9.3-2]")
{
    suback s;
    s.packet_id = 1;
    s.codes = {reason_code::granted_qos_1, reason_code::granted_qos_2, reason_code::unspecified_error};
    check_vector("v311/suback", s);

    // A 5.0 failure code is sent as 0x80: 3.1.1 has no other failure value.
    suback t = s;
    t.codes[2] = reason_code::not_authorized;
    CHECK(hex(encode_ok(t, v3)) == hex(test_vectors::get("v311/suback").bytes));
}

TEST_CASE("3.1.1 UNSUBSCRIBE (flags 0010) [MQTT-3.10.1-1]", "[codec][v311][unsubscribe][MQTT-3.10.1-1]")
{
    unsubscribe u;
    u.packet_id = 2;
    u.filters = {"a/+", "b"};
    check_vector("v311/unsubscribe", u);
}

TEST_CASE("3.1.1 UNSUBACK has no payload", "[codec][v311][unsuback]")
{
    check_vector("v311/unsuback", unsuback{2, {}, {}});
    unsuback with_codes{2, {reason_code::success, reason_code::no_subscription_existed}, {}};
    CHECK(hex(encode_ok(with_codes, v3)) == hex(test_vectors::get("v311/unsuback").bytes));
}

TEST_CASE("3.1.1 PINGREQ, PINGRESP and DISCONNECT", "[codec][v311][ping][disconnect]")
{
    check_vector("v311/pingreq", pingreq{});
    check_vector("v311/pingresp", pingresp{});
    check_vector("v311/disconnect", disconnect{});
}

TEST_CASE("3.1.1 AUTH cannot be encoded", "[codec][v311][auth]")
{
    CHECK(codec_test::encode_error(auth{}, v3) == reason_code::protocol_error);
}

TEST_CASE("Every 3.1.1 test vector decodes and re-encodes to the same bytes", "[codec][v311][roundtrip]")
{
    int count = 0;
    for (const auto& vec : test_vectors::all) {
        if (vec.version != v3)
            continue;
        INFO(vec.name);
        auto p = decode_ok(vec.bytes, v3);
        CHECK(hex(encode_ok(p, v3)) == hex(vec.bytes));
        ++count;
    }
    CHECK(count >= 19);
}

TEST_CASE("3.1.1 decoded CONNECT reports its protocol level", "[codec][v311][connect]")
{
    // Decoding a CONNECT ignores the version argument: the packet carries its own.
    auto p = decode_ok(test_vectors::get("v311/connect/minimal").bytes, protocol_version::v5);
    CHECK(std::get<connect>(p).version == v3);
}

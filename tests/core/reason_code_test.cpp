// Reason codes as error codes, their names, and the 3.1.1 CONNACK mapping.
#include <catch2/catch.hpp>

#include "mqtt/packet.hpp"
#include "mqtt/reason_code.hpp"

using namespace mqtt;

TEST_CASE("Reason codes are error codes of the mqtt.reason category", "[reason_code]")
{
    std::error_code ec = reason_code::packet_too_large;
    CHECK(ec.category() == reason_category());
    CHECK(std::string(ec.category().name()) == "mqtt.reason");
    CHECK(ec.value() == 0x95);
    CHECK(ec.message() == "Packet Too Large");
    CHECK(to_reason_code(ec) == reason_code::packet_too_large);
    CHECK(bool(ec));

    // Success converts to false; other codes below 0x80 are true but not errors.
    CHECK_FALSE(std::error_code(reason_code::success));
    CHECK(std::error_code(reason_code::granted_qos_1));
    CHECK_FALSE(is_error(reason_code::granted_qos_1));
    CHECK(is_error(reason_code::unspecified_error));
    CHECK(is_error(reason_code::wildcard_subscriptions_not_supported));

    CHECK(to_reason_code(std::error_code()) == reason_code::success);
    CHECK(to_reason_code(std::make_error_code(std::errc::io_error)) == reason_code::unspecified_error);
    CHECK(to_reason_code(make_error_code(errc::timeout)) == reason_code::unspecified_error);
}

TEST_CASE("Library errors are of the mqtt category", "[reason_code]")
{
    std::error_code ec = errc::connection_lost;
    CHECK(std::string(ec.category().name()) == "mqtt");
    CHECK(ec.category() == error_category());
    CHECK(ec.message() == "connection lost");
    CHECK(std::error_code(errc::message_expired).message() == "message expired");
    CHECK(ec != std::error_code(reason_code::unspecified_error));
}

TEST_CASE("Reason code names follow the spec", "[reason_code]")
{
    CHECK(to_string(reason_code::success) == "Success");
    CHECK(to_string(reason_code::malformed_packet) == "Malformed Packet");
    CHECK(to_string(reason_code::protocol_error) == "Protocol Error");
    CHECK(to_string(reason_code::topic_name_invalid) == "Topic Name invalid");
    CHECK(to_string(reason_code::unsupported_protocol_version) == "Unsupported Protocol Version");
    CHECK(to_string(reason_code::continue_authentication) == "Continue authentication");
    CHECK(to_string(static_cast<reason_code>(0x03)) == "Unknown reason code");
    CHECK(std::error_code(static_cast<reason_code>(0xFF)).message() == "Unknown reason code");
}

TEST_CASE("is_known_reason_code covers exactly the values the spec defines", "[reason_code]")
{
    int known = 0;
    for (int v = 0; v < 256; ++v) {
        if (is_known_reason_code(static_cast<std::uint8_t>(v))) {
            ++known;
            CHECK(to_string(static_cast<reason_code>(v)) != "Unknown reason code");
        } else {
            CHECK(to_string(static_cast<reason_code>(v)) == "Unknown reason code");
        }
    }
    CHECK(known == 8 + (0xA2 - 0x80 + 1)); // 0x00 0x01 0x02 0x04 0x10 0x11 0x18 0x19, 0x80..0xA2
}

TEST_CASE("Every reason code allowed in some packet is a known one", "[reason_code]")
{
    for (int t = 1; t <= 15; ++t)
        for (int v = 0; v < 256; ++v)
            if (reason_code_allowed(static_cast<packet_type>(t), static_cast<reason_code>(v)))
                CHECK(is_known_reason_code(static_cast<std::uint8_t>(v)));
    // Packets without a reason code allow none.
    for (auto t : {packet_type::connect, packet_type::publish, packet_type::subscribe, packet_type::unsubscribe,
             packet_type::pingreq, packet_type::pingresp})
        CHECK_FALSE(reason_code_allowed(t, reason_code::success));
}

TEST_CASE("3.1.1 CONNACK return codes map both ways", "[reason_code][v311]")
{
    const std::pair<connect_return_code, reason_code> pairs[] = {
        {connect_return_code::accepted, reason_code::success},
        {connect_return_code::unacceptable_protocol_version, reason_code::unsupported_protocol_version},
        {connect_return_code::identifier_rejected, reason_code::client_identifier_not_valid},
        {connect_return_code::server_unavailable, reason_code::server_unavailable},
        {connect_return_code::bad_user_name_or_password, reason_code::bad_user_name_or_password},
        {connect_return_code::not_authorized, reason_code::not_authorized},
    };
    for (auto [rc, code] : pairs) {
        CHECK(from_connect_return_code(rc) == code);
        CHECK(to_connect_return_code(code) == rc);
    }
    CHECK(from_connect_return_code(static_cast<connect_return_code>(6)) == reason_code::unspecified_error);
}

TEST_CASE("5.0-only CONNACK failures map to the nearest 3.1.1 return code", "[reason_code][v311]")
{
    using crc = connect_return_code;
    CHECK(to_connect_return_code(reason_code::banned) == crc::not_authorized);
    CHECK(to_connect_return_code(reason_code::server_busy) == crc::server_unavailable);
    CHECK(to_connect_return_code(reason_code::server_shutting_down) == crc::server_unavailable);
    CHECK(to_connect_return_code(reason_code::bad_authentication_method) == crc::bad_user_name_or_password);
    CHECK(to_connect_return_code(reason_code::unspecified_error) == crc::server_unavailable);
    CHECK(to_connect_return_code(reason_code::quota_exceeded) == crc::server_unavailable);
    CHECK(to_connect_return_code(reason_code::use_another_server) == crc::server_unavailable);
    // Every failure code maps to a refusal, never to "accepted".
    for (int v = 0x80; v <= 0xA2; ++v)
        CHECK(to_connect_return_code(static_cast<reason_code>(v)) != crc::accepted);
}

#include "mqtt/reason_code.hpp"

#include <string>

#include "mqtt/packet.hpp"

namespace mqtt {

std::string_view to_string(reason_code rc) noexcept
{
    switch (static_cast<std::uint8_t>(rc)) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet Too Large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return "Unknown reason code";
    }
}

bool is_known_reason_code(std::uint8_t value) noexcept
{
    switch (value) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x04:
    case 0x10:
    case 0x11:
    case 0x18:
    case 0x19:
        return true;
    default:
        return value >= 0x80 && value <= 0xA2; // every value of this range is defined
    }
}

bool reason_code_allowed(packet_type type, reason_code rc) noexcept
{
    const auto v = static_cast<std::uint8_t>(rc);
    switch (type) {
    case packet_type::connack: // 5.0 section 3.2.2.2
        switch (v) {
        case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86:
        case 0x87: case 0x88: case 0x89: case 0x8A: case 0x8C: case 0x90: case 0x95: case 0x97:
        case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D: case 0x9F:
            return true;
        default:
            return false;
        }
    case packet_type::puback: // 3.4.2.1
    case packet_type::pubrec: // 3.5.2.1
        switch (v) {
        case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91: case 0x97: case 0x99:
            return true;
        default:
            return false;
        }
    case packet_type::pubrel:  // 3.6.2.1
    case packet_type::pubcomp: // 3.7.2.1
        return v == 0x00 || v == 0x92;
    case packet_type::suback: // 3.9.3
        switch (v) {
        case 0x00: case 0x01: case 0x02: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91: case 0x97:
        case 0x9E: case 0xA1: case 0xA2:
            return true;
        default:
            return false;
        }
    case packet_type::unsuback: // 3.11.3
        switch (v) {
        case 0x00: case 0x11: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
            return true;
        default:
            return false;
        }
    case packet_type::disconnect: // 3.14.2.1
        switch (v) {
        case 0x00: case 0x04: case 0x80: case 0x81: case 0x82: case 0x83: case 0x87: case 0x89: case 0x8B:
        case 0x8D: case 0x8E: case 0x8F: case 0x90: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
        case 0x98: case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D: case 0x9E: case 0x9F: case 0xA0:
        case 0xA1: case 0xA2:
            return true;
        default:
            return false;
        }
    case packet_type::auth: // 3.15.2.1
        return v == 0x00 || v == 0x18 || v == 0x19;
    default:
        return false;
    }
}

namespace {

class reason_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "mqtt.reason"; }
    std::string message(int value) const override
    {
        if (value < 0 || value > 0xFF)
            return "Unknown reason code";
        return std::string(to_string(static_cast<reason_code>(value)));
    }
};

class errc_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "mqtt"; }
    std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::connection_lost: return "connection lost";
        case errc::not_connected: return "not connected";
        case errc::packet_id_exhausted: return "packet identifiers exhausted";
        case errc::cancelled: return "cancelled";
        case errc::queue_full: return "queue full";
        case errc::timeout: return "timed out";
        case errc::session_lost: return "session lost";
        case errc::connection_refused: return "connection refused";
        case errc::invalid_argument: return "invalid argument";
        case errc::message_expired: return "message expired";
        }
        return "unknown mqtt error";
    }
};

} // namespace

const std::error_category& reason_category() noexcept
{
    static const reason_category_impl instance;
    return instance;
}

const std::error_category& error_category() noexcept
{
    static const errc_category_impl instance;
    return instance;
}

reason_code to_reason_code(const std::error_code& ec) noexcept
{
    if (!ec)
        return reason_code::success;
    if (ec.category() == reason_category() && ec.value() >= 0 && ec.value() <= 0xFF)
        return static_cast<reason_code>(ec.value());
    return reason_code::unspecified_error;
}

connect_return_code to_connect_return_code(reason_code rc) noexcept
{
    switch (rc) {
    case reason_code::success:
        return connect_return_code::accepted;
    case reason_code::unsupported_protocol_version:
        return connect_return_code::unacceptable_protocol_version;
    case reason_code::client_identifier_not_valid:
        return connect_return_code::identifier_rejected;
    case reason_code::bad_user_name_or_password:
    case reason_code::bad_authentication_method:
        return connect_return_code::bad_user_name_or_password;
    case reason_code::not_authorized:
    case reason_code::banned:
        return connect_return_code::not_authorized;
    default:
        // server unavailable / busy / shutting down, and anything without a
        // closer 3.1.1 counterpart.
        return connect_return_code::server_unavailable;
    }
}

reason_code from_connect_return_code(connect_return_code rc) noexcept
{
    switch (rc) {
    case connect_return_code::accepted: return reason_code::success;
    case connect_return_code::unacceptable_protocol_version: return reason_code::unsupported_protocol_version;
    case connect_return_code::identifier_rejected: return reason_code::client_identifier_not_valid;
    case connect_return_code::server_unavailable: return reason_code::server_unavailable;
    case connect_return_code::bad_user_name_or_password: return reason_code::bad_user_name_or_password;
    case connect_return_code::not_authorized: return reason_code::not_authorized;
    }
    return reason_code::unspecified_error;
}

} // namespace mqtt

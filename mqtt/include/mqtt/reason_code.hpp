#pragma once
// MQTT 5.0 reason codes (spec 2.4) as std::error_code values, and the mapping to
// MQTT 3.1.1 CONNACK return codes. Codes below 0x80 are not errors: an
// error_code made from one of them converts to false only for 0x00, so use
// is_error() to test a reason code for failure.
#include <cstdint>
#include <string_view>
#include <system_error>

namespace mqtt {

enum class packet_type : std::uint8_t;

enum class reason_code : std::uint8_t {
    success = 0x00,
    normal_disconnection = 0x00,
    granted_qos_0 = 0x00,
    granted_qos_1 = 0x01,
    granted_qos_2 = 0x02,
    disconnect_with_will_message = 0x04,
    no_matching_subscribers = 0x10,
    no_subscription_existed = 0x11,
    continue_authentication = 0x18,
    reauthenticate = 0x19,
    unspecified_error = 0x80,
    malformed_packet = 0x81,
    protocol_error = 0x82,
    implementation_specific_error = 0x83,
    unsupported_protocol_version = 0x84,
    client_identifier_not_valid = 0x85,
    bad_user_name_or_password = 0x86,
    not_authorized = 0x87,
    server_unavailable = 0x88,
    server_busy = 0x89,
    banned = 0x8A,
    server_shutting_down = 0x8B,
    bad_authentication_method = 0x8C,
    keep_alive_timeout = 0x8D,
    session_taken_over = 0x8E,
    topic_filter_invalid = 0x8F,
    topic_name_invalid = 0x90,
    packet_identifier_in_use = 0x91,
    packet_identifier_not_found = 0x92,
    receive_maximum_exceeded = 0x93,
    topic_alias_invalid = 0x94,
    packet_too_large = 0x95,
    message_rate_too_high = 0x96,
    quota_exceeded = 0x97,
    administrative_action = 0x98,
    payload_format_invalid = 0x99,
    retain_not_supported = 0x9A,
    qos_not_supported = 0x9B,
    use_another_server = 0x9C,
    server_moved = 0x9D,
    shared_subscriptions_not_supported = 0x9E,
    connection_rate_exceeded = 0x9F,
    maximum_connect_time = 0xA0,
    subscription_identifiers_not_supported = 0xA1,
    wildcard_subscriptions_not_supported = 0xA2,
};

constexpr bool is_error(reason_code rc) noexcept { return static_cast<std::uint8_t>(rc) >= 0x80; }

// Human-readable name, e.g. "Packet Too Large"; "Unknown reason code" otherwise.
std::string_view to_string(reason_code rc) noexcept;

// True for the byte values the spec defines as reason codes (any packet).
bool is_known_reason_code(std::uint8_t value) noexcept;

// True when the 5.0 spec lists `rc` among the reason codes of a packet of `type`
// (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH);
// false for packet types that carry no reason code.
bool reason_code_allowed(packet_type type, reason_code rc) noexcept;

const std::error_category& reason_category() noexcept;
inline std::error_code make_error_code(reason_code rc) noexcept
{
    return {static_cast<int>(rc), reason_category()};
}

// The reason code an error carries, if it is from reason_category(); otherwise
// unspecified_error (or success for a default-constructed error_code).
reason_code to_reason_code(const std::error_code& ec) noexcept;

// MQTT 3.1.1 CONNACK return codes (3.1.1 section 3.2.2.3).
enum class connect_return_code : std::uint8_t {
    accepted = 0,
    unacceptable_protocol_version = 1,
    identifier_rejected = 2,
    server_unavailable = 3,
    bad_user_name_or_password = 4,
    not_authorized = 5,
};

// CONNACK in 3.1.1 carries a return code; in memory we always hold the 5.0 reason
// code. These map between the two (an unmappable 5.0 code becomes the nearest
// 3.1.1 one; an unknown 3.1.1 return code becomes nullopt-like unspecified_error).
connect_return_code to_connect_return_code(reason_code rc) noexcept;
reason_code from_connect_return_code(connect_return_code rc) noexcept;

// Errors of this library that are not MQTT reason codes.
enum class errc {
    connection_lost = 1,   // the network connection ended
    not_connected,         // the request needs an open connection/session
    packet_id_exhausted,   // every packet identifier is in flight
    cancelled,             // the request was cancelled (stop, clear session)
    queue_full,            // an outbound queue reached its bound
    timeout,               // an operation or keep alive timed out
    session_lost,          // the server had no session; state was discarded
    connection_refused,    // CONNACK carried a failure reason code
    invalid_argument,      // a request that can never be valid
    message_expired,       // Message Expiry Interval passed before it could be sent
};

const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

} // namespace mqtt

template <>
struct std::is_error_code_enum<mqtt::reason_code> : std::true_type {};
template <>
struct std::is_error_code_enum<mqtt::errc> : std::true_type {};

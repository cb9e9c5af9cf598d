#pragma once
// What asynchronous client operations complete with, and connection events.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "mqtt/packet.hpp"

namespace mqtt {

// A publish acknowledged by the broker: the reason code and properties of the
// PUBACK (QoS 1) or PUBCOMP (QoS 2; the PUBREC's when it refused). QoS 0: success
// once written. Codes below 0x80 only, e.g. no_matching_subscribers; a refusal
// completes with an error_code instead.
struct publish_result {
    reason_code code = reason_code::success;
    properties props;
};

// One reason code per filter, in request order (granted QoS or a failure code).
struct subscribe_result {
    std::vector<reason_code> codes;
    properties props;
};

// One reason code per filter for 5.0; 3.1.1 UNSUBACK carries none (codes empty).
struct unsubscribe_result {
    std::vector<reason_code> codes;
    properties props;
};

enum class connection_event_kind : std::uint8_t {
    connected,    // CONNACK success: session_present, props = CONNACK properties
    refused,      // CONNACK failure: reason = the CONNACK reason code
    disconnected, // the connection ended: reason (empty for our own clean close);
                  // props = the server's DISCONNECT properties if it sent one
    reconnecting, // the next attempt starts after `delay` (attempt counts failures)
    stopped,      // no more attempts: reason says why (cancelled after stop/disconnect)
};

std::string_view to_string(connection_event_kind kind) noexcept;

struct connection_event {
    connection_event_kind kind = connection_event_kind::connected;
    std::error_code reason;
    bool session_present = false;
    properties props;
    std::chrono::milliseconds delay{0};
    unsigned attempt = 0;
    // disconnected: the reason code of the server's DISCONNECT, when it sent one.
    std::optional<reason_code> server_reason;
};

} // namespace mqtt

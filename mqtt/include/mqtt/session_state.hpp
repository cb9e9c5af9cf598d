#pragma once
// The part of a session that must survive a reconnect (and, with a durable store,
// a crash): unacknowledged outgoing QoS 1/2 messages and PUBRELs in send order, and
// the QoS 2 packet ids received but not yet released. A plain value: save it,
// restore it, compare it.
#include <cstdint>
#include <string>
#include <vector>

#include "mqtt/packet.hpp"
#include "mqtt/result.hpp"

namespace mqtt {

enum class outgoing_stage : std::uint8_t {
    queued = 0,        // accepted, never sent (packet_id may be 0)
    awaiting_ack = 1,  // PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2)
    awaiting_comp = 2, // PUBREL sent; waiting for PUBCOMP (the PUBLISH is never resent)
};

struct outgoing_message {
    publish msg;
    outgoing_stage stage = outgoing_stage::queued;
    friend bool operator==(const outgoing_message&, const outgoing_message&) = default;
};

struct session_state {
    std::vector<outgoing_message> outgoing;   // in submission order
    std::vector<std::uint16_t> qos2_received; // PUBREC sent, PUBREL not yet received
    friend bool operator==(const session_state&, const session_state&) = default;
};

// A compact binary form of session_state for stores (versioned; 5.0 properties kept).
std::string serialize(const session_state& s);
result<session_state> deserialize_session_state(std::string_view bytes);

} // namespace mqtt

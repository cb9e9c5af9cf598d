#pragma once
// What the sans-I/O session core asks its driver (client library, broker, test)
// to do. The driver performs the actions in order.
#include <chrono>
#include <cstdint>
#include <system_error>
#include <variant>

#include "mqtt/packet.hpp"

namespace mqtt {

using clock = std::chrono::steady_clock;

enum class timer_id : std::uint8_t {
    keep_alive, // client: send PINGREQ / give up; server: 1.5x keep alive expiry
    retransmit, // 3.1.1 timed retransmission while connected (off by default)
};

// Encode and write this packet (in order with the other sends of this batch).
struct send_packet {
    packet pkt;
};

// Hand this application message to the user. With manual acknowledgment the user
// calls acknowledge(msg.packet_id, ...) once its side effect is committed.
struct deliver_message {
    publish msg;
};

// The final outcome of a publish request: ec empty and code < 0x80 when the peer
// acknowledged it (QoS 0: when it was handed to the transport); ec carrying the
// reason code when the peer rejected it; ec from mqtt::errc when it was dropped.
// Emitted only for requests made with a non-zero tag (tag 0: nobody waits, as for a
// broker's QoS 0 fan-out).
struct publish_done {
    std::uint64_t tag;
    std::error_code ec;
    reason_code code = reason_code::success;
    properties props; // of the PUBACK / PUBREC / PUBCOMP that ended the flow
};

struct subscribe_done {
    std::uint64_t tag;
    std::error_code ec; // errc::connection_lost when the SUBACK never came
    suback ack;
};

struct unsubscribe_done {
    std::uint64_t tag;
    std::error_code ec;
    unsuback ack;
};

// Client role: CONNACK with success arrived; the session is up.
struct connected {
    connack ack;
};

// Client role: CONNACK with a failure reason code arrived; close_connection follows.
struct connection_refused {
    connack ack;
};

// Server role: a CONNECT arrived; answer with accept(connack) (any reason code).
struct connect_received {
    connect pkt;
};

// Server role: a SUBSCRIBE / UNSUBSCRIBE arrived; answer with send_suback / send_unsuback.
struct subscribe_received {
    subscribe pkt;
};
struct unsubscribe_received {
    unsubscribe pkt;
};

// The peer sent DISCONNECT (5.0 reason and properties; 3.1.1 always success).
struct disconnect_received {
    disconnect pkt;
};

// The peer sent AUTH (enhanced authentication, 5.0).
struct auth_received {
    auth pkt;
};

// Arm (or re-arm) a timer; call timer_fired(id, now) when it expires.
struct set_timer {
    timer_id id;
    clock::time_point at;
};
struct cancel_timer {
    timer_id id;
};

// Close the network connection. `reason` says why: empty for a normal close, a
// reason_code for a protocol failure (any DISCONNECT / CONNACK telling the peer was
// already emitted as send_packet before this), or errc::timeout / connection_refused.
struct close_connection {
    std::error_code reason;
};

using action = std::variant<send_packet, deliver_message, publish_done, subscribe_done, unsubscribe_done,
    connected, connection_refused, connect_received, subscribe_received, unsubscribe_received, disconnect_received, auth_received,
    set_timer, cancel_timer, close_connection>;

} // namespace mqtt

#pragma once
// Everything a client is configured with: where to connect, the CONNECT packet,
// reconnection, and the session core's options (manual ack, offline queue bounds).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "mqtt/packet.hpp"
#include "mqtt/session.hpp"
#include "mqtt/transport/stream.hpp"

namespace mqtt {

class session_store;

// Enhanced authentication (5.0): called for each AUTH the server sends during the
// CONNECT exchange or a re-authentication. Return the AUTH to answer with (reason
// continue_authentication), or nullopt to give up (the client disconnects with
// not_authorized).
using auth_handler = std::function<std::optional<auth>(const auth& received)>;

struct connect_options {
    protocol_version version = protocol_version::v5;
    // Empty: the server assigns one (5.0: read from CONNACK and reused on reconnects;
    // 3.1.1 needs clean_start for that).
    std::string client_id;
    // Clean Start (5.0) / Clean Session (3.1.1) of the first CONNECT. Reconnects of a
    // 5.0 client with session_expiry > 0 always ask to resume (Clean Start 0).
    bool clean_start = true;
    std::uint32_t session_expiry = 0; // seconds (5.0); 0xFFFFFFFF = never expires
    std::uint16_t keep_alive = 60;    // seconds; 0 = off
    std::optional<std::string> username;
    std::optional<std::string> password;
    // Topic, payload, QoS, retain and, for 5.0, Will Properties (Will Delay Interval,
    // Message Expiry, Content Type, Response Topic, Correlation Data, user properties).
    std::optional<mqtt::will> will;
    std::uint16_t receive_maximum = 0;     // 0 = not sent (65535)
    std::uint32_t maximum_packet_size = 0; // 0 = not sent (no limit)
    std::uint16_t topic_alias_maximum = 0; // aliases the server may use towards us
    // More CONNECT properties (user properties, request problem/response information).
    properties props;
    // Enhanced authentication: method and initial data go into CONNECT.
    std::string authentication_method;
    std::string authentication_data;
    auth_handler on_auth;
    // From the start of the network connect to CONNACK.
    std::chrono::milliseconds connect_timeout{10'000};
};

struct reconnect_options {
    bool enabled = true;
    // Delay before attempt n (n = 0, 1, ...): uniform in [0, min(max_delay, initial_delay * 2^n)]
    // ("full jitter"); attempts stop after max_attempts failures in a row (0 = never).
    std::chrono::milliseconds initial_delay{250};
    std::chrono::milliseconds max_delay{30'000};
    unsigned max_attempts = 0;
    // A CONNACK refusing the client for a reason retrying cannot fix (bad user name or
    // password, not authorized, banned, bad authentication method, client identifier
    // not valid, unsupported protocol version) ends the attempts unless this is set.
    bool retry_on_refusal = false;
};

// When a QoS 1/2 publish completes (QoS 0 completes once queued on the connection).
enum class publish_completion {
    // At the broker's acknowledgment (PUBACK / PUBCOMP), with its reason code.
    acknowledged,
    // As soon as the message is in the store (client_options::store), before any
    // byte of it is sent: no error and reason_code::success. From then on the store
    // owns the message until the broker acknowledges it: it survives reconnects,
    // stop(), async_disconnect, giving up and crashes, and the next async_connect
    // (or a new client on the same store) sends it. Its later outcome is not
    // reported. If the store cannot save, the publish completes at the broker's
    // acknowledgment instead. Without a store this is the same as acknowledged.
    stored,
};

struct client_options {
    transport::endpoint endpoint;
    connect_options connect;
    reconnect_options reconnect;
    // QoS options of the session core: manual_ack, auto_topic_alias, the offline
    // queue bounds max_queued_messages / max_queued_bytes, retransmission (3.1.1).
    session_options session;
    // Where the session state survives this object (null: it lives in the client).
    // With a store, state changes are saved once per turn of the client's strand,
    // before the packets that depend on them are written.
    std::shared_ptr<session_store> store;
    publish_completion complete_publish = publish_completion::acknowledged;
    // Called with the error of a failed store load (from the client's constructor:
    // the store is then not used at all, so what it holds is never overwritten) or
    // save (on the client's strand: the client keeps running on its in-memory
    // state and saves again after the next change).
    std::function<void(std::error_code)> on_store_error;
    std::size_t read_buffer_size = 64 * 1024;
    // After a reconnect whose CONNACK says session present = 0, subscribe again to
    // every filter granted earlier (the broker forgot them with the session).
    bool resubscribe = true;

    // Sets `endpoint` from mqtt://, mqtts://, ws://, wss:// URLs (keeps the TLS
    // settings already in endpoint.tls). False with a message on a bad URL.
    bool set_url(std::string_view url, std::string& error);
};

// The CONNECT packet the options describe (used for every connection attempt).
connect make_connect_packet(const connect_options& options);

} // namespace mqtt

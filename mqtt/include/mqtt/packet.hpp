#pragma once
// One type per MQTT control packet, and the closed variant of them all. The same
// types serve MQTT 3.1.1 and 5.0: fields a version lacks (properties, reason
// codes) are left empty/success and are not encoded for 3.1.1.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mqtt/buffer.hpp"
#include "mqtt/property.hpp"
#include "mqtt/protocol_version.hpp"
#include "mqtt/reason_code.hpp"

namespace mqtt {

enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15,
};

std::string_view to_string(packet_type t) noexcept;

struct will {
    buffer topic;
    buffer payload;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    properties props; // 5.0 Will Properties
    friend bool operator==(const will&, const will&) = default;
};

struct connect {
    protocol_version version = protocol_version::v5;
    bool clean_start = true; // Clean Session in 3.1.1
    std::uint16_t keep_alive = 60;
    std::string client_id;
    std::optional<mqtt::will> will;
    std::optional<std::string> username;
    std::optional<std::string> password; // binary data
    properties props;
    friend bool operator==(const connect&, const connect&) = default;
};

struct connack {
    bool session_present = false;
    // 3.1.1 return codes are mapped to their 5.0 reason codes (see reason_code.hpp).
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const connack&, const connack&) = default;
};

struct publish {
    buffer topic;
    buffer payload;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0; // only for QoS 1 and 2
    properties props;
    friend bool operator==(const publish&, const publish&) = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
template <packet_type T>
struct publish_response {
    static constexpr packet_type type = T;
    std::uint16_t packet_id = 0;
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const publish_response&, const publish_response&) = default;
};
using puback = publish_response<packet_type::puback>;
using pubrec = publish_response<packet_type::pubrec>;
using pubrel = publish_response<packet_type::pubrel>;
using pubcomp = publish_response<packet_type::pubcomp>;

enum class retain_handling : std::uint8_t {
    send_on_subscribe = 0,
    send_if_new_subscription = 1,
    do_not_send = 2,
};

struct subscribe_options {
    mqtt::qos qos = qos::at_most_once;
    bool no_local = false;            // 5.0
    bool retain_as_published = false; // 5.0
    mqtt::retain_handling retain_handling = retain_handling::send_on_subscribe; // 5.0
    friend bool operator==(const subscribe_options&, const subscribe_options&) = default;
};

struct subscription {
    std::string filter;
    subscribe_options options;
    friend bool operator==(const subscription&, const subscription&) = default;
};

struct subscribe {
    std::uint16_t packet_id = 0;
    std::vector<subscription> subscriptions;
    properties props;
    friend bool operator==(const subscribe&, const subscribe&) = default;
};

struct suback {
    std::uint16_t packet_id = 0;
    std::vector<reason_code> codes; // 3.1.1: 0x00, 0x01, 0x02 or 0x80
    properties props;
    friend bool operator==(const suback&, const suback&) = default;
};

struct unsubscribe {
    std::uint16_t packet_id = 0;
    std::vector<std::string> filters;
    properties props;
    friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

struct unsuback {
    std::uint16_t packet_id = 0;
    std::vector<reason_code> codes; // 5.0 only; empty for 3.1.1
    properties props;
    friend bool operator==(const unsuback&, const unsuback&) = default;
};

struct pingreq {
    friend bool operator==(const pingreq&, const pingreq&) = default;
};
struct pingresp {
    friend bool operator==(const pingresp&, const pingresp&) = default;
};

struct disconnect {
    reason_code code = reason_code::normal_disconnection; // 5.0
    properties props;
    friend bool operator==(const disconnect&, const disconnect&) = default;
};

struct auth {
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const auth&, const auth&) = default;
};

using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
    unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

packet_type type_of(const packet& p) noexcept;

// Which packets each role may send (spec 2.1.2 "Direction of flow").
constexpr bool client_may_send(packet_type t) noexcept
{
    switch (t) {
    case packet_type::connack:
    case packet_type::suback:
    case packet_type::unsuback:
    case packet_type::pingresp:
        return false;
    default:
        return true;
    }
}
constexpr bool server_may_send(packet_type t) noexcept
{
    switch (t) {
    case packet_type::connect:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
    case packet_type::pingreq:
        return false;
    default:
        return true;
    }
}
constexpr bool may_send(role r, packet_type t) noexcept
{
    return r == role::client ? client_may_send(t) : server_may_send(t);
}

template <class P>
constexpr packet_type packet_type_of() noexcept
{
    constexpr auto index = []<std::size_t... I>(std::index_sequence<I...>) {
        std::size_t found = 0;
        ((found = std::is_same_v<P, std::variant_alternative_t<I, packet>> ? I : found), ...);
        return found;
    }(std::make_index_sequence<std::variant_size_v<packet>>{});
    return static_cast<packet_type>(index + 1);
}

} // namespace mqtt

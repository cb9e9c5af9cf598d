#include "mqtt/property.hpp"

#include <algorithm>

#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"
#include "property_codec.hpp"

namespace mqtt {

std::optional<property_type> type_of(std::uint8_t id) noexcept
{
    switch (static_cast<property_id>(id)) {
    case property_id::payload_format_indicator:
    case property_id::request_problem_information:
    case property_id::request_response_information:
    case property_id::maximum_qos:
    case property_id::retain_available:
    case property_id::wildcard_subscription_available:
    case property_id::subscription_identifier_available:
    case property_id::shared_subscription_available:
        return property_type::byte;
    case property_id::server_keep_alive:
    case property_id::receive_maximum:
    case property_id::topic_alias_maximum:
    case property_id::topic_alias:
        return property_type::two_byte_integer;
    case property_id::message_expiry_interval:
    case property_id::session_expiry_interval:
    case property_id::will_delay_interval:
    case property_id::maximum_packet_size:
        return property_type::four_byte_integer;
    case property_id::subscription_identifier:
        return property_type::variable_byte_integer;
    case property_id::content_type:
    case property_id::response_topic:
    case property_id::assigned_client_identifier:
    case property_id::authentication_method:
    case property_id::response_information:
    case property_id::server_reference:
    case property_id::reason_string:
        return property_type::utf8_string;
    case property_id::correlation_data:
    case property_id::authentication_data:
        return property_type::binary_data;
    case property_id::user_property:
        return property_type::utf8_string_pair;
    }
    return std::nullopt;
}

std::string_view to_string(property_id id) noexcept
{
    switch (id) {
    case property_id::payload_format_indicator: return "Payload Format Indicator";
    case property_id::message_expiry_interval: return "Message Expiry Interval";
    case property_id::content_type: return "Content Type";
    case property_id::response_topic: return "Response Topic";
    case property_id::correlation_data: return "Correlation Data";
    case property_id::subscription_identifier: return "Subscription Identifier";
    case property_id::session_expiry_interval: return "Session Expiry Interval";
    case property_id::assigned_client_identifier: return "Assigned Client Identifier";
    case property_id::server_keep_alive: return "Server Keep Alive";
    case property_id::authentication_method: return "Authentication Method";
    case property_id::authentication_data: return "Authentication Data";
    case property_id::request_problem_information: return "Request Problem Information";
    case property_id::will_delay_interval: return "Will Delay Interval";
    case property_id::request_response_information: return "Request Response Information";
    case property_id::response_information: return "Response Information";
    case property_id::server_reference: return "Server Reference";
    case property_id::reason_string: return "Reason String";
    case property_id::receive_maximum: return "Receive Maximum";
    case property_id::topic_alias_maximum: return "Topic Alias Maximum";
    case property_id::topic_alias: return "Topic Alias";
    case property_id::maximum_qos: return "Maximum QoS";
    case property_id::retain_available: return "Retain Available";
    case property_id::user_property: return "User Property";
    case property_id::maximum_packet_size: return "Maximum Packet Size";
    case property_id::wildcard_subscription_available: return "Wildcard Subscription Available";
    case property_id::subscription_identifier_available: return "Subscription Identifier Available";
    case property_id::shared_subscription_available: return "Shared Subscription Available";
    }
    return "Unknown property";
}

namespace {

// Bit n set: allowed in packet type n; bit 0: allowed in the Will Properties.
constexpr std::uint16_t bit(packet_type t) noexcept { return static_cast<std::uint16_t>(1u << static_cast<unsigned>(t)); }
constexpr std::uint16_t will_bit = 1;

constexpr std::uint16_t allowed_mask(property_id id) noexcept
{
    using pt = packet_type;
    switch (id) {
    case property_id::payload_format_indicator:
    case property_id::message_expiry_interval:
    case property_id::content_type:
    case property_id::response_topic:
    case property_id::correlation_data:
        return bit(pt::publish) | will_bit;
    case property_id::subscription_identifier:
        return bit(pt::publish) | bit(pt::subscribe);
    case property_id::session_expiry_interval:
        return bit(pt::connect) | bit(pt::connack) | bit(pt::disconnect);
    case property_id::assigned_client_identifier:
    case property_id::server_keep_alive:
    case property_id::response_information:
    case property_id::maximum_qos:
    case property_id::retain_available:
    case property_id::wildcard_subscription_available:
    case property_id::subscription_identifier_available:
    case property_id::shared_subscription_available:
        return bit(pt::connack);
    case property_id::authentication_method:
    case property_id::authentication_data:
        return bit(pt::connect) | bit(pt::connack) | bit(pt::auth);
    case property_id::request_problem_information:
    case property_id::request_response_information:
        return bit(pt::connect);
    case property_id::will_delay_interval:
        return will_bit;
    case property_id::server_reference:
        return bit(pt::connack) | bit(pt::disconnect);
    case property_id::reason_string:
        return bit(pt::connack) | bit(pt::puback) | bit(pt::pubrec) | bit(pt::pubrel) | bit(pt::pubcomp) |
            bit(pt::suback) | bit(pt::unsuback) | bit(pt::disconnect) | bit(pt::auth);
    case property_id::receive_maximum:
    case property_id::topic_alias_maximum:
    case property_id::maximum_packet_size:
        return bit(pt::connect) | bit(pt::connack);
    case property_id::topic_alias:
        return bit(pt::publish);
    case property_id::user_property:
        return static_cast<std::uint16_t>(0xFFFFu & ~(unsigned{bit(pt::pingreq)} | unsigned{bit(pt::pingresp)}));
    }
    return 0;
}

bool integer_in_range(property_type t, std::uint32_t v) noexcept
{
    switch (t) {
    case property_type::byte: return v <= 0xFF;
    case property_type::two_byte_integer: return v <= 0xFFFF;
    case property_type::four_byte_integer: return true;
    case property_type::variable_byte_integer: return v <= max_remaining_length;
    default: return false;
    }
}

} // namespace

bool property_allowed(property_id id, packet_type type, bool will) noexcept
{
    const auto mask = allowed_mask(id);
    if (will)
        return type == packet_type::connect && (mask & will_bit) != 0;
    return (mask & bit(type)) != 0;
}

const std::vector<property>& properties::no_items() noexcept
{
    static const std::vector<property> none;
    return none;
}

void properties::set(property_id id, std::uint32_t v)
{
    auto& list = vec();
    auto it = std::find_if(list.begin(), list.end(), [id](const property& p) { return p.id == id; });
    if (it == list.end()) {
        add(id, v);
        return;
    }
    it->value = v;
    list.erase(std::remove_if(it + 1, list.end(), [id](const property& p) { return p.id == id; }), list.end());
}

void properties::set(property_id id, std::string v)
{
    auto& list = vec();
    auto it = std::find_if(list.begin(), list.end(), [id](const property& p) { return p.id == id; });
    if (it == list.end()) {
        add(id, std::move(v));
        return;
    }
    it->value = std::move(v);
    list.erase(std::remove_if(it + 1, list.end(), [id](const property& p) { return p.id == id; }), list.end());
}

std::size_t properties::remove(property_id id)
{
    if (empty())
        return 0;
    auto& list = *items_;
    const auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [id](const property& p) { return p.id == id; }), list.end());
    return before - list.size();
}

const property* properties::find(property_id id) const noexcept
{
    for (const auto& p : items())
        if (p.id == id)
            return &p;
    return nullptr;
}

std::optional<std::uint32_t> properties::get_integer(property_id id) const noexcept
{
    const auto* p = find(id);
    if (p == nullptr)
        return std::nullopt;
    if (const auto* v = std::get_if<std::uint32_t>(&p->value))
        return *v;
    return std::nullopt;
}

std::optional<std::string_view> properties::get_string(property_id id) const noexcept
{
    const auto* p = find(id);
    if (p == nullptr)
        return std::nullopt;
    if (const auto* v = std::get_if<std::string>(&p->value))
        return std::string_view(*v);
    return std::nullopt;
}

std::vector<string_pair> properties::user_properties() const
{
    std::vector<string_pair> out;
    for (const auto& p : items())
        if (p.id == property_id::user_property)
            if (const auto* v = std::get_if<string_pair>(&p.value))
                out.push_back(*v);
    return out;
}

std::vector<std::uint32_t> properties::subscription_identifiers() const
{
    std::vector<std::uint32_t> out;
    for (const auto& p : items())
        if (p.id == property_id::subscription_identifier)
            if (const auto* v = std::get_if<std::uint32_t>(&p.value))
                out.push_back(*v);
    return out;
}

namespace detail {

std::error_code check_properties(const properties& props, packet_type type, bool will, bool check_text)
{
    const auto malformed = make_error_code(reason_code::malformed_packet);
    const auto protocol = make_error_code(reason_code::protocol_error);
    auto bad_string = [check_text](const std::string& s) {
        return check_text ? static_cast<bool>(validate_utf8_string(s)) : s.size() > 0xFFFF;
    };
    std::uint64_t seen = 0; // bit per identifier (all identifiers are below 64)
    bool has_auth_method = false;
    bool has_auth_data = false;

    for (const auto& p : props) {
        const auto raw = static_cast<std::uint8_t>(p.id);
        const auto t = type_of(raw);
        // An identifier not valid for the packet, or a value not of the specified
        // data type, is a Malformed Packet (2.2.2.2).
        if (!t || !property_allowed(p.id, type, will))
            return malformed;

        switch (*t) {
        case property_type::utf8_string: {
            const auto* s = std::get_if<std::string>(&p.value);
            if (s == nullptr || bad_string(*s))
                return malformed;
            break;
        }
        case property_type::binary_data: {
            const auto* s = std::get_if<std::string>(&p.value);
            if (s == nullptr || s->size() > 0xFFFF)
                return malformed;
            break;
        }
        case property_type::utf8_string_pair: {
            const auto* s = std::get_if<string_pair>(&p.value);
            if (s == nullptr || bad_string(s->name) || bad_string(s->value)) // [MQTT-1.5.7-1]
                return malformed;
            break;
        }
        default: {
            const auto* v = std::get_if<std::uint32_t>(&p.value);
            if (v == nullptr || !integer_in_range(*t, *v))
                return malformed;
            break;
        }
        }

        // No duplicates, except User Property and Subscription Identifier in PUBLISH.
        const auto mask = std::uint64_t{1} << raw;
        const bool repeatable = p.id == property_id::user_property ||
            (p.id == property_id::subscription_identifier && type == packet_type::publish && !will);
        if ((seen & mask) != 0 && !repeatable)
            return protocol;
        seen |= mask;

        const auto* iv = std::get_if<std::uint32_t>(&p.value);
        switch (p.id) {
        case property_id::payload_format_indicator:
        case property_id::request_problem_information:
        case property_id::request_response_information:
        case property_id::maximum_qos:
        case property_id::retain_available:
        case property_id::wildcard_subscription_available:
        case property_id::subscription_identifier_available:
        case property_id::shared_subscription_available:
            if (*iv > 1)
                return protocol;
            break;
        case property_id::receive_maximum:
        case property_id::maximum_packet_size:
        case property_id::topic_alias: // [MQTT-3.3.2-8]
        case property_id::subscription_identifier:
            if (*iv == 0)
                return protocol;
            break;
        case property_id::response_topic:
            // [MQTT-3.3.2-14]: a Topic Name, so no wildcards and not empty.
            if (check_text && validate_topic_name(std::get<std::string>(p.value)))
                return protocol;
            break;
        case property_id::authentication_method:
            has_auth_method = true;
            break;
        case property_id::authentication_data:
            has_auth_data = true;
            break;
        default:
            break;
        }
    }
    // Authentication Data without an Authentication Method (3.1.2.11.10).
    if (has_auth_data && !has_auth_method)
        return protocol;
    return {};
}

} // namespace detail

std::error_code validate(const properties& props, packet_type type, bool will)
{
    return detail::check_properties(props, type, will, true);
}

} // namespace mqtt

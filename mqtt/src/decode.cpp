// Packet decoding. Every read is bounds-checked (detail::reader); every error
// is a value carrying the reason code the spec assigns to the violation.
#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"
#include "property_codec.hpp"
#include "wire.hpp"

namespace mqtt {

namespace {

using detail::reader;

std::error_code malformed() noexcept { return make_error_code(reason_code::malformed_packet); }
std::error_code protocol_error() noexcept { return make_error_code(reason_code::protocol_error); }

bool is_v5(protocol_version v) noexcept { return v == protocol_version::v5; }

// A view of `part` (which lies inside body) sharing body's owner.
buffer view_of(const buffer& body, std::string_view part)
{
    return body.substr(static_cast<std::size_t>(part.data() - body.data()), part.size());
}

// A length-prefixed UTF-8 Encoded String [MQTT-1.5.3-1], [MQTT-1.5.3-2] / [MQTT-1.5.4-1], [MQTT-1.5.4-2].
std::error_code read_utf8(reader& r, std::string_view& out)
{
    if (!r.prefixed(out) || validate_utf8_string(out))
        return malformed();
    return {};
}

std::error_code read_packet_id(reader& r, std::uint16_t& id)
{
    // SUBSCRIBE, UNSUBSCRIBE, PUBLISH with QoS > 0 and their acknowledgements all
    // carry a non-zero identifier [MQTT-2.3.1-1] / [MQTT-2.2.1-3].
    if (!r.u16(id) || id == 0)
        return malformed();
    return {};
}

// ---- CONNECT (decoded whatever the connection's version: it carries its own)

result<packet> decode_connect(const buffer& body)
{
    reader r(body.view());
    std::string_view name;
    std::uint8_t level = 0;
    if (!r.prefixed(name) || !r.u8(level))
        return malformed();
    // Not MQTT at all: the server closes without an answer, since it cannot know
    // which CONNACK form the peer would read [MQTT-3.1.2-1].
    if (name != "MQTT" && name != "MQIsdp")
        return make_error_code(reason_code::protocol_error);
    // An unsupported level (or MQTT 3.1's "MQIsdp") gets CONNACK 0x01 in the
    // 3.1.1 form, which 3.1 clients read too [MQTT-3.1.2-2].
    if (name != "MQTT" || (level != 4 && level != 5))
        return make_error_code(reason_code::unsupported_protocol_version);

    connect c;
    c.version = static_cast<protocol_version>(level);
    const bool v5 = is_v5(c.version);

    std::uint8_t flags = 0;
    if (!r.u8(flags) || !r.u16(c.keep_alive))
        return malformed();
    if ((flags & 0x01u) != 0)
        return malformed(); // reserved flag [MQTT-3.1.2-3]
    c.clean_start = (flags & 0x02u) != 0;
    const bool has_will = (flags & 0x04u) != 0;
    const auto will_qos = static_cast<unsigned>((flags >> 3) & 0x03u);
    const bool will_retain = (flags & 0x20u) != 0;
    const bool has_password = (flags & 0x40u) != 0;
    const bool has_username = (flags & 0x80u) != 0;
    if (!has_will && (will_qos != 0 || will_retain))
        return malformed(); // 3.1.1 [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]; 5.0 [MQTT-3.1.2-11], [MQTT-3.1.2-13]
    if (will_qos == 3)
        return malformed(); // 3.1.1 [MQTT-3.1.2-14]
    if (!v5 && has_password && !has_username)
        return malformed(); // 3.1.1 [MQTT-3.1.2-22]

    if (v5)
        if (auto ec = detail::read_properties(r, c.props, packet_type::connect))
            return ec;

    std::string_view client_id;
    if (auto ec = read_utf8(r, client_id)) // [MQTT-3.1.3-3], [MQTT-3.1.3-4]
        return ec;
    c.client_id = std::string(client_id);

    if (has_will) {
        mqtt::will w;
        w.qos = static_cast<qos>(will_qos);
        w.retain = will_retain;
        if (v5)
            if (auto ec = detail::read_properties(r, w.props, packet_type::connect, true))
                return ec;
        std::string_view topic;
        std::string_view payload;
        if (auto ec = read_utf8(r, topic))
            return ec;
        if (validate_topic_name(topic))
            return make_error_code(reason_code::topic_name_invalid);
        if (!r.prefixed(payload))
            return malformed();
        w.topic = view_of(body, topic);
        w.payload = view_of(body, payload);
        c.will = std::move(w);
    }
    if (has_username) {
        std::string_view s;
        if (auto ec = read_utf8(r, s))
            return ec;
        c.username = std::string(s);
    }
    if (has_password) {
        std::string_view s;
        if (!r.prefixed(s))
            return malformed();
        c.password = std::string(s);
    }
    if (!r.empty())
        return malformed();
    return packet(std::move(c));
}

// ---- the others -----------------------------------------------------------------

result<packet> decode_connack(reader& r, protocol_version v)
{
    std::uint8_t flags = 0;
    std::uint8_t code = 0;
    if (!r.u8(flags) || !r.u8(code))
        return malformed();
    if ((flags & 0xFEu) != 0)
        return malformed(); // [MQTT-3.2.2-1]
    connack c;
    c.session_present = (flags & 0x01u) != 0;
    if (is_v5(v)) {
        c.code = static_cast<reason_code>(code);
        if (!reason_code_allowed(packet_type::connack, c.code))
            return malformed();
        if (auto ec = detail::read_properties(r, c.props, packet_type::connack))
            return ec;
    } else {
        if (code > 5)
            return malformed(); // reserved return code
        c.code = from_connect_return_code(static_cast<connect_return_code>(code));
    }
    if (!r.empty())
        return malformed();
    // A refusal never says a session is present: 3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6].
    if (c.session_present && c.code != reason_code::success)
        return protocol_error();
    return packet(std::move(c));
}

result<packet> decode_publish(std::uint8_t flags, const buffer& body, reader& r, protocol_version v)
{
    publish p;
    const auto q = static_cast<unsigned>((flags >> 1) & 0x03u);
    if (q == 3)
        return malformed(); // [MQTT-3.3.1-4]
    p.qos = static_cast<qos>(q);
    p.dup = (flags & 0x08u) != 0;
    p.retain = (flags & 0x01u) != 0;
    if (p.dup && q == 0)
        return malformed(); // [MQTT-3.3.1-2]

    std::string_view topic;
    if (auto ec = read_utf8(r, topic)) // [MQTT-3.3.2-1]
        return ec;
    if (q > 0)
        if (auto ec = read_packet_id(r, p.packet_id))
            return ec;
    if (is_v5(v))
        if (auto ec = detail::read_properties(r, p.props, packet_type::publish))
            return ec;
    if (topic.empty()) {
        // 5.0: an empty Topic Name needs a Topic Alias (the session maps it);
        // 3.1.1: topics are at least one character [MQTT-4.7.3-1].
        if (!is_v5(v))
            return malformed();
        if (!p.props.contains(property_id::topic_alias))
            return protocol_error();
    } else if (validate_topic_name(topic)) {
        return make_error_code(reason_code::topic_name_invalid); // [MQTT-3.3.2-2]
    }
    p.topic = view_of(body, topic);
    p.payload = view_of(body, r.rest());
    return packet(std::move(p));
}

template <packet_type T>
result<packet> decode_publish_response(reader& r, protocol_version v)
{
    publish_response<T> p;
    if (auto ec = read_packet_id(r, p.packet_id))
        return ec;
    if (is_v5(v) && !r.empty()) {
        // Remaining Length 2: Success, no properties; 3: no properties (3.4.2.1).
        std::uint8_t code = 0;
        r.u8(code);
        p.code = static_cast<reason_code>(code);
        if (!reason_code_allowed(T, p.code))
            return malformed();
        if (!r.empty())
            if (auto ec = detail::read_properties(r, p.props, T))
                return ec;
    }
    if (!r.empty())
        return malformed();
    return packet(std::move(p));
}

result<packet> decode_subscribe(reader& r, protocol_version v)
{
    subscribe s;
    if (auto ec = read_packet_id(r, s.packet_id))
        return ec;
    if (is_v5(v))
        if (auto ec = detail::read_properties(r, s.props, packet_type::subscribe))
            return ec;
    if (r.empty())
        return protocol_error(); // 3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]
    while (!r.empty()) {
        std::string_view filter;
        std::uint8_t options = 0;
        if (auto ec = read_utf8(r, filter)) // [MQTT-3.8.3-1]
            return ec;
        if (!r.u8(options))
            return malformed();
        subscription sub;
        sub.filter = std::string(filter);
        const auto q = static_cast<unsigned>(options & 0x03u);
        if (is_v5(v)) {
            if ((options & 0xC0u) != 0)
                return malformed(); // [MQTT-3.8.3-5]
            const auto rh = static_cast<unsigned>((options >> 4) & 0x03u);
            if (q == 3 || rh == 3)
                return protocol_error(); // 3.8.3.1
            sub.options.no_local = (options & 0x04u) != 0;
            sub.options.retain_as_published = (options & 0x08u) != 0;
            sub.options.retain_handling = static_cast<retain_handling>(rh);
            if (sub.options.no_local) {
                auto parts = parse_topic_filter(sub.filter);
                if (parts && parts->shared())
                    return protocol_error(); // [MQTT-3.8.3-4]
            }
        } else if ((options & 0xFCu) != 0 || q == 3) {
            return malformed(); // 3.1.1 [MQTT-3.8.3-4]
        }
        sub.options.qos = static_cast<qos>(q);
        s.subscriptions.push_back(std::move(sub));
    }
    return packet(std::move(s));
}

result<packet> decode_suback(reader& r, protocol_version v)
{
    suback s;
    if (auto ec = read_packet_id(r, s.packet_id))
        return ec;
    if (is_v5(v))
        if (auto ec = detail::read_properties(r, s.props, packet_type::suback))
            return ec;
    if (r.empty())
        return protocol_error(); // one code per filter, and SUBSCRIBE has at least one
    while (!r.empty()) {
        std::uint8_t code = 0;
        r.u8(code);
        const auto rc = static_cast<reason_code>(code);
        const bool ok = is_v5(v) ? reason_code_allowed(packet_type::suback, rc)
                                 : (code <= 2 || code == 0x80); // 3.1.1 [MQTT-3.9.3-2]
        if (!ok)
            return malformed();
        s.codes.push_back(rc);
    }
    return packet(std::move(s));
}

result<packet> decode_unsubscribe(reader& r, protocol_version v)
{
    unsubscribe u;
    if (auto ec = read_packet_id(r, u.packet_id))
        return ec;
    if (is_v5(v))
        if (auto ec = detail::read_properties(r, u.props, packet_type::unsubscribe))
            return ec;
    if (r.empty())
        return protocol_error(); // [MQTT-3.10.3-2]
    while (!r.empty()) {
        std::string_view filter;
        if (auto ec = read_utf8(r, filter)) // [MQTT-3.10.3-1]
            return ec;
        u.filters.emplace_back(filter);
    }
    return packet(std::move(u));
}

result<packet> decode_unsuback(reader& r, protocol_version v)
{
    unsuback u;
    if (auto ec = read_packet_id(r, u.packet_id))
        return ec;
    if (is_v5(v)) {
        if (auto ec = detail::read_properties(r, u.props, packet_type::unsuback))
            return ec;
        if (r.empty())
            return protocol_error(); // one code per filter
        while (!r.empty()) {
            std::uint8_t code = 0;
            r.u8(code);
            const auto rc = static_cast<reason_code>(code);
            if (!reason_code_allowed(packet_type::unsuback, rc))
                return malformed();
            u.codes.push_back(rc);
        }
    }
    if (!r.empty())
        return malformed();
    return packet(std::move(u));
}

// DISCONNECT and AUTH: Remaining Length 0 means Success without properties.
template <class P, packet_type T>
result<packet> decode_reason_only(reader& r)
{
    P p;
    if (r.empty())
        return packet(std::move(p));
    std::uint8_t code = 0;
    r.u8(code);
    p.code = static_cast<reason_code>(code);
    if (!reason_code_allowed(T, p.code))
        return malformed();
    // DISCONNECT may stop after the reason code (3.14.2.2.1); AUTH may not (3.15.2.2.1).
    if (!r.empty() || T == packet_type::auth)
        if (auto ec = detail::read_properties(r, p.props, T))
            return ec;
    if (!r.empty())
        return malformed();
    return packet(std::move(p));
}

// Reserved flag bits of the fixed header: 3.1.1 [MQTT-2.2.2-1], 5.0 [MQTT-2.1.3-1].
bool flags_valid(packet_type t, std::uint8_t flags) noexcept
{
    switch (t) {
    case packet_type::publish:
        return true; // checked by decode_publish
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
        return flags == 0x02;
    default:
        return flags == 0;
    }
}

} // namespace

result<packet> decode_body(std::uint8_t first_byte, const buffer& body, protocol_version v)
{
    const auto type_value = static_cast<unsigned>(first_byte >> 4);
    const auto flags = static_cast<std::uint8_t>(first_byte & 0x0Fu);
    if (type_value == 0)
        return malformed(); // reserved packet type
    const auto type = static_cast<packet_type>(type_value);
    if (!flags_valid(type, flags))
        return malformed();

    reader r(body.view());
    switch (type) {
    case packet_type::connect: return decode_connect(body);
    case packet_type::connack: return decode_connack(r, v);
    case packet_type::publish: return decode_publish(flags, body, r, v);
    case packet_type::puback: return decode_publish_response<packet_type::puback>(r, v);
    case packet_type::pubrec: return decode_publish_response<packet_type::pubrec>(r, v);
    case packet_type::pubrel: return decode_publish_response<packet_type::pubrel>(r, v);
    case packet_type::pubcomp: return decode_publish_response<packet_type::pubcomp>(r, v);
    case packet_type::subscribe: return decode_subscribe(r, v);
    case packet_type::suback: return decode_suback(r, v);
    case packet_type::unsubscribe: return decode_unsubscribe(r, v);
    case packet_type::unsuback: return decode_unsuback(r, v);
    case packet_type::pingreq:
        return r.empty() ? result<packet>(packet(pingreq{})) : result<packet>(malformed());
    case packet_type::pingresp:
        return r.empty() ? result<packet>(packet(pingresp{})) : result<packet>(malformed());
    case packet_type::disconnect:
        if (!is_v5(v))
            return r.empty() ? result<packet>(packet(disconnect{})) : result<packet>(malformed());
        return decode_reason_only<disconnect, packet_type::disconnect>(r);
    case packet_type::auth:
        if (!is_v5(v))
            return malformed(); // packet type 15 is reserved in 3.1.1
        return decode_reason_only<auth, packet_type::auth>(r);
    }
    return malformed();
}

result<packet> decode(std::string_view bytes, protocol_version v)
{
    if (bytes.empty())
        return malformed();
    std::uint32_t remaining = 0;
    std::size_t used = 0;
    if (detail::decode_varint(bytes.data() + 1, bytes.size() - 1, remaining, used) != detail::varint_status::ok)
        return malformed();
    const auto header = 1 + used;
    // Exactly one packet: nothing missing, nothing after it.
    if (bytes.size() - header != remaining)
        return malformed();
    return decode_body(static_cast<std::uint8_t>(bytes[0]), buffer(std::string(bytes.substr(header))), v);
}

} // namespace mqtt

// Packet encoding. Each packet body is described once, by a template over a
// "sink": a size_sink measures it (for the Remaining Length and encoded_size)
// and a string_sink appends it. Checks run before either, so a failed encode
// appends nothing.
#include <cstring>
#include <limits>

#include "mqtt/codec.hpp"
#include "property_codec.hpp"
#include "wire.hpp"

namespace mqtt {

std::size_t variable_byte_integer_size(std::uint32_t v) noexcept
{
    if (v < 128u)
        return 1;
    if (v < 16'384u)
        return 2;
    if (v < 2'097'152u)
        return 3;
    return 4;
}

namespace {

// Writes v's Variable Byte Integer at o; returns the end.
unsigned char* put_variable_byte_integer(std::uint32_t v, unsigned char* o) noexcept
{
    do {
        auto b = static_cast<unsigned char>(v & 0x7Fu);
        v >>= 7;
        *o++ = v != 0 ? static_cast<unsigned char>(b | 0x80u) : b;
    } while (v != 0);
    return o;
}

std::uint8_t publish_flags(const publish& p) noexcept
{
    return static_cast<std::uint8_t>((p.dup ? 0x08u : 0u) | (static_cast<unsigned>(p.qos) << 1) | (p.retain ? 0x01u : 0u));
}

} // namespace

void encode_variable_byte_integer(std::uint32_t v, std::string& out)
{
    unsigned char bytes[4];
    auto* end = put_variable_byte_integer(v, bytes);
    out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(end - bytes));
}

namespace {

constexpr std::size_t max_string = 0xFFFF;

std::error_code malformed() noexcept { return make_error_code(reason_code::malformed_packet); }

bool is_v5(protocol_version v) noexcept { return v == protocol_version::v5; }

struct size_sink {
    std::size_t n = 0;
    void u8(std::uint8_t) noexcept { n += 1; }
    void u16(std::uint16_t) noexcept { n += 2; }
    void str(std::string_view s) noexcept { n += 2 + s.size(); }
    void payload(std::string_view s) noexcept { n += s.size(); }
    void props(const properties& p) noexcept
    {
        const auto s = detail::properties_size(p);
        // An oversized block makes the whole packet too large; that is caught by
        // the Remaining Length check, so any size estimate works here.
        n += (s <= max_remaining_length ? variable_byte_integer_size(static_cast<std::uint32_t>(s)) : 4) + s;
    }
};

struct string_sink {
    std::string& out;
    bool with_payload;
    void u8(std::uint8_t v) { detail::put_u8(out, v); }
    void u16(std::uint16_t v) { detail::put_u16(out, v); }
    void str(std::string_view s) { detail::put_prefixed(out, s); }
    void payload(std::string_view s)
    {
        if (with_payload)
            out.append(s);
    }
    void props(const properties& p)
    {
        encode_variable_byte_integer(static_cast<std::uint32_t>(detail::properties_size(p)), out);
        detail::put_properties(out, p);
    }
};

// 3.1.1 SUBACK return codes: granted QoS 0-2 or 0x80 Failure; any 5.0 failure
// reason code is sent as 0x80.
std::optional<std::uint8_t> v311_suback_code(reason_code rc) noexcept
{
    const auto v = static_cast<std::uint8_t>(rc);
    if (v <= 2)
        return v;
    if (v >= 0x80)
        return std::uint8_t{0x80};
    return std::nullopt;
}

// ---- checks -----------------------------------------------------------------

std::error_code check(const connect& p, protocol_version)
{
    if (p.version != protocol_version::v3_1_1 && p.version != protocol_version::v5)
        return make_error_code(reason_code::unsupported_protocol_version);
    if (p.client_id.size() > max_string)
        return malformed();
    if (p.will) {
        if (static_cast<unsigned>(p.will->qos) > 2 || p.will->topic.size() > max_string ||
            p.will->payload.size() > max_string)
            return malformed();
        if (is_v5(p.version))
            if (auto ec = detail::check_properties(p.will->props, packet_type::connect, true, false))
                return ec;
    }
    if ((p.username && p.username->size() > max_string) || (p.password && p.password->size() > max_string))
        return malformed();
    if (p.password && !p.username && !is_v5(p.version))
        return malformed(); // [MQTT-3.1.2-22] (3.1.1)
    if (is_v5(p.version))
        return detail::check_properties(p.props, packet_type::connect, false, false);
    return {};
}

std::error_code check(const connack& p, protocol_version v)
{
    if (is_v5(v)) {
        if (!reason_code_allowed(packet_type::connack, p.code))
            return malformed();
        return detail::check_properties(p.props, packet_type::connack, false, false);
    }
    return {};
}

std::error_code check(const publish& p, protocol_version v)
{
    const auto q = static_cast<unsigned>(p.qos);
    if (q > 2)
        return malformed(); // [MQTT-3.3.1-4]
    if (q == 0 && (p.packet_id != 0 || p.dup))
        return malformed(); // [MQTT-2.2.1-2], [MQTT-3.3.1-2]
    if (q > 0 && p.packet_id == 0)
        return malformed(); // [MQTT-2.2.1-3]
    if (p.topic.size() > max_string)
        return malformed();
    if (!is_v5(v))
        return p.topic.empty() ? malformed() : std::error_code();
    if (p.topic.empty() && !p.props.contains(property_id::topic_alias))
        return malformed();
    return detail::check_properties(p.props, packet_type::publish, false, false);
}

template <packet_type T>
std::error_code check(const publish_response<T>& p, protocol_version v)
{
    if (p.packet_id == 0)
        return malformed();
    if (is_v5(v)) {
        if (!reason_code_allowed(T, p.code))
            return malformed();
        return detail::check_properties(p.props, T, false, false);
    }
    return {};
}

std::error_code check(const subscribe& p, protocol_version v)
{
    if (p.packet_id == 0 || p.subscriptions.empty())
        return malformed();
    for (const auto& s : p.subscriptions) {
        if (s.filter.size() > max_string || static_cast<unsigned>(s.options.qos) > 2 ||
            static_cast<unsigned>(s.options.retain_handling) > 2)
            return malformed();
    }
    return is_v5(v) ? detail::check_properties(p.props, packet_type::subscribe, false, false) : std::error_code();
}

std::error_code check(const suback& p, protocol_version v)
{
    if (p.packet_id == 0 || p.codes.empty())
        return malformed();
    for (auto c : p.codes) {
        if (is_v5(v) ? !reason_code_allowed(packet_type::suback, c) : !v311_suback_code(c))
            return malformed();
    }
    return is_v5(v) ? detail::check_properties(p.props, packet_type::suback, false, false) : std::error_code();
}

std::error_code check(const unsubscribe& p, protocol_version v)
{
    if (p.packet_id == 0 || p.filters.empty())
        return malformed();
    for (const auto& f : p.filters)
        if (f.size() > max_string)
            return malformed();
    return is_v5(v) ? detail::check_properties(p.props, packet_type::unsubscribe, false, false) : std::error_code();
}

std::error_code check(const unsuback& p, protocol_version v)
{
    if (p.packet_id == 0)
        return malformed();
    if (!is_v5(v))
        return {}; // 3.1.1 UNSUBACK carries no reason codes
    if (p.codes.empty())
        return malformed();
    for (auto c : p.codes)
        if (!reason_code_allowed(packet_type::unsuback, c))
            return malformed();
    return detail::check_properties(p.props, packet_type::unsuback, false, false);
}

std::error_code check(const pingreq&, protocol_version) { return {}; }
std::error_code check(const pingresp&, protocol_version) { return {}; }

std::error_code check(const disconnect& p, protocol_version v)
{
    if (!is_v5(v))
        return {};
    if (!reason_code_allowed(packet_type::disconnect, p.code))
        return malformed();
    return detail::check_properties(p.props, packet_type::disconnect, false, false);
}

std::error_code check(const auth& p, protocol_version v)
{
    if (!is_v5(v))
        return make_error_code(reason_code::protocol_error); // AUTH does not exist in 3.1.1
    if (!reason_code_allowed(packet_type::auth, p.code))
        return malformed();
    return detail::check_properties(p.props, packet_type::auth, false, false);
}

// ---- fixed header flags -------------------------------------------------------

std::uint8_t flags_of(const packet& p) noexcept
{
    if (const auto* pub = std::get_if<publish>(&p))
        return publish_flags(*pub);
    switch (type_of(p)) {
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
        return 0x02; // [MQTT-2.1.3-1] / 3.1.1 [MQTT-2.2.2-1]
    default:
        return 0;
    }
}

// ---- bodies -------------------------------------------------------------------

template <class S>
void body(S& s, const connect& p, protocol_version)
{
    const bool v5 = is_v5(p.version);
    s.str("MQTT");
    s.u8(static_cast<std::uint8_t>(p.version));
    unsigned flags = 0;
    if (p.username)
        flags |= 0x80u;
    if (p.password)
        flags |= 0x40u;
    if (p.will) {
        flags |= 0x04u | (static_cast<unsigned>(p.will->qos) << 3);
        if (p.will->retain)
            flags |= 0x20u;
    }
    if (p.clean_start)
        flags |= 0x02u;
    s.u8(static_cast<std::uint8_t>(flags));
    s.u16(p.keep_alive);
    if (v5)
        s.props(p.props);
    s.str(p.client_id);
    if (p.will) {
        if (v5)
            s.props(p.will->props);
        s.str(p.will->topic);
        s.str(p.will->payload);
    }
    if (p.username)
        s.str(*p.username);
    if (p.password)
        s.str(*p.password);
}

template <class S>
void body(S& s, const connack& p, protocol_version v)
{
    s.u8(p.session_present ? 1 : 0);
    if (is_v5(v)) {
        s.u8(static_cast<std::uint8_t>(p.code));
        s.props(p.props);
    } else {
        s.u8(static_cast<std::uint8_t>(to_connect_return_code(p.code)));
    }
}

template <class S>
void body(S& s, const publish& p, protocol_version v)
{
    s.str(p.topic);
    if (p.qos != qos::at_most_once)
        s.u16(p.packet_id);
    if (is_v5(v))
        s.props(p.props);
    s.payload(p.payload);
}

// Shortest form (5.0 3.4.2.1): the reason code is omitted when it is Success and
// there are no properties; the Property Length when there are no properties.
template <class S, packet_type T>
void body(S& s, const publish_response<T>& p, protocol_version v)
{
    s.u16(p.packet_id);
    if (!is_v5(v))
        return;
    if (p.code != reason_code::success || !p.props.empty())
        s.u8(static_cast<std::uint8_t>(p.code));
    if (!p.props.empty())
        s.props(p.props);
}

std::uint8_t options_byte(const subscribe_options& o, protocol_version v) noexcept
{
    auto b = static_cast<unsigned>(o.qos);
    if (is_v5(v)) {
        if (o.no_local)
            b |= 0x04u;
        if (o.retain_as_published)
            b |= 0x08u;
        b |= static_cast<unsigned>(o.retain_handling) << 4;
    }
    return static_cast<std::uint8_t>(b);
}

template <class S>
void body(S& s, const subscribe& p, protocol_version v)
{
    s.u16(p.packet_id);
    if (is_v5(v))
        s.props(p.props);
    for (const auto& sub : p.subscriptions) {
        s.str(sub.filter);
        s.u8(options_byte(sub.options, v));
    }
}

template <class S>
void body(S& s, const suback& p, protocol_version v)
{
    s.u16(p.packet_id);
    if (is_v5(v))
        s.props(p.props);
    for (auto c : p.codes)
        s.u8(is_v5(v) ? static_cast<std::uint8_t>(c) : v311_suback_code(c).value_or(0x80));
}

template <class S>
void body(S& s, const unsubscribe& p, protocol_version v)
{
    s.u16(p.packet_id);
    if (is_v5(v))
        s.props(p.props);
    for (const auto& f : p.filters)
        s.str(f);
}

template <class S>
void body(S& s, const unsuback& p, protocol_version v)
{
    s.u16(p.packet_id);
    if (!is_v5(v))
        return;
    s.props(p.props);
    for (auto c : p.codes)
        s.u8(static_cast<std::uint8_t>(c));
}

template <class S>
void body(S&, const pingreq&, protocol_version)
{
}

template <class S>
void body(S&, const pingresp&, protocol_version)
{
}

// 5.0 3.14.2: Remaining Length 0 for Normal disconnection without properties,
// 1 for a reason code without properties.
template <class S>
void body(S& s, const disconnect& p, protocol_version v)
{
    if (!is_v5(v))
        return;
    if (p.code != reason_code::normal_disconnection || !p.props.empty())
        s.u8(static_cast<std::uint8_t>(p.code));
    if (!p.props.empty())
        s.props(p.props);
}

// 5.0 3.15.2: the Reason Code and Property Length are omitted together, and
// only for Success without properties.
template <class S>
void body(S& s, const auth& p, protocol_version)
{
    if (p.code == reason_code::success && p.props.empty())
        return;
    s.u8(static_cast<std::uint8_t>(p.code));
    s.props(p.props);
}

struct frame {
    std::uint8_t first_byte;
    std::uint32_t remaining_length;
};

result<frame> prepare(const packet& p, protocol_version v)
{
    if (v != protocol_version::v3_1_1 && v != protocol_version::v5 && !std::holds_alternative<connect>(p))
        return make_error_code(reason_code::unsupported_protocol_version);
    std::error_code ec = std::visit([v](const auto& pkt) { return check(pkt, v); }, p);
    if (ec)
        return ec;
    size_sink sizer;
    std::visit([&](const auto& pkt) { body(sizer, pkt, v); }, p);
    if (sizer.n > max_remaining_length)
        return make_error_code(reason_code::packet_too_large);
    const auto first = static_cast<std::uint8_t>((static_cast<unsigned>(type_of(p)) << 4) | flags_of(p));
    return frame{first, static_cast<std::uint32_t>(sizer.n)};
}

void write(const packet& p, protocol_version v, const frame& f, std::string& out, bool with_payload)
{
    std::size_t total = 1 + variable_byte_integer_size(f.remaining_length) + f.remaining_length;
    if (!with_payload)
        if (const auto* pub = std::get_if<publish>(&p))
            total -= pub->payload.size();
    out.reserve(out.size() + total);
    out.push_back(static_cast<char>(f.first_byte));
    encode_variable_byte_integer(f.remaining_length, out);
    string_sink sink{out, with_payload};
    std::visit([&](const auto& pkt) { body(sink, pkt, v); }, p);
}

} // namespace

result<std::size_t> encoded_size(const packet& p, protocol_version v)
{
    auto f = prepare(p, v);
    if (!f)
        return f.error();
    return std::size_t{1} + variable_byte_integer_size(f->remaining_length) + f->remaining_length;
}

std::error_code encode(const packet& p, protocol_version v, std::string& out)
{
    auto f = prepare(p, v);
    if (!f)
        return f.error();
    write(p, v, *f, out, true);
    return {};
}

namespace {

// The packet nearly every message is: a PUBLISH without properties, its header
// written in one go (same bytes as the general path, which the tests compare).
result<buffer> encode_plain_publish(const publish& pub, protocol_version v, std::string& header)
{
    if (auto ec = check(pub, v))
        return ec;
    const bool v5 = is_v5(v);
    const std::size_t id_bytes = pub.qos == qos::at_most_once ? 0 : 2;
    const std::size_t fixed = 2 + pub.topic.size() + id_bytes + (v5 ? 1 : 0); // all but the payload
    const std::size_t remaining = fixed + pub.payload.size();
    if (remaining > max_remaining_length)
        return make_error_code(reason_code::packet_too_large);
    const auto length = static_cast<std::uint32_t>(remaining);
    const auto old = header.size();
    header.resize(old + 1 + variable_byte_integer_size(length) + fixed);
    auto* o = reinterpret_cast<unsigned char*>(header.data() + old);
    *o++ = static_cast<unsigned char>(0x30u | publish_flags(pub));
    o = put_variable_byte_integer(length, o);
    *o++ = static_cast<unsigned char>(pub.topic.size() >> 8);
    *o++ = static_cast<unsigned char>(pub.topic.size() & 0xFFu);
    if (!pub.topic.empty())
        std::memcpy(o, pub.topic.data(), pub.topic.size());
    o += pub.topic.size();
    if (id_bytes) {
        *o++ = static_cast<unsigned char>(pub.packet_id >> 8);
        *o++ = static_cast<unsigned char>(pub.packet_id & 0xFFu);
    }
    if (v5)
        *o = 0; // Property Length
    return pub.payload;
}

} // namespace

result<buffer> encode_gather(const packet& p, protocol_version v, std::string& header)
{
    if (const auto* pub = std::get_if<publish>(&p); pub && pub->props.empty()
        && (v == protocol_version::v3_1_1 || v == protocol_version::v5))
        return encode_plain_publish(*pub, v, header);
    auto f = prepare(p, v);
    if (!f)
        return f.error();
    write(p, v, *f, header, false);
    if (const auto* pub = std::get_if<publish>(&p))
        return pub->payload;
    return buffer();
}

} // namespace mqtt

#include "property_codec.hpp"

#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"

namespace mqtt::detail {

// Sizes assume check_properties() passed.
std::size_t properties_size(const properties& props) noexcept
{
    std::size_t n = 0;
    for (const auto& p : props) {
        n += 1; // every identifier is below 0x80: a one-byte Variable Byte Integer
        switch (type_of(p.id)) {
        case property_type::byte: n += 1; break;
        case property_type::two_byte_integer: n += 2; break;
        case property_type::four_byte_integer: n += 4; break;
        case property_type::variable_byte_integer:
            n += variable_byte_integer_size(std::get<std::uint32_t>(p.value));
            break;
        case property_type::utf8_string:
        case property_type::binary_data:
            n += 2 + std::get<std::string>(p.value).size();
            break;
        case property_type::utf8_string_pair: {
            const auto& s = std::get<string_pair>(p.value);
            n += 4 + s.name.size() + s.value.size();
            break;
        }
        }
    }
    return n;
}

void put_properties(std::string& out, const properties& props)
{
    for (const auto& p : props) {
        put_u8(out, static_cast<std::uint8_t>(p.id));
        switch (type_of(p.id)) {
        case property_type::byte:
            put_u8(out, static_cast<std::uint8_t>(std::get<std::uint32_t>(p.value)));
            break;
        case property_type::two_byte_integer:
            put_u16(out, static_cast<std::uint16_t>(std::get<std::uint32_t>(p.value)));
            break;
        case property_type::four_byte_integer:
            put_u32(out, std::get<std::uint32_t>(p.value));
            break;
        case property_type::variable_byte_integer:
            encode_variable_byte_integer(std::get<std::uint32_t>(p.value), out);
            break;
        case property_type::utf8_string:
        case property_type::binary_data:
            put_prefixed(out, std::get<std::string>(p.value));
            break;
        case property_type::utf8_string_pair: {
            const auto& s = std::get<string_pair>(p.value);
            put_prefixed(out, s.name);
            put_prefixed(out, s.value);
            break;
        }
        }
    }
}

std::error_code read_properties(reader& r, properties& out, packet_type type, bool will)
{
    const auto malformed = make_error_code(reason_code::malformed_packet);
    std::uint32_t length = 0;
    std::string_view block;
    if (!r.varint(length) || !r.bytes(length, block))
        return malformed;

    reader pr(block);
    while (!pr.empty()) {
        // The identifier is a Variable Byte Integer; every defined one fits in one byte.
        std::uint32_t raw = 0;
        if (!pr.varint(raw) || raw > 0x7F)
            return malformed;
        const auto t = type_of(static_cast<std::uint8_t>(raw));
        if (!t)
            return malformed; // unknown property identifier
        const auto id = static_cast<property_id>(raw);
        switch (*t) {
        case property_type::byte: {
            std::uint8_t v = 0;
            if (!pr.u8(v))
                return malformed;
            out.add(id, std::uint32_t{v});
            break;
        }
        case property_type::two_byte_integer: {
            std::uint16_t v = 0;
            if (!pr.u16(v))
                return malformed;
            out.add(id, std::uint32_t{v});
            break;
        }
        case property_type::four_byte_integer: {
            std::uint32_t v = 0;
            if (!pr.u32(v))
                return malformed;
            out.add(id, v);
            break;
        }
        case property_type::variable_byte_integer: {
            std::uint32_t v = 0;
            if (!pr.varint(v))
                return malformed;
            out.add(id, v);
            break;
        }
        case property_type::utf8_string:
        case property_type::binary_data: {
            std::string_view s;
            if (!pr.prefixed(s))
                return malformed;
            out.add(id, std::string(s));
            break;
        }
        case property_type::utf8_string_pair: {
            std::string_view name;
            std::string_view value;
            if (!pr.prefixed(name) || !pr.prefixed(value))
                return malformed;
            out.add_user_property(std::string(name), std::string(value));
            break;
        }
        }
    }
    return validate(out, type, will);
}

} // namespace mqtt::detail

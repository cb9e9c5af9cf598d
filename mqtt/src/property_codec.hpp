#pragma once
// Internal: the wire form of MQTT 5.0 properties (spec 2.2.2).
#include <cstddef>
#include <string>
#include <system_error>

#include "mqtt/property.hpp"
#include "wire.hpp"

namespace mqtt::detail {

// Checks what the encoder relies on: each property allowed in this packet, its
// value of the property's data type and in that type's range. malformed_packet
// otherwise. (Semantic rules such as duplicates are validate()'s job.)
std::error_code check_encodable(const properties& props, packet_type type, bool will) noexcept;

// Bytes of the properties themselves, without the Property Length prefix.
std::size_t properties_size(const properties& props) noexcept;

// Appends the properties (without the Property Length prefix).
void put_properties(std::string& out, const properties& props);

// Reads a Property Length and the properties it covers, then validates them
// for a packet of `type` (see validate()). malformed_packet for an unknown
// identifier or a length that runs past the end.
std::error_code read_properties(reader& r, properties& out, packet_type type, bool will = false);

} // namespace mqtt::detail

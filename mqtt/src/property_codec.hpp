#pragma once
// Internal: the wire form of MQTT 5.0 properties (spec 2.2.2).
#include <cstddef>
#include <string>
#include <system_error>

#include "mqtt/property.hpp"
#include "wire.hpp"

namespace mqtt::detail {

// The rules of validate(): allowed in this packet, value of the property's data
// type and range, no forbidden duplicates, value rules. With check_text false the
// UTF-8 strings are only checked for length (the encoder's check: it trusts the
// text it is given, the decoder does not).
std::error_code check_properties(const properties& props, packet_type type, bool will, bool check_text);

// Bytes of the properties themselves, without the Property Length prefix.
std::size_t properties_size(const properties& props) noexcept;

// Appends the properties (without the Property Length prefix).
void put_properties(std::string& out, const properties& props);

// Reads a Property Length and the properties it covers, then validates them
// for a packet of `type` (see validate()). malformed_packet for an unknown
// identifier or a length that runs past the end.
std::error_code read_properties(reader& r, properties& out, packet_type type, bool will = false);

} // namespace mqtt::detail

#pragma once
// Encoding and decoding of whole packets. Errors are values carrying the reason
// code the spec assigns: malformed_packet (0x81), protocol_error (0x82),
// packet_too_large (0x95), unsupported_protocol_version (0x84), ...
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "mqtt/buffer.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/result.hpp"

namespace mqtt {

// Largest Remaining Length a 4-byte Variable Byte Integer can carry.
inline constexpr std::uint32_t max_remaining_length = 268'435'455;
// Largest whole packet: fixed header (1 + 4) plus the largest remaining length.
inline constexpr std::uint32_t max_packet_size = max_remaining_length + 5;

// Appends the Variable Byte Integer encoding of v (v <= max_remaining_length).
void encode_variable_byte_integer(std::uint32_t v, std::string& out);
std::size_t variable_byte_integer_size(std::uint32_t v) noexcept;

// The size in bytes of the whole encoded packet (fixed header included), or an
// error when the packet cannot be encoded (see encode()).
result<std::size_t> encoded_size(const packet& p, protocol_version v);

// Appends the complete encoding of `p` to `out`. Fails without appending when a
// field is out of range (string over 65535 bytes, packet over the maximum, QoS 0
// PUBLISH with a packet id, a reason code the packet type does not define, ...):
// malformed_packet or packet_too_large; protocol_error for 5.0 properties that
// break a rule of validate() (duplicates, Topic Alias 0, ...) and for AUTH in
// 3.1.1. UTF-8 text is not re-validated here (the decoder validates it). A
// CONNECT is encoded for its own `version`, whatever `v` is.
std::error_code encode(const packet& p, protocol_version v, std::string& out);

// Gather encoding: appends everything but a PUBLISH payload to `header`, and
// returns the payload (empty for other packets) to be written right after it,
// so a payload shared by many subscribers is never copied into a send buffer.
result<buffer> encode_gather(const packet& p, protocol_version v, std::string& header);

// Decodes one complete packet (fixed header included, nothing after it). The
// bytes are copied once into a shared buffer that the packet's topic and payload
// views keep alive.
result<packet> decode(std::string_view bytes, protocol_version v);

// Decodes a packet body whose fixed-header byte is `first_byte`. PUBLISH topic
// and payload are views sharing `body`'s owner: no copy. A CONNECT is decoded
// whatever `v` is (it carries its own protocol level).
result<packet> decode_body(std::uint8_t first_byte, const buffer& body, protocol_version v);

} // namespace mqtt

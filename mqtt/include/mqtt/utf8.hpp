#pragma once
// UTF-8 rules for MQTT strings (3.1.1 section 1.5.3, 5.0 section 1.5.4).
#include <string_view>
#include <system_error>

namespace mqtt {

// Well-formed UTF-8 per RFC 3629 (no overlongs, no surrogates U+D800..U+DFFF, no
// code point above U+10FFFF) and no U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2] / [MQTT-1.5.4-1], [MQTT-1.5.4-2].
bool is_valid_utf8(std::string_view s) noexcept;

// Control characters U+0001..U+001F, U+007F..U+009F and non-characters, which
// the spec says SHOULD NOT appear; a receiver MAY reject them. Assumes valid UTF-8.
bool has_discouraged_code_points(std::string_view s) noexcept;

// malformed_packet when the string is not a valid MQTT UTF-8 string (including
// length over 65535 bytes), else an empty code.
std::error_code validate_utf8_string(std::string_view s) noexcept;

} // namespace mqtt

#include "mqtt/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mqtt/reason_code.hpp"

namespace mqtt {

namespace {

constexpr std::size_t max_string_length = 65535;

constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
constexpr std::uint64_t low_bits = 0x0101010101010101ULL;

std::uint8_t byte_at(std::string_view s, std::size_t i) noexcept
{
    return static_cast<std::uint8_t>(s[i]);
}

bool is_continuation(std::uint8_t b) noexcept { return (b & 0xC0U) == 0x80U; }

// Eight bytes at once: all ASCII and none of them NUL.
bool ascii_block_ok(const char* p) noexcept
{
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if ((w & high_bits) != 0) {
        return false;
    }
    // Classic "has zero byte" test; exact here because no byte has its high bit set.
    return ((w - low_bits) & ~w & high_bits) == 0;
}

// Decodes one code point starting at `i` of a string assumed (not trusted) to be
// valid UTF-8; returns the length consumed, at least 1, never past the end.
std::size_t decode_one(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept
{
    const std::uint8_t b0 = byte_at(s, i);
    std::size_t len = 1;
    if (b0 < 0x80U) {
        cp = b0;
        return 1;
    }
    if ((b0 & 0xE0U) == 0xC0U) {
        len = 2;
        cp = b0 & 0x1FU;
    } else if ((b0 & 0xF0U) == 0xE0U) {
        len = 3;
        cp = b0 & 0x0FU;
    } else if ((b0 & 0xF8U) == 0xF0U) {
        len = 4;
        cp = b0 & 0x07U;
    } else {
        cp = 0xFFFD;
        return 1;
    }
    if (s.size() - i < len) {
        cp = 0xFFFD;
        return 1;
    }
    for (std::size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (byte_at(s, i + k) & 0x3FU);
    }
    return len;
}

bool is_discouraged(std::uint32_t cp) noexcept
{
    if ((cp >= 0x01U && cp <= 0x1FU) || (cp >= 0x7FU && cp <= 0x9FU)) {
        return true;
    }
    if (cp >= 0xFDD0U && cp <= 0xFDEFU) {
        return true;
    }
    // U+FFFE, U+FFFF and the same two at the end of every supplementary plane.
    return (cp & 0xFFFEU) == 0xFFFEU;
}

} // namespace

bool is_valid_utf8(std::string_view s) noexcept
{
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        if (n - i >= 8 && ascii_block_ok(s.data() + i)) {
            i += 8;
            continue;
        }
        const std::uint8_t b0 = byte_at(s, i);
        if (b0 < 0x80U) {
            if (b0 == 0) {
                return false; // U+0000 is banned outright in MQTT strings
            }
            ++i;
            continue;
        }
        // The allowed range of the second byte narrows for some lead bytes: that
        // is what rules out overlongs, surrogates and code points past U+10FFFF.
        std::size_t len;
        std::uint8_t lo = 0x80U;
        std::uint8_t hi = 0xBFU;
        if (b0 >= 0xC2U && b0 <= 0xDFU) {
            len = 2;
        } else if (b0 >= 0xE0U && b0 <= 0xEFU) {
            len = 3;
            if (b0 == 0xE0U) {
                lo = 0xA0U; // below is an overlong 3-byte form
            } else if (b0 == 0xEDU) {
                hi = 0x9FU; // above is U+D800..U+DFFF
            }
        } else if (b0 >= 0xF0U && b0 <= 0xF4U) {
            len = 4;
            if (b0 == 0xF0U) {
                lo = 0x90U; // below is an overlong 4-byte form
            } else if (b0 == 0xF4U) {
                hi = 0x8FU; // above is past U+10FFFF
            }
        } else {
            return false; // stray continuation, C0/C1 overlong lead, or F5..FF
        }
        if (n - i < len) {
            return false;
        }
        const std::uint8_t b1 = byte_at(s, i + 1);
        if (b1 < lo || b1 > hi) {
            return false;
        }
        for (std::size_t k = 2; k < len; ++k) {
            if (!is_continuation(byte_at(s, i + k))) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

bool has_discouraged_code_points(std::string_view s) noexcept
{
    std::size_t i = 0;
    while (i < s.size()) {
        std::uint32_t cp = 0;
        i += decode_one(s, i, cp);
        if (is_discouraged(cp)) {
            return true;
        }
    }
    return false;
}

std::error_code validate_utf8_string(std::string_view s) noexcept
{
    if (s.size() > max_string_length || !is_valid_utf8(s)) {
        return make_error_code(reason_code::malformed_packet);
    }
    return {};
}

} // namespace mqtt

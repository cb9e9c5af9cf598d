#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "mqtt/reason_code.hpp"
#include "mqtt/utf8.hpp"

using namespace std::string_literals;
using mqtt::has_discouraged_code_points;
using mqtt::is_valid_utf8;
using mqtt::validate_utf8_string;

namespace {

// Encodes a code point the way RFC 3629 does, without any validity check, so the
// tests can also build surrogates and out-of-range values.
std::string encode(std::uint32_t cp)
{
    std::string out;
    const auto put = [&](std::uint32_t b) { out.push_back(static_cast<char>(static_cast<unsigned char>(b))); };
    if (cp < 0x80U) {
        put(cp);
    } else if (cp < 0x800U) {
        put(0xC0U | (cp >> 6));
        put(0x80U | (cp & 0x3FU));
    } else if (cp < 0x10000U) {
        put(0xE0U | (cp >> 12));
        put(0x80U | ((cp >> 6) & 0x3FU));
        put(0x80U | (cp & 0x3FU));
    } else {
        put(0xF0U | (cp >> 18));
        put(0x80U | ((cp >> 12) & 0x3FU));
        put(0x80U | ((cp >> 6) & 0x3FU));
        put(0x80U | (cp & 0x3FU));
    }
    return out;
}

std::string bytes(std::initializer_list<unsigned> list)
{
    std::string out;
    for (unsigned b : list) {
        out.push_back(static_cast<char>(static_cast<unsigned char>(b)));
    }
    return out;
}

} // namespace

TEST_CASE("well-formed UTF-8 is accepted [MQTT-1.5.3-1] [MQTT-1.5.4-1]", "[utf8][MQTT-1.5.3-1][MQTT-1.5.4-1]")
{
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("a"));
    CHECK(is_valid_utf8("sport/tennis/player1"));
    CHECK(is_valid_utf8("a long ascii string crossing several eight byte blocks ..."));
    CHECK(is_valid_utf8("\xC2\x80"));                    // U+0080, smallest 2-byte
    CHECK(is_valid_utf8("\xDF\xBF"));                    // U+07FF
    CHECK(is_valid_utf8("\xE0\xA0\x80"));                // U+0800, smallest 3-byte
    CHECK(is_valid_utf8("\xED\x9F\xBF"));                // U+D7FF, just below surrogates
    CHECK(is_valid_utf8("\xEE\x80\x80"));                // U+E000, just above surrogates
    CHECK(is_valid_utf8("\xEF\xBF\xBF"));                // U+FFFF (non-character, still well-formed)
    CHECK(is_valid_utf8("\xF0\x90\x80\x80"));            // U+10000
    CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));            // U+10FFFF, the last code point
    CHECK(is_valid_utf8("A\xF0\xAA\x9B\x94"));           // the spec's example: U+2A6D4
    CHECK(is_valid_utf8("caf\xC3\xA9 na\xC3\xAFve 12345678 \xE2\x82\xAC"));
    CHECK_FALSE(validate_utf8_string("caf\xC3\xA9"));
}

TEST_CASE("every Unicode scalar value except U+0000 is valid [MQTT-1.5.3-1] [MQTT-1.5.4-1]",
          "[utf8][MQTT-1.5.3-1][MQTT-1.5.4-1]")
{
    for (std::uint32_t cp = 1; cp <= 0x10FFFFU; ++cp) {
        const bool surrogate = cp >= 0xD800U && cp <= 0xDFFFU;
        const std::string s = encode(cp);
        if (is_valid_utf8(s) == surrogate) {
            FAIL("code point " << cp << " misclassified");
        }
    }
    SUCCEED();
}

TEST_CASE("ill-formed UTF-8 is rejected [MQTT-1.5.3-1] [MQTT-1.5.4-1]", "[utf8][MQTT-1.5.3-1][MQTT-1.5.4-1]")
{
    SECTION("surrogates U+D800..U+DFFF")
    {
        CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));             // U+D800
        CHECK_FALSE(is_valid_utf8("\xED\xBF\xBF"));             // U+DFFF
        CHECK_FALSE(is_valid_utf8("\xED\xA0\xBD\xED\xB2\xA9")); // CESU-8 style pair
    }
    SECTION("overlong encodings")
    {
        CHECK_FALSE(is_valid_utf8("\xC0\x80"));         // overlong U+0000 (modified UTF-8)
        CHECK_FALSE(is_valid_utf8("\xC0\xAF"));         // overlong '/'
        CHECK_FALSE(is_valid_utf8("\xC1\xBF"));         // overlong U+007F
        CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));     // 3-byte overlong '/'
        CHECK_FALSE(is_valid_utf8("\xE0\x9F\xBF"));     // 3-byte overlong U+07FF
        CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\xAF")); // 4-byte overlong '/'
        CHECK_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF")); // 4-byte overlong U+FFFF
    }
    SECTION("beyond U+10FFFF")
    {
        CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80")); // U+110000
        CHECK_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
        CHECK_FALSE(is_valid_utf8("\xF7\xBF\xBF\xBF"));
        CHECK_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80")); // old 5-byte form
        CHECK_FALSE(is_valid_utf8("\xFC\x84\x80\x80\x80\x80"));
        CHECK_FALSE(is_valid_utf8("\xFE"));
        CHECK_FALSE(is_valid_utf8("\xFF"));
    }
    SECTION("truncated sequences")
    {
        CHECK_FALSE(is_valid_utf8("\xC3"));
        CHECK_FALSE(is_valid_utf8("\xE2\x82"));
        CHECK_FALSE(is_valid_utf8("\xF0\x9F\x98"));
        CHECK_FALSE(is_valid_utf8("abc\xE2\x82"));
        CHECK_FALSE(is_valid_utf8("\xE2\x82" "abc")); // continuation replaced by ASCII
        CHECK_FALSE(is_valid_utf8("\xF0\x9F\x98" "a"));
        CHECK_FALSE(is_valid_utf8("\xC3\xC3\xA9"));   // lead followed by a lead
    }
    SECTION("stray continuation bytes")
    {
        CHECK_FALSE(is_valid_utf8("\x80"));
        CHECK_FALSE(is_valid_utf8("\xBF"));
        CHECK_FALSE(is_valid_utf8("a\x80z"));
        CHECK_FALSE(is_valid_utf8("\xC3\xA9\xA9")); // one continuation too many
    }
    SECTION("an error after a long ASCII run is still seen")
    {
        CHECK_FALSE(is_valid_utf8("0123456789abcdef0123456789abcdef\xFF"));
        CHECK_FALSE(is_valid_utf8("0123456789abcdef\x80" "0123456789abcdef"));
    }
    SECTION("validate_utf8_string reports malformed_packet")
    {
        const auto ec = validate_utf8_string("\xED\xA0\x80");
        REQUIRE(ec);
        CHECK(ec == mqtt::make_error_code(mqtt::reason_code::malformed_packet));
    }
}

TEST_CASE("U+0000 is not allowed in a UTF-8 string [MQTT-1.5.3-2] [MQTT-1.5.4-2]",
          "[utf8][MQTT-1.5.3-2][MQTT-1.5.4-2]")
{
    CHECK_FALSE(is_valid_utf8("\0"s));
    CHECK_FALSE(is_valid_utf8("abc\0def"s));
    CHECK_FALSE(is_valid_utf8("01234567\0"s));            // NUL inside an 8-byte block
    CHECK_FALSE(is_valid_utf8("0123456789abcdef\0xyz"s)); // and in a later one
    for (std::size_t pos = 0; pos < 20; ++pos) {
        std::string s(20, 'x');
        s[pos] = '\0';
        CHECK_FALSE(is_valid_utf8(s));
    }
    CHECK(validate_utf8_string("a\0b"s) == mqtt::make_error_code(mqtt::reason_code::malformed_packet));
}

TEST_CASE("a BOM (EF BB BF) is a valid U+FEFF and kept as is [MQTT-1.5.3-3] [MQTT-1.5.4-3]",
          "[utf8][MQTT-1.5.3-3][MQTT-1.5.4-3]")
{
    const std::string with_bom = "\xEF\xBB\xBF" "sport/tennis";
    CHECK(is_valid_utf8(with_bom));
    CHECK_FALSE(validate_utf8_string(with_bom));
    CHECK_FALSE(has_discouraged_code_points(with_bom)); // U+FEFF is an ordinary character
    // Validation only reads: the bytes are still there, unstripped.
    REQUIRE(with_bom.size() == 15);
    CHECK(with_bom.substr(0, 3) == "\xEF\xBB\xBF");
    // In the middle and at the end too.
    CHECK(is_valid_utf8("a\xEF\xBB\xBF" "b"));
    CHECK(is_valid_utf8("\xEF\xBB\xBF"));
}

TEST_CASE("strings over 65535 bytes are malformed", "[utf8]")
{
    const std::string max(65535, 'a');
    CHECK_FALSE(validate_utf8_string(max));
    const std::string over(65536, 'a');
    CHECK(is_valid_utf8(over));
    CHECK(validate_utf8_string(over) == mqtt::make_error_code(mqtt::reason_code::malformed_packet));
}

TEST_CASE("discouraged code points are detected", "[utf8]")
{
    CHECK_FALSE(has_discouraged_code_points(""));
    CHECK_FALSE(has_discouraged_code_points("plain text / with spaces ~"));
    CHECK_FALSE(has_discouraged_code_points("\xC2\xA0"));         // U+00A0, first after C1
    CHECK_FALSE(has_discouraged_code_points("\xEF\xB7\x8F"));     // U+FDCF
    CHECK_FALSE(has_discouraged_code_points("\xEF\xB7\xB0"));     // U+FDF0
    CHECK_FALSE(has_discouraged_code_points("\xEF\xBF\xBD"));     // U+FFFD
    CHECK_FALSE(has_discouraged_code_points("\xF0\x9F\x98\x80")); // U+1F600
    CHECK_FALSE(has_discouraged_code_points("\xF4\x8F\xBF\xBD")); // U+10FFFD

    CHECK(has_discouraged_code_points("\x01"));
    CHECK(has_discouraged_code_points("tab\there"));
    CHECK(has_discouraged_code_points("\x1F"));
    CHECK(has_discouraged_code_points("\x7F"));
    CHECK(has_discouraged_code_points("\xC2\x80"));         // U+0080
    CHECK(has_discouraged_code_points("ok\xC2\x9F"));       // U+009F
    CHECK(has_discouraged_code_points("\xEF\xB7\x90"));     // U+FDD0
    CHECK(has_discouraged_code_points("\xEF\xB7\xAF"));     // U+FDEF
    CHECK(has_discouraged_code_points("\xEF\xBF\xBE"));     // U+FFFE
    CHECK(has_discouraged_code_points("\xEF\xBF\xBF"));     // U+FFFF
    CHECK(has_discouraged_code_points("\xF0\x9F\xBF\xBE")); // U+1FFFE
    CHECK(has_discouraged_code_points("\xF4\x8F\xBF\xBF")); // U+10FFFF

    // Discouraged does not mean ill-formed.
    CHECK(is_valid_utf8("\x01\x7F\xC2\x80\xEF\xBF\xBF"));
}

TEST_CASE("discouraged code point classification over the whole range", "[utf8]")
{
    for (std::uint32_t cp = 1; cp <= 0x10FFFFU; ++cp) {
        if (cp >= 0xD800U && cp <= 0xDFFFU) {
            continue;
        }
        const bool expected = cp <= 0x1FU || (cp >= 0x7FU && cp <= 0x9FU) || (cp >= 0xFDD0U && cp <= 0xFDEFU) ||
                              (cp & 0xFFFFU) == 0xFFFEU || (cp & 0xFFFFU) == 0xFFFFU;
        if (has_discouraged_code_points(encode(cp)) != expected) {
            FAIL("code point " << cp << " misclassified");
        }
    }
    SUCCEED();
}

TEST_CASE("discouraged code point check is safe on ill-formed input", "[utf8]")
{
    // Documented as assuming valid input, but it must not read out of bounds.
    CHECK_NOTHROW(has_discouraged_code_points("\xF0\x9F"));
    CHECK_NOTHROW(has_discouraged_code_points("\xE2"));
    CHECK_NOTHROW(has_discouraged_code_points("\xFF\x80"));
    CHECK_FALSE(has_discouraged_code_points(bytes({0xC3})));
}

#pragma once
// Helpers shared by the codec tests.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <string_view>

#include "mqtt/codec.hpp"
#include "test_vectors.hpp"

namespace codec_test {

inline std::string hex(std::string_view s)
{
    std::string out;
    char buf[4];
    for (char c : s) {
        std::snprintf(buf, sizeof buf, "%02X ", static_cast<unsigned>(static_cast<unsigned char>(c)));
        out += buf;
    }
    return out;
}

// A packet with first byte `first` and this body; the Remaining Length is computed.
inline std::string pkt(int first, const std::string& body)
{
    std::string s(1, static_cast<char>(first));
    mqtt::encode_variable_byte_integer(static_cast<std::uint32_t>(body.size()), s);
    return s + body;
}

// A two-byte length prefix and the bytes (UTF-8 string or binary data).
inline std::string str(std::string_view s)
{
    return mqtt::test_vectors::b({static_cast<int>(s.size() >> 8), static_cast<int>(s.size() & 0xFF)}) + std::string(s);
}

inline std::string encode_ok(const mqtt::packet& p, mqtt::protocol_version v)
{
    std::string out;
    const auto ec = mqtt::encode(p, v, out);
    INFO("encode error: " << ec.message());
    REQUIRE_FALSE(ec);
    return out;
}

inline mqtt::packet decode_ok(std::string_view bytes, mqtt::protocol_version v)
{
    auto r = mqtt::decode(bytes, v);
    INFO("decode error: " << r.error().message() << " for " << hex(bytes));
    REQUIRE(r.has_value());
    return std::move(r).value();
}

// The reason code decode() fails with (success if it did not fail).
inline mqtt::reason_code decode_error(std::string_view bytes, mqtt::protocol_version v)
{
    auto r = mqtt::decode(bytes, v);
    if (r)
        return mqtt::reason_code::success;
    CHECK(r.error().category() == mqtt::reason_category());
    return mqtt::to_reason_code(r.error());
}

inline mqtt::reason_code encode_error(const mqtt::packet& p, mqtt::protocol_version v)
{
    std::string out = "prefix";
    const auto ec = mqtt::encode(p, v, out);
    CHECK(out == "prefix"); // a failed encode appends nothing
    CHECK_FALSE(mqtt::encoded_size(p, v).has_value() != !ec);
    return mqtt::to_reason_code(ec);
}

// `expected` encodes to exactly the named vector's bytes (with encode,
// encode_gather and encoded_size agreeing) and the bytes decode to `expected`.
inline void check_vector(std::string_view name, const mqtt::packet& expected)
{
    const auto& vec = mqtt::test_vectors::get(name);
    INFO("vector " << vec.name);
    CHECK(hex(encode_ok(expected, vec.version)) == hex(vec.bytes));

    auto size = mqtt::encoded_size(expected, vec.version);
    REQUIRE(size.has_value());
    CHECK(*size == vec.bytes.size());

    std::string header;
    auto payload = mqtt::encode_gather(expected, vec.version, header);
    REQUIRE(payload.has_value());
    CHECK(hex(header + payload->str()) == hex(vec.bytes));

    const auto decoded = decode_ok(vec.bytes, vec.version);
    CHECK(decoded.index() == expected.index());
    CHECK(decoded == expected);
}

} // namespace codec_test

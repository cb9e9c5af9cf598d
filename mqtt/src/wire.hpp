#pragma once
// Internal: bounds-checked reading and appending of the MQTT wire data types
// (spec 1.5): one-, two- and four-byte integers, Variable Byte Integers and
// length-prefixed strings / binary data.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mqtt::detail {

enum class varint_status { ok, incomplete, malformed };

// Decodes a Variable Byte Integer from the start of [p, p + n). At most 4 bytes
// [MQTT-1.5.5-1]; a 4th byte with the continuation bit set is malformed.
// Non-minimal encodings (e.g. 0x80 0x00 for 0) are rejected as malformed: the
// spec requires the minimum number of bytes, and rejecting the rest keeps
// decode-then-encode byte-identical.
inline varint_status decode_varint(const char* p, std::size_t n, std::uint32_t& value, std::size_t& used) noexcept
{
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (i >= n)
            return varint_status::incomplete;
        const auto b = static_cast<std::uint8_t>(p[i]);
        v |= static_cast<std::uint32_t>(b & 0x7Fu) << (7 * i);
        if ((b & 0x80u) == 0) {
            if (b == 0 && i > 0)
                return varint_status::malformed; // non-minimal
            value = v;
            used = i + 1;
            return varint_status::ok;
        }
    }
    return varint_status::malformed;
}

// A cursor over untrusted bytes. Every read checks the bounds and returns false
// (leaving the output untouched) when the data runs out or is invalid.
class reader {
public:
    explicit reader(std::string_view s) noexcept : s_(s) {}

    std::size_t pos() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return s_.size() - pos_; }
    bool empty() const noexcept { return pos_ == s_.size(); }

    bool u8(std::uint8_t& v) noexcept
    {
        if (remaining() < 1)
            return false;
        v = byte_at(pos_);
        pos_ += 1;
        return true;
    }
    bool u16(std::uint16_t& v) noexcept
    {
        if (remaining() < 2)
            return false;
        v = static_cast<std::uint16_t>((byte_at(pos_) << 8) | byte_at(pos_ + 1));
        pos_ += 2;
        return true;
    }
    bool u32(std::uint32_t& v) noexcept
    {
        if (remaining() < 4)
            return false;
        v = (std::uint32_t{byte_at(pos_)} << 24) | (std::uint32_t{byte_at(pos_ + 1)} << 16) |
            (std::uint32_t{byte_at(pos_ + 2)} << 8) | std::uint32_t{byte_at(pos_ + 3)};
        pos_ += 4;
        return true;
    }
    bool varint(std::uint32_t& v) noexcept
    {
        std::size_t used = 0;
        if (decode_varint(s_.data() + pos_, remaining(), v, used) != varint_status::ok)
            return false;
        pos_ += used;
        return true;
    }
    bool bytes(std::size_t n, std::string_view& out) noexcept
    {
        if (remaining() < n)
            return false;
        out = s_.substr(pos_, n);
        pos_ += n;
        return true;
    }
    // Two-byte length followed by that many bytes (UTF-8 string or binary data).
    bool prefixed(std::string_view& out) noexcept
    {
        const auto start = pos_;
        std::uint16_t n = 0;
        if (!u16(n) || !bytes(n, out)) {
            pos_ = start;
            return false;
        }
        return true;
    }
    // Everything left.
    std::string_view rest() noexcept
    {
        auto out = s_.substr(pos_);
        pos_ = s_.size();
        return out;
    }

private:
    std::uint8_t byte_at(std::size_t i) const noexcept { return static_cast<std::uint8_t>(s_[i]); }

    std::string_view s_;
    std::size_t pos_ = 0;
};

inline void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, std::uint16_t v)
{
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xFF));
}
inline void put_u32(std::string& out, std::uint32_t v)
{
    out.push_back(static_cast<char>(v >> 24));
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
}
// Two-byte length prefix then the bytes; the caller checked s.size() <= 65535.
inline void put_prefixed(std::string& out, std::string_view s)
{
    put_u16(out, static_cast<std::uint16_t>(s.size()));
    out.append(s);
}

} // namespace mqtt::detail

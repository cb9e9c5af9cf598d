#include "mqtt/stream_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "wire.hpp"

namespace mqtt {

namespace {

// A fresh chunk is sized for what the feed that needs it brings, so that packets
// kept long after their read (a queue for an offline client) pin no unused room
// behind them; within these bounds: tiny feeds still share a chunk, and a huge
// feed is buffered piecewise.
constexpr std::size_t min_chunk = 256;
constexpr std::size_t max_feed_chunk = 64 * 1024;
// Type byte plus a Remaining Length of at most 4 bytes.
constexpr std::size_t max_header = 5;

// Offsets within a chunk fit 32 bits (see stream_decoder.hpp).
std::uint32_t u32(std::size_t n) noexcept
{
    return static_cast<std::uint32_t>(n);
}

} // namespace

stream_decoder::stream_decoder(std::uint32_t maximum_packet_size, std::optional<protocol_version> version)
    : max_size_(maximum_packet_size), version_(version)
{
}

void stream_decoder::reset() noexcept
{
    if (chunk_ && chunk_.use_count() > 1) {
        chunk_.reset(); // packets still view it: leave it to them
        capacity_ = 0;
    }
    begin_ = end_ = scan_ = need_ = 0;
    error_.clear();
    reported_ = false;
}

// Makes room for n more bytes after end_. Unreturned bytes move to the front of
// the chunk when no packet views it, else to a new chunk (the old one stays
// untouched for the packets holding it).
void stream_decoder::reserve(std::size_t n, std::size_t feeding)
{
    if (capacity_ - end_ >= n)
        return;
    const std::size_t live = end_ - begin_;
    if (chunk_ && chunk_.use_count() == 1 && capacity_ >= live + n) {
        if (live != 0)
            std::memmove(chunk_.get(), chunk_.get() + begin_, live);
    } else {
        // Grow at least twice the bytes held: a caller that feeds a long backlog
        // before taking packets out would otherwise copy it over and over.
        const auto cap = std::max({min_chunk, live + n, 2 * live, live + std::min(feeding, max_feed_chunk)});
        auto fresh = std::make_shared_for_overwrite<char[]>(cap);
        if (live != 0)
            std::memcpy(fresh.get(), chunk_.get() + begin_, live);
        chunk_ = std::move(fresh);
        capacity_ = u32(cap);
    }
    scan_ -= begin_;
    end_ = u32(live);
    begin_ = 0;
}

void stream_decoder::append(const char* p, std::size_t n)
{
    std::memcpy(chunk_.get() + end_, p, n);
    end_ += u32(n);
}

void stream_decoder::feed(std::string_view bytes)
{
    while (!bytes.empty() && !error_) {
        std::size_t take = 0;
        if (need_ == 0) {
            // Header of the packet at scan_ still incomplete: fewer than 5 bytes here.
            take = std::min(bytes.size(), max_header - (end_ - scan_));
            reserve(take, bytes.size());
        } else {
            // Room for the whole rest of this packet, whose size was checked
            // against the maximum when its header was framed.
            const std::size_t rest = need_ - (end_ - scan_);
            take = std::min(bytes.size(), rest);
            reserve(rest, bytes.size());
        }
        append(bytes.data(), take);
        bytes.remove_prefix(take);

        // Frame whole packets: [begin_, scan_) then holds only complete ones.
        while (!error_) {
            if (need_ == 0) {
                const auto avail = end_ - scan_;
                if (avail == 0)
                    break;
                const char* p = chunk_.get() + scan_;
                if ((static_cast<std::uint8_t>(p[0]) >> 4) == 0) {
                    error_ = make_error_code(reason_code::malformed_packet); // reserved type 0
                    break;
                }
                std::uint32_t remaining = 0;
                std::size_t used = 0;
                const auto st = detail::decode_varint(p + 1, avail - 1, remaining, used);
                if (st == detail::varint_status::incomplete)
                    break;
                if (st == detail::varint_status::malformed) {
                    error_ = make_error_code(reason_code::malformed_packet); // 5-byte length
                    break;
                }
                const auto total = std::size_t{1} + used + remaining;
                if (total > max_size_) {
                    // Refused before a byte of the body is buffered.
                    error_ = make_error_code(reason_code::packet_too_large);
                    break;
                }
                need_ = u32(total);
            }
            if (end_ - scan_ < need_)
                break;
            scan_ += need_;
            need_ = 0;
        }
    }
    // Bytes after a framing error can never be decoded: they are dropped.
}

std::optional<result<packet>> stream_decoder::next()
{
    if (reported_)
        return result<packet>(error_);

    auto fail = [this](std::error_code ec) {
        error_ = ec;
        reported_ = true;
        chunk_.reset(); // nothing more will be decoded from it
        capacity_ = begin_ = end_ = scan_ = need_ = 0;
        return std::optional<result<packet>>(result<packet>(ec));
    };

    if (begin_ < scan_) {
        const char* p = chunk_.get() + begin_;
        const auto first = static_cast<std::uint8_t>(p[0]);
        std::uint32_t remaining = 0;
        std::size_t used = 0;
        detail::decode_varint(p + 1, scan_ - begin_ - 1, remaining, used); // framed: known good
        const auto type = static_cast<packet_type>(first >> 4);
        if (!version_ && type != packet_type::connect)
            return fail(make_error_code(reason_code::protocol_error)); // [MQTT-3.1.0-1]
        buffer body(std::shared_ptr<const void>(chunk_, chunk_.get()), std::string_view(p + 1 + used, remaining));
        begin_ += u32(1 + used + remaining);
        auto r = decode_body(first, body, version_.value_or(protocol_version::v5));
        if (!r)
            return fail(r.error());
        if (!version_)
            if (const auto* c = std::get_if<connect>(&r.value()))
                version_ = c->version;
        return r;
    }
    if (error_)
        return fail(error_); // the framing error, now that the packets before it are out
    if (begin_ == end_ && chunk_) {
        // Everything fed has been returned: hand the chunk to the packets still
        // viewing it (or free it), so a quiet connection holds no buffer. The
        // next feed allocates one sized for what it brings.
        chunk_.reset();
        capacity_ = begin_ = end_ = scan_ = 0;
    }
    return std::nullopt;
}

} // namespace mqtt

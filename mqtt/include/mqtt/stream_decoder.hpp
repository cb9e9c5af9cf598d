#pragma once
// Incremental decoder for a byte stream: feed it chunks of any size (down to one
// byte) and take whole packets out. The maximum packet size is checked as soon as
// the Remaining Length is known, before any of the body is buffered, so a peer
// cannot make us hold more than the limit. After an error the decoder is
// poisoned: every later next() returns the same error.
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include "mqtt/buffer.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/result.hpp"

namespace mqtt {

class stream_decoder {
public:
    // `version` nullopt: only CONNECT is accepted until set_version() is called,
    // or until a CONNECT is decoded, which sets the version from its protocol level.
    explicit stream_decoder(std::uint32_t maximum_packet_size = max_packet_size,
        std::optional<protocol_version> version = std::nullopt);

    void set_version(protocol_version v) noexcept { version_ = v; }
    std::optional<protocol_version> version() const noexcept { return version_; }
    void set_maximum_packet_size(std::uint32_t n) noexcept { max_size_ = n; }
    std::uint32_t maximum_packet_size() const noexcept { return max_size_; }

    // Copies `bytes` into the decoder's receive buffer.
    void feed(std::string_view bytes);

    // The next whole packet: nullopt when more bytes are needed, else the packet or
    // the error (packet_too_large, malformed_packet, protocol_error, ...).
    std::optional<result<packet>> next();

    // Bytes fed but not yet returned as packets.
    std::size_t buffered() const noexcept { return end_ - begin_; }
    // Bytes of receive buffer it holds: 0 once next() has returned every packet
    // fed and then nullopt (an idle connection holds none).
    std::size_t held_capacity() const noexcept { return capacity_; }
    // Drops everything buffered and clears a previous error (for a new connection).
    void reset() noexcept;

private:
    // Room for n more bytes; `feeding`: the bytes the current feed still brings.
    void reserve(std::size_t n, std::size_t feeding);
    void append(const char* p, std::size_t n);

    // Received bytes live in a shared chunk; decoded packets hold views into it.
    // Bytes handed out are never written again: a chunk still referenced by a
    // packet is replaced, not compacted. (32-bit offsets: a chunk never holds
    // more than twice the largest packet; the decoder is part of every
    // connection's session, so its size counts.)
    std::shared_ptr<char[]> chunk_;
    std::uint32_t capacity_ = 0;
    std::uint32_t begin_ = 0; // first byte not yet returned by next()
    std::uint32_t end_ = 0;   // one past the last byte fed
    // Framing done by feed(): [begin_, scan_) holds whole packets; the packet
    // starting at scan_ needs need_ bytes in all (0 while its header is incomplete).
    std::uint32_t scan_ = 0;
    std::uint32_t need_ = 0;
    std::uint32_t max_size_;
    // A framing error at scan_ (reported once next() gets there), or, once
    // reported_, the error every later next() returns.
    std::error_code error_;
    std::optional<protocol_version> version_;
    bool reported_ = false;
};

} // namespace mqtt

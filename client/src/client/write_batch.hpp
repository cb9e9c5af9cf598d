#pragma once
// The bytes of one stream write: every packet of a loop turn encoded back to back,
// headers in one string and large PUBLISH payloads referenced, not copied.
#include <cstddef>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "mqtt/buffer.hpp"
#include "mqtt/packet.hpp"

namespace mqtt::detail {

class write_batch {
public:
    // Payloads up to this size are copied next to their header: one iovec entry
    // costs more than copying a few hundred bytes.
    static constexpr std::size_t inline_payload_limit = 512;

    // Encodes `p`; on failure nothing is added.
    std::error_code add(const packet& p, protocol_version v);

    bool empty() const noexcept { return packets_ == 0; }
    std::size_t packets() const noexcept { return packets_; }
    std::size_t size_bytes() const noexcept { return bytes_.size() + payload_bytes_; }

    // The gather list; valid until the next add() or clear().
    std::span<const boost::asio::const_buffer> buffers();
    void clear() noexcept;

private:
    struct piece {
        std::size_t begin; // in bytes_, or the index in payloads_ when external
        std::size_t end;
        bool external;
    };

    std::string bytes_;
    std::vector<buffer> payloads_;
    std::vector<piece> pieces_;
    std::vector<boost::asio::const_buffer> iov_;
    std::size_t open_begin_ = 0; // start of the header bytes not yet in pieces_
    std::size_t packets_ = 0;
    std::size_t payload_bytes_ = 0;
};

} // namespace mqtt::detail

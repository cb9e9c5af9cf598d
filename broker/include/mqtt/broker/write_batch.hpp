#pragma once
// Everything one connection has to send in one loop turn, ready for a single
// gather write: header bytes in one string, PUBLISH payloads as shared buffers
// between them (never copied per subscriber). size() is O(1): the engine asks it
// on every QoS 0 delivery to bound a slow reader's backlog.
#include <string>
#include <vector>

#include "mqtt/buffer.hpp"
#include "mqtt/codec.hpp"

namespace mqtt::broker {

struct write_batch {
    struct piece {
        std::size_t header_end; // the payload goes after headers[..header_end)
        buffer payload;
    };
    std::string headers;
    std::vector<piece> pieces;
    std::size_t payload_bytes = 0; // sum of pieces[i].payload.size()

    bool empty() const noexcept { return headers.empty(); }
    std::size_t size() const noexcept { return headers.size() + payload_bytes; }
    void clear() noexcept
    {
        headers.clear();
        pieces.clear();
        payload_bytes = 0;
    }
    // Appends the bytes of `from` (payloads stay shared).
    void splice(write_batch&& from)
    {
        const auto offset = headers.size();
        headers += from.headers;
        for (auto& p : from.pieces)
            pieces.push_back({p.header_end + offset, std::move(p.payload)});
        payload_bytes += from.payload_bytes;
        from.clear();
    }
    // Appends a packet; false (nothing appended) when it cannot be encoded.
    bool append(const packet& p, protocol_version v)
    {
        auto payload = encode_gather(p, v, headers);
        if (!payload)
            return false;
        if (!payload->empty()) {
            payload_bytes += payload->size();
            pieces.push_back({headers.size(), std::move(*payload)});
        }
        return true;
    }
    // Calls f(const char*, size) for each contiguous segment in order.
    template <class F>
    void for_each_segment(F&& f) const
    {
        std::size_t from = 0;
        for (auto& p : pieces) {
            if (p.header_end > from)
                f(headers.data() + from, p.header_end - from);
            f(p.payload.data(), p.payload.size());
            from = p.header_end;
        }
        if (headers.size() > from)
            f(headers.data() + from, headers.size() - from);
    }
};

} // namespace mqtt::broker

#pragma once
// Everything one connection has to send in one loop turn, ready for a single
// gather write: header bytes in one string, PUBLISH payloads as shared buffers
// between them (never copied per subscriber).
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

    bool empty() const noexcept { return headers.empty(); }
    std::size_t size() const noexcept
    {
        std::size_t n = headers.size();
        for (auto& p : pieces)
            n += p.payload.size();
        return n;
    }
    void clear() noexcept
    {
        headers.clear();
        pieces.clear();
    }
    // Appends a packet; false (nothing appended) when it cannot be encoded.
    bool append(const packet& p, protocol_version v)
    {
        auto payload = encode_gather(p, v, headers);
        if (!payload)
            return false;
        if (!payload->empty())
            pieces.push_back({headers.size(), std::move(*payload)});
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

#include "write_batch.hpp"

#include "mqtt/codec.hpp"

namespace mqtt::detail {

std::error_code write_batch::add(const packet& p, protocol_version v)
{
    const auto before = bytes_.size();
    auto payload = encode_gather(p, v, bytes_);
    if (!payload) {
        bytes_.resize(before);
        return payload.error();
    }
    ++packets_;
    if (payload->empty())
        return {};
    if (payload->size() <= inline_payload_limit) {
        bytes_.append(payload->view());
        return {};
    }
    if (bytes_.size() > open_begin_)
        pieces_.push_back({open_begin_, bytes_.size(), false});
    open_begin_ = bytes_.size();
    pieces_.push_back({payloads_.size(), 0, true});
    payload_bytes_ += payload->size();
    payloads_.push_back(std::move(*payload));
    return {};
}

std::span<const boost::asio::const_buffer> write_batch::buffers()
{
    iov_.clear();
    iov_.reserve(pieces_.size() + 1);
    for (const auto& p : pieces_) {
        if (p.external)
            iov_.emplace_back(payloads_[p.begin].data(), payloads_[p.begin].size());
        else
            iov_.emplace_back(bytes_.data() + p.begin, p.end - p.begin);
    }
    if (bytes_.size() > open_begin_)
        iov_.emplace_back(bytes_.data() + open_begin_, bytes_.size() - open_begin_);
    return iov_;
}

void write_batch::clear() noexcept
{
    bytes_.clear();
    payloads_.clear();
    pieces_.clear();
    iov_.clear();
    open_begin_ = 0;
    packets_ = 0;
    payload_bytes_ = 0;
}

} // namespace mqtt::detail

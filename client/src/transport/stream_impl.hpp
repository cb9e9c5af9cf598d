#pragma once
// Private: stream_impl<Stream>, the one implementation of mqtt::transport::stream
// for every layer. Its members are defined in stream_impl_ops.hpp and compiled
// once per layer (tcp_stream.cpp, tls_stream.cpp, websocket_stream.cpp).
#include <memory>
#include <string>
#include <vector>

#include "layers.hpp"

namespace mqtt::transport::detail {

// Everything an operation in flight touches. Shared by the stream object and
// by the pending handlers, so destroying the stream mid-operation is safe.
template <class Stream>
struct layer_state {
    template <class... Args>
    explicit layer_state(scheme k, std::shared_ptr<const void> keep, Args&&... args)
        : tls_context(std::move(keep)), stream(std::forward<Args>(args)...), kind(k)
    {
    }

    std::shared_ptr<const void> tls_context; // first member: must outlive `stream`
    Stream stream;
    scheme kind;
    std::string remote;                             // cached: unavailable after close
    std::vector<asio::const_buffer> write_buffers;  // the one write in flight
    bool closed = false;
};

template <class Stream>
class stream_impl final : public stream {
public:
    explicit stream_impl(std::shared_ptr<layer_state<Stream>> state) noexcept;
    ~stream_impl() override;
    stream_impl(const stream_impl&) = delete;
    stream_impl& operator=(const stream_impl&) = delete;

    boost::asio::any_io_executor get_executor() override;
    void async_read_some(boost::asio::mutable_buffer buf, io_handler handler) override;
    void async_write(std::span<const boost::asio::const_buffer> buffers, io_handler handler) override;
    bool async_wait_readable(std::function<void(error_code)> handler) override;
    std::size_t read_some_now(boost::asio::mutable_buffer buf, error_code& ec) override;
    void close() noexcept override;
    scheme kind() const noexcept override;
    std::string remote_endpoint() const override;
    std::string peer_common_name() const override;

private:
    std::shared_ptr<layer_state<Stream>> state_;
};

extern template class stream_impl<tcp_layer>;
extern template class stream_impl<tls_layer>;
extern template class stream_impl<ws_layer>;
extern template class stream_impl<wss_layer>;

} // namespace mqtt::transport::detail

#pragma once
// Private: the members of stream_impl<Stream>; include only where the template
// is explicitly instantiated.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "stream_impl.hpp"

namespace mqtt::transport::detail {

// Completion codes that mean the same thing on every layer look the same:
// after close() everything is operation_aborted, a peer's orderly goodbye is eof.
template <class Stream>
error_code normalise(const layer_state<Stream>& state, error_code ec) noexcept
{
    if (!ec) return ec;
    if (state.closed) return asio::error::operation_aborted;
    if (ec == ssl::error::stream_truncated || ec == websocket::error::closed) return asio::error::eof;
    return ec;
}

template <class Stream>
void post_completion(layer_state<Stream>& state, io_handler handler, error_code ec)
{
    asio::post(state.stream.get_executor(), [h = std::move(handler), ec]() mutable { h(ec, 0); });
}

// WebSocket: keep reading until payload bytes arrive, so that empty messages
// never look like a zero-byte read; a text frame ends the connection.
template <class Stream>
void read_websocket_payload(std::shared_ptr<layer_state<Stream>> state, asio::mutable_buffer buf, io_handler handler)
{
    auto& ws = state->stream;
    ws.async_read_some(buf, [state = std::move(state), buf, h = std::move(handler)](error_code ec, std::size_t n) mutable {
        if (!ec && state->stream.got_text()) {
            // [MQTT-6.0.0-1]: any other than a binary data frame closes the connection.
            state->closed = true;
            close_lowest(state->stream);
            h(transport_errc::websocket_text_frame, 0);
            return;
        }
        if (!ec && n == 0 && !state->closed) {
            read_websocket_payload(std::move(state), buf, std::move(h));
            return;
        }
        h(normalise(*state, ec), n);
    });
}

template <class Stream>
stream_impl<Stream>::stream_impl(std::shared_ptr<layer_state<Stream>> state) noexcept : state_(std::move(state))
{
}

template <class Stream>
stream_impl<Stream>::~stream_impl()
{
    close();
}

template <class Stream>
boost::asio::any_io_executor stream_impl<Stream>::get_executor()
{
    return state_->stream.get_executor();
}

template <class Stream>
void stream_impl<Stream>::async_read_some(boost::asio::mutable_buffer buf, io_handler handler)
{
    if (state_->closed) return post_completion(*state_, std::move(handler), asio::error::operation_aborted);
    if (buf.size() == 0) return post_completion(*state_, std::move(handler), {});
    if constexpr (is_websocket_v<Stream>) {
        read_websocket_payload(state_, buf, std::move(handler));
    } else {
        state_->stream.async_read_some(buf, [state = state_, h = std::move(handler)](error_code ec, std::size_t n) mutable {
            h(normalise(*state, ec), n);
        });
    }
}

template <class Stream>
void stream_impl<Stream>::async_write(std::span<const boost::asio::const_buffer> buffers, io_handler handler)
{
    if (state_->closed) return post_completion(*state_, std::move(handler), asio::error::operation_aborted);
    // The caller keeps the bytes alive, not necessarily the span of buffers.
    state_->write_buffers.assign(buffers.begin(), buffers.end());
    auto done = [state = state_, h = std::move(handler)](error_code ec, std::size_t n) mutable {
        h(normalise(*state, ec), n);
    };
    if constexpr (is_websocket_v<Stream>)
        state_->stream.async_write(state_->write_buffers, std::move(done)); // one binary message
    else
        asio::async_write(state_->stream, state_->write_buffers, std::move(done));
}

template <class Stream>
bool stream_impl<Stream>::async_wait_readable(std::function<void(error_code)> handler)
{
    if constexpr (std::is_same_v<Stream, tcp_layer>) {
        if (state_->closed) {
            asio::post(state_->stream.get_executor(), [h = std::move(handler)] { h(asio::error::operation_aborted); });
            return true;
        }
        state_->stream.async_wait(tcp::socket::wait_read, [state = state_, h = std::move(handler)](error_code ec) {
            h(normalise(*state, ec));
        });
        return true;
    } else {
        (void)handler;
        return false;
    }
}

template <class Stream>
std::size_t stream_impl<Stream>::read_some_now(boost::asio::mutable_buffer buf, error_code& ec)
{
    if constexpr (std::is_same_v<Stream, tcp_layer>) {
        if (state_->closed) {
            ec = asio::error::operation_aborted;
            return 0;
        }
        // Asio keeps the descriptor non-blocking for its own operations; this
        // makes the synchronous read honour it too instead of polling.
        if (!state_->stream.non_blocking()) {
            state_->stream.non_blocking(true, ec);
            if (ec)
                return 0;
        }
        auto n = state_->stream.read_some(buf, ec);
        ec = normalise(*state_, ec);
        return n;
    } else {
        (void)buf;
        ec = asio::error::operation_not_supported;
        return 0;
    }
}

template <class Stream>
void stream_impl<Stream>::close() noexcept
{
    if (state_->closed) return;
    state_->closed = true;
    close_lowest(state_->stream);
}

template <class Stream>
scheme stream_impl<Stream>::kind() const noexcept
{
    return state_->kind;
}

template <class Stream>
std::string stream_impl<Stream>::remote_endpoint() const
{
    return state_->remote;
}

template <class Stream>
std::string stream_impl<Stream>::peer_common_name() const
{
    if constexpr (has_tls_v<Stream>)
        return verified_peer_common_name(tls_of(state_->stream).native_handle());
    else
        return {};
}

} // namespace mqtt::transport::detail

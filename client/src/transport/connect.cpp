// Client side: resolve, connect, then the TLS and/or WebSocket handshakes.
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "stream_impl.hpp"
#include "tls_context.hpp"

namespace mqtt::transport::detail {
namespace {

std::string host_header(const endpoint& ep)
{
    const bool ipv6 = ep.host.find(':') != std::string::npos;
    return (ipv6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port);
}

template <class Stream>
class connect_op : public std::enable_shared_from_this<connect_op<Stream>> {
public:
    connect_op(const asio::any_io_executor& ex, const endpoint& ep, std::shared_ptr<layer_state<Stream>> state,
        const connect_handler& handler)
        : ep_(ep), state_(std::move(state)), handler_(handler), resolver_(ex), timer_(ex)
    {
    }

    void start()
    {
        auto self = this->shared_from_this();
        if (ep_.connect_timeout.count() > 0) {
            timer_.expires_after(ep_.connect_timeout);
            timer_.async_wait([self](error_code ec) {
                if (ec || self->finished_) return;
                self->timed_out_ = true;
                self->resolver_.cancel();
                close_lowest(self->state_->stream);
            });
        }
        resolver_.async_resolve(ep_.host, std::to_string(ep_.port), tcp::resolver::numeric_service,
            [self](error_code ec, const tcp::resolver::results_type& results) { self->on_resolve(ec, results); });
    }

private:
    void on_resolve(error_code ec, const tcp::resolver::results_type& results)
    {
        if (ec || timed_out_) return finish(ec);
        auto self = this->shared_from_this();
        // Tries each address in turn until one accepts.
        asio::async_connect(beast::get_lowest_layer(state_->stream), results,
            [self](error_code connect_ec, const tcp::endpoint&) { self->on_connect(connect_ec); });
    }

    void on_connect(error_code ec)
    {
        if (ec || timed_out_) return finish(ec);
        auto& socket = beast::get_lowest_layer(state_->stream);
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored); // MQTT packets are small and latency-bound
        state_->remote = remote_of(socket);
        if constexpr (has_tls_v<Stream>)
            tls_handshake();
        else if constexpr (is_websocket_v<Stream>)
            websocket_handshake();
        else
            finish({});
    }

    void tls_handshake()
    {
        auto& tls = tls_of(state_->stream);
        error_code ec;
        configure_client_tls(tls, ep_, ec);
        if (ec) return finish(ec);
        auto self = this->shared_from_this();
        tls.async_handshake(ssl::stream_base::client, [self](error_code handshake_ec) {
            if (handshake_ec || self->timed_out_) return self->finish(handshake_ec);
            if constexpr (is_websocket_v<Stream>)
                self->websocket_handshake();
            else
                self->finish({});
        });
    }

    void websocket_handshake()
    {
        if constexpr (is_websocket_v<Stream>) {
            auto& ws = state_->stream;
            configure_websocket(ws);
            // [MQTT-6.0.0-3]: offer the "mqtt" sub-protocol.
            ws.set_option(websocket::stream_base::decorator(
                [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "mqtt"); }));
            auto self = this->shared_from_this();
            ws.async_handshake(response_, host_header(ep_), ep_.path, [self](error_code ec) {
                if (!ec && !beast::iequals(self->response_[http::field::sec_websocket_protocol], "mqtt"))
                    ec = transport_errc::websocket_subprotocol_refused;
                self->finish(ec);
            });
        }
    }

    void finish(error_code ec)
    {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        if (timed_out_) ec = asio::error::timed_out; // whatever the cancelled step reported
        if (ec) {
            close_lowest(state_->stream);
            handler_(ec, nullptr);
            return;
        }
        std::unique_ptr<stream> result;
        try {
            result = std::make_unique<stream_impl<Stream>>(std::move(state_));
        } catch (const std::bad_alloc&) {
            handler_(make_error_code(boost::system::errc::not_enough_memory), nullptr);
            return;
        }
        handler_({}, std::move(result));
    }

    endpoint ep_;
    std::shared_ptr<layer_state<Stream>> state_;
    connect_handler handler_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    websocket::response_type response_;
    bool timed_out_ = false;
    bool finished_ = false;
};

template <class Stream, class... Args>
void start_connect(const asio::any_io_executor& ex, const endpoint& ep, std::shared_ptr<const void> keep,
    const connect_handler& handler, Args&&... args)
{
    auto state = std::make_shared<layer_state<Stream>>(ep.kind, std::move(keep), std::forward<Args>(args)...);
    std::make_shared<connect_op<Stream>>(ex, ep, std::move(state), handler)->start();
}

} // namespace
} // namespace mqtt::transport::detail

namespace mqtt::transport {

void async_connect(boost::asio::any_io_executor ex, const endpoint& ep, connect_handler handler)
{
    using namespace detail;
    auto fail = [&](error_code ec) { asio::post(ex, [h = handler, ec] { h(ec, nullptr); }); };
    try {
        std::shared_ptr<ssl::context> ctx;
        if (uses_tls(ep.kind)) {
            error_code ec;
            ctx = make_client_tls_context(ep.tls, ec);
            if (ec) return fail(ec);
        }
        switch (ep.kind) {
        case scheme::tcp: return start_connect<tcp_layer>(ex, ep, nullptr, handler, ex);
        case scheme::tls: return start_connect<tls_layer>(ex, ep, ctx, handler, ex, *ctx);
        case scheme::ws: return start_connect<ws_layer>(ex, ep, nullptr, handler, ex);
        case scheme::wss: return start_connect<wss_layer>(ex, ep, ctx, handler, ex, *ctx);
        }
        fail(make_error_code(boost::system::errc::invalid_argument));
    } catch (const boost::system::system_error& e) {
        fail(e.code());
    } catch (const std::exception&) {
        fail(make_error_code(boost::system::errc::not_enough_memory));
    }
}

} // namespace mqtt::transport

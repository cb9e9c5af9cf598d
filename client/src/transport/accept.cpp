// Server side: TCP_NODELAY, the TLS handshake and the WebSocket upgrade with
// sub-protocol selection, for a socket an acceptor produced.
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>

#include "stream_impl.hpp"
#include "tls_context.hpp"
#include "websocket_subprotocol.hpp"

namespace mqtt::transport::detail {
namespace {

constexpr std::chrono::milliseconds default_handshake_timeout = std::chrono::seconds(30);
constexpr std::size_t max_upgrade_request = 16 * 1024;

template <class Stream>
class accept_op : public std::enable_shared_from_this<accept_op<Stream>> {
public:
    accept_op(std::shared_ptr<layer_state<Stream>> state, std::chrono::milliseconds timeout, connect_handler handler)
        : state_(std::move(state)), handler_(std::move(handler)), timer_(state_->stream.get_executor()), timeout_(timeout)
    {
    }

    void start()
    {
        auto& socket = beast::get_lowest_layer(state_->stream);
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        state_->remote = remote_of(socket);
        auto self = this->shared_from_this();
        if constexpr (!has_tls_v<Stream> && !is_websocket_v<Stream>) {
            // Nothing to negotiate; still complete outside the initiating call.
            asio::post(timer_.get_executor(), [self] { self->finish({}); });
            return;
        }
        if (timeout_.count() > 0) {
            timer_.expires_after(timeout_);
            timer_.async_wait([self](error_code ec) {
                if (ec || self->finished_) return;
                self->timed_out_ = true;
                close_lowest(self->state_->stream);
            });
        }
        if constexpr (has_tls_v<Stream>)
            tls_handshake();
        else
            read_upgrade_request();
    }

private:
    void tls_handshake()
    {
        auto self = this->shared_from_this();
        tls_of(state_->stream).async_handshake(ssl::stream_base::server, [self](error_code ec) {
            if (ec || self->timed_out_) return self->finish(ec);
            if constexpr (is_websocket_v<Stream>)
                self->read_upgrade_request();
            else
                self->finish({});
        });
    }

    // The request is read here rather than by Beast so that its
    // Sec-WebSocket-Protocol can be checked before answering.
    void read_upgrade_request()
    {
        if constexpr (is_websocket_v<Stream>) {
            auto self = this->shared_from_this();
            asio::async_read_until(state_->stream.next_layer(), asio::dynamic_buffer(raw_, max_upgrade_request),
                "\r\n\r\n", [self](error_code ec, std::size_t header_size) { self->on_upgrade_request(ec, header_size); });
        }
    }

    void on_upgrade_request(error_code ec, std::size_t header_size)
    {
        if constexpr (is_websocket_v<Stream>) {
            if (ec == asio::error::not_found) // no end of header within the limit
                return refuse(http::status::request_header_fields_too_large, "The request header is too large.\n",
                    transport_errc::websocket_bad_request);
            if (ec || timed_out_) return finish(ec);

            parser_.emplace();
            parser_->header_limit(static_cast<std::uint32_t>(max_upgrade_request));
            parser_->eager(true);
            error_code parse_ec;
            parser_->put(asio::buffer(raw_.data(), header_size), parse_ec);
            if (parse_ec || !parser_->is_done())
                return refuse(http::status::bad_request, "Malformed HTTP request.\n", transport_errc::websocket_bad_request);

            const auto& request = parser_->get();
            if (!websocket::is_upgrade(request))
                return refuse(http::status::upgrade_required,
                    "This is an MQTT over WebSocket endpoint: connect with a WebSocket client.\n",
                    transport_errc::websocket_not_upgrade);
            const std::string_view protocol = select_subprotocol(request);
            if (protocol.empty())
                return refuse(http::status::bad_request,
                    "MQTT over WebSocket needs the 'mqtt' sub-protocol (Sec-WebSocket-Protocol: mqtt).\n",
                    transport_errc::websocket_no_mqtt_subprotocol);

            auto& ws = state_->stream;
            configure_websocket(ws);
            ws.set_option(websocket::stream_base::decorator([chosen = std::string(protocol)](websocket::response_type& res) {
                res.set(http::field::sec_websocket_protocol, chosen);
            }));
            auto self = this->shared_from_this();
            auto on_accepted = [self](error_code accept_ec) { self->finish(accept_ec); };
            if (raw_.size() == header_size)
                ws.async_accept(request, std::move(on_accepted));
            else // frames sent right behind the request: Beast parses both from the bytes
                ws.async_accept(asio::buffer(raw_), std::move(on_accepted));
        }
    }

    void refuse(http::status status, std::string_view text, transport_errc reason)
    {
        if constexpr (is_websocket_v<Stream>) {
            auto& res = response_.emplace(status, 11);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            if (status == http::status::upgrade_required) res.set(http::field::upgrade, "websocket");
            res.keep_alive(false);
            res.body() = std::string(text);
            res.prepare_payload();
            auto self = this->shared_from_this();
            http::async_write(state_->stream.next_layer(), res,
                [self, reason](error_code, std::size_t) { self->finish(reason); });
        }
    }

    void finish(error_code ec)
    {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        if (timed_out_) ec = asio::error::timed_out;
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

    std::shared_ptr<layer_state<Stream>> state_;
    connect_handler handler_;
    asio::steady_timer timer_;
    std::chrono::milliseconds timeout_;
    std::string raw_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
    bool timed_out_ = false;
    bool finished_ = false;
};

template <class Stream, class... Args>
void start_accept(scheme kind, std::shared_ptr<const void> keep, std::chrono::milliseconds timeout,
    connect_handler handler, Args&&... args)
{
    auto state = std::make_shared<layer_state<Stream>>(kind, std::move(keep), std::forward<Args>(args)...);
    std::make_shared<accept_op<Stream>>(std::move(state), timeout, std::move(handler))->start();
}

} // namespace
} // namespace mqtt::transport::detail

namespace mqtt::transport {

void async_accept(boost::asio::ip::tcp::socket socket, scheme kind, std::shared_ptr<server_tls_context> tls,
    connect_handler handler)
{
    async_accept(std::move(socket), kind, std::move(tls), std::move(handler), detail::default_handshake_timeout);
}

void async_accept(boost::asio::ip::tcp::socket socket, scheme kind, std::shared_ptr<server_tls_context> tls,
    connect_handler handler, std::chrono::milliseconds handshake_timeout)
{
    using namespace detail;
    const auto ex = socket.get_executor();
    auto fail = [&](error_code ec) { asio::post(ex, [h = handler, ec] { h(ec, nullptr); }); };
    if (uses_tls(kind) && !tls) return fail(transport_errc::no_tls_context);
    try {
        switch (kind) {
        case scheme::tcp: return start_accept<tcp_layer>(kind, nullptr, handshake_timeout, handler, std::move(socket));
        case scheme::tls:
            return start_accept<tls_layer>(kind, tls, handshake_timeout, handler, std::move(socket), tls->context);
        case scheme::ws: return start_accept<ws_layer>(kind, nullptr, handshake_timeout, handler, std::move(socket));
        case scheme::wss:
            return start_accept<wss_layer>(kind, tls, handshake_timeout, handler, std::move(socket), tls->context);
        }
        fail(make_error_code(boost::system::errc::invalid_argument));
    } catch (const boost::system::system_error& e) {
        fail(e.code());
    } catch (const std::exception&) {
        fail(make_error_code(boost::system::errc::not_enough_memory));
    }
}

} // namespace mqtt::transport

#pragma once
// Private: the four concrete stream types behind mqtt::transport::stream and
// small helpers shared by the connect, accept and stream sources. This is the
// only place that pulls in Beast and Asio's SSL support.
#include <cstddef>
#include <string>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "mqtt/transport/stream.hpp"

namespace mqtt::transport::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

// beast::ssl_stream coalesces gather writes into one TLS record where
// asio::ssl::stream would emit one record per buffer.
using tcp_layer = tcp::socket;
using tls_layer = beast::ssl_stream<tcp::socket>;
using ws_layer = websocket::stream<tcp::socket>;
using wss_layer = websocket::stream<tls_layer>;

template <class Stream>
inline constexpr bool is_websocket_v = std::is_same_v<Stream, ws_layer> || std::is_same_v<Stream, wss_layer>;
template <class Stream>
inline constexpr bool has_tls_v = std::is_same_v<Stream, tls_layer> || std::is_same_v<Stream, wss_layer>;

// The largest MQTT packet (1 byte type, 4 bytes Remaining Length, 268,435,455
// bytes) must fit in one WebSocket message.
inline constexpr std::size_t max_websocket_message = 268'435'455 + 5;

template <class Stream>
tls_layer& tls_of(Stream& s)
{
    static_assert(has_tls_v<Stream>);
    if constexpr (std::is_same_v<Stream, tls_layer>)
        return s;
    else
        return s.next_layer();
}

template <class Stream>
void close_lowest(Stream& s) noexcept
{
    boost::system::error_code ignored;
    beast::get_lowest_layer(s).close(ignored);
}

template <class Stream>
void configure_websocket(Stream& ws)
{
    ws.binary(true);
    ws.auto_fragment(false);
    ws.read_message_max(max_websocket_message);
}

// The remote endpoint of a connected socket, or "" once it is gone.
std::string remote_of(const tcp::socket& socket);

// The Common Name of the peer certificate, when one was presented and verified.
std::string verified_peer_common_name(SSL* ssl);

} // namespace mqtt::transport::detail

#pragma once
// Byte streams that carry MQTT: TCP, TLS, WebSocket and WebSocket over TLS.
// The client and the broker see only this small interface; Beast and OpenSSL
// headers stay in the transport sources (one stream_impl<Stream> template per
// layer, instantiated there), so users' compile times stay low.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace mqtt::transport {

using error_code = boost::system::error_code;

// Failures the transport reports itself (the rest are Asio, SSL or Beast codes;
// a peer that closes the connection is reported as boost::asio::error::eof).
enum class transport_errc : int {
    tls_ca_failed = 1,             // client: ca_file / ca_path / default store unusable
    tls_certificate_failed,        // client: cert_file unusable
    tls_key_failed,                // client: key_file unusable or not matching cert_file
    no_tls_context,                // server: TLS/WSS accept without a server_tls_context
    websocket_subprotocol_refused, // client: the server did not select "mqtt" [MQTT-6.0.0-4]
    websocket_no_mqtt_subprotocol, // server: the request offered neither "mqtt" nor "mqttv3.1"
    websocket_not_upgrade,         // server: the HTTP request is no WebSocket upgrade
    websocket_bad_request,         // server: malformed or oversized HTTP request
    websocket_text_frame,          // a text frame arrived; MQTT needs binary ones [MQTT-6.0.0-1]
};

const boost::system::error_category& transport_category() noexcept;
error_code make_error_code(transport_errc e) noexcept;

enum class scheme : std::uint8_t { tcp, tls, ws, wss };

std::string_view to_string(scheme s) noexcept; // "mqtt", "mqtts", "ws", "wss"
inline bool uses_tls(scheme s) noexcept { return s == scheme::tls || s == scheme::wss; }
inline bool uses_websocket(scheme s) noexcept { return s == scheme::ws || s == scheme::wss; }

struct tls_options {
    std::string ca_file;          // PEM bundle of trusted CAs
    std::string ca_path;          // directory of hashed CA certificates
    std::string cert_file;        // our certificate (client: for mutual TLS; server: required)
    std::string key_file;         // its private key
    bool verify_peer = true;      // client: verify the server chain (off = --insecure)
    bool verify_hostname = true;  // client: the certificate must name the host
    std::string server_name;      // client: SNI and hostname to verify (default: the host)
    bool require_client_certificate = false; // server
};

// Where a client connects.
struct endpoint {
    scheme kind = scheme::tcp;
    std::string host = "localhost";
    std::uint16_t port = 1883;
    std::string path = "/mqtt"; // WebSocket request path
    tls_options tls;
    // Bounds resolve + connect + handshakes; zero waits as long as the OS does.
    // On expiry the handler gets boost::asio::error::timed_out.
    std::chrono::milliseconds connect_timeout{0};
};

// mqtt://host[:port], mqtts://, tcp://, ssl://, tls://, ws://host[:port][/path], wss://...
// Default ports: 1883, 8883, 80, 443. An IPv6 host is written in brackets.
bool parse_url(std::string_view url, endpoint& out, std::string& error);

// "address:port", IPv6 in brackets, IPv4-mapped IPv6 shown as IPv4: how
// remote_endpoint() names a peer.
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep);

using io_handler = std::function<void(error_code, std::size_t)>;

// A connected stream. Operations are not thread-safe: call them from one strand.
// Destroying it closes it; handlers still pending then run with operation_aborted
// (the stream's internals stay alive until they have), so they must not assume
// the stream object still exists.
class stream {
public:
    virtual ~stream() = default;
    virtual boost::asio::any_io_executor get_executor() = 0;
    // Reads at least one byte (WebSocket: payload bytes of binary messages, with
    // message boundaries ignored [MQTT-6.0.0-2]). A peer that closed the
    // connection gives boost::asio::error::eof.
    virtual void async_read_some(boost::asio::mutable_buffer buf, io_handler handler) = 0;
    // Writes every buffer, in order, as one gather write (WebSocket: one binary
    // message). The bytes must stay valid until the handler runs; the span
    // itself is copied and may be a temporary.
    virtual void async_write(std::span<const boost::asio::const_buffer> buffers, io_handler handler) = 0;
    // Reading without a buffer held while idle (a server with many quiet
    // connections): waits until bytes or the peer's close can be read. Only
    // where the socket's readiness is the stream's (TCP; TLS and WebSocket
    // hold decoded bytes the socket does not show): elsewhere it returns false
    // and the handler is never called. The wait does not read; once it has
    // completed, read with read_some_now until a read returns fewer bytes than
    // asked (the socket is then drained), then wait again.
    virtual bool async_wait_readable(std::function<void(error_code)> handler)
    {
        (void)handler;
        return false;
    }
    // Reads what has arrived without blocking: would_block when nothing has,
    // eof once the peer closed.
    virtual std::size_t read_some_now(boost::asio::mutable_buffer buf, error_code& ec)
    {
        (void)buf;
        ec = boost::asio::error::operation_not_supported;
        return 0;
    }
    // Closes at once; pending operations complete with operation_aborted.
    virtual void close() noexcept = 0;
    virtual scheme kind() const noexcept = 0;
    // "address:port" of the peer, or empty when unknown.
    virtual std::string remote_endpoint() const = 0;
    // TLS: the Common Name of the peer certificate, if one was presented and verified.
    virtual std::string peer_common_name() const { return {}; }
};

using connect_handler = std::function<void(error_code, std::unique_ptr<stream>)>;

// Client side: resolve, TCP connect (TCP_NODELAY), then the TLS handshake (SNI,
// verification) and/or the WebSocket handshake (Sec-WebSocket-Protocol: mqtt).
void async_connect(boost::asio::any_io_executor ex, const endpoint& ep, connect_handler handler);

// Server-side TLS settings, loaded from files; load again to pick up new
// certificates (connections already up keep theirs).
class server_tls_context;
std::shared_ptr<server_tls_context> make_server_tls_context(const tls_options& options, std::string& error);

// Server side: takes an accepted TCP socket and runs the handshakes for `kind`
// (TLS needs `tls`; WebSocket checks the `mqtt` sub-protocol and binary frames).
// The TLS/WebSocket handshakes must end within `handshake_timeout` (30 s in the
// overload without it; zero = no limit), else the handler gets timed_out.
void async_accept(boost::asio::ip::tcp::socket socket, scheme kind, std::shared_ptr<server_tls_context> tls,
    connect_handler handler);
void async_accept(boost::asio::ip::tcp::socket socket, scheme kind, std::shared_ptr<server_tls_context> tls,
    connect_handler handler, std::chrono::milliseconds handshake_timeout);

} // namespace mqtt::transport

template <>
struct boost::system::is_error_code_enum<mqtt::transport::transport_errc> : std::true_type {};

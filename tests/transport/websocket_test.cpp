// MQTT over WebSocket rules (MQTT 5.0 / 3.1.1 section 6), checked against raw
// Beast peers: sub-protocol negotiation, binary frames, frame boundaries.
#include <catch2/catch.hpp>

#include <optional>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "test_support.hpp"

using namespace transport_test;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

namespace {

// A Beast client that offers exactly the sub-protocols it is told to.
struct raw_client {
    explicit raw_client(asio::io_context& io) : ws(io) {}

    void start(std::uint16_t port, std::optional<std::string> protocols)
    {
        ws.next_layer().async_connect({asio::ip::make_address("127.0.0.1"), port}, [this, protocols](error_code ec) {
            if (ec) {
                result = ec;
                done = true;
                return;
            }
            if (protocols) {
                ws.set_option(websocket::stream_base::decorator([p = *protocols](websocket::request_type& req) {
                    req.set(http::field::sec_websocket_protocol, p);
                }));
            }
            ws.async_handshake(response, "127.0.0.1", "/mqtt", [this](error_code e) {
                result = e;
                done = true;
            });
        });
    }

    websocket::stream<tcp::socket> ws;
    websocket::response_type response;
    error_code result;
    bool done = false;
};

// A Beast server that answers with the sub-protocol it is told to (or none).
struct raw_server {
    explicit raw_server(asio::io_context& io) : l(io), ws(io) {}

    void start(std::optional<std::string> answer)
    {
        l.acceptor.async_accept(ws.next_layer(), [this, answer](error_code ec) {
            if (ec) return fail(ec);
            http::async_read(ws.next_layer(), buffer, request, [this, answer](error_code e, std::size_t) {
                if (e) return fail(e);
                if (answer) {
                    ws.set_option(websocket::stream_base::decorator([a = *answer](websocket::response_type& res) {
                        res.set(http::field::sec_websocket_protocol, a);
                    }));
                }
                ws.async_accept(request, [this](error_code accept_ec) { fail(accept_ec); });
            });
        });
    }

    void fail(error_code ec)
    {
        result = ec;
        done = true;
    }

    listener l;
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    error_code result;
    bool done = false;
};

struct ws_server_side {
    explicit ws_server_side(asio::io_context& io) : l(io) { accept_one(l, t::scheme::ws, nullptr, pair); }
    listener l;
    connection_pair pair;
};

// Raw bytes in, everything the server sends until it closes out.
struct raw_socket {
    raw_socket(asio::io_context& io, std::uint16_t port) : socket(io)
    {
        socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, [this](error_code ec) {
            connect_ec = ec;
            connected = true;
        });
    }

    void send_and_collect(std::string bytes)
    {
        outgoing = std::move(bytes);
        asio::async_write(socket, asio::buffer(outgoing), [this](error_code, std::size_t) {
            asio::async_read(socket, asio::dynamic_buffer(incoming), [this](error_code ec, std::size_t) {
                read_ec = ec;
                closed = true;
            });
        });
    }

    tcp::socket socket;
    std::string outgoing;
    std::string incoming;
    error_code connect_ec;
    error_code read_ec;
    bool connected = false;
    bool closed = false;
};

const std::string upgrade_request = "GET /mqtt HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\n"
                                    "Upgrade: websocket\r\n"
                                    "Connection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"
                                    "Sec-WebSocket-Protocol: mqtt\r\n"
                                    "\r\n";

// A masked binary frame, as a client must send it.
std::string masked_binary_frame(std::string_view payload)
{
    REQUIRE(payload.size() < 126);
    const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    std::string frame;
    frame += static_cast<char>(0x82);
    frame += static_cast<char>(0x80 | payload.size());
    for (unsigned char m : mask) frame += static_cast<char>(m);
    for (std::size_t i = 0; i < payload.size(); ++i)
        frame += static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]);
    return frame;
}

} // namespace

TEST_CASE("ws: a request offering no sub-protocol is refused with an HTTP error", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), std::nullopt);
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    CHECK(client.result == websocket::error::upgrade_declined);
    CHECK(client.response.result() == http::status::bad_request);
    CHECK_THAT(client.response.body(), Catch::Contains("Sec-WebSocket-Protocol: mqtt"));
    CHECK(server.pair.server_ec == t::transport_errc::websocket_no_mqtt_subprotocol);
    CHECK(server.pair.server == nullptr);
}

TEST_CASE("ws: a request offering only other sub-protocols is refused", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), "chat, mqttv5, xmqtt");
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    CHECK(client.result == websocket::error::upgrade_declined);
    CHECK(server.pair.server_ec == t::transport_errc::websocket_no_mqtt_subprotocol);
}

TEST_CASE("ws: the server selects \"mqtt\" among the offered sub-protocols [MQTT-6.0.0-4]",
    "[transport][ws][MQTT-6.0.0-4]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), GENERATE(std::string("mqtt"), std::string("chat, mqtt"), std::string("mqttv3.1, MQTT")));
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    REQUIRE_FALSE(client.result);
    REQUIRE_FALSE(server.pair.server_ec);
    CHECK(beast::iequals(client.response[http::field::sec_websocket_protocol], "mqtt"));
    CHECK(client.response[http::field::sec_websocket_protocol] == "mqtt");
}

TEST_CASE("ws: a pre-standard client offering only \"mqttv3.1\" gets it", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), "mqttv3.1");
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    REQUIRE_FALSE(client.result);
    REQUIRE_FALSE(server.pair.server_ec);
    CHECK(client.response[http::field::sec_websocket_protocol] == "mqttv3.1");
}

TEST_CASE("ws: a text frame closes the connection [MQTT-6.0.0-1]", "[transport][ws][MQTT-6.0.0-1]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), "mqtt");
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    REQUIRE_FALSE(client.result);
    REQUIRE(server.pair.server);

    auto r = read_exactly(*server.pair.server, 4);
    client.ws.text(true);
    error_code write_ec;
    client.ws.write(asio::buffer(std::string_view("\x10\x02\x00\x00", 4)), write_ec);
    REQUIRE_FALSE(write_ec);
    REQUIRE(run_until(io, [&] { return r->done; }));
    CHECK(r->ec == t::transport_errc::websocket_text_frame);
    CHECK(r->data.empty());

    // The network connection is gone: the peer's next read fails.
    beast::flat_buffer buf;
    error_code read_ec;
    bool read_done = false;
    client.ws.async_read(buf, [&](error_code ec, std::size_t) {
        read_ec = ec;
        read_done = true;
    });
    REQUIRE(run_until(io, [&] { return read_done; }));
    CHECK(read_ec);
}

TEST_CASE("ws: bytes flow regardless of frame boundaries [MQTT-6.0.0-2]", "[transport][ws][MQTT-6.0.0-2]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_client client(io);
    client.start(server.l.port(), "mqtt");
    REQUIRE(run_until(io, [&] { return client.done && server.pair.server_done; }));
    REQUIRE(server.pair.server);

    // One PUBLISH-sized byte string cut across messages, an empty message and
    // a message in two fragments.
    client.ws.binary(true);
    error_code ec;
    client.ws.write(asio::buffer(std::string_view("ab")), ec);
    REQUIRE_FALSE(ec);
    client.ws.write(asio::buffer(std::string_view()), ec);
    REQUIRE_FALSE(ec);
    client.ws.write_some(false, asio::buffer(std::string_view("cde")), ec);
    REQUIRE_FALSE(ec);
    client.ws.write_some(true, asio::buffer(std::string_view("fgh")), ec);
    REQUIRE_FALSE(ec);
    client.ws.write(asio::buffer(std::string_view("ij")), ec);
    REQUIRE_FALSE(ec);

    auto r = read_exactly(*server.pair.server, 10);
    REQUIRE(run_until(io, [&] { return r->done; }));
    CHECK_FALSE(r->ec);
    CHECK(r->data == "abcdefghij");
}

TEST_CASE("ws: the client offers \"mqtt\" and sends binary frames [MQTT-6.0.0-3] [MQTT-6.0.0-1]",
    "[transport][ws][MQTT-6.0.0-3][MQTT-6.0.0-1]")
{
    asio::io_context io;
    raw_server server(io);
    server.start("mqtt");
    connection_pair p;
    t::endpoint ep = endpoint_for(t::scheme::ws, server.l, "127.0.0.1");
    ep.path = "/custom/path";
    connect_one(io, ep, p);
    REQUIRE(run_until(io, [&] { return p.client_done && server.done; }));
    REQUIRE_FALSE(p.client_ec);
    REQUIRE_FALSE(server.result);

    const auto offered = server.request[http::field::sec_websocket_protocol];
    CHECK(http::token_list{offered}.exists("mqtt"));
    CHECK(server.request.target() == "/custom/path");
    CHECK(server.request[http::field::host] == "127.0.0.1:" + std::to_string(server.l.port()));

    auto w = write_parts(*p.client, {"\x30", "\x03", "a/b"});
    beast::flat_buffer buf;
    error_code read_ec;
    bool read_done = false;
    server.ws.async_read(buf, [&](error_code ec, std::size_t) {
        read_ec = ec;
        read_done = true;
    });
    REQUIRE(run_until(io, [&] { return w->done && read_done; }));
    CHECK_FALSE(w->ec);
    REQUIRE_FALSE(read_ec);
    CHECK(server.ws.got_binary());
    CHECK(beast::buffers_to_string(buf.data()) == "\x30\x03" "a/b"); // one message for the gather write
}

TEST_CASE("ws: the client refuses a server that does not select \"mqtt\" [MQTT-6.0.0-4]",
    "[transport][ws][MQTT-6.0.0-4]")
{
    asio::io_context io;
    raw_server server(io);
    server.start(GENERATE(std::optional<std::string>(), std::optional<std::string>("mqttv3.1")));
    connection_pair p;
    connect_one(io, endpoint_for(t::scheme::ws, server.l, "127.0.0.1"), p);
    REQUIRE(run_until(io, [&] { return p.client_done && server.done; }));
    CHECK(p.client_ec == t::transport_errc::websocket_subprotocol_refused);
    CHECK(p.client == nullptr);
}

TEST_CASE("ws: a plain HTTP request gets 426 Upgrade Required", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_socket raw(io, server.l.port());
    REQUIRE(run_until(io, [&] { return raw.connected; }));
    REQUIRE_FALSE(raw.connect_ec);
    raw.send_and_collect("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    REQUIRE(run_until(io, [&] { return raw.closed && server.pair.server_done; }));
    CHECK(server.pair.server_ec == t::transport_errc::websocket_not_upgrade);
    CHECK(raw.incoming.rfind("HTTP/1.1 426", 0) == 0);
    CHECK_THAT(raw.incoming, Catch::Contains("Upgrade: websocket"));
}

TEST_CASE("ws: a malformed request gets 400", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_socket raw(io, server.l.port());
    REQUIRE(run_until(io, [&] { return raw.connected; }));
    raw.send_and_collect("NOT HTTP AT ALL\r\n\r\n");
    REQUIRE(run_until(io, [&] { return raw.closed && server.pair.server_done; }));
    CHECK(server.pair.server_ec == t::transport_errc::websocket_bad_request);
    CHECK(raw.incoming.rfind("HTTP/1.1 400", 0) == 0);
}

TEST_CASE("ws: an endless request header is cut off", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_socket raw(io, server.l.port());
    REQUIRE(run_until(io, [&] { return raw.connected; }));
    raw.send_and_collect("GET /mqtt HTTP/1.1\r\nX-Padding: " + std::string(20000, 'a'));
    REQUIRE(run_until(io, [&] { return raw.closed && server.pair.server_done; }));
    CHECK(server.pair.server_ec == t::transport_errc::websocket_bad_request);
    // The unread rest of the request may turn the close into a reset, which
    // can swallow the 431 answer; only the server's verdict is certain.
    if (!raw.incoming.empty()) CHECK(raw.incoming.rfind("HTTP/1.1 431", 0) == 0);
}

TEST_CASE("ws: frames sent right behind the upgrade request are not lost", "[transport][ws]")
{
    asio::io_context io;
    ws_server_side server(io);
    raw_socket raw(io, server.l.port());
    REQUIRE(run_until(io, [&] { return raw.connected; }));
    raw.send_and_collect(upgrade_request + masked_binary_frame("xyz"));
    REQUIRE(run_until(io, [&] { return server.pair.server_done; }));
    REQUIRE_FALSE(server.pair.server_ec);
    auto r = read_exactly(*server.pair.server, 3);
    REQUIRE(run_until(io, [&] { return r->done; }));
    CHECK_FALSE(r->ec);
    CHECK(r->data == "xyz");
    server.pair.server->close();
    REQUIRE(run_until(io, [&] { return raw.closed; }));
    CHECK(raw.incoming.rfind("HTTP/1.1 101", 0) == 0);
}

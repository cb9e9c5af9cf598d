#pragma once
// Helpers for the transport tests: an event loop bounded by a safety timeout,
// a listener on 127.0.0.1, and read/write helpers that record their outcome.
#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "mqtt/transport/stream.hpp"

namespace transport_test {

namespace asio = boost::asio;
namespace t = mqtt::transport;
using tcp = asio::ip::tcp;
using t::error_code;

// Runs `io` until `done()` holds. False when the loop ran out of work first or
// the safety limit passed: the caller REQUIREs true, so a hang fails the test.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
    std::chrono::steady_clock::duration limit = std::chrono::seconds(60))
{
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        if (io.run_one_for(deadline - now) == 0 && !done()) return false;
    }
    return true;
}

struct listener {
    explicit listener(asio::io_context& io) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }
    tcp::acceptor acceptor;
};

struct connection_pair {
    std::unique_ptr<t::stream> client;
    std::unique_ptr<t::stream> server;
    error_code client_ec;
    error_code server_ec;
    bool client_done = false;
    bool server_done = false;
    bool both_done() const { return client_done && server_done; }
};

// Accepts one connection through transport::async_accept.
inline void accept_one(listener& l, t::scheme kind, std::shared_ptr<t::server_tls_context> tls, connection_pair& out,
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(30))
{
    l.acceptor.async_accept([&out, kind, tls, handshake_timeout](error_code ec, tcp::socket socket) {
        if (ec) {
            out.server_ec = ec;
            out.server_done = true;
            return;
        }
        t::async_accept(
            std::move(socket), kind, tls,
            [&out](error_code e, std::unique_ptr<t::stream> s) {
                out.server_ec = e;
                out.server = std::move(s);
                out.server_done = true;
            },
            handshake_timeout);
    });
}

inline void connect_one(asio::io_context& io, const t::endpoint& ep, connection_pair& out)
{
    t::async_connect(io.get_executor(), ep, [&out](error_code e, std::unique_ptr<t::stream> s) {
        out.client_ec = e;
        out.client = std::move(s);
        out.client_done = true;
    });
}

inline t::endpoint endpoint_for(t::scheme kind, const listener& l, std::string host = "127.0.0.1")
{
    t::endpoint ep;
    ep.kind = kind;
    ep.host = std::move(host);
    ep.port = l.port();
    return ep;
}

struct read_result {
    std::string data;
    std::size_t want = 0;
    error_code ec;
    bool done = false;
    std::array<char, 64 * 1024> chunk{};
};

inline void read_more(t::stream& s, const std::shared_ptr<read_result>& r)
{
    const std::size_t size = std::min(r->chunk.size(), r->want - r->data.size());
    s.async_read_some(asio::buffer(r->chunk.data(), size), [&s, r](error_code ec, std::size_t n) {
        r->data.append(r->chunk.data(), n);
        if (ec || r->data.size() >= r->want) {
            r->ec = ec;
            r->done = true;
            return;
        }
        read_more(s, r);
    });
}

// Reads until `want` bytes or an error; `s` must outlive the reads.
inline std::shared_ptr<read_result> read_exactly(t::stream& s, std::size_t want)
{
    auto r = std::make_shared<read_result>();
    r->want = want;
    read_more(s, r);
    return r;
}

struct write_result {
    std::vector<std::string> parts;
    std::size_t written = 0;
    error_code ec;
    bool done = false;
};

// One gather write of all `parts`; the span of buffers is a temporary.
inline std::shared_ptr<write_result> write_parts(t::stream& s, std::vector<std::string> parts)
{
    auto w = std::make_shared<write_result>();
    w->parts = std::move(parts);
    std::vector<asio::const_buffer> buffers;
    for (const auto& p : w->parts) buffers.push_back(asio::buffer(p));
    s.async_write(buffers, [w](error_code ec, std::size_t n) {
        w->ec = ec;
        w->written = n;
        w->done = true;
    });
    return w;
}

inline std::string pattern(std::size_t size, unsigned seed)
{
    std::string out(size, '\0');
    unsigned x = seed;
    for (auto& c : out) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    return out;
}

} // namespace transport_test

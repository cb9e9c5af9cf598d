// Broker URLs: mqtt://, mqtts://, ws://, wss:// (plus the tcp/ssl/tls aliases).
#include <array>
#include <cctype>

#include <boost/asio/ip/address_v6.hpp>

#include "mqtt/transport/stream.hpp"

namespace mqtt::transport {
namespace {

struct scheme_info {
    std::string_view name;
    scheme kind;
    std::uint16_t default_port;
};

constexpr std::array<scheme_info, 7> schemes{{
    {"mqtt", scheme::tcp, 1883},
    {"tcp", scheme::tcp, 1883},
    {"mqtts", scheme::tls, 8883},
    {"ssl", scheme::tls, 8883},
    {"tls", scheme::tls, 8883},
    {"ws", scheme::ws, 80},
    {"wss", scheme::wss, 443},
}};

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

bool parse_port(std::string_view text, std::uint16_t& port) noexcept
{
    if (text.empty() || text.size() > 5) return false;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

// A registered name or IPv4 address: letters, digits, '-', '.', '_'.
bool valid_host_name(std::string_view host) noexcept
{
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && c != '-' && c != '.' && c != '_') return false;
    }
    return true;
}

// Request targets are sent verbatim in the HTTP request line.
bool valid_path(std::string_view path) noexcept
{
    for (char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
    }
    return true;
}

std::string quoted(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 2);
    out += '\'';
    out += text;
    out += '\'';
    return out;
}

} // namespace

std::string_view to_string(scheme s) noexcept
{
    switch (s) {
    case scheme::tcp: return "mqtt";
    case scheme::tls: return "mqtts";
    case scheme::ws: return "ws";
    case scheme::wss: return "wss";
    }
    return "unknown";
}

bool parse_url(std::string_view url, endpoint& out, std::string& error)
{
    auto fail = [&](std::string message) {
        error = std::move(message);
        return false;
    };

    scheme_info info = schemes[0]; // no scheme: plain MQTT
    std::string_view rest = url;
    if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
        const std::string_view name = rest.substr(0, sep);
        bool known = false;
        for (const auto& candidate : schemes) {
            if (iequals(candidate.name, name)) {
                info = candidate;
                known = true;
                break;
            }
        }
        if (!known) {
            return fail("unknown scheme " + quoted(name) + " in " + quoted(url) +
                " (expected mqtt, mqtts, tcp, ssl, tls, ws or wss)");
        }
        rest.remove_prefix(sep + 3);
    }

    const auto authority_end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, authority_end);
    const std::string_view tail = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos)
        return fail("user information ('user:password@') in " + quoted(url) + " is not supported");

    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("missing ']' after the IPv6 address in " + quoted(url));
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("unexpected text after ']' in " + quoted(url));
            port_text = after.substr(1);
            has_port = true;
        }
        if (host.empty()) return fail("empty host in " + quoted(url));
        boost::system::error_code ec;
        (void)boost::asio::ip::make_address_v6(std::string(host), ec);
        if (ec) return fail("bad IPv6 address " + quoted(host) + " in " + quoted(url));
    } else {
        const auto colon = authority.find(':');
        if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
            return fail("an IPv6 address must be written in brackets (e.g. mqtt://[::1]:1883) in " + quoted(url));
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            has_port = true;
        }
        if (host.empty()) return fail("empty host in " + quoted(url));
        if (!valid_host_name(host)) return fail("bad character in host " + quoted(host) + " in " + quoted(url));
    }

    std::uint16_t port = info.default_port;
    if (has_port && !parse_port(port_text, port))
        return fail("bad port " + quoted(port_text) + " in " + quoted(url) + " (expected 1 to 65535)");

    std::string path = "/mqtt";
    if (uses_websocket(info.kind)) {
        if (tail.find('#') != std::string_view::npos)
            return fail("a fragment ('#') is not allowed in " + quoted(url));
        if (!valid_path(tail)) return fail("bad character in the path of " + quoted(url));
        if (!tail.empty()) path = tail.front() == '/' ? std::string(tail) : "/" + std::string(tail);
    } else if (!tail.empty() && tail != "/") {
        return fail("a path is only meaningful for ws:// and wss:// URLs: " + quoted(url));
    }

    out.kind = info.kind;
    out.host = std::string(host);
    out.port = port;
    out.path = std::move(path);
    return true;
}

} // namespace mqtt::transport

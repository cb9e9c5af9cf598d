// The fault proxy itself: forwards intact without faults, cuts where it is told,
// repeats its cuts for the same seed.
#include <future>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "scenario.hpp"

using namespace fault;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// One-connection upstream on its own thread: reads until the connection ends and
// returns what it got; echoes it back when asked.
class upstream {
public:
    explicit upstream(bool echo) : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0))
    {
        result_ = std::async(std::launch::async, [this, echo] {
            std::string got;
            boost::system::error_code ec;
            tcp::socket s(ioc_);
            acceptor_.accept(s, ec);
            std::array<char, 4096> buf{};
            while (!ec) {
                auto n = s.read_some(asio::buffer(buf), ec);
                got.append(buf.data(), n);
                if (echo && n > 0)
                    asio::write(s, asio::buffer(buf.data(), n), ec);
            }
            return got;
        });
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    // What arrived, once the connection ended (empty at the deadline).
    std::string received()
    {
        if (result_.wait_for(10s) != std::future_status::ready) {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            return {};
        }
        return result_.get();
    }

private:
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::future<std::string> result_;
};

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + i % 26);
    return s;
}

// Sends `data` through the proxy (ignoring a cut), closes, returns what the upstream got.
std::string through(mqtt::fault::proxy_options o, const std::string& data, std::uint64_t* cuts = nullptr)
{
    upstream up(false);
    o.upstream_port = up.port();
    proxy_thread proxy(o);
    REQUIRE_FALSE(proxy.error());
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), proxy->port()));
    boost::system::error_code ec;
    for (std::size_t at = 0; at < data.size() && !ec; at += 1000)
        asio::write(s, asio::buffer(data.data() + at, std::min<std::size_t>(1000, data.size() - at)), ec);
    s.shutdown(tcp::socket::shutdown_send, ec);
    auto got = up.received();
    if (cuts)
        *cuts = proxy->stats().cuts;
    return got;
}

} // namespace

TEST_CASE("Fault proxy: without faults every byte arrives in order both ways", "[fault][proxy]")
{
    upstream up(true);
    mqtt::fault::proxy_options o;
    o.upstream_port = up.port();
    o.max_split = 7;
    o.max_delay = 1ms;
    proxy_thread proxy(o);
    REQUIRE_FALSE(proxy.error());
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), proxy->port()));
    auto data = pattern(100000);
    auto writer = std::async(std::launch::async, [&] { asio::write(s, asio::buffer(data)); });
    std::string echoed(data.size(), '\0');
    asio::read(s, asio::buffer(echoed));
    writer.get();
    CHECK(echoed == data);
    s.close();
    CHECK(up.received() == data);
    CHECK(proxy->stats().cuts == 0);
    CHECK(proxy->stats().bytes_to_upstream == data.size());
}

TEST_CASE("Fault proxy: --cut-after N cuts the connection after exactly N bytes", "[fault][proxy]")
{
    mqtt::fault::proxy_options o;
    o.cut_after_min = o.cut_after_max = 1234;
    std::uint64_t cuts = 0;
    auto data = pattern(10000);
    auto got = through(o, data, &cuts);
    CHECK(got == data.substr(0, 1234));
    CHECK(cuts == 1);
}

TEST_CASE("Fault proxy: the same seed cuts at the same offsets and another seed elsewhere", "[fault][proxy]")
{
    mqtt::fault::proxy_options o;
    o.cut_after_min = 1;
    o.cut_after_max = 50000;
    o.max_split = 5;
    auto data = pattern(60000);
    o.seed = 7;
    auto first = through(o, data).size();
    auto again = through(o, data).size();
    o.seed = 8;
    auto other = through(o, data).size();
    CHECK(first == again);
    CHECK(first != other);
    CHECK(first < data.size());
}

TEST_CASE("Fault proxy: cuts right after a QoS handshake packet and never inside it", "[fault][proxy]")
{
    mqtt::fault::proxy_options o;
    o.cut_on_ack_probability = 1;
    // CONNECT-like packet (not a handshake step), then PUBREC id 1, then PUBREL id 1.
    std::string connect_pkt = std::string("\x10\x03", 2) + "abc";
    std::string pubrec("\x50\x02\x00\x01", 4);
    std::string pubrel("\x62\x02\x00\x01", 4);
    std::uint64_t cuts = 0;
    auto got = through(o, connect_pkt + pubrec + pubrel, &cuts);
    CHECK(got == connect_pkt + pubrec);
    CHECK(cuts == 1);
}

TEST_CASE("Fault proxy: a QoS 0 PUBLISH is not a handshake step but a QoS 1 PUBLISH is", "[fault][proxy]")
{
    mqtt::fault::proxy_options o;
    o.cut_on_ack_probability = 1;
    std::string q0 = std::string("\x30\x05\x00\x01t", 5) + "hi";
    std::string q1 = std::string("\x32\x07\x00\x01t\x00\x05", 7) + "hi";
    auto got = through(o, q0 + q0 + q1 + q0);
    CHECK(got == q0 + q0 + q1);
}

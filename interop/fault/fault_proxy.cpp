#include "fault_proxy.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

namespace mqtt::fault {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool parse_range(const std::string& text, std::uint64_t& min, std::uint64_t& max)
{
    auto number = [](const std::string& s, std::uint64_t& out) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18)
            return false;
        out = std::stoull(s);
        return true;
    };
    auto colon = text.find(':');
    if (colon == std::string::npos)
        return number(text, min) && number(text, max);
    return number(text.substr(0, colon), min) && number(text.substr(colon + 1), max) && min <= max;
}

namespace detail {

namespace {

// Follows MQTT fixed headers through a byte stream to find where packets end.
class frame_tracker {
public:
    // Consumes bytes from data[0, n) up to and including the end of the next packet.
    // Returns how many were consumed; `ended` says whether a packet ended there, and
    // `type` is its first header byte.
    std::size_t feed(const std::uint8_t* data, std::size_t n, bool& ended, std::uint8_t& type)
    {
        ended = false;
        std::size_t i = 0;
        while (i < n) {
            if (state_ == state::header) {
                type_ = data[i++];
                state_ = state::length;
                remaining_ = 0;
                shift_ = 0;
            } else if (state_ == state::length) {
                auto b = data[i++];
                remaining_ |= static_cast<std::uint32_t>(b & 0x7f) << shift_;
                shift_ += 7;
                if (b & 0x80) {
                    if (shift_ >= 28) // malformed: stop tracking, never cut on it
                        state_ = state::lost;
                    continue;
                }
                if (remaining_ == 0)
                    return done(i, ended, type);
                state_ = state::body;
            } else if (state_ == state::body) {
                auto take = std::min<std::size_t>(remaining_, n - i);
                i += take;
                remaining_ -= static_cast<std::uint32_t>(take);
                if (remaining_ == 0)
                    return done(i, ended, type);
            } else {
                return n;
            }
        }
        return i;
    }

private:
    enum class state { header, length, body, lost };
    std::size_t done(std::size_t i, bool& ended, std::uint8_t& type)
    {
        ended = true;
        type = type_;
        state_ = state::header;
        return i;
    }
    state state_ = state::header;
    std::uint8_t type_ = 0;
    std::uint32_t remaining_ = 0;
    unsigned shift_ = 0;
};

// PUBLISH with QoS 1/2, PUBACK, PUBREC, PUBREL, PUBCOMP.
bool is_handshake_step(std::uint8_t header)
{
    auto kind = header >> 4;
    if (kind == 3)
        return ((header >> 1) & 3) != 0;
    return kind >= 4 && kind <= 7;
}

} // namespace

class proxy_impl;

class connection : public std::enable_shared_from_this<connection> {
public:
    connection(std::shared_ptr<proxy_impl> owner, tcp::socket client, std::uint64_t index);
    void start();
    void close(bool cut);

private:
    struct pipe {
        pipe(const asio::any_io_executor& ex, std::uint64_t seed) : timer(ex), cut_rng(seed), chunk_rng(seed ^ 0x9e3779b97f4a7c15ULL) {}
        tcp::socket* from = nullptr;
        tcp::socket* to = nullptr;
        std::atomic<std::uint64_t>* counter = nullptr;
        std::array<std::uint8_t, 16384> buf{};
        asio::steady_timer timer;
        std::mt19937_64 cut_rng;   // decisions at stream positions: repeatable
        std::mt19937_64 chunk_rng; // decisions per read chunk
        std::uint64_t forwarded = 0;
        std::uint64_t budget = 0; // cut when forwarded reaches it (0: none)
        frame_tracker tracker;
        std::vector<std::size_t> pieces;
        std::size_t limit = 0;
        bool cut = false;
    };

    void read(pipe& p);
    void forward(pipe& p, std::size_t n);
    void write_piece(pipe& p, std::size_t index, std::size_t offset);

    std::shared_ptr<proxy_impl> owner_;
    tcp::socket client_;
    tcp::socket upstream_;
    tcp::resolver resolver_;
    pipe up_;
    pipe down_;
    bool closed_ = false;
};

class proxy_impl : public std::enable_shared_from_this<proxy_impl> {
public:
    proxy_impl(asio::any_io_executor ex, proxy_options o)
        : strand_(asio::make_strand(ex)), acceptor_(strand_), options_(std::move(o))
    {
    }

    std::error_code start()
    {
        boost::system::error_code ec;
        tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), options_.listen_port);
        acceptor_.open(ep.protocol(), ec);
        if (!ec)
            acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec)
            acceptor_.bind(ep, ec);
        if (!ec)
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (!ec)
            port_ = acceptor_.local_endpoint(ec).port();
        if (ec)
            return ec;
        asio::post(strand_, [self = shared_from_this()] { self->accept(); });
        return {};
    }

    void accept()
    {
        acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
            if (ec)
                return; // closed by stop()
            self->on_accept(std::move(s));
        });
    }

    void on_accept(tcp::socket s)
    {
        // Every connection shares the proxy's strand: simple, and fast enough for tests.
        auto c = std::make_shared<connection>(shared_from_this(), std::move(s), connections_++);
        live_.push_back(c);
        std::erase_if(live_, [](auto& w) { return w.expired(); });
        c->start();
        accept();
    }

    void stop()
    {
        stopped_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        for (auto& w : live_)
            if (auto c = w.lock())
                c->close(false);
        live_.clear();
    }

    void cut_all()
    {
        for (auto& w : live_)
            if (auto c = w.lock())
                c->close(true);
    }

    asio::strand<asio::any_io_executor> strand_;
    tcp::acceptor acceptor_;
    proxy_options options_;
    std::vector<std::weak_ptr<connection>> live_;
    std::atomic<std::uint16_t> port_{0};
    std::atomic<bool> faults_{true};
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> connections_{0}, cuts_{0}, up_bytes_{0}, down_bytes_{0};
};

connection::connection(std::shared_ptr<proxy_impl> owner, tcp::socket client, std::uint64_t index)
    : owner_(std::move(owner)), client_(std::move(client)), upstream_(owner_->strand_), resolver_(owner_->strand_),
      up_(owner_->strand_, owner_->options_.seed * 1000003 + index * 2),
      down_(owner_->strand_, owner_->options_.seed * 1000003 + index * 2 + 1)
{
    up_.from = &client_;
    up_.to = &upstream_;
    up_.counter = &owner_->up_bytes_;
    down_.from = &upstream_;
    down_.to = &client_;
    down_.counter = &owner_->down_bytes_;
    const auto& o = owner_->options_;
    for (auto* p : {&up_, &down_})
        if (o.cut_after_max > 0)
            p->budget = std::uniform_int_distribution<std::uint64_t>(std::max<std::uint64_t>(o.cut_after_min, 1), o.cut_after_max)(p->cut_rng);
}

void connection::start()
{
    auto& o = owner_->options_;
    resolver_.async_resolve(o.upstream_host, std::to_string(o.upstream_port),
        asio::bind_executor(owner_->strand_, [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
            if (ec || self->closed_)
                return self->close(false);
            asio::async_connect(self->upstream_, r,
                asio::bind_executor(self->owner_->strand_, [self](boost::system::error_code ec2, const tcp::endpoint&) {
                    if (ec2 || self->closed_)
                        return self->close(false);
                    boost::system::error_code ignored;
                    self->upstream_.set_option(tcp::no_delay(true), ignored);
                    self->client_.set_option(tcp::no_delay(true), ignored);
                    self->read(self->up_);
                    self->read(self->down_);
                }));
        }));
}

void connection::read(pipe& p)
{
    p.from->async_read_some(asio::buffer(p.buf),
        asio::bind_executor(owner_->strand_, [self = shared_from_this(), &p](boost::system::error_code ec, std::size_t n) {
            if (ec || self->closed_)
                return self->close(false);
            self->forward(p, n);
        }));
}

void connection::forward(pipe& p, std::size_t n)
{
    const auto& o = owner_->options_;
    const bool faults = owner_->faults_;
    p.limit = n;
    p.cut = false;
    if (faults && p.budget > 0) {
        auto room = p.budget > p.forwarded ? p.budget - p.forwarded : 0;
        if (n >= room) {
            p.limit = static_cast<std::size_t>(room);
            p.cut = true;
        }
    }
    if (faults && o.cut_probability > 0 && std::bernoulli_distribution(o.cut_probability)(p.chunk_rng)) {
        auto at = std::uniform_int_distribution<std::size_t>(0, n - 1)(p.chunk_rng);
        if (at < p.limit) {
            p.limit = at;
            p.cut = true;
        }
    }
    // Packet boundaries of what will be forwarded; maybe cut right after a handshake step.
    std::size_t at = 0;
    while (at < p.limit) {
        bool ended = false;
        std::uint8_t type = 0;
        at += p.tracker.feed(p.buf.data() + at, p.limit - at, ended, type);
        if (ended && o.on_packet)
            o.on_packet(&p == &down_, type);
        if (ended && faults && o.cut_on_ack_probability > 0 && is_handshake_step(type)
            && std::bernoulli_distribution(o.cut_on_ack_probability)(p.cut_rng)) {
            p.limit = at;
            p.cut = true;
        }
    }
    p.forwarded += p.limit;
    // Split into pieces, each written on its own.
    p.pieces.clear();
    unsigned count = faults && o.max_split > 1 ? std::uniform_int_distribution<unsigned>(1, o.max_split)(p.chunk_rng) : 1;
    std::vector<std::size_t> cuts;
    for (unsigned i = 1; i < count && p.limit > 1; ++i)
        cuts.push_back(std::uniform_int_distribution<std::size_t>(1, p.limit - 1)(p.chunk_rng));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::size_t prev = 0;
    for (auto c : cuts) {
        p.pieces.push_back(c - prev);
        prev = c;
    }
    p.pieces.push_back(p.limit - prev);
    auto delay = faults && o.max_delay.count() > 0
        ? std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, o.max_delay.count())(p.chunk_rng))
        : std::chrono::milliseconds(0);
    if (delay.count() == 0)
        return write_piece(p, 0, 0);
    p.timer.expires_after(delay);
    p.timer.async_wait(asio::bind_executor(owner_->strand_, [self = shared_from_this(), &p](boost::system::error_code ec) {
        if (ec || self->closed_)
            return self->close(false);
        self->write_piece(p, 0, 0);
    }));
}

void connection::write_piece(pipe& p, std::size_t index, std::size_t offset)
{
    if (index == p.pieces.size()) {
        if (p.cut)
            return close(true);
        return read(p);
    }
    if (p.pieces[index] == 0)
        return write_piece(p, index + 1, offset);
    asio::async_write(*p.to, asio::buffer(p.buf.data() + offset, p.pieces[index]),
        asio::bind_executor(owner_->strand_, [self = shared_from_this(), &p, index, offset](boost::system::error_code ec, std::size_t n) {
            if (ec || self->closed_)
                return self->close(false);
            *p.counter += n;
            self->write_piece(p, index + 1, offset + n);
        }));
}

void connection::close(bool cut)
{
    if (closed_)
        return;
    closed_ = true;
    if (cut)
        ++owner_->cuts_;
    boost::system::error_code ignored;
    up_.timer.cancel();
    down_.timer.cancel();
    resolver_.cancel();
    for (auto* s : {&client_, &upstream_}) {
        // Half of the cuts reset the connection (RST), the others close it (FIN).
        if (cut && (up_.forwarded + down_.forwarded) % 2 == 0)
            s->set_option(asio::socket_base::linger(true, 0), ignored);
        s->close(ignored);
    }
}

} // namespace detail

proxy::proxy(asio::any_io_executor ex, proxy_options options)
    : impl_(std::make_shared<detail::proxy_impl>(std::move(ex), std::move(options)))
{
}

proxy::~proxy()
{
    stop();
}

std::error_code proxy::start()
{
    return impl_->start();
}

std::uint16_t proxy::port() const noexcept
{
    return impl_->port_;
}

void proxy::stop()
{
    asio::post(impl_->strand_, [impl = impl_] { impl->stop(); });
}

void proxy::set_faults(bool on)
{
    impl_->faults_ = on;
}

void proxy::cut_all()
{
    asio::post(impl_->strand_, [impl = impl_] { impl->cut_all(); });
}

proxy_stats proxy::stats() const
{
    return {impl_->connections_, impl_->cuts_, impl_->up_bytes_, impl_->down_bytes_};
}

} // namespace mqtt::fault

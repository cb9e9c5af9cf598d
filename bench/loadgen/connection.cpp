#include "connection.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace loadgen {

bool connection::send(const mqtt::packet& p)
{
    // Compact once the written prefix dominates, so `out` stays small.
    if (out_off > 0 && out_off == out.size()) {
        out.clear();
        out_off = 0;
    } else if (out_off > 65536 && out_off * 2 > out.size()) {
        out.erase(0, out_off);
        out_off = 0;
    }
    return !mqtt::encode(p, version, out);
}

void connection::close() noexcept
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
    closed = true;
}

int connect_tcp(const std::string& host, std::uint16_t port)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr)
        return -1;
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int e = errno;
        ::close(fd);
        fd = -1;
        errno = e;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

long read_some(connection& c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n > 0) {
            c.decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
            return static_cast<long>(n);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
}

poller::poller() : ep_(epoll_create1(EPOLL_CLOEXEC)), events_(1024) {}

poller::~poller()
{
    if (ep_ >= 0)
        ::close(ep_);
}

bool poller::add(connection& c)
{
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    return epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) == 0;
}

void poller::mark_dirty(connection& c)
{
    if (!c.dirty && !c.want_write) {
        c.dirty = true;
        dirty_.push_back(&c);
    }
}

int poller::flush()
{
    int failed = 0;
    for (connection* c : dirty_) {
        c->dirty = false;
        if (!c->closed && !write_some(*c))
            ++failed;
    }
    dirty_.clear();
    return failed;
}

void poller::set_write_interest(connection& c, bool on)
{
    if (c.want_write == on)
        return;
    c.want_write = on;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

bool poller::write_some(connection& c)
{
    while (c.pending() > 0) {
        ssize_t n = ::write(c.fd, c.out.data() + c.out_off, c.pending());
        if (n > 0) {
            c.out_off += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_write_interest(c, true);
            return true;
        }
        c.close();
        return false;
    }
    c.out.clear();
    c.out_off = 0;
    set_write_interest(c, false);
    return true;
}

} // namespace loadgen

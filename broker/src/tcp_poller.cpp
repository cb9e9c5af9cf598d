#include "tcp_poller.hpp"

#include <unistd.h>

#include <cerrno>

namespace mqtt::broker::detail {

std::shared_ptr<tcp_poller> tcp_poller::create(boost::asio::io_context& ctx, handler on_events,
    boost::system::error_code& ec)
{
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return nullptr;
    }
    ec.clear();
    return std::make_shared<tcp_poller>(ctx, fd, std::move(on_events));
}

tcp_poller::tcp_poller(boost::asio::io_context& ctx, int epoll_fd, handler on_events)
    : descriptor_(ctx, epoll_fd), on_events_(std::move(on_events))
{
}

boost::system::error_code tcp_poller::add(int fd, std::uint64_t key)
{
    if (closed_)
        return boost::asio::error::operation_aborted;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = key;
    if (::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0)
        return {errno, boost::system::system_category()};
    ++count_;
    if (!armed_)
        arm();
    return {};
}

void tcp_poller::remove(int fd) noexcept
{
    if (closed_)
        return;
    epoll_event ev{}; // ignored, but kernels before 2.6.9 wanted one
    if (::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_DEL, fd, &ev) == 0 && count_ > 0)
        --count_;
    // Nothing left to watch: the wait goes, so that an io_context without
    // connections can run out of work (the server stops that way).
    if (count_ == 0 && armed_) {
        boost::system::error_code ignored;
        descriptor_.cancel(ignored);
    }
}

void tcp_poller::close() noexcept
{
    if (closed_)
        return;
    closed_ = true;
    count_ = 0;
    boost::system::error_code ignored;
    descriptor_.close(ignored);
}

void tcp_poller::arm()
{
    armed_ = true;
    // The wait re-checks the set's readiness when armed, so events left over
    // from a full batch wake it again at once.
    descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this()](const boost::system::error_code& ec) { self->on_wake(ec); });
}

void tcp_poller::on_wake(const boost::system::error_code& ec)
{
    armed_ = false;
    if (closed_)
        return;
    if (!ec) {
        int n;
        do {
            n = ::epoll_wait(descriptor_.native_handle(), events_.data(), static_cast<int>(events_.size()), 0);
        } while (n < 0 && errno == EINTR);
        if (n > 0)
            on_events_(events_.data(), static_cast<std::size_t>(n));
    }
    // Any other failure would repeat on every wait: the set is broken.
    if (!closed_ && count_ > 0 && !armed_ && (!ec || ec == boost::asio::error::operation_aborted))
        arm();
}

} // namespace mqtt::broker::detail

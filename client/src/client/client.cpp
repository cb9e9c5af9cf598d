// The public handle: every call is posted to the strand, where client_impl runs.
#include "mqtt/client/client.hpp"

#include <boost/asio/post.hpp>

#include "client_impl.hpp"

namespace mqtt {

namespace {

template <class F>
void on_strand(const std::shared_ptr<detail::client_impl>& impl, F&& f)
{
    auto strand = impl->strand();
    boost::asio::post(strand, std::forward<F>(f));
}

} // namespace

client::client(executor_type ex, client_options options)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(options)))
{
}

client::~client()
{
    if (impl_)
        stop();
}

client::client(client&&) noexcept = default;

client& client::operator=(client&& other) noexcept
{
    if (this != &other) {
        if (impl_)
            stop();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

client::executor_type client::get_executor() const noexcept
{
    return impl_->strand();
}

void client::stop()
{
    on_strand(impl_, [impl = impl_] { impl->stop(); });
}

void client::set_message_handler(std::function<void(publish)> handler)
{
    on_strand(impl_, [impl = impl_, h = std::move(handler)]() mutable { impl->set_message_handler(std::move(h)); });
}

void client::set_event_handler(std::function<void(const connection_event&)> handler)
{
    on_strand(impl_, [impl = impl_, h = std::move(handler)]() mutable { impl->set_event_handler(std::move(h)); });
}

void client::acknowledge(const publish& msg, reason_code code, properties props)
{
    on_strand(impl_, [impl = impl_, id = msg.packet_id, q = msg.qos, code, p = std::move(props)]() mutable {
        impl->acknowledge(id, q, code, std::move(p));
    });
}

void client::reauthenticate(properties props)
{
    on_strand(impl_, [impl = impl_, p = std::move(props)]() mutable { impl->reauthenticate(std::move(p)); });
}

bool client::is_connected() const noexcept
{
    return impl_ && impl_->connected_hint();
}

publish client::make_message(std::string topic, std::string payload, qos q, bool retain, properties props)
{
    publish msg;
    msg.topic = buffer(std::move(topic));
    msg.payload = buffer(std::move(payload));
    msg.qos = q;
    msg.retain = retain;
    msg.props = std::move(props);
    return msg;
}

void client::start_connect(std::shared_ptr<detail::client_impl> impl, connect_handler handler)
{
    on_strand(impl, [impl, h = std::move(handler)]() mutable { impl->connect(std::move(h)); });
}

void client::start_publish(std::shared_ptr<detail::client_impl> impl, publish msg, publish_handler handler)
{
    on_strand(impl, [impl, m = std::move(msg), h = std::move(handler)]() mutable {
        impl->publish(std::move(m), std::move(h));
    });
}

void client::start_subscribe(std::shared_ptr<detail::client_impl> impl, subscribe pkt, subscribe_handler handler)
{
    on_strand(impl, [impl, p = std::move(pkt), h = std::move(handler)]() mutable {
        impl->subscribe(std::move(p), std::move(h));
    });
}

void client::start_unsubscribe(std::shared_ptr<detail::client_impl> impl, unsubscribe pkt, unsubscribe_handler handler)
{
    on_strand(impl, [impl, p = std::move(pkt), h = std::move(handler)]() mutable {
        impl->unsubscribe(std::move(p), std::move(h));
    });
}

void client::start_receive(std::shared_ptr<detail::client_impl> impl, receive_handler handler)
{
    on_strand(impl, [impl, h = std::move(handler)]() mutable { impl->receive(std::move(h)); });
}

void client::start_disconnect(std::shared_ptr<detail::client_impl> impl, disconnect pkt, disconnect_handler handler)
{
    on_strand(impl, [impl, p = std::move(pkt), h = std::move(handler)]() mutable {
        impl->disconnect(std::move(p), std::move(h));
    });
}

} // namespace mqtt

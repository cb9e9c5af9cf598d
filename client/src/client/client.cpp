// The public handle: every call is queued for the strand, where client_impl runs.
#include "mqtt/client/client.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "client_impl.hpp"

namespace mqtt {

namespace {

constexpr std::size_t shared_holder_limit = 1024;

// Runs f(impl) on the strand, in the order of the calls (see client_impl::submit).
template <class F>
void on_strand(const std::shared_ptr<detail::client_impl>& impl, F&& f)
{
    impl->submit(std::forward<F>(f));
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
    on_strand(impl_, [](detail::client_impl& self) { self.stop(); });
}

void client::set_message_handler(std::function<void(publish)> handler)
{
    on_strand(impl_, [h = std::move(handler)](detail::client_impl& self) mutable {
        self.set_message_handler(std::move(h));
    });
}

void client::set_event_handler(std::function<void(const connection_event&)> handler)
{
    on_strand(impl_, [h = std::move(handler)](detail::client_impl& self) mutable {
        self.set_event_handler(std::move(h));
    });
}

void client::acknowledge(const publish& msg, reason_code code, properties props)
{
    on_strand(impl_, [id = msg.packet_id, q = msg.qos, code, p = std::move(props)](detail::client_impl& self) mutable {
        self.acknowledge(id, q, code, std::move(p));
    });
}

void client::reauthenticate(properties props)
{
    on_strand(impl_, [p = std::move(props)](detail::client_impl& self) mutable { self.reauthenticate(std::move(p)); });
}

bool client::is_connected() const noexcept
{
    return impl_ && impl_->connected_hint();
}

publish client::make_message(std::string topic, std::string payload, qos q, bool retain, properties props)
{
    publish msg;
    if (payload.size() <= shared_holder_limit) {
        // One allocation holds both strings. Not for large payloads: a queued
        // message's topic and payload live as long as either is held.
        auto both = std::make_shared<const std::pair<std::string, std::string>>(std::move(topic), std::move(payload));
        std::string_view topic_view = both->first, payload_view = both->second;
        msg.topic = buffer(both, topic_view);
        msg.payload = buffer(std::move(both), payload_view);
    } else {
        msg.topic = buffer(std::move(topic));
        msg.payload = buffer(std::move(payload));
    }
    msg.qos = q;
    msg.retain = retain;
    msg.props = std::move(props);
    return msg;
}

void client::start_connect(std::shared_ptr<detail::client_impl> impl, connect_handler handler)
{
    on_strand(impl, [h = std::move(handler)](detail::client_impl& self) mutable { self.connect(std::move(h)); });
}

void client::start_publish(detail::client_impl& impl, publish&& msg, publish_handler&& handler, bool local)
{
    impl.submit_publish(std::move(msg), std::move(handler), local);
}

void client::start_subscribe(std::shared_ptr<detail::client_impl> impl, subscribe pkt, subscribe_handler handler)
{
    on_strand(impl, [p = std::move(pkt), h = std::move(handler)](detail::client_impl& self) mutable {
        self.subscribe(std::move(p), std::move(h));
    });
}

void client::start_unsubscribe(std::shared_ptr<detail::client_impl> impl, unsubscribe pkt, unsubscribe_handler handler)
{
    on_strand(impl, [p = std::move(pkt), h = std::move(handler)](detail::client_impl& self) mutable {
        self.unsubscribe(std::move(p), std::move(h));
    });
}

void client::start_receive(std::shared_ptr<detail::client_impl> impl, receive_handler handler)
{
    on_strand(impl, [h = std::move(handler)](detail::client_impl& self) mutable { self.receive(std::move(h)); });
}

void client::start_disconnect(std::shared_ptr<detail::client_impl> impl, disconnect pkt, disconnect_handler handler)
{
    on_strand(impl, [p = std::move(pkt), h = std::move(handler)](detail::client_impl& self) mutable {
        self.disconnect(std::move(p), std::move(h));
    });
}

} // namespace mqtt

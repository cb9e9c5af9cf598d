#pragma once
// mqtt::client: an asynchronous MQTT 3.1.1 / 5.0 client on Boost.Asio.
//
// It drives the sans-I/O session core (mqtt/session.hpp), which holds all QoS
// logic; the client adds the network (TCP, TLS, WebSocket, WSS), timers,
// reconnection and Asio completion tokens. Every operation accepts any completion
// token: a callback, boost::asio::use_future, boost::asio::use_awaitable,
// boost::asio::deferred, ... Completion signatures carry std::error_code first, so
// use_awaitable and use_future yield a std::tuple<std::error_code, T>: errors are
// values, never exceptions.
//
// Threads: the client runs on a strand of the executor it is given and starts no
// threads. Every member function may be called from any thread and from inside
// any handler. Handlers run on their associated executor (default: the client's
// strand). The io_context must outlive the client.
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>

#include "mqtt/client/options.hpp"
#include "mqtt/client/results.hpp"
#include "mqtt/client/session_store.hpp"
#include "mqtt/packet.hpp"

namespace mqtt {

namespace detail {
class client_impl;
}

class client {
public:
    using executor_type = boost::asio::any_io_executor;

    using connect_signature = void(std::error_code, connack);
    using publish_signature = void(std::error_code, publish_result);
    using subscribe_signature = void(std::error_code, subscribe_result);
    using unsubscribe_signature = void(std::error_code, unsubscribe_result);
    using receive_signature = void(std::error_code, publish);
    using disconnect_signature = void(std::error_code);

    using connect_handler = boost::asio::any_completion_handler<connect_signature>;
    using publish_handler = boost::asio::any_completion_handler<publish_signature>;
    using subscribe_handler = boost::asio::any_completion_handler<subscribe_signature>;
    using unsubscribe_handler = boost::asio::any_completion_handler<unsubscribe_signature>;
    using receive_handler = boost::asio::any_completion_handler<receive_signature>;
    using disconnect_handler = boost::asio::any_completion_handler<disconnect_signature>;

    // Loads the session state from options.store, if any. Nothing happens on the
    // network until async_connect.
    client(executor_type ex, client_options options);
    // Stops the client (as stop()); outstanding handlers complete with errc::cancelled.
    ~client();
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // The client's strand.
    executor_type get_executor() const noexcept;

    // Connects, and from then on keeps connecting as options.reconnect says.
    // Completes with the CONNACK of the first successful connection (at once when
    // already connected), or with the error that ended the attempts: the CONNACK
    // reason code of a permanent refusal, the last network error when reconnecting is
    // off or out of attempts, errc::cancelled after stop().
    template <class Token>
    auto async_connect(Token&& token)
    {
        return boost::asio::async_initiate<Token, connect_signature>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl) {
                start_connect(std::move(impl), connect_handler(std::move(handler)));
            },
            token, impl_);
    }

    // Publishes `msg` (topic, payload, qos, retain, properties; packet id and DUP are
    // the session's). Completes with the final outcome:
    //  - acknowledged: no error, the PUBACK/PUBCOMP reason code and properties
    //    (QoS 0: once written to the connection);
    //  - refused by the broker: the reason code as the error (e.g. not_authorized);
    //  - dropped: errc::queue_full (offline queue bound reached), errc::cancelled
    //    (stop / disconnect), errc::message_expired, packet_too_large, the error that
    //    ended reconnecting, or topic_name_invalid for a bad topic.
    // While disconnected, messages wait in the offline queue and go out in order
    // after the next CONNACK; unacknowledged QoS 1/2 are resent on resumption.
    // With a store and client_options::complete_publish = stored, QoS 1/2
    // publishes complete as soon as the store holds them (see options.hpp).
    template <class Token>
    auto async_publish(publish msg, Token&& token)
    {
        return boost::asio::async_initiate<Token, publish_signature>(
            [](auto handler, const std::shared_ptr<detail::client_impl>& impl, publish m) {
                constexpr bool local = runs_on_strand<decltype(handler)>;
                start_publish(*impl, std::move(m), publish_handler(std::move(handler)), local);
            },
            token, impl_, std::move(msg));
    }

    template <class Token>
    auto async_publish(std::string topic, std::string payload, qos q, bool retain, properties props, Token&& token)
    {
        return async_publish(make_message(std::move(topic), std::move(payload), q, retain, std::move(props)),
            std::forward<Token>(token));
    }

    template <class Token>
    auto async_publish(std::string topic, std::string payload, qos q, Token&& token)
    {
        return async_publish(make_message(std::move(topic), std::move(payload), q, false, {}), std::forward<Token>(token));
    }

    // Subscribes to several filters, each with its options (QoS, no local, retain as
    // published, retain handling); a Subscription Identifier goes in `props`.
    // Completes with one reason code per filter. Requests made while disconnected
    // wait for the next connection. After a reconnect that finds no session on the
    // server, the client subscribes again to the filters it holds
    // (client_options::resubscribe).
    template <class Token>
    auto async_subscribe(std::vector<subscription> filters, properties props, Token&& token)
    {
        return boost::asio::async_initiate<Token, subscribe_signature>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl, subscribe pkt) {
                start_subscribe(std::move(impl), std::move(pkt), subscribe_handler(std::move(handler)));
            },
            token, impl_, subscribe{0, std::move(filters), std::move(props)});
    }

    template <class Token>
    auto async_subscribe(std::string filter, qos q, Token&& token)
    {
        std::vector<subscription> filters;
        filters.push_back(subscription{std::move(filter), subscribe_options{q}});
        return async_subscribe(std::move(filters), properties{}, std::forward<Token>(token));
    }

    template <class Token>
    auto async_unsubscribe(std::vector<std::string> filters, properties props, Token&& token)
    {
        return boost::asio::async_initiate<Token, unsubscribe_signature>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl, unsubscribe pkt) {
                start_unsubscribe(std::move(impl), std::move(pkt), unsubscribe_handler(std::move(handler)));
            },
            token, impl_, unsubscribe{0, std::move(filters), std::move(props)});
    }

    template <class Token>
    auto async_unsubscribe(std::string filter, Token&& token)
    {
        std::vector<std::string> filters;
        filters.push_back(std::move(filter));
        return async_unsubscribe(std::move(filters), properties{}, std::forward<Token>(token));
    }

    // The next application message, when no message handler is set. Messages that
    // arrive while nobody waits are kept in order. Completes with an error (and an
    // empty message) when the client stops or gives up reconnecting.
    template <class Token>
    auto async_receive(Token&& token)
    {
        return boost::asio::async_initiate<Token, receive_signature>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl) {
                start_receive(std::move(impl), receive_handler(std::move(handler)));
            },
            token, impl_);
    }

    // Sends DISCONNECT (5.0: with this reason and properties; disconnect_with_will_message
    // asks the broker to publish the Will), closes the connection and stops
    // reconnecting. Completes once the DISCONNECT is written; every other outstanding
    // operation completes with errc::cancelled.
    template <class Token>
    auto async_disconnect(reason_code code, properties props, Token&& token)
    {
        return boost::asio::async_initiate<Token, disconnect_signature>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl, disconnect pkt) {
                start_disconnect(std::move(impl), std::move(pkt), disconnect_handler(std::move(handler)));
            },
            token, impl_, disconnect{code, std::move(props)});
    }

    template <class Token>
    auto async_disconnect(Token&& token)
    {
        return async_disconnect(reason_code::normal_disconnection, properties{}, std::forward<Token>(token));
    }

    // Closes the connection at once, without DISCONNECT (the broker publishes the
    // Will), stops reconnecting and completes everything outstanding with
    // errc::cancelled. async_connect may start the client again.
    void stop();

    // Receives every application message (instead of async_receive). Runs on the
    // client's strand; it may call any member function.
    void set_message_handler(std::function<void(publish)> handler);
    // Connection events: connected, refused, disconnected, reconnecting, stopped.
    void set_event_handler(std::function<void(const connection_event&)> handler);

    // Manual-ack mode (session_options.manual_ack): sends the PUBACK (QoS 1) or
    // PUBREC (QoS 2) of `msg` now, with `code` (5.0; an error code refuses it).
    void acknowledge(const publish& msg, reason_code code = reason_code::success, properties props = {});

    // 5.0 re-authentication: sends AUTH (Re-authenticate) with these properties
    // (Authentication Method and Data); the exchange continues through on_auth.
    void reauthenticate(properties props);

    // Whether a session is up right now (a hint: it may change at any moment).
    bool is_connected() const noexcept;

    static publish make_message(std::string topic, std::string payload, qos q, bool retain = false, properties props = {});

private:
    // A handler without an executor of its own runs on the client's strand: the
    // client then calls it directly, with no executor object per operation.
    template <class Handler>
    static constexpr bool runs_on_strand =
        std::is_same_v<boost::asio::associated_executor_t<Handler>, boost::asio::system_executor>;

    static void start_connect(std::shared_ptr<detail::client_impl> impl, connect_handler handler);
    static void start_publish(detail::client_impl& impl, publish&& msg, publish_handler&& handler, bool local);
    static void start_subscribe(std::shared_ptr<detail::client_impl> impl, subscribe pkt, subscribe_handler handler);
    static void start_unsubscribe(std::shared_ptr<detail::client_impl> impl, unsubscribe pkt, unsubscribe_handler handler);
    static void start_receive(std::shared_ptr<detail::client_impl> impl, receive_handler handler);
    static void start_disconnect(std::shared_ptr<detail::client_impl> impl, disconnect pkt, disconnect_handler handler);

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace mqtt

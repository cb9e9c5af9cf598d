#include "workload.hpp"

#include <future>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

namespace fault {

mqtt::client_options persistent_options(std::uint16_t port, const std::string& id, mqtt::protocol_version v)
{
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = port;
    o.connect.version = v;
    o.connect.client_id = id;
    o.connect.clean_start = false;
    if (v == mqtt::protocol_version::v5)
        o.connect.session_expiry = 3600;
    o.connect.keep_alive = 30;
    o.connect.connect_timeout = 3s;
    o.reconnect.enabled = true;
    o.reconnect.initial_delay = 5ms;
    o.reconnect.max_delay = 100ms;
    o.reconnect.max_attempts = 0;
    return o;
}

struct workload::publisher_state {
    int index = 0;
    std::unique_ptr<mqtt::client> client;
    std::uint32_t next = 0; // index into the alternating QoS 1 / QoS 2 sequence
    std::uint32_t settled = 0;
};

workload::workload(workload_options o, ledger& book)
    : o_(std::move(o)), book_(book), work_(boost::asio::make_work_guard(ioc_))
{
    // Per client: whether it connected before (a later Session Present 0 means the
    // broker lost its session).
    auto count_connects = [this] {
        return [this, seen = false](const mqtt::connection_event& e) mutable {
            if (e.kind != mqtt::connection_event_kind::connected)
                return;
            ++connects_;
            if (seen && !e.session_present)
                ++sessions_lost_;
            seen = true;
        };
    };
    for (int i = 0; i < o_.subscribers; ++i) {
        auto c = std::make_unique<mqtt::client>(ioc_.get_executor(),
            persistent_options(o_.subscriber_port, o_.id_prefix + "-sub" + std::to_string(i), o_.version));
        c->set_message_handler([this, i](mqtt::publish m) {
            if (auto k = parse_payload(m.payload.view()))
                book_.received(i, *k);
        });
        c->set_event_handler(count_connects());
        subs_.push_back(std::move(c));
    }
    for (int i = 0; i < o_.publishers; ++i) {
        auto p = std::make_unique<publisher_state>();
        p->index = i;
        p->client = std::make_unique<mqtt::client>(ioc_.get_executor(),
            persistent_options(o_.publisher_port, o_.id_prefix + "-pub" + std::to_string(i), o_.version));
        p->client->set_event_handler(count_connects());
        pubs_.push_back(std::move(p));
    }
    thread_ = std::thread([this] { ioc_.run(); });
}

workload::~workload()
{
    stop();
    // Destroy the clients on their thread's watch, then let the thread end.
    std::promise<void> done;
    boost::asio::post(ioc_, [&] {
        subs_.clear();
        for (auto& p : pubs_)
            p->client.reset();
        done.set_value();
    });
    done.get_future().wait_for(10s);
    work_.reset();
    ioc_.stop();
    thread_.join();
}

bool workload::subscribe(std::chrono::milliseconds limit, std::string& error)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (auto& c : subs_) {
        auto connected = c->async_connect(boost::asio::use_future);
        if (connected.wait_until(deadline) != std::future_status::ready) {
            error = "subscriber did not connect";
            return false;
        }
        if (auto [ec, ack] = connected.get(); ec) {
            error = "subscriber connect: " + ec.message();
            return false;
        }
        std::vector<mqtt::subscription> filters;
        filters.push_back({"fault/+/q1", mqtt::subscribe_options{mqtt::qos::at_least_once}});
        filters.push_back({"fault/+/q2", mqtt::subscribe_options{mqtt::qos::exactly_once}});
        auto subscribed = c->async_subscribe(std::move(filters), mqtt::properties{}, boost::asio::use_future);
        if (subscribed.wait_until(deadline) != std::future_status::ready) {
            error = "no SUBACK";
            return false;
        }
        auto [ec, r] = subscribed.get();
        if (ec || r.codes.size() != 2 || r.codes[0] != mqtt::reason_code::granted_qos_1
            || r.codes[1] != mqtt::reason_code::granted_qos_2) {
            error = "subscribe refused: " + ec.message();
            return false;
        }
    }
    return true;
}

void workload::start_publishing()
{
    for (auto& p : pubs_) {
        auto* state = p.get();
        p->client->async_connect([](std::error_code, mqtt::connack) {});
        // The window: publishes made before the CONNACK wait in the offline queue.
        boost::asio::post(p->client->get_executor(), [this, state] {
            for (unsigned i = 0; i < o_.window; ++i)
                publish_next(*state);
        });
    }
}

void workload::publish_next(publisher_state& p)
{
    if (p.next >= 2 * o_.per_qos || stopping_)
        return;
    message_key k{p.index, 1 + static_cast<int>(p.next % 2), p.next / 2};
    ++p.next;
    book_.sent(k);
    p.client->async_publish(topic_for(k.publisher, k.qos), make_payload(k),
        k.qos == 1 ? mqtt::qos::at_least_once : mqtt::qos::exactly_once,
        [this, &p, k](std::error_code ec, mqtt::publish_result) {
            if (ec)
                book_.failed(k);
            else
                book_.acked(k);
            ++p.settled;
            if (o_.interval.count() == 0)
                return publish_next(p);
            auto timer = std::make_shared<boost::asio::steady_timer>(p.client->get_executor(), o_.interval);
            timer->async_wait([this, &p, timer](boost::system::error_code) { publish_next(p); });
        });
}

std::uint64_t workload::total() const
{
    return static_cast<std::uint64_t>(o_.publishers) * 2 * o_.per_qos;
}

bool workload::wait_published(std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (book_.settled_count() < total()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

bool workload::wait_delivered(std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!book_.complete()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

void workload::stop()
{
    stopping_ = true;
    for (auto& c : subs_)
        c->stop();
    for (auto& p : pubs_)
        if (p->client)
            p->client->stop();
}

} // namespace fault

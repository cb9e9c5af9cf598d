#pragma once
// mqtt::client on its own io_context thread, driven with use_future and bounded
// waits, so a test can interleave it with child processes.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include "mqtt/client/client.hpp"

namespace interop {

class sync_client {
public:
    explicit sync_client(mqtt::client_options o)
        : client_(ioc_.get_executor(), std::move(o)), work_(boost::asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); })
    {
        client_.set_message_handler([this](mqtt::publish m) {
            std::lock_guard lock(mutex_);
            messages_.push_back(std::move(m));
            cv_.notify_all();
        });
        client_.set_event_handler([this](const mqtt::connection_event& e) {
            std::lock_guard lock(mutex_);
            events_.push_back(e);
            cv_.notify_all();
        });
    }

    ~sync_client()
    {
        client_.stop();
        std::promise<void> drained;
        boost::asio::post(client_.get_executor(), [&] { drained.set_value(); });
        drained.get_future().wait_for(std::chrono::seconds(5));
        work_.reset();
        ioc_.stop();
        thread_.join();
    }

    mqtt::client& raw() noexcept { return client_; }

    template <class Future>
    static auto wait(Future f, std::chrono::seconds limit = std::chrono::seconds(20))
    {
        REQUIRE(f.wait_for(limit) == std::future_status::ready);
        return f.get();
    }

    std::tuple<std::error_code, mqtt::connack> connect() { return wait(client_.async_connect(boost::asio::use_future)); }

    std::tuple<std::error_code, mqtt::publish_result> publish(mqtt::publish msg)
    {
        return wait(client_.async_publish(std::move(msg), boost::asio::use_future));
    }

    std::tuple<std::error_code, mqtt::publish_result> publish(std::string topic, std::string payload, mqtt::qos q,
        bool retain = false, mqtt::properties props = {})
    {
        return publish(mqtt::client::make_message(std::move(topic), std::move(payload), q, retain, std::move(props)));
    }

    std::tuple<std::error_code, mqtt::subscribe_result> subscribe(std::string filter, mqtt::qos q)
    {
        return wait(client_.async_subscribe(std::move(filter), q, boost::asio::use_future));
    }

    std::error_code disconnect(mqtt::reason_code code = mqtt::reason_code::normal_disconnection)
    {
        return wait(client_.async_disconnect(code, {}, boost::asio::use_future));
    }

    void stop() { client_.stop(); }

    // Waits until `n` messages arrived in all (false at the deadline).
    bool wait_messages(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(20))
    {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return messages_.size() >= n; });
    }

    bool wait_event(mqtt::connection_event_kind kind, std::size_t count = 1, std::chrono::milliseconds limit = std::chrono::seconds(20))
    {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] {
            std::size_t n = 0;
            for (auto& e : events_)
                n += e.kind == kind ? 1 : 0;
            return n >= count;
        });
    }

    std::vector<mqtt::publish> messages()
    {
        std::lock_guard lock(mutex_);
        return {messages_.begin(), messages_.end()};
    }

    std::vector<mqtt::connection_event> events()
    {
        std::lock_guard lock(mutex_);
        return events_;
    }

private:
    boost::asio::io_context ioc_;
    mqtt::client client_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<mqtt::publish> messages_;
    std::vector<mqtt::connection_event> events_;
};

} // namespace interop

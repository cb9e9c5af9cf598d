#pragma once
// Publishers and persistent subscribers (mqtt::client, auto-reconnect, session
// resumption) on one io_context thread, recording into a ledger. Each publisher
// alternates QoS 1 and QoS 2 messages on its own two topics and keeps at most
// `window` publishes outstanding; every subscriber subscribes to all of them.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "ledger.hpp"
#include "mqtt/client/client.hpp"

namespace fault {

using namespace std::chrono_literals;

struct workload_options {
    int publishers = 3;
    int subscribers = 2;
    std::uint32_t per_qos = 300; // messages per publisher and QoS
    unsigned window = 10;
    std::chrono::milliseconds interval{0}; // pause after each completion before the next publish
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    std::uint16_t publisher_port = 0;  // where publishers connect
    std::uint16_t subscriber_port = 0; // where subscribers connect
    std::string id_prefix = "fault";
};

// Client options of a persistent session that reconnects quickly and forever.
mqtt::client_options persistent_options(std::uint16_t port, const std::string& id, mqtt::protocol_version v);

class workload {
public:
    workload(workload_options o, ledger& book);
    ~workload(); // stops every client, joins the thread

    // Connects the subscribers and subscribes; false (with a reason) on failure
    // within `limit`.
    bool subscribe(std::chrono::milliseconds limit, std::string& error);
    // Connects the publishers and starts publishing.
    void start_publishing();
    // Waits until every publish completed (true) or the deadline passed.
    bool wait_published(std::chrono::milliseconds limit);
    // Waits until every acknowledged message reached every subscriber.
    bool wait_delivered(std::chrono::milliseconds limit);
    std::uint64_t total() const;
    // Connections established by all clients (first ones included).
    std::uint64_t connects() const noexcept { return connects_; }
    // Reconnections the broker answered with Session Present 0 (it had lost the session).
    std::uint64_t sessions_lost() const noexcept { return sessions_lost_; }
    void stop();

private:
    struct publisher_state;
    void publish_next(publisher_state& p);

    workload_options o_;
    ledger& book_;
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::unique_ptr<mqtt::client>> subs_;
    std::vector<std::unique_ptr<publisher_state>> pubs_;
    std::atomic<std::uint64_t> connects_{0};
    std::atomic<std::uint64_t> sessions_lost_{0};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace fault

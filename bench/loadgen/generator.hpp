#pragma once
// The load generator's clients and their event loop (single thread, epoll).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connection.hpp"
#include "options.hpp"

namespace loadgen {

// One MQTT client of the generator (publisher, subscriber or idle).
struct peer : connection {
    using connection::connection;
    int index = 0;
    bool is_pub = false;
    bool connacked = false;
    bool subacked = false;
    bool refused = false;
    std::size_t ack_limit = 20; // QoS 1/2 publishes unacknowledged at once
    std::size_t unacked = 0;
    std::uint16_t next_id = 0;
    std::vector<bool> id_in_use; // publishers: packet ids awaiting PUBACK/PUBCOMP
    mqtt::buffer topic;          // publishers
    std::uint64_t seq = 0;       // publishers: next sequence number
    std::uint64_t completed = 0; // publishers: messages delivered to every subscriber
    std::vector<std::uint16_t> ring;      // publishers: deliveries of in-flight messages
    std::vector<std::uint64_t> next_seq;  // subscribers: next expected seq per publisher
};

struct flow_result {
    std::uint64_t sent = 0, acked = 0, deliveries = 0, dups = 0, gaps = 0, stalls = 0, errors = 0;
    double elapsed = 0, cpu = 0;
    std::vector<std::uint64_t> latency_ns; // subscriber 0 only
};

class generator {
public:
    explicit generator(const options& o);

    int run_flow();  // RESULT line; exit status
    int run_idle();
    int run_queue();

private:
    peer& add_peer(bool is_pub, int index);
    bool open(peer& p, const std::string& client_id, bool clean);
    // Runs the loop until pred() or the deadline; false on timeout or a closed peer.
    template <class Pred>
    bool pump_until(Pred pred, double seconds);
    void pump_once(long timeout_ns);
    void on_readable(connection& c);
    void handle(peer& p, mqtt::packet& pkt);
    void on_delivery(peer& sub, const mqtt::publish& m);
    // Sends what the window, the acknowledgment limits and the schedule allow.
    void produce(std::uint64_t now);
    bool publish_one(peer& p, std::uint64_t timestamp);
    void disconnect_all();
    std::uint64_t in_flight() const noexcept { return total_sent_ - total_completed_; }

    options o_;
    poller poller_;
    std::vector<std::unique_ptr<peer>> peers_;
    std::vector<peer*> pubs_, subs_;
    std::string payload_;
    flow_result r_;
    std::uint64_t total_sent_ = 0, total_completed_ = 0;
    std::uint64_t t0_ = 0, last_progress_ = 0, scheduled_ = 0;
    std::size_t next_pub_ = 0;
    std::size_t window_ = 0;
    bool record_latency_ = true;
    int closed_unexpectedly_ = 0;
};

std::uint64_t now_ns() noexcept;
double cpu_seconds() noexcept;

} // namespace loadgen

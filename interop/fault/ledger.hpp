#pragma once
// Bookkeeping of a fault run: which message each publisher sent and saw
// acknowledged, and what each subscriber received, in order. Payloads carry the
// publisher, the QoS and a sequence number ("p<publisher> q<qos> s<seq>"), one
// topic per publisher and QoS, so loss, duplication and order are counted per
// message id. Thread-safe.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace fault {

struct message_key {
    int publisher = 0;
    int qos = 0;
    std::uint32_t seq = 0;
};

std::string make_payload(const message_key& k);
std::optional<message_key> parse_payload(std::string_view payload);
std::string topic_for(int publisher, int qos);

// What one run measured for one QoS, summed over subscribers.
struct figures {
    std::uint64_t sent = 0;       // publishes handed to the client
    std::uint64_t acked = 0;      // completed without error (PUBACK / PUBCOMP)
    std::uint64_t failed = 0;     // completed with an error
    std::uint64_t deliveries = 0; // messages received, duplicates included
    std::uint64_t lost = 0;       // acknowledged, never received (per subscriber)
    std::uint64_t duplicated = 0; // received more than once (extra copies)
    std::uint64_t reordered = 0;  // against the order the spec requires (see ledger::count)
    std::uint64_t unacked_lost = 0; // sent, never acknowledged, never received (per subscriber; allowed)
};

class ledger {
public:
    explicit ledger(int subscribers) : received_(static_cast<std::size_t>(subscribers)) {}

    void sent(const message_key& k);
    void acked(const message_key& k);
    void failed(const message_key& k);
    void received(int subscriber, const message_key& k);
    // Every acknowledged message of `qos` received by every subscriber at least once.
    bool complete() const;
    std::uint64_t acked_count() const;
    std::uint64_t settled_count() const; // acked + failed

    // Order: QoS 2 deliveries of one publisher's topic must be strictly increasing
    // (each exactly once, in order); QoS 1 may repeat after a reconnect, but the
    // first delivery of each message must come in publishing order [MQTT-4.6.0-5].
    figures count(int qos) const;
    // Some lost and duplicated ids, for diagnosis.
    std::string sample(int qos, std::size_t max = 10) const;

private:
    using stream_id = std::pair<int, int>; // publisher, qos
    mutable std::mutex mutex_;
    std::map<stream_id, std::set<std::uint32_t>> sent_;
    std::map<stream_id, std::uint64_t> failed_;
    std::map<stream_id, std::set<std::uint32_t>> acked_;
    std::vector<std::map<stream_id, std::vector<std::uint32_t>>> received_;
};

// One row of the table printed to stdout.
struct table_row {
    std::string scenario, broker, version;
    int qos = 0;
    figures f;
    std::uint64_t cuts = 0, kills = 0;
    std::string note;
};
void print_table(const std::vector<table_row>& rows);

} // namespace fault

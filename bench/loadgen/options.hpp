#pragma once
// Command line of mqtt-loadgen.
#include <cstdint>
#include <string>

#include "mqtt/protocol_version.hpp"

namespace loadgen {

enum class mode {
    flow,  // publishers -> subscribers, measured (throughput, or latency with --rate)
    idle,  // connect --clients idle clients, report, wait for a line on stdin, leave
    queue, // persistent subscriber offline while --count QoS 1 messages queue up for it
};

struct options {
    loadgen::mode mode = mode::flow;
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    int pubs = 1;
    int subs = 1;
    int qos = 0;
    std::size_t size = 64;
    std::size_t window = 500;    // messages not yet delivered to every subscriber
    std::size_t ack_window = 0;  // QoS 1/2 unacknowledged per publisher; 0 = the broker's Receive Maximum (5.0) or 20 (3.1.1)
    double duration = 5.0;       // seconds of publishing
    std::uint64_t count = 0;     // or: messages in all (flow, queue)
    double rate = 0;             // messages/s over all publishers; 0 = as fast as the window allows
    double drain = 2.0;          // seconds without progress before giving up on the rest
    int clients = 0;             // idle mode
    std::string prefix = "lg";
    std::string id_prefix;       // default: lg-<pid>-
};

// Parses argv; on error or --help prints to stderr/stdout and returns false with
// exit_code set.
bool parse_options(int argc, char** argv, options& out, int& exit_code);

} // namespace loadgen

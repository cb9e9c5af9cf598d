#pragma once
// A fault-injecting TCP proxy for tests: it listens on 127.0.0.1, forwards each
// accepted connection to an upstream host:port and, while faults are on, cuts
// connections (at random byte offsets, after a random byte budget, or right after
// a QoS 1/2 handshake packet), delays chunks and splits writes into random pieces.
//
// Every random decision comes from a generator seeded with `seed` and the index of
// the connection and direction, so cut offsets (counted in bytes of the stream, not
// in read chunks) repeat for the same seed: a failing run can be replayed.
// Per-chunk decisions (cut_probability, delays, splits) also depend on how the
// kernel chunked the stream, so they repeat only approximately.
//
// The proxy runs on the executor it is given; its member functions may be called
// from any thread (they post to its strand).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>

namespace mqtt::fault {

struct proxy_options {
    std::uint16_t listen_port = 0; // 0: the system picks a free port (see proxy::port())
    std::string upstream_host = "127.0.0.1";
    std::uint16_t upstream_port = 0;
    std::uint64_t seed = 1;

    // Probability, for each chunk read from either side, that the connection is cut
    // inside that chunk (after a random part of it was forwarded).
    double cut_probability = 0;
    // When cut_after_max > 0: each connection is cut once either direction has
    // forwarded a random number of bytes, uniform in [cut_after_min, cut_after_max].
    std::uint64_t cut_after_min = 0;
    std::uint64_t cut_after_max = 0;
    // Probability of a cut right after a whole PUBLISH (QoS > 0), PUBACK, PUBREC,
    // PUBREL or PUBCOMP was forwarded: between the steps of the QoS handshakes.
    // The proxy follows the MQTT fixed header to find packet boundaries.
    double cut_on_ack_probability = 0;
    // Each chunk waits uniform [0, max_delay] before it is forwarded.
    std::chrono::milliseconds max_delay{0};
    // Write each chunk in random pieces (1 to max_split pieces), one write each.
    unsigned max_split = 1;
    // Called on the proxy's strand for every whole packet (its first header byte)
    // before it is forwarded, e.g. to kill a client as a PUBREL travels to it.
    std::function<void(bool to_client, std::uint8_t header)> on_packet;
};

struct proxy_stats {
    std::uint64_t connections = 0;    // accepted
    std::uint64_t cuts = 0;           // connections the proxy cut (not closed by an end)
    std::uint64_t bytes_to_upstream = 0;
    std::uint64_t bytes_to_client = 0;
};

namespace detail {
class proxy_impl;
}

class proxy {
public:
    proxy(boost::asio::any_io_executor ex, proxy_options options);
    ~proxy(); // stops: closes the acceptor and every connection
    proxy(const proxy&) = delete;
    proxy& operator=(const proxy&) = delete;

    // Binds 127.0.0.1:listen_port and starts accepting. Blocking-safe from any thread
    // that is not running the proxy's executor.
    std::error_code start();
    std::uint16_t port() const noexcept;
    void stop();

    // Turns fault injection on or off (on after start()); connections keep running.
    void set_faults(bool on);
    // Cuts every open connection now (counted as cuts).
    void cut_all();
    proxy_stats stats() const;

private:
    std::shared_ptr<detail::proxy_impl> impl_;
};

// Parses "N" or "MIN:MAX" (MIN <= MAX) as used by mqtt-fault-proxy --cut-after.
bool parse_range(const std::string& text, std::uint64_t& min, std::uint64_t& max);

} // namespace mqtt::fault

#pragma once
// The broker on the network: listeners (TCP, TLS, WebSocket, WSS; IPv4 and IPv6),
// one connection object per client doing the I/O for the engine, the timers, $SYS,
// the Prometheus metrics listener, reloading credentials on SIGHUP, and the durable
// store (persistence true): one group commit per turn of the I/O loop, before the
// output it promises is written.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "mqtt/broker/config.hpp"
#include "mqtt/broker/engine.hpp"

namespace mqtt::broker {

class logger;

struct server_options {
    // A store that cannot be read is renamed to <file>.corrupt-<timestamp> and the
    // broker starts empty (otherwise start() fails naming the file).
    bool move_corrupt_store = false;
    // I/O threads serving connections, the caller's io.run() included; 0 = the
    // configuration's `threads`, else automatic: one per core on machines with
    // more than two cores, one on smaller ones (see broker-design.md). The
    // engine itself is shared under one lock.
    unsigned threads = 0;
};

class server {
public:
    server(boost::asio::io_context& io, broker_config config, server_options options = {});
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Opens the store (restoring sessions and retained messages), loads credentials
    // and certificates and opens every listener. False (and a message naming the
    // file or address) when anything fails.
    bool start(std::string& error);
    // Stops accepting, disconnects every client (5.0: 0x8B) and lets io.run() return.
    void stop();
    // Reloads the password file, the ACL file and TLS certificates; connections stay.
    bool reload(std::string& error);

    // The ports actually bound, in listener order (useful with port 0).
    std::vector<std::uint16_t> bound_ports() const;
    // Unsynchronised: only while no connection is being served (tests, tools).
    engine& broker_engine() noexcept;
    // The metrics as Prometheus text.
    std::string prometheus_text() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace mqtt::broker

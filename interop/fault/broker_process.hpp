#pragma once
// The broker under test as a child process: our mqtt-broker or Mosquitto, one
// plain TCP listener on a free 127.0.0.1 port that stays the same across
// restarts, optionally with its durable store in the broker's own directory.
#include <memory>
#include <string>

#include "../process.hpp"

namespace fault {

enum class broker_kind { ours, mosquitto };

std::string broker_name(broker_kind k);

// From a Mosquitto log with every packet: how often it sent a QoS 2 PUBLISH again
// after it had sent the PUBREL for it (and before the PUBCOMP), which
// [MQTT-4.3.3-6] forbids; the receiver must then take it as a new message.
std::size_t publish_after_pubrel(const std::string& log);

class broker_process {
public:
    // full_log: Mosquitto logs every packet (log_type all), for publish_after_pubrel().
    broker_process(broker_kind kind, bool persistence, bool full_log = false);
    ~broker_process();
    broker_process(const broker_process&) = delete;
    broker_process& operator=(const broker_process&) = delete;

    bool ok() const noexcept { return error_.empty(); }
    const std::string& error() const noexcept { return error_; }
    std::uint16_t port() const noexcept { return port_; }
    broker_kind kind() const noexcept { return kind_; }

    // Starts on the same port (again); false if it did not come up.
    bool start();
    // SIGKILL and reap: no chance to save anything.
    void kill();
    // SIGTERM (graceful).
    void stop();
    bool running();
    // What the broker logged (all runs so far of this object).
    std::string log() const;

private:
    void write_config();

    broker_kind kind_;
    bool persistence_;
    bool full_log_;
    interop::temp_dir dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<interop::process> proc_;
    std::string logs_; // output of earlier runs
    std::string error_;
};

} // namespace fault

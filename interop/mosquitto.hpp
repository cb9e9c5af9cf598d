#pragma once
// A real Mosquitto for one test: its own directory, generated configuration and
// free loopback ports for TCP, TCP with a password file, TLS, TLS requiring a
// client certificate, WebSocket and secure WebSocket. Stopped (and killed if it
// must be) by the destructor.
#include <string>
#include <vector>

#include "child_process.hpp"
#include "mqtt/client/options.hpp"

namespace interop {

// Test PKI made once per test process with the openssl CLI: a CA, a server
// certificate for localhost / 127.0.0.1, a client certificate.
struct test_pki {
    std::string ca_cert, ca_key;
    std::string server_cert, server_key;
    std::string client_cert, client_key;
    std::string error; // non-empty when generation failed
};
const test_pki& pki();

inline constexpr const char* test_user = "alice";
inline constexpr const char* test_password = "wonderland";

struct broker_ports {
    std::uint16_t tcp = 0;  // anonymous
    std::uint16_t auth = 0; // user name and password (test_user / test_password)
    std::uint16_t tls = 0;  // anonymous, server certificate only
    std::uint16_t mtls = 0; // client certificate required
    std::uint16_t ws = 0;
    std::uint16_t wss = 0;

    // Every listener's port, in the order above.
    std::vector<std::uint16_t*> all() { return {&tcp, &auth, &tls, &mtls, &ws, &wss}; }
    std::vector<std::uint16_t> list() const { return {tcp, auth, tls, mtls, ws, wss}; }
};

// Client options for a listener of `ports` ("tcp", "auth", "tls", "mtls", "ws",
// "wss"); for another name only the host, version and timeouts.
mqtt::client_options listener_options(const broker_ports& ports, const std::string& listener, mqtt::protocol_version v);
// mosquitto_pub / mosquitto_sub / mqtt-pub / mqtt-sub connection arguments for a
// listener of `ports` (empty for another name).
std::vector<std::string> listener_tool_args(const broker_ports& ports, const std::string& listener);

class mosquitto {
public:
    // persistence: the broker saves its sessions on SIGTERM and loads them on start.
    explicit mosquitto(bool persistence = false);

    bool ok() const noexcept { return error_.empty(); }
    const std::string& error() const noexcept { return error_; }
    const broker_ports& ports() const noexcept { return ports_; }

    // Graceful stop (SIGTERM: sessions are saved when persistence is on).
    void stop();
    // Abrupt stop.
    void kill();
    // Starts again on the same ports; false if it did not come up.
    bool start();
    bool running();
    std::string log() const;

    // Client options for a listener ("tcp", "auth", "tls", "mtls", "ws", "wss").
    mqtt::client_options options(const std::string& listener, mqtt::protocol_version v = mqtt::protocol_version::v5) const;
    // mosquitto_pub / mosquitto_sub / mqtt-pub / mqtt-sub connection arguments.
    std::vector<std::string> tool_args(const std::string& listener) const;

private:
    bool write_config(bool persistence);

    temp_dir dir_;
    broker_ports ports_;
    child_process proc_{"mosquitto"};
    std::string error_;
};

// Paths of the programs the tests run.
struct programs {
    static const char* mosquitto_pub();
    static const char* mosquitto_sub();
    static const char* mqtt_pub();
    static const char* mqtt_sub();
};

} // namespace interop

#pragma once
// Our own mqtt-broker for one test: its own directory, a generated configuration
// and free loopback ports for the same listeners as interop::mosquitto (TCP, TCP
// with a password file, TLS, TLS requiring a client certificate, WebSocket and
// secure WebSocket). Stopped with SIGTERM (killed if it must be) by the destructor.
#include <string>
#include <vector>

#include "child_process.hpp"
#include "mosquitto.hpp" // test_pki, test_user, broker_ports
#include "mqtt/client/options.hpp"

namespace interop {

struct our_broker_options {
    std::string acl;                     // ACL file content for every listener; empty: no acl_file
    bool mosquitto_passwd = false;       // password file made by mosquitto_passwd instead of mqtt-passwd
    bool ipv6 = false;                   // one more anonymous TCP listener on [::1]
    std::string extra;                   // more global options, before the listeners
};

class our_broker {
public:
    explicit our_broker(our_broker_options o = {});
    our_broker(const our_broker&) = delete;
    our_broker& operator=(const our_broker&) = delete;

    bool ok() const noexcept { return error_.empty(); }
    const std::string& error() const noexcept { return error_; }
    const broker_ports& ports() const noexcept { return ports_; }
    std::uint16_t ipv6_port() const noexcept { return ipv6_port_; }

    // SIGTERM; returns the exit code (-1: not running).
    int stop();
    bool running();
    // Sends SIGHUP (reload of password file, ACL file and certificates).
    void reload();
    std::string log() const;
    // What the broker wrote to stderr (start-up and reload errors).
    std::string err() const;
    const std::string& password_file() const noexcept { return passwd_; }
    const std::string& acl_file() const noexcept { return acl_; }
    std::string dir_file(const std::string& name) const { return dir_.file(name); }

    // Client options for a listener ("tcp", "auth", "tls", "mtls", "ws", "wss").
    mqtt::client_options options(const std::string& listener, mqtt::protocol_version v = mqtt::protocol_version::v5) const;
    // mosquitto_pub / mosquitto_sub / mqtt-pub / mqtt-sub connection arguments.
    std::vector<std::string> tool_args(const std::string& listener) const;

private:
    bool write_config();
    bool start();

    our_broker_options opts_;
    temp_dir dir_;
    std::string passwd_, acl_;
    broker_ports ports_;
    std::uint16_t ipv6_port_ = 0;
    child_process proc_{"mqtt-broker"};
    std::string error_;
};

// Paths of our programs and of a Python 3 that has Paho.
struct our_programs {
    static const char* broker();
    static const char* passwd();
    static const char* mosquitto_passwd();
    static const char* python();
    static std::string paho_script(const std::string& name);
};

} // namespace interop

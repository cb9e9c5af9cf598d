#include "broker_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <thread>

namespace interop {

const char* our_programs::broker() { return MQTT_BROKER_PATH; }
const char* our_programs::passwd() { return MQTT_PASSWD_PATH; }
const char* our_programs::mosquitto_passwd() { return MOSQUITTO_PASSWD_PATH; }
const char* our_programs::python() { return PAHO_PYTHON_PATH; }
std::string our_programs::paho_script(const std::string& name) { return std::string(PAHO_SCRIPT_DIR) + "/" + name; }

namespace {

// Connects to [::1]:port (port 0: only checks that a socket can bind there).
bool try_v6(std::uint16_t port)
{
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    addr.sin6_port = htons(port);
    bool ok = port == 0 ? ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0
                        : ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

} // namespace

bool have_ipv6_loopback()
{
    return try_v6(0);
}

bool wait_port_v6(std::uint16_t port, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (try_v6(port))
            return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

our_broker::our_broker(our_broker_options o) : opts_(std::move(o)), dir_("mqtt-our-broker")
{
    const auto& certs = pki();
    if (!certs.error.empty()) {
        error_ = certs.error;
        return;
    }
    passwd_ = dir_.file("passwd");
    auto made = opts_.mosquitto_passwd
        ? run({our_programs::mosquitto_passwd(), "-c", "-b", passwd_, test_user, test_password})
        : run({our_programs::passwd(), "-c", "-b", passwd_, test_user, test_password});
    if (made.code != 0) {
        error_ = "making the password file failed: " + made.err;
        return;
    }
    if (!opts_.acl.empty()) {
        acl_ = dir_.file("acl");
        write_file(acl_, opts_.acl);
    }
    // A port found free may be taken by someone else before the broker binds it:
    // then try again with other ports.
    for (int attempt = 0; attempt < 5; ++attempt) {
        error_.clear();
        if (!write_config())
            return;
        if (start())
            return;
        if (proc_)
            proc_->stop(2s);
    }
}

bool our_broker::write_config()
{
    const auto& certs = pki();
    std::vector<std::uint16_t*> all{&ports_.tcp, &ports_.auth, &ports_.tls, &ports_.mtls, &ports_.ws, &ports_.wss};
    if (opts_.ipv6)
        all.push_back(&ipv6_port_);
    for (auto* port : all) {
        *port = free_port();
        if (*port == 0) {
            error_ = "no free port";
            return false;
        }
    }
    std::ostringstream conf;
    conf << "per_listener_settings true\n"
         << "log_dest file " << dir_.file("broker.log") << "\n"
         << "log_type all\n";
    if (!acl_.empty())
        conf << "acl_file " << acl_ << "\n";
    conf << opts_.extra << "\n";
    auto listener = [&](std::uint16_t port, const char* address = "127.0.0.1") {
        conf << "\nlistener " << port << " " << address << "\n";
    };
    auto tls = [&](bool require_cert) {
        conf << "cafile " << certs.ca_cert << "\ncertfile " << certs.server_cert << "\nkeyfile " << certs.server_key << "\n";
        if (require_cert)
            conf << "require_certificate true\nuse_identity_as_username true\n";
    };
    listener(ports_.tcp);
    conf << "allow_anonymous true\n";
    listener(ports_.auth);
    conf << "allow_anonymous false\npassword_file " << passwd_ << "\n";
    listener(ports_.tls);
    conf << "allow_anonymous true\n";
    tls(false);
    listener(ports_.mtls);
    conf << "allow_anonymous false\n";
    tls(true);
    listener(ports_.ws);
    conf << "protocol websockets\nallow_anonymous true\n";
    listener(ports_.wss);
    conf << "protocol websockets\nallow_anonymous true\n";
    tls(false);
    if (opts_.ipv6) {
        listener(ipv6_port_, "::1");
        conf << "allow_anonymous true\n";
    }
    write_file(dir_.file("broker.conf"), conf.str());
    return true;
}

our_broker::~our_broker()
{
    if (proc_)
        proc_->stop(3s);
}

bool our_broker::start()
{
    proc_ = std::make_unique<process>(std::vector<std::string>{our_programs::broker(), "-c", dir_.file("broker.conf")});
    if (!proc_->started()) {
        error_ = proc_->start_error();
        return false;
    }
    std::vector<std::uint16_t> v4{ports_.tcp, ports_.auth, ports_.tls, ports_.mtls, ports_.ws, ports_.wss};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto up = [&](std::uint16_t port, bool v6) {
        while (proc_->running() && std::chrono::steady_clock::now() < deadline)
            if (v6 ? wait_port_v6(port, 100ms) : wait_port(port, 100ms))
                return true;
        return false;
    };
    for (auto port : v4)
        if (!up(port, false)) {
            error_ = "mqtt-broker is not listening on port " + std::to_string(port) + ": " + proc_->err() + log();
            return false;
        }
    if (opts_.ipv6 && !up(ipv6_port_, true)) {
        error_ = "mqtt-broker is not listening on [::1]:" + std::to_string(ipv6_port_) + ": " + proc_->err() + log();
        return false;
    }
    return true;
}

int our_broker::stop()
{
    return proc_ ? proc_->stop(5s) : -1;
}

bool our_broker::running()
{
    return proc_ && proc_->running();
}

void our_broker::reload()
{
    if (proc_)
        proc_->signal(SIGHUP);
}

std::string our_broker::log() const
{
    return read_file(dir_.file("broker.log"));
}

std::string our_broker::err() const
{
    return proc_ ? proc_->err() : std::string();
}

mqtt::client_options our_broker::options(const std::string& listener, mqtt::protocol_version v) const
{
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.connect.version = v;
    o.connect.keep_alive = 30;
    o.connect.connect_timeout = 10s;
    o.reconnect.enabled = false;
    const auto& certs = pki();
    if (listener == "tcp") {
        o.endpoint.port = ports_.tcp;
    } else if (listener == "auth") {
        o.endpoint.port = ports_.auth;
        o.connect.username = test_user;
        o.connect.password = test_password;
    } else if (listener == "tls" || listener == "mtls" || listener == "wss") {
        o.endpoint.kind = listener == "wss" ? mqtt::transport::scheme::wss : mqtt::transport::scheme::tls;
        o.endpoint.port = listener == "tls" ? ports_.tls : listener == "mtls" ? ports_.mtls : ports_.wss;
        o.endpoint.tls.ca_file = certs.ca_cert;
        if (listener == "mtls") {
            o.endpoint.tls.cert_file = certs.client_cert;
            o.endpoint.tls.key_file = certs.client_key;
        }
    } else if (listener == "ws") {
        o.endpoint.kind = mqtt::transport::scheme::ws;
        o.endpoint.port = ports_.ws;
    } else if (listener == "ipv6") {
        o.endpoint.host = "::1";
        o.endpoint.port = ipv6_port_;
    }
    return o;
}

std::vector<std::string> our_broker::tool_args(const std::string& listener) const
{
    const auto& certs = pki();
    if (listener == "tcp")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports_.tcp)};
    if (listener == "auth")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports_.auth), "-u", test_user, "-P", test_password};
    if (listener == "tls")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports_.tls), "--cafile", certs.ca_cert};
    if (listener == "mtls")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports_.mtls), "--cafile", certs.ca_cert, "--cert",
            certs.client_cert, "--key", certs.client_key};
    if (listener == "ws")
        return {"-L", "ws://127.0.0.1:" + std::to_string(ports_.ws) + "/mqtt"};
    if (listener == "wss")
        return {"-L", "wss://127.0.0.1:" + std::to_string(ports_.wss) + "/mqtt", "--cafile", certs.ca_cert};
    if (listener == "ipv6")
        return {"-h", "::1", "-p", std::to_string(ipv6_port_)};
    return {};
}

} // namespace interop

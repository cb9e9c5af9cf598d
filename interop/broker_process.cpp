#include "broker_process.hpp"

#include <signal.h>

#include <sstream>

namespace interop {

const char* our_programs::broker() { return MQTT_BROKER_PATH; }
const char* our_programs::passwd() { return MQTT_PASSWD_PATH; }
const char* our_programs::mosquitto_passwd() { return MOSQUITTO_PASSWD_PATH; }
const char* our_programs::python() { return PAHO_PYTHON_PATH; }
std::string our_programs::paho_script(const std::string& name) { return std::string(PAHO_SCRIPT_DIR) + "/" + name; }

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
    proc_.start_on_free_ports(error_, [&] { return write_config(); }, [&] { return start(); });
}

bool our_broker::write_config()
{
    const auto& certs = pki();
    auto all = ports_.all();
    if (opts_.ipv6)
        all.push_back(&ipv6_port_);
    if (!pick_free_ports(all, error_))
        return false;
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

bool our_broker::start()
{
    return proc_.start({our_programs::broker(), "-c", dir_.file("broker.conf")}, ports_.list(), opts_.ipv6 ? ipv6_port_ : 0,
        dir_.file("broker.log"), error_);
}

int our_broker::stop()
{
    return proc_.stop(5s);
}

bool our_broker::running()
{
    return proc_.running();
}

void our_broker::reload()
{
    proc_.signal(SIGHUP);
}

std::string our_broker::log() const
{
    return read_file(dir_.file("broker.log"));
}

std::string our_broker::err() const
{
    return proc_.err();
}

mqtt::client_options our_broker::options(const std::string& listener, mqtt::protocol_version v) const
{
    auto o = listener_options(ports_, listener, v);
    if (listener == "ipv6") {
        o.endpoint.host = "::1";
        o.endpoint.port = ipv6_port_;
    }
    return o;
}

std::vector<std::string> our_broker::tool_args(const std::string& listener) const
{
    if (listener == "ipv6")
        return {"-h", "::1", "-p", std::to_string(ipv6_port_)};
    return listener_tool_args(ports_, listener);
}

} // namespace interop

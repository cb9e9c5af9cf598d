#include "mosquitto.hpp"

#include <pwd.h>
#include <unistd.h>

#include <sstream>

namespace interop {

const char* programs::mosquitto_pub() { return MOSQUITTO_PUB_PATH; }
const char* programs::mosquitto_sub() { return MOSQUITTO_SUB_PATH; }
const char* programs::mqtt_pub() { return MQTT_PUB_PATH; }
const char* programs::mqtt_sub() { return MQTT_SUB_PATH; }

namespace {

bool openssl(const std::vector<std::string>& args, std::string& error)
{
    std::vector<std::string> argv{OPENSSL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, 30s);
    if (r.code != 0) {
        error = "openssl " + args.front() + " failed: " + r.err;
        return false;
    }
    return true;
}

// Keys are EC P-256: fast to make, accepted by every TLS 1.2/1.3 stack.
bool make_pki(const temp_dir& dir, test_pki& p)
{
    auto& e = p.error;
    p.ca_cert = dir.file("ca.crt");
    p.ca_key = dir.file("ca.key");
    p.server_cert = dir.file("server.crt");
    p.server_key = dir.file("server.key");
    p.client_cert = dir.file("client.crt");
    p.client_key = dir.file("client.key");
    const std::string ec = "ec", curve = "ec_paramgen_curve:prime256v1";
    write_file(dir.file("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    write_file(dir.file("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n");
    return openssl({"req", "-x509", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", p.ca_key, "-out", p.ca_cert,
                       "-days", "2", "-subj", "/CN=mqtt interop test CA"},
               e)
        && openssl({"req", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", p.server_key, "-out",
                       dir.file("server.csr"), "-subj", "/CN=localhost"},
            e)
        && openssl({"x509", "-req", "-in", dir.file("server.csr"), "-CA", p.ca_cert, "-CAkey", p.ca_key,
                       "-CAcreateserial", "-out", p.server_cert, "-days", "2", "-extfile", dir.file("server.ext")},
            e)
        && openssl({"req", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", p.client_key, "-out",
                       dir.file("client.csr"), "-subj", "/CN=interop-client"},
            e)
        && openssl({"x509", "-req", "-in", dir.file("client.csr"), "-CA", p.ca_cert, "-CAkey", p.ca_key,
                       "-CAcreateserial", "-out", p.client_cert, "-days", "2", "-extfile", dir.file("client.ext")},
            e);
}

std::string current_user()
{
    if (auto* pw = ::getpwuid(::getuid()))
        return pw->pw_name;
    return "root";
}

} // namespace

const test_pki& pki()
{
    // Made once, removed when the test program exits.
    static temp_dir dir("mqtt-pki");
    static test_pki p = [] {
        test_pki made;
        make_pki(dir, made);
        return made;
    }();
    return p;
}

mosquitto::mosquitto(bool persistence) : dir_("mqtt-mosquitto")
{
    const auto& certs = pki();
    if (!certs.error.empty()) {
        error_ = certs.error;
        return;
    }
    auto passwd = run({MOSQUITTO_PASSWD_PATH, "-c", "-b", dir_.file("passwd"), test_user, test_password});
    if (passwd.code != 0) {
        error_ = "mosquitto_passwd failed: " + passwd.err;
        return;
    }
    proc_.start_on_free_ports(error_, [&] { return write_config(persistence); }, [&] { return start(); });
}

bool mosquitto::write_config(bool persistence)
{
    const auto& certs = pki();
    if (!pick_free_ports(ports_.all(), error_))
        return false;
    // max_inflight_messages 0: with a limit, Mosquitto 2.0.11 acknowledges but never
    // delivers QoS 2 messages a 3.1.1 client sends beyond it (3.1.1 has no Receive
    // Maximum to tell the client).
    std::ostringstream conf;
    conf << "per_listener_settings true\n"
         << "user " << current_user() << "\n"
         << "log_dest file " << dir_.file("mosquitto.log") << "\n"
         << "log_type all\n"
         << "max_queued_messages 100000\n"
         << "max_inflight_messages 0\n";
    if (persistence)
        conf << "persistence true\npersistence_location " << dir_.path().string() << "/\nautosave_interval 3600\n";
    // socket_domain ipv4: without it Mosquitto 2.0.11's websockets listeners ignore the
    // address and listen on every interface.
    auto listener = [&](std::uint16_t port) { conf << "\nlistener " << port << " 127.0.0.1\nsocket_domain ipv4\n"; };
    auto tls = [&](bool require_cert) {
        conf << "cafile " << certs.ca_cert << "\ncertfile " << certs.server_cert << "\nkeyfile " << certs.server_key << "\n";
        if (require_cert)
            conf << "require_certificate true\n";
    };
    listener(ports_.tcp);
    conf << "allow_anonymous true\n";
    listener(ports_.auth);
    conf << "allow_anonymous false\npassword_file " << dir_.file("passwd") << "\n";
    listener(ports_.tls);
    conf << "allow_anonymous true\n";
    tls(false);
    listener(ports_.mtls);
    conf << "allow_anonymous true\n";
    tls(true);
    listener(ports_.ws);
    conf << "protocol websockets\nallow_anonymous true\n";
    listener(ports_.wss);
    conf << "protocol websockets\nallow_anonymous true\n";
    tls(false);
    write_file(dir_.file("mosquitto.conf"), conf.str());
    return true;
}

bool mosquitto::start()
{
    return proc_.start({MOSQUITTO_PATH, "-c", dir_.file("mosquitto.conf")}, ports_.list(), 0, dir_.file("mosquitto.log"),
        error_);
}

void mosquitto::stop()
{
    proc_.stop(5s);
}

void mosquitto::kill()
{
    proc_.kill();
}

bool mosquitto::running()
{
    return proc_.running();
}

std::string mosquitto::log() const
{
    return read_file(dir_.file("mosquitto.log"));
}

mqtt::client_options listener_options(const broker_ports& ports, const std::string& listener, mqtt::protocol_version v)
{
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.connect.version = v;
    o.connect.keep_alive = 30;
    o.connect.connect_timeout = 10s;
    o.reconnect.enabled = false;
    const auto& certs = pki();
    if (listener == "tcp") {
        o.endpoint.port = ports.tcp;
    } else if (listener == "auth") {
        o.endpoint.port = ports.auth;
        o.connect.username = test_user;
        o.connect.password = test_password;
    } else if (listener == "tls" || listener == "mtls" || listener == "wss") {
        o.endpoint.kind = listener == "wss" ? mqtt::transport::scheme::wss : mqtt::transport::scheme::tls;
        o.endpoint.port = listener == "tls" ? ports.tls : listener == "mtls" ? ports.mtls : ports.wss;
        o.endpoint.tls.ca_file = certs.ca_cert;
        if (listener == "mtls") {
            o.endpoint.tls.cert_file = certs.client_cert;
            o.endpoint.tls.key_file = certs.client_key;
        }
    } else if (listener == "ws") {
        o.endpoint.kind = mqtt::transport::scheme::ws;
        o.endpoint.port = ports.ws;
    }
    return o;
}

std::vector<std::string> listener_tool_args(const broker_ports& ports, const std::string& listener)
{
    const auto& certs = pki();
    if (listener == "tcp")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports.tcp)};
    if (listener == "auth")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports.auth), "-u", test_user, "-P", test_password};
    if (listener == "tls")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports.tls), "--cafile", certs.ca_cert};
    if (listener == "mtls")
        return {"-h", "127.0.0.1", "-p", std::to_string(ports.mtls), "--cafile", certs.ca_cert, "--cert",
            certs.client_cert, "--key", certs.client_key};
    if (listener == "ws")
        return {"-L", "ws://127.0.0.1:" + std::to_string(ports.ws) + "/mqtt"};
    if (listener == "wss")
        return {"-L", "wss://127.0.0.1:" + std::to_string(ports.wss) + "/mqtt", "--cafile", certs.ca_cert};
    return {};
}

mqtt::client_options mosquitto::options(const std::string& listener, mqtt::protocol_version v) const
{
    auto o = listener_options(ports_, listener, v);
    o.reconnect.initial_delay = 50ms;
    o.reconnect.max_delay = 500ms;
    return o;
}

std::vector<std::string> mosquitto::tool_args(const std::string& listener) const
{
    return listener_tool_args(ports_, listener);
}

} // namespace interop

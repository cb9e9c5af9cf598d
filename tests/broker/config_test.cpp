// The broker configuration file (Mosquitto's format) and the command line.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mqtt/broker/config.hpp"

using namespace mqtt::broker;
using mqtt::transport::scheme;
using namespace std::chrono_literals;

namespace {

broker_config parse_ok(std::string_view text)
{
    broker_config c;
    std::string error;
    const bool ok = parse_config_string(text, "t.conf", c, error);
    INFO(error);
    REQUIRE(ok);
    return c;
}

std::string parse_error(std::string_view text)
{
    broker_config c;
    std::string error;
    REQUIRE_FALSE(parse_config_string(text, "t.conf", c, error));
    return error;
}

struct temp_dir {
    std::filesystem::path path;
    temp_dir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "cfgtest.XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        REQUIRE(::mkdtemp(buf.data()) != nullptr);
        path = buf.data();
    }
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const
    {
        const auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }
};

command_line_result run_cli(std::vector<std::string> args)
{
    args.insert(args.begin(), "/usr/bin/mqtt-broker");
    std::vector<const char*> argv;
    for (const std::string& a : args) {
        argv.push_back(a.c_str());
    }
    return apply_command_line(static_cast<int>(argv.size()), argv.data());
}

} // namespace

TEST_CASE("an empty configuration listens on 127.0.0.1:1883 and allows anonymous clients there", "[broker][config]")
{
    const broker_config c = parse_ok("");
    REQUIRE(c.listeners.size() == 1);
    const listener_config& l = c.listeners[0];
    CHECK(l.bind_address == "127.0.0.1");
    CHECK(l.port == 1883);
    CHECK(l.scheme == scheme::tcp);
    CHECK(l.implicit_default);
    CHECK(effective_allow_anonymous(c, l));
    CHECK_FALSE(c.allow_anonymous.has_value());

    // Mosquitto's defaults.
    CHECK(c.max_inflight_messages == 20);
    CHECK(c.max_queued_messages == 1000);
    CHECK(c.max_queued_bytes == 0);
    CHECK(c.message_size_limit == 0);
    CHECK(c.max_packet_size == 0);
    CHECK(c.max_keepalive == 65535);
    CHECK(c.threads == 0); // automatic
    CHECK(c.max_connections == -1);
    CHECK(c.sys_interval == 10s);
    CHECK_FALSE(c.persistence);
    CHECK(c.persistence_file == "mqtt-broker.db");
    CHECK(c.persistence_location.empty());
    CHECK(c.sync == persistence_sync::always);
    CHECK(c.autosave_interval == 1800s);
    CHECK_FALSE(c.persistent_client_expiration.has_value());
    CHECK(c.allow_zero_length_clientid);
    CHECK(c.auto_id_prefix == "auto-");
    CHECK_FALSE(c.queue_qos0_messages);
    CHECK(c.retain_available);
    CHECK(c.max_qos == 2);
    CHECK(c.set_tcp_nodelay);
    CHECK(c.log_types == log_types_default);
    CHECK(logs(c, log_type::error));
    CHECK_FALSE(logs(c, log_type::debug));
    CHECK(c.log_dest.to_stderr);
    CHECK_FALSE(c.log_dest.to_stdout);
    CHECK(c.log_dest.file.empty());
    CHECK_FALSE(c.metrics_port.has_value());
    CHECK(c.metrics_bind_address == "127.0.0.1");
    CHECK_FALSE(c.per_listener_settings);
    CHECK(c.password_file.empty());
    CHECK(c.acl_file.empty());
    CHECK(c.notes.empty());
}

TEST_CASE("explicit listeners deny anonymous clients unless allow_anonymous is set", "[broker][config]")
{
    const broker_config c = parse_ok("listener 1883\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].bind_address.empty());
    CHECK_FALSE(c.listeners[0].implicit_default);
    CHECK_FALSE(effective_allow_anonymous(c, c.listeners[0]));

    const broker_config yes = parse_ok("listener 1883\nallow_anonymous true\n");
    CHECK(effective_allow_anonymous(yes, yes.listeners[0]));
    const broker_config no = parse_ok("allow_anonymous false\n");
    REQUIRE(no.listeners.size() == 1);
    CHECK(no.listeners[0].implicit_default);
    CHECK_FALSE(effective_allow_anonymous(no, no.listeners[0]));
}

TEST_CASE("port and bind_address configure Mosquitto's default listener", "[broker][config]")
{
    const broker_config c = parse_ok("port 1884\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].port == 1884);
    CHECK(c.listeners[0].bind_address.empty());
    CHECK_FALSE(effective_allow_anonymous(c, c.listeners[0]));
    CHECK(c.listeners[0].origin == "t.conf:1");

    const broker_config b = parse_ok("bind_address localhost\n");
    REQUIRE(b.listeners.size() == 1);
    CHECK(b.listeners[0].port == 1883);
    CHECK(b.listeners[0].bind_address == "localhost");

    // Listener options before any `listener` line go to the default listener.
    const broker_config t = parse_ok("port 8883\ncertfile s.crt\nkeyfile s.key\nlistener 1883 127.0.0.1\n");
    REQUIRE(t.listeners.size() == 2);
    CHECK(t.listeners[0].port == 8883);
    CHECK(t.listeners[0].scheme == scheme::tls);
    CHECK(t.listeners[1].port == 1883);
    CHECK(t.listeners[1].scheme == scheme::tcp);
    CHECK(t.listeners[1].certfile.empty());
    // Order does not matter for the default listener.
    const broker_config late = parse_ok("certfile s.crt\nkeyfile s.key\nport 8883\n");
    CHECK(late.listeners.at(0).scheme == scheme::tls);
}

TEST_CASE("listeners: TCP, TLS, WebSocket and WSS, IPv4 and IPv6", "[broker][config]")
{
    const broker_config c = parse_ok(
        "listener 1883 0.0.0.0\n"
        "listener 1883 ::1\n"
        "listener 8883\n"
        "cafile /etc/ca.pem\n"
        "capath /etc/ca.d\n"
        "certfile /etc/server.crt\n"
        "keyfile /etc/server.key\n"
        "require_certificate true\n"
        "use_identity_as_username true\n"
        "listener 8080\n"
        "protocol websockets\n"
        "websockets_path /mqtt\n"
        "listener 8081 127.0.0.1\n"
        "protocol websockets\n"
        "certfile /etc/ws.crt\n"
        "keyfile /etc/ws.key\n"
        "listener 8884\n"
        "protocol mqtt\n"
        "certfile a.crt\n"
        "keyfile a.key\n"
        "cafile ca.pem\n"
        "require_certificate true\n"
        "use_subject_as_username true\n"
        "max_connections 5\n");
    REQUIRE(c.listeners.size() == 6);
    CHECK(c.listeners[0].bind_address == "0.0.0.0");
    CHECK(c.listeners[0].scheme == scheme::tcp);
    CHECK(c.listeners[1].bind_address == "::1");
    CHECK(c.listeners[1].port == 1883);
    const listener_config& tls = c.listeners[2];
    CHECK(tls.scheme == scheme::tls);
    CHECK(tls.cafile == "/etc/ca.pem");
    CHECK(tls.capath == "/etc/ca.d");
    CHECK(tls.certfile == "/etc/server.crt");
    CHECK(tls.keyfile == "/etc/server.key");
    CHECK(tls.require_certificate);
    CHECK(tls.use_identity_as_username);
    CHECK_FALSE(tls.use_subject_as_username);
    CHECK_FALSE(tls.max_connections.has_value());
    CHECK(tls.origin == "t.conf:3");
    CHECK(c.listeners[3].scheme == scheme::ws);
    CHECK(c.listeners[3].websockets_path == "/mqtt");
    CHECK(c.listeners[4].scheme == scheme::wss);
    CHECK(c.listeners[4].websockets_path.empty());
    CHECK(c.listeners[5].scheme == scheme::tls);
    CHECK(c.listeners[5].use_subject_as_username);
    CHECK(c.listeners[5].max_connections == 5u);
    CHECK(c.max_connections == -1);
}

TEST_CASE("every global option is read", "[broker][config]")
{
    const broker_config c = parse_ok(
        "  # indented comment\n"
        "\n"
        "listener 1883\n"
        "allow_anonymous true\n"
        "password_file /etc/mqtt/passwd\n"
        "acl_file /etc/mqtt/acl\n"
        "allow_zero_length_clientid false\n"
        "auto_id_prefix gen-\n"
        "persistence true\n"
        "persistence_location /var/lib/mqtt/\n"
        "persistence_file data.db\n"
        "persistence_sync periodic\n"
        "autosave_interval 60\n"
        "persistent_client_expiration 14d\n"
        "max_inflight_messages 0\n"
        "max_queued_messages 5000\n"
        "max_queued_bytes 10000000000\n"
        "message_size_limit 1048576\n"
        "max_packet_size 2097152\n"
        "max_keepalive 120\n"
        "threads 3\n"
        "max_qos 1\n"
        "retain_available false\n"
        "queue_qos0_messages true\n"
        "set_tcp_nodelay true\n"
        "upgrade_outgoing_qos false\n"
        "check_retain_source false\n"
        "sys_interval 0\n"
        "metrics_port 9100\n"
        "metrics_bind_address 0.0.0.0\n"
        "log_type error\n"
        "log_type warning\n"
        "log_dest stdout\n"
        "log_dest file /var/log/mqtt.log\n");
    CHECK(c.allow_anonymous == true);
    CHECK(effective_allow_anonymous(c, c.listeners.at(0)));
    CHECK(c.password_file == "/etc/mqtt/passwd");
    CHECK(c.acl_file == "/etc/mqtt/acl");
    CHECK(effective_password_file(c, c.listeners[0]) == "/etc/mqtt/passwd");
    CHECK(effective_acl_file(c, c.listeners[0]) == "/etc/mqtt/acl");
    CHECK_FALSE(c.allow_zero_length_clientid);
    CHECK(c.auto_id_prefix == "gen-");
    CHECK(c.persistence);
    CHECK(c.persistence_location == "/var/lib/mqtt/");
    CHECK(c.persistence_file == "data.db");
    CHECK(c.sync == persistence_sync::periodic);
    CHECK(c.autosave_interval == 60s);
    CHECK(c.persistent_client_expiration == std::chrono::seconds(14 * 86400));
    CHECK(c.max_inflight_messages == 0);
    CHECK(c.max_queued_messages == 5000);
    CHECK(c.max_queued_bytes == 10000000000ULL);
    CHECK(c.message_size_limit == 1048576);
    CHECK(c.max_packet_size == 2097152);
    CHECK(c.max_keepalive == 120);
    CHECK(c.threads == 3);
    CHECK(c.max_qos == 1);
    CHECK_FALSE(c.retain_available);
    CHECK(c.queue_qos0_messages);
    CHECK(c.set_tcp_nodelay);
    CHECK(c.sys_interval == 0s);
    CHECK(c.metrics_port == std::uint16_t{9100});
    CHECK(c.metrics_bind_address == "0.0.0.0");
    CHECK(c.log_types == (static_cast<unsigned>(log_type::error) | static_cast<unsigned>(log_type::warning)));
    CHECK_FALSE(c.log_dest.to_stderr); // the first log_dest replaces the default
    CHECK(c.log_dest.to_stdout);
    CHECK(c.log_dest.file == "/var/log/mqtt.log");
    CHECK(c.notes.empty());
}

TEST_CASE("log_type and log_dest accept all, none and several values", "[broker][config]")
{
    CHECK(parse_ok("log_type all\n").log_types == log_types_all);
    CHECK(parse_ok("log_type none\n").log_types == 0);
    CHECK(parse_ok("log_type all\nlog_type none\nlog_type debug\n").log_types ==
        static_cast<std::uint16_t>(log_type::debug));
    CHECK(parse_ok("log_type subscribe unsubscribe\n").log_types ==
        (static_cast<unsigned>(log_type::subscribe) | static_cast<unsigned>(log_type::unsubscribe)));
    CHECK(parse_ok("log_type websockets\nlog_type notice\nlog_type information\n").log_types ==
        (static_cast<unsigned>(log_type::websockets) | static_cast<unsigned>(log_type::notice) |
            static_cast<unsigned>(log_type::information)));
    const broker_config none = parse_ok("log_dest none\n");
    CHECK_FALSE(none.log_dest.to_stderr);
    CHECK_FALSE(none.log_dest.to_stdout);
    const broker_config both = parse_ok("log_dest stderr\nlog_dest stdout\n");
    CHECK(both.log_dest.to_stderr);
    CHECK(both.log_dest.to_stdout);
    CHECK(parse_ok("log_dest file /tmp/a b.log\n").log_dest.file == "/tmp/a b.log");
}

TEST_CASE("persistent_client_expiration units", "[broker][config]")
{
    CHECK(parse_ok("persistent_client_expiration 2h\n").persistent_client_expiration == 2h);
    CHECK(parse_ok("persistent_client_expiration 1w\n").persistent_client_expiration == std::chrono::seconds(604800));
    CHECK(parse_ok("persistent_client_expiration 2m\n").persistent_client_expiration == std::chrono::seconds(2 * 30 * 86400));
    CHECK(parse_ok("persistent_client_expiration 1y\n").persistent_client_expiration == std::chrono::seconds(365 * 86400));
    CHECK(parse_ok("persistent_client_expiration 90s\n").persistent_client_expiration == 90s);
    CHECK(parse_error("persistent_client_expiration 14\n").starts_with("t.conf:1: invalid duration '14'"));
    CHECK(parse_error("persistent_client_expiration d\n").starts_with("t.conf:1: invalid duration 'd'"));
    CHECK(parse_error("persistent_client_expiration 3x\n").starts_with("t.conf:1: invalid duration '3x'"));
    CHECK(parse_error("persistent_client_expiration -3d\n").starts_with("t.conf:1: invalid duration '-3d'"));
    CHECK(parse_error("persistent_client_expiration 99999999999y\n") == "t.conf:1: duration '99999999999y' is too long");
}

TEST_CASE("per_listener_settings scopes allow_anonymous, password_file and acl_file", "[broker][config]")
{
    const broker_config c = parse_ok(
        "per_listener_settings true\n"
        "password_file /global/pw\n"
        "allow_anonymous false\n"
        "listener 1883\n"
        "allow_anonymous true\n"
        "listener 8883\n"
        "password_file /tls/pw\n"
        "acl_file /tls/acl\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.per_listener_settings);
    CHECK(effective_allow_anonymous(c, c.listeners[0]));
    CHECK_FALSE(effective_allow_anonymous(c, c.listeners[1]));
    CHECK(effective_password_file(c, c.listeners[0]) == "/global/pw");
    CHECK(effective_password_file(c, c.listeners[1]) == "/tls/pw");
    CHECK(effective_acl_file(c, c.listeners[0]).empty());
    CHECK(effective_acl_file(c, c.listeners[1]) == "/tls/acl");

    // Without per_listener_settings these options are global wherever they appear.
    const broker_config g = parse_ok("listener 1883\nallow_anonymous true\nlistener 1884\n");
    CHECK(effective_allow_anonymous(g, g.listeners[0]));
    CHECK(effective_allow_anonymous(g, g.listeners[1]));
    CHECK_FALSE(g.listeners[0].allow_anonymous.has_value());

    CHECK(parse_error("listener 1883\nper_listener_settings true\n").starts_with(
        "t.conf:2: per_listener_settings must come before"));
    CHECK(parse_error("acl_file x\nper_listener_settings true\n").starts_with(
        "t.conf:2: per_listener_settings must come before"));
    // The same file twice in one scope is a mistake; in two scopes it is fine.
    CHECK(parse_error("password_file a\npassword_file b\n") == "t.conf:2: duplicate 'password_file'");
    parse_ok("per_listener_settings true\npassword_file a\nlistener 1\npassword_file b\nlistener 2\npassword_file c\n");
}

TEST_CASE("per_listener_settings: each listener may name its own acl_file, the one before the first listener is "
          "the default",
    "[broker][config][acl]")
{
    const broker_config c = parse_ok(
        "per_listener_settings true\n"
        "acl_file /global/acl\n"
        "listener 1883\n"
        "acl_file /a/acl\n"
        "listener 1884\n"
        "acl_file /b/acl\n"
        "listener 1885\n");
    REQUIRE(c.listeners.size() == 3);
    CHECK(c.acl_file == "/global/acl");
    CHECK(effective_acl_file(c, c.listeners[0]) == "/a/acl");
    CHECK(effective_acl_file(c, c.listeners[1]) == "/b/acl");
    CHECK(effective_acl_file(c, c.listeners[2]) == "/global/acl");

    // Without per_listener_settings one acl_file is global; a second one anywhere is a duplicate.
    const broker_config g = parse_ok("listener 1883\nacl_file /a/acl\nlistener 1884\n");
    CHECK(effective_acl_file(g, g.listeners[0]) == "/a/acl");
    CHECK(effective_acl_file(g, g.listeners[1]) == "/a/acl");
    CHECK(parse_error("listener 1883\nacl_file /a/acl\nlistener 1884\nacl_file /b/acl\n")
        == "t.conf:4: duplicate 'acl_file'");
    CHECK(parse_error("per_listener_settings true\nlistener 1883\nacl_file /a\nacl_file /b\n")
        == "t.conf:4: duplicate 'acl_file'");
}

TEST_CASE("max_connections: per listener inside a section, global before any", "[broker][config]")
{
    const broker_config c = parse_ok("max_connections 100\nlistener 1883\nmax_connections 10\nlistener 1884\nmax_connections -1\n");
    CHECK(c.max_connections == 100);
    CHECK(c.listeners.at(0).max_connections == 10u);
    CHECK_FALSE(c.listeners.at(1).max_connections.has_value());
    const broker_config d = parse_ok("port 1885\nmax_connections 7\n");
    CHECK(d.listeners.at(0).max_connections == 7u);
    CHECK(d.max_connections == -1);
    CHECK(parse_error("max_connections -2\n").starts_with("t.conf:1: 'max_connections' must be between -1 and"));
}

TEST_CASE("harmless Mosquitto options are accepted with a note", "[broker][config]")
{
    const broker_config c = parse_ok(
        "user mosquitto\n"
        "pid_file /run/mosquitto.pid\n"
        "autosave_on_changes false\n"
        "connection_messages true\n"
        "log_timestamp true\n"
        "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
        "set_tcp_nodelay false\n");
    REQUIRE(c.notes.size() == 7);
    CHECK(c.notes[0].starts_with("t.conf:1: 'user' has no effect"));
    CHECK(c.notes[1].starts_with("t.conf:2: 'pid_file' has no effect"));
    CHECK(c.notes[6] == "t.conf:7: set_tcp_nodelay false ignored: TCP_NODELAY is always on");
    CHECK(parse_error("connection_messages yes\n") ==
        "t.conf:1: invalid boolean 'yes' for 'connection_messages' (use true or false)");
    CHECK(parse_error("user\n") == "t.conf:1: missing value for 'user'");
}

TEST_CASE("configuration errors carry the file and the line", "[broker][config]")
{
    CHECK(parse_error("# c\n\nfoo bar\n") == "t.conf:3: unknown option 'foo'");
    CHECK(parse_error("connection bridge1\n") ==
        "t.conf:1: 'connection' is a Mosquitto option that mqtt-broker does not support");
    CHECK(parse_error("auth_opt_db x\n").starts_with("t.conf:1: 'auth_opt_db' is a Mosquitto option"));
    CHECK(parse_error("listener 1883\npsk_hint x\n").starts_with("t.conf:2: 'psk_hint' is a Mosquitto option"));
    CHECK(parse_error("listener 1883\nmount_point x/\n").starts_with("t.conf:2: 'mount_point' is a Mosquitto"));
    CHECK(parse_error("persistence\n") == "t.conf:1: missing value for 'persistence'");
    CHECK(parse_error("persistence yes\n") == "t.conf:1: invalid boolean 'yes' for 'persistence' (use true or false)");
    CHECK(parse_error("persistence True\n").starts_with("t.conf:1: invalid boolean 'True'"));
    CHECK(parse_error("max_inflight_messages ten\n") == "t.conf:1: invalid number 'ten' for 'max_inflight_messages'");
    CHECK(parse_error("max_inflight_messages 1.5\n") == "t.conf:1: invalid number '1.5' for 'max_inflight_messages'");
    CHECK(parse_error("max_inflight_messages 70000\n") ==
        "t.conf:1: 'max_inflight_messages' must be between 0 and 65535, got 70000");
    CHECK(parse_error("max_queued_messages -1\n").starts_with("t.conf:1: 'max_queued_messages' must be between 0"));
    CHECK(parse_error("max_queued_bytes -1\n") == "t.conf:1: invalid number '-1' for 'max_queued_bytes'");
    CHECK(parse_error("max_keepalive 5\n") == "t.conf:1: 'max_keepalive' must be between 10 and 65535, got 5");
    CHECK(parse_error("threads 0\n") == "t.conf:1: 'threads' must be between 1 and 256, got 0");
    CHECK(parse_error("max_packet_size 19\n") == "t.conf:1: max_packet_size must be 0 (no limit) or at least 20");
    CHECK(parse_error("message_size_limit 268435456\n").starts_with("t.conf:1: 'message_size_limit' must be between"));
    CHECK(parse_error("max_qos 3\n") == "t.conf:1: 'max_qos' must be between 0 and 2, got 3");
    CHECK(parse_error("max_qos 1\nlistener 1\nmax_qos 0\n").starts_with("t.conf:3: max_qos differs from the value at t.conf:1"));
    CHECK(parse_error("sys_interval 99999999999999999999\n") ==
        "t.conf:1: number '99999999999999999999' out of range for 'sys_interval'");
    CHECK(parse_error("max_inflight_messages 10 20\n") == "t.conf:1: 'max_inflight_messages' takes one value, got '10 20'");
    CHECK(parse_error("port 1883 # default port\n") ==
        "t.conf:1: comments must be on their own line (found '#' after 'port')");
    CHECK(parse_error("persistence_sync sometimes\n").starts_with("t.conf:1: invalid persistence_sync 'sometimes'"));
    CHECK(parse_error("metrics_port 0\n").starts_with("t.conf:1: 'metrics_port' must be between 1 and 65535"));
    CHECK(parse_error("upgrade_outgoing_qos true\n") == "t.conf:1: 'upgrade_outgoing_qos true' is not supported by mqtt-broker");
    CHECK(parse_error("check_retain_source true\n").starts_with("t.conf:1: 'check_retain_source true' is not supported"));
    CHECK(parse_error("log_type chatty\n").starts_with("t.conf:1: invalid log_type 'chatty'"));
    CHECK(parse_error("log_dest syslog\n").starts_with("t.conf:1: log_dest syslog is not supported"));
    CHECK(parse_error("log_dest printer\n").starts_with("t.conf:1: invalid log_dest 'printer'"));
    CHECK(parse_error("log_dest file\n") == "t.conf:1: 'log_dest file' needs a file path");
    CHECK(parse_error("log_dest file a\nlog_dest file b\n") == "t.conf:2: only one 'log_dest file' may be given");
    CHECK(parse_error("log_dest stdout stderr\n") == "t.conf:1: 'log_dest' takes one destination per line");
    CHECK(parse_error("persistence_location a\npersistence_location b\n") == "t.conf:2: duplicate 'persistence_location'");
    CHECK(parse_error("acl_file\n") == "t.conf:1: missing value for 'acl_file'");
}

TEST_CASE("listener errors", "[broker][config]")
{
    CHECK(parse_error("listener\n") == "t.conf:1: expected 'listener PORT [BIND_ADDRESS]'");
    CHECK(parse_error("listener 1883 a b\n") == "t.conf:1: expected 'listener PORT [BIND_ADDRESS]'");
    CHECK(parse_error("listener 65536\n") == "t.conf:1: 'listener' must be between 0 and 65535, got 65536");
    CHECK(parse_error("listener http\n") == "t.conf:1: invalid number 'http' for 'listener'");
    CHECK(parse_error("listener 0 /run/mqtt.sock\n").starts_with("t.conf:1: Unix domain socket listeners are not supported"));
    CHECK(parse_error("# tls\ncertfile a.crt\nlistener 8883\n") ==
        "t.conf:2: 'certfile' applies to a listener: put it after a 'listener PORT' line");
    CHECK(parse_error("protocol websockets\n").starts_with("t.conf:1: 'protocol' applies to a listener"));
    CHECK(parse_error("listener 1883\nlistener 1883\n") ==
        "t.conf:2: duplicate listener on port 1883 (also at t.conf:1, mqtt)");
    CHECK(parse_error("listener 1883 127.0.0.1\nlistener 1883\n").starts_with("t.conf:2: duplicate listener on port 1883"));
    CHECK(parse_error("port 1883\nlistener 1883 ::1\n").starts_with("t.conf:2: duplicate listener on port 1883"));
    parse_ok("listener 1883 127.0.0.1\nlistener 1883 ::1\nlistener 0\nlistener 0\n");
    CHECK(parse_error("listener 8883\ncertfile a.crt\n") == "t.conf:1: listener on port 8883: certfile given without keyfile");
    CHECK(parse_error("listener 8883\nkeyfile a.key\n") == "t.conf:1: listener on port 8883: keyfile given without certfile");
    CHECK(parse_error("listener 1883\ncafile ca.pem\n") ==
        "t.conf:1: listener on port 1883: cafile needs TLS: give certfile and keyfile as well");
    CHECK(parse_error("listener 1883\nrequire_certificate true\n").starts_with(
        "t.conf:1: listener on port 1883: require_certificate needs TLS"));
    CHECK(parse_error("listener 8883\ncertfile a\nkeyfile b\nrequire_certificate true\n") ==
        "t.conf:1: listener on port 8883: require_certificate needs cafile or capath to verify client certificates");
    CHECK(parse_error("listener 8883\ncertfile a\nkeyfile b\nuse_identity_as_username true\n") ==
        "t.conf:1: listener on port 8883: use_identity_as_username needs require_certificate true");
    CHECK(parse_error("listener 1883\nwebsockets_path /mqtt\n") ==
        "t.conf:1: listener on port 1883: websockets_path needs 'protocol websockets'");
    CHECK(parse_error("listener 8080\nprotocol websockets\nwebsockets_path mqtt\n") ==
        "t.conf:3: websockets_path must start with '/'");
    CHECK(parse_error("listener 8080\nprotocol http\n") == "t.conf:2: invalid protocol 'http' (use mqtt or websockets)");
    CHECK(parse_error("listener 8883\ncertfile a\ncertfile b\n") == "t.conf:3: duplicate 'certfile'");
    CHECK(parse_error("listener 8883\nrequire_certificate 1\n").starts_with("t.conf:2: invalid boolean '1'"));
    CHECK(parse_error("port 1\nport 2\n") == "t.conf:2: duplicate 'port'");
}

TEST_CASE("include_dir reads *.conf in Mosquitto's order, errors name the included file", "[broker][config]")
{
    temp_dir dir;
    dir.write("conf.d/b.conf", "listener 1002\n");
    dir.write("conf.d/A.conf", "listener 1001\n");
    dir.write("conf.d/a.conf", "listener 1000\n");
    dir.write("conf.d/00.conf", "listener 999\n");
    dir.write("conf.d/B.conf", "listener 1003\n");
    dir.write("conf.d/ignored.txt", "garbage\n");
    const std::string main = dir.write("main.conf", "allow_anonymous true\ninclude_dir " + (dir.path / "conf.d").string() +
        "\nlistener 2000\n");
    broker_config c;
    std::string error;
    REQUIRE(parse_config_file(main, c, error));
    CHECK(c.config_file == main);
    std::vector<int> ports;
    for (const listener_config& l : c.listeners) {
        ports.push_back(l.port);
    }
    // 00, A, a, B, b: case-insensitive with upper case first on a tie.
    CHECK(ports == std::vector<int>{999, 1001, 1000, 1003, 1002, 2000});
    CHECK(c.listeners[1].origin == (dir.path / "conf.d" / "A.conf").string() + ":1");

    dir.write("bad.d/x.conf", "listener 1\n\nbogus 1\n");
    const std::string bad = dir.write("bad.conf", "include_dir " + (dir.path / "bad.d").string() + "\n");
    REQUIRE_FALSE(parse_config_file(bad, c, error));
    CHECK(error == (dir.path / "bad.d" / "x.conf").string() + ":3: unknown option 'bogus'");

    dir.write("nested.d/x.conf", "include_dir /etc\n");
    const std::string nested = dir.write("nested.conf", "include_dir " + (dir.path / "nested.d").string() + "\n");
    REQUIRE_FALSE(parse_config_file(nested, c, error));
    CHECK(error.ends_with("x.conf:1: include_dir is only allowed in the main configuration file"));

    const std::string missing = dir.write("missing.conf", "\ninclude_dir " + (dir.path / "nope").string() + "\n");
    REQUIRE_FALSE(parse_config_file(missing, c, error));
    CHECK(error.starts_with(missing + ":2: include_dir '"));

    REQUIRE_FALSE(parse_config_file(dir.path.string(), c, error));
    CHECK(error == dir.path.string() + ": is a directory, not a configuration file");
    REQUIRE_FALSE(parse_config_file((dir.path / "absent.conf").string(), c, error));
    CHECK(error.starts_with((dir.path / "absent.conf").string() + ": cannot open the configuration file"));
}

TEST_CASE("command line: no arguments, -p, -c, -v", "[broker][config][cli]")
{
    const command_line_result plain = run_cli({});
    REQUIRE(plain.action == command_line_action::run);
    REQUIRE(plain.config.listeners.size() == 1);
    CHECK(plain.config.listeners[0].port == 1883);
    CHECK(plain.config.listeners[0].bind_address == "127.0.0.1");
    CHECK_FALSE(plain.config.verbose);

    // -p replaces the default listener, still local-only with anonymous clients allowed.
    const command_line_result p = run_cli({"-p", "1884", "--port", "1885", "-v"});
    REQUIRE(p.action == command_line_action::run);
    REQUIRE(p.config.listeners.size() == 2);
    CHECK(p.config.listeners[0].port == 1884);
    CHECK(p.config.listeners[1].port == 1885);
    CHECK(p.config.listeners[0].bind_address == "127.0.0.1");
    CHECK(effective_allow_anonymous(p.config, p.config.listeners[0]));
    CHECK(p.config.verbose);
    CHECK(p.config.log_types == log_types_all);

    temp_dir dir;
    const std::string file = dir.write("m.conf", "listener 8883 0.0.0.0\nlog_type error\n");
    const command_line_result c = run_cli({"-c", file, "-p", "1886", "-p", "8883"});
    REQUIRE(c.action == command_line_action::run);
    CHECK(c.config.config_file == file);
    REQUIRE(c.config.listeners.size() == 2);
    CHECK(c.config.listeners[0].port == 8883);
    CHECK(c.config.listeners[1].port == 1886);
    CHECK(c.config.listeners[1].bind_address == "127.0.0.1");
    CHECK_FALSE(effective_allow_anonymous(c.config, c.config.listeners[1])); // explicit configuration
    REQUIRE(c.config.notes.size() == 1);
    CHECK(c.config.notes[0].find("-p 8883 ignored") != std::string::npos);
    CHECK(c.config.log_types == static_cast<std::uint16_t>(log_type::error));
    const command_line_result v = run_cli({"--config-file", file, "--verbose"});
    REQUIRE(v.action == command_line_action::run);
    CHECK(v.config.log_types == log_types_all); // -v overrides log_type
}

TEST_CASE("command line: help and errors", "[broker][config][cli]")
{
    const command_line_result h = run_cli({"--help"});
    CHECK(h.action == command_line_action::exit_ok);
    CHECK(h.message.find("Usage: mqtt-broker [-c config_file]") != std::string::npos);
    CHECK(run_cli({"-v", "-h"}).action == command_line_action::exit_ok);

    const command_line_result d = run_cli({"-d"});
    CHECK(d.action == command_line_action::exit_error);
    CHECK(d.message.find("daemon mode is not supported") != std::string::npos);
    CHECK(run_cli({"--daemon"}).action == command_line_action::exit_error);

    CHECK(run_cli({"-c"}).message == "-c needs a file name (see --help)");
    CHECK(run_cli({"-p"}).message.starts_with("-p needs a port number"));
    CHECK(run_cli({"-p", "0"}).message.starts_with("-p needs a port number"));
    CHECK(run_cli({"-p", "65536"}).action == command_line_action::exit_error);
    CHECK(run_cli({"-p", "12ab"}).action == command_line_action::exit_error);
    CHECK(run_cli({"-p", "1884", "-p", "1884"}).message == "-p 1884 given twice");
    CHECK(run_cli({"-x"}).message == "unknown argument '-x' (see --help)");
    CHECK(run_cli({"extra"}).message == "unknown argument 'extra' (see --help)");
    CHECK(run_cli({"-c", "a", "-c", "b"}).message == "only one configuration file may be given");
    const command_line_result missing = run_cli({"-c", "/nonexistent/mqtt.conf"});
    CHECK(missing.action == command_line_action::exit_error);
    CHECK(missing.message.starts_with("/nonexistent/mqtt.conf: cannot open the configuration file"));

    temp_dir dir;
    const std::string bad = dir.write("bad.conf", "listener 1883\nmax_qos 7\n");
    CHECK(run_cli({"-c", bad}).message == bad + ":2: 'max_qos' must be between 0 and 2, got 7");
}

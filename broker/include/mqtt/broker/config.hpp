#pragma once
// The broker's configuration: a Mosquitto-style configuration file and the
// command line (-c, -p, -v, --help). Pure parsing, no I/O beyond reading the
// files; every error names the file and line ("FILE:LINE: reason").
// docs/broker-config.md documents every option.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/transport/stream.hpp"

namespace mqtt::broker {

struct listener_config {
    std::string bind_address;          // empty: every interface (IPv4 and IPv6)
    std::uint16_t port = 1883;         // 0: the operating system picks a free port
    transport::scheme scheme = transport::scheme::tcp; // from `protocol` and certfile/keyfile
    std::string cafile;                // trusted CAs for client certificates
    std::string capath;
    std::string certfile;              // server certificate (TLS and WSS only)
    std::string keyfile;
    bool require_certificate = false;
    bool use_identity_as_username = false; // the client certificate's CN is the username
    bool use_subject_as_username = false;  // the full subject is the username
    std::string websockets_path;       // WS/WSS request path to accept; empty: any path
    std::optional<std::uint32_t> max_connections; // unset: unlimited on this listener
    // Set only when per_listener_settings is true and given in this listener's section.
    std::optional<bool> allow_anonymous;
    std::string password_file;
    std::string acl_file;
    // The local-only listener used when the configuration names none (Mosquitto 2):
    // anonymous clients are allowed on it unless allow_anonymous says otherwise.
    bool implicit_default = false;
    std::string origin;                // "FILE:LINE" where it was defined, for log lines
};

enum class persistence_sync : std::uint8_t {
    always,   // every change is written when it happens
    periodic, // written every autosave_interval and on shutdown
};

// Bits of broker_config::log_types.
enum class log_type : std::uint16_t {
    debug = 1u << 0,
    error = 1u << 1,
    warning = 1u << 2,
    notice = 1u << 3,
    information = 1u << 4,
    subscribe = 1u << 5,
    unsubscribe = 1u << 6,
    websockets = 1u << 7,
};
inline constexpr std::uint16_t log_types_all = 0xFF;
inline constexpr std::uint16_t log_types_default = static_cast<std::uint16_t>(
    static_cast<unsigned>(log_type::error) | static_cast<unsigned>(log_type::warning) |
    static_cast<unsigned>(log_type::notice) | static_cast<unsigned>(log_type::information));

struct log_destinations {
    bool to_stderr = true;
    bool to_stdout = false;
    std::string file;                  // empty: no file
};

struct broker_config {
    std::vector<listener_config> listeners; // never empty after parsing

    // Authentication and access control.
    std::optional<bool> allow_anonymous;    // unset: see effective_allow_anonymous
    std::string password_file;
    std::string acl_file;
    bool per_listener_settings = false;
    bool allow_zero_length_clientid = true;
    std::string auto_id_prefix = "auto-";

    // Persistence.
    bool persistence = false;
    std::string persistence_location;       // directory; empty: the current directory
    std::string persistence_file = "mqtt-broker.db";
    persistence_sync sync = persistence_sync::always;
    std::chrono::seconds autosave_interval{1800}; // period of persistence_sync periodic
    std::optional<std::chrono::seconds> persistent_client_expiration; // unset: never

    // Limits. 0 means unlimited unless noted.
    std::uint32_t max_inflight_messages = 20;   // per client, outgoing QoS 1/2 (<= 65535)
    std::uint32_t max_queued_messages = 1000;   // per client, beyond the in-flight window
    std::uint64_t max_queued_bytes = 0;
    std::uint32_t message_size_limit = 0;       // PUBLISH payload bytes
    std::uint32_t max_packet_size = 0;          // whole packet bytes (>= 20 when set)
    std::uint16_t max_keepalive = 65535;        // 10..65535
    std::int64_t max_connections = -1;          // all listeners together; -1: unlimited
    std::uint8_t max_qos = 2;
    bool retain_available = true;
    bool queue_qos0_messages = false;
    bool set_tcp_nodelay = true;                // accepted for compatibility; always on

    // Ours: I/O threads (1..256); 0 = automatic (see server_options::threads).
    unsigned threads = 0;

    // $SYS and metrics.
    std::chrono::seconds sys_interval{10};      // 0: no $SYS publishing
    std::optional<std::uint16_t> metrics_port;  // Prometheus text over HTTP; unset: off
    std::string metrics_bind_address = "127.0.0.1";

    // Logging.
    std::uint16_t log_types = log_types_default;
    log_destinations log_dest;
    bool verbose = false;                       // -v: log_types forced to all

    std::string config_file;                    // the file read (-c), empty if none
    // "FILE:LINE: ..." notes about options accepted without effect, to be logged at start.
    std::vector<std::string> notes;
};

// Reads a configuration file (and any include_dir it names). On failure returns
// false and sets `error` to "FILE:LINE: reason" (or "FILE: reason").
bool parse_config_file(const std::string& path, broker_config& out, std::string& error);

// The same for configuration text; `name` stands for the file in messages.
bool parse_config_string(std::string_view text, std::string_view name, broker_config& out,
    std::string& error);

// What the broker does with a listener's clients, after per_listener_settings
// and the Mosquitto 2 defaults: explicit listeners deny anonymous clients unless
// allow_anonymous is set; the implicit local-only listener allows them.
bool effective_allow_anonymous(const broker_config& cfg, const listener_config& l) noexcept;
// The files that apply to a listener's clients: with per_listener_settings true its
// own, or the one written before the first listener when it names none (Mosquitto
// applies that one to its default listener only); otherwise the global one.
// Empty: none.
const std::string& effective_password_file(const broker_config& cfg, const listener_config& l) noexcept;
const std::string& effective_acl_file(const broker_config& cfg, const listener_config& l) noexcept;

inline bool logs(const broker_config& cfg, log_type t) noexcept
{
    return (cfg.log_types & static_cast<std::uint16_t>(t)) != 0;
}

enum class command_line_action : std::uint8_t {
    run,        // start the broker with `config`
    exit_ok,    // print `message` (help) on stdout and exit 0
    exit_error, // print `message` on stderr and exit 1
};

struct command_line_result {
    command_line_action action = command_line_action::exit_error;
    broker_config config;
    std::string message;
};

// mqtt-broker [-c FILE] [-p PORT]... [-v] [-h|--help]. -p listens on the loopback
// interface: with no listener in the configuration the -p ports replace the
// default 127.0.0.1:1883; otherwise each is added unless a listener already uses
// that port. -d (daemon) is refused with an explanation.
command_line_result apply_command_line(int argc, const char* const* argv);

std::string usage_text(std::string_view program);

} // namespace mqtt::broker

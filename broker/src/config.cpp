#include "mqtt/broker/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace mqtt::broker {

namespace {

constexpr std::uint32_t max_payload = 268435455;          // largest Remaining Length
constexpr std::uint32_t max_whole_packet = 268435455 + 5; // plus fixed header

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string_view> words(std::string_view s)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        const std::size_t b = i;
        while (i < s.size() && !is_space(s[i])) {
            ++i;
        }
        if (i > b) {
            out.push_back(s.substr(b, i - b));
        }
    }
    return out;
}

struct location {
    std::string file;
    std::size_t line = 0;
    std::string str() const { return file + ":" + std::to_string(line); }
};

std::string at(const location& loc, std::string_view reason)
{
    return loc.str() + ": " + std::string(reason);
}

enum class protocol_kind : std::uint8_t { mqtt, websockets };

struct listener_state {
    listener_config cfg;
    protocol_kind protocol = protocol_kind::mqtt;
    location defined;                    // the `listener` line (default: first port/bind_address)
    bool created = false;                // default section: `port` or `bind_address` given
    std::optional<location> first_option; // default section: first listener-only option
    std::string first_option_name;
    std::optional<std::int64_t> max_connections;
    std::set<std::string, std::less<>> seen; // single-valued options already given here
};

// Mosquitto's include_dir order: case-insensitive, upper case first on a tie.
bool include_order(const std::string& a, const std::string& b)
{
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const int la = std::tolower(static_cast<unsigned char>(a[i]));
        const int lb = std::tolower(static_cast<unsigned char>(b[i]));
        if (la != lb) {
            return la < lb;
        }
    }
    if (a.size() != b.size()) {
        return a.size() < b.size();
    }
    return a < b;
}

// Mosquitto options we deliberately do not implement: refusing them beats
// pretending (a bridge or TLS setting silently ignored is a security hole).
constexpr std::string_view unsupported_options[] = {
    "accept_protocol_versions", "address", "addresses", "auth_plugin", "auth_plugin_deny_special_chars",
    "bind_interface", "bridge_alpn", "bridge_attempt_unsubscribe", "bridge_bind_address",
    "bridge_cafile", "bridge_capath", "bridge_certfile", "bridge_identity", "bridge_insecure",
    "bridge_keyfile", "bridge_max_packet_size", "bridge_outgoing_retain", "bridge_protocol_version",
    "bridge_psk", "bridge_require_ocsp", "bridge_tls_version", "ciphers", "ciphers_tls1.3",
    "cleansession", "clientid", "clientid_prefixes", "connection", "crlfile", "dhparamfile",
    "enable_control_api", "global_plugin", "http_dir", "idle_timeout", "keepalive_interval",
    "listener_allow_anonymous", "local_cleansession", "local_clientid", "local_password",
    "local_username", "max_inflight_bytes", "max_topic_alias", "memory_limit", "mount_point",
    "notification_topic", "notifications", "notifications_local_only", "password", "plugin",
    "psk_file", "psk_hint", "remote_clientid", "remote_password", "remote_username",
    "restart_timeout", "round_robin", "socket_domain", "start_type", "threshold", "tls_engine",
    "tls_engine_kpass_sha1", "tls_keyform", "tls_version", "topic", "try_private",
    "use_username_as_clientid", "username",
};

// Harmless Mosquitto options: accepted, with a note saying they have no effect.
struct ignored_option {
    std::string_view name;
    bool boolean;          // the value must be true or false
    std::string_view why;
};
constexpr ignored_option ignored_options[] = {
    {"user", false, "mqtt-broker never changes user; start it as the user it should run as"},
    {"pid_file", false, "no pid file is written; use a service manager to track the process"},
    {"connection_messages", true, "connections are logged at notice level regardless"},
    {"log_timestamp", true, "log lines always carry a timestamp"},
    {"log_timestamp_format", false, "log timestamps have a fixed format"},
    {"log_facility", false, "there is no syslog destination"},
    {"autosave_on_changes", true, "persistence follows persistence_sync"},
    {"allow_duplicate_messages", true, "overlapping subscriptions follow the MQTT specification"},
    {"websockets_log_level", false, "WebSocket events are logged with log_type websockets"},
    {"websockets_headers_size", false, "HTTP upgrade headers are bounded internally"},
};

class parser {
public:
    bool parse_file(const std::string& path, bool main_file, std::string& error);
    bool parse_text(std::string_view text, std::string_view name, bool main_file, std::string& error);
    bool finish(const std::vector<std::uint16_t>& cli_ports, broker_config& out, std::string& error);

private:
    bool handle(std::string_view key, std::string_view value, const location& loc, bool main_file,
        std::string& error);
    bool handle_listener_option(std::string_view key, std::string_view value, const location& loc,
        std::string& error);
    bool include_dir(std::string_view dir, const location& loc, std::string& error);

    listener_state& section() { return current_ ? listeners_[*current_] : default_; }
    bool in_listener() const noexcept { return current_.has_value(); }

    broker_config cfg_;
    listener_state default_;
    std::vector<listener_state> listeners_;
    std::optional<std::size_t> current_; // none: before the first `listener` line
    std::set<std::string, std::less<>> seen_global_;
    bool log_type_given_ = false;
    bool log_dest_given_ = false;
    std::optional<location> first_scoped_option_; // for per_listener_settings ordering
    std::optional<std::pair<std::uint8_t, location>> max_qos_given_;
};

// ---- value parsers -------------------------------------------------------

bool one_word(std::string_view key, std::string_view value, const location& loc, std::string& error)
{
    if (value.empty()) {
        error = at(loc, "missing value for '" + std::string(key) + "'");
        return false;
    }
    if (words(value).size() != 1) {
        error = at(loc, "'" + std::string(key) + "' takes one value, got '" + std::string(value) + "'");
        return false;
    }
    return true;
}

bool parse_bool(std::string_view key, std::string_view value, const location& loc, bool& out,
    std::string& error)
{
    if (!one_word(key, value, loc, error)) {
        return false;
    }
    if (value == "true") {
        out = true;
        return true;
    }
    if (value == "false") {
        out = false;
        return true;
    }
    error = at(loc, "invalid boolean '" + std::string(value) + "' for '" + std::string(key) +
        "' (use true or false)");
    return false;
}

bool parse_int(std::string_view key, std::string_view value, const location& loc, std::int64_t min,
    std::int64_t max, std::int64_t& out, std::string& error)
{
    if (!one_word(key, value, loc, error)) {
        return false;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc::result_out_of_range) {
        error = at(loc, "number '" + std::string(value) + "' out of range for '" + std::string(key) + "'");
        return false;
    }
    if (ec != std::errc() || end != value.data() + value.size()) {
        error = at(loc, "invalid number '" + std::string(value) + "' for '" + std::string(key) + "'");
        return false;
    }
    if (v < min || v > max) {
        error = at(loc, "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
            std::to_string(max) + ", got " + std::string(value));
        return false;
    }
    out = v;
    return true;
}

template <class T>
bool parse_number(std::string_view key, std::string_view value, const location& loc, std::int64_t min,
    std::int64_t max, T& out, std::string& error)
{
    std::int64_t v = 0;
    if (!parse_int(key, value, loc, min, max, v, error)) {
        return false;
    }
    out = static_cast<T>(v);
    return true;
}

bool parse_u64(std::string_view key, std::string_view value, const location& loc, std::uint64_t& out,
    std::string& error)
{
    if (!one_word(key, value, loc, error)) {
        return false;
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size()) {
        error = at(loc, "invalid number '" + std::string(value) + "' for '" + std::string(key) + "'");
        return false;
    }
    out = v;
    return true;
}

// "2h", "14d": an integer and one of h d w m y (Mosquitto), or s (seconds, ours).
bool parse_duration(std::string_view key, std::string_view value, const location& loc,
    std::chrono::seconds& out, std::string& error)
{
    if (!one_word(key, value, loc, error)) {
        return false;
    }
    const auto bad = [&] {
        error = at(loc, "invalid duration '" + std::string(value) + "' for '" + std::string(key) +
            "' (a number followed by s, h, d, w, m or y, e.g. 14d)");
        return false;
    };
    if (value.size() < 2) {
        return bad();
    }
    std::int64_t unit = 0;
    switch (value.back()) {
    case 's': unit = 1; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    case 'm': unit = 30 * 86400; break;
    case 'y': unit = 365 * 86400; break;
    default: return bad();
    }
    const std::string_view digits = value.substr(0, value.size() - 1);
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || n < 0) {
        return bad();
    }
    constexpr std::int64_t limit = 1000LL * 365 * 86400; // a thousand years is "never" enough
    if (n > limit / unit) {
        error = at(loc, "duration '" + std::string(value) + "' is too long");
        return false;
    }
    out = std::chrono::seconds(n * unit);
    return true;
}

bool parse_port(std::string_view key, std::string_view value, const location& loc, std::uint16_t& out,
    std::string& error)
{
    return parse_number(key, value, loc, 0, 65535, out, error);
}

bool check_bind_address(std::string_view value, const location& loc, std::string& error)
{
    if (!value.empty() && value.front() == '/') {
        error = at(loc, "Unix domain socket listeners are not supported ('" + std::string(value) + "')");
        return false;
    }
    return true;
}

// A string option given twice in one scope is almost always a mistake (Mosquitto refuses it too).
bool first_time(std::set<std::string, std::less<>>& seen, std::string_view key, const location& loc,
    std::string& error)
{
    if (!seen.insert(std::string(key)).second) {
        error = at(loc, "duplicate '" + std::string(key) + "'");
        return false;
    }
    return true;
}

std::string_view scheme_name(transport::scheme s) noexcept
{
    switch (s) {
    case transport::scheme::tcp: return "mqtt";
    case transport::scheme::tls: return "mqtt over TLS";
    case transport::scheme::ws: return "websockets";
    case transport::scheme::wss: return "websockets over TLS";
    }
    return "?";
}

// ---- the parser ----------------------------------------------------------

bool parser::parse_file(const std::string& path, bool main_file, std::string& error)
{
    std::error_code dir_ec;
    if (std::filesystem::is_directory(path, dir_ec)) {
        error = path + ": is a directory, not a configuration file";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot open the configuration file: " + std::strerror(errno);
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        error = path + ": cannot read the configuration file";
        return false;
    }
    return parse_text(text.str(), path, main_file, error);
}

bool parser::parse_text(std::string_view text, std::string_view name, bool main_file, std::string& error)
{
    location loc{std::string(name), 0};
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = text.find('\n', pos);
        const std::string_view raw =
            text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        ++loc.line;
        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::size_t k = 0;
        while (k < line.size() && !is_space(line[k])) {
            ++k;
        }
        const std::string_view key = line.substr(0, k);
        const std::string_view value = trim(line.substr(k));
        for (std::size_t i = 0; i + 1 < value.size(); ++i) {
            if (is_space(value[i]) && value[i + 1] == '#') {
                error = at(loc, "comments must be on their own line (found '#' after '" +
                    std::string(key) + "')");
                return false;
            }
        }
        if (!handle(key, value, loc, main_file, error)) {
            return false;
        }
    }
    return true;
}

bool parser::include_dir(std::string_view dir, const location& loc, std::string& error)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::directory_iterator it(fs::path(std::string(dir)), ec);
    if (ec) {
        error = at(loc, "include_dir '" + std::string(dir) + "': " + ec.message());
        return false;
    }
    std::vector<std::string> names;
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
        const std::string file = it->path().filename().string();
        if (file.size() > 5 && file.ends_with(".conf") && it->is_regular_file(ec)) {
            names.push_back(file);
        }
    }
    if (ec) {
        error = at(loc, "include_dir '" + std::string(dir) + "': " + ec.message());
        return false;
    }
    std::sort(names.begin(), names.end(), include_order);
    for (const std::string& file : names) {
        if (!parse_file((fs::path(std::string(dir)) / file).string(), false, error)) {
            return false;
        }
    }
    return true;
}

bool parser::handle(std::string_view key, std::string_view value, const location& loc, bool main_file,
    std::string& error)
{
    // Options that follow per_listener_settings.
    if (key == "allow_anonymous" || key == "password_file" || key == "acl_file") {
        if (!first_scoped_option_) {
            first_scoped_option_ = loc;
        }
        const bool per_listener = cfg_.per_listener_settings && in_listener();
        if (key == "allow_anonymous") {
            bool v = false;
            if (!parse_bool(key, value, loc, v, error)) {
                return false;
            }
            (per_listener ? section().cfg.allow_anonymous : cfg_.allow_anonymous) = v;
            return true;
        }
        if (value.empty()) {
            error = at(loc, "missing value for '" + std::string(key) + "'");
            return false;
        }
        if (!first_time(per_listener ? section().seen : seen_global_, key, loc, error)) {
            return false;
        }
        std::string& target = key == "password_file"
            ? (per_listener ? section().cfg.password_file : cfg_.password_file)
            : (per_listener ? section().cfg.acl_file : cfg_.acl_file);
        target = std::string(value);
        return true;
    }
    if (key == "per_listener_settings") {
        if (!listeners_.empty() || default_.created || first_scoped_option_) {
            error = at(loc, "per_listener_settings must come before any listener and before "
                            "allow_anonymous, password_file and acl_file");
            return false;
        }
        return parse_bool(key, value, loc, cfg_.per_listener_settings, error);
    }

    if (key == "listener") {
        const auto w = words(value);
        if (w.empty() || w.size() > 2) {
            error = at(loc, "expected 'listener PORT [BIND_ADDRESS]'");
            return false;
        }
        listener_state l;
        l.defined = loc;
        l.cfg.origin = loc.str();
        if (!parse_port(key, w[0], loc, l.cfg.port, error)) {
            return false;
        }
        if (w.size() == 2) {
            if (!check_bind_address(w[1], loc, error)) {
                return false;
            }
            l.cfg.bind_address = std::string(w[1]);
        }
        listeners_.push_back(std::move(l));
        current_ = listeners_.size() - 1;
        return true;
    }
    if (key == "port" || key == "bind_address") {
        // The default listener of Mosquitto (deprecated there, accepted here).
        if (!default_.created) {
            default_.created = true;
            default_.defined = loc;
            default_.cfg.origin = loc.str();
        }
        if (!first_time(default_.seen, key, loc, error)) {
            return false;
        }
        if (key == "port") {
            return parse_port(key, value, loc, default_.cfg.port, error);
        }
        if (!one_word(key, value, loc, error) || !check_bind_address(value, loc, error)) {
            return false;
        }
        default_.cfg.bind_address = std::string(value);
        return true;
    }
    if (key == "protocol" || key == "cafile" || key == "capath" || key == "certfile" ||
        key == "keyfile" || key == "require_certificate" || key == "use_identity_as_username" ||
        key == "use_subject_as_username" || key == "websockets_path") {
        return handle_listener_option(key, value, loc, error);
    }
    if (key == "max_connections") {
        std::int64_t v = 0;
        if (!parse_int(key, value, loc, -1, std::numeric_limits<std::uint32_t>::max(), v, error)) {
            return false;
        }
        section().max_connections = v; // the default section's value is sorted out in finish()
        return true;
    }

    if (key == "allow_zero_length_clientid") {
        return parse_bool(key, value, loc, cfg_.allow_zero_length_clientid, error);
    }
    if (key == "auto_id_prefix") {
        if (!one_word(key, value, loc, error)) {
            return false;
        }
        cfg_.auto_id_prefix = std::string(value);
        return true;
    }
    if (key == "persistence") {
        return parse_bool(key, value, loc, cfg_.persistence, error);
    }
    if (key == "persistence_location" || key == "persistence_file") {
        if (value.empty()) {
            error = at(loc, "missing value for '" + std::string(key) + "'");
            return false;
        }
        if (!first_time(seen_global_, key, loc, error)) {
            return false;
        }
        (key == "persistence_file" ? cfg_.persistence_file : cfg_.persistence_location) = std::string(value);
        return true;
    }
    if (key == "persistence_sync") {
        if (!one_word(key, value, loc, error)) {
            return false;
        }
        if (value == "always") {
            cfg_.sync = persistence_sync::always;
        } else if (value == "periodic") {
            cfg_.sync = persistence_sync::periodic;
        } else {
            error = at(loc, "invalid persistence_sync '" + std::string(value) + "' (use always or periodic)");
            return false;
        }
        return true;
    }
    if (key == "autosave_interval") {
        std::int64_t v = 0;
        if (!parse_int(key, value, loc, 0, std::numeric_limits<std::int32_t>::max(), v, error)) {
            return false;
        }
        cfg_.autosave_interval = std::chrono::seconds(v);
        return true;
    }
    if (key == "persistent_client_expiration") {
        std::chrono::seconds d{};
        if (!parse_duration(key, value, loc, d, error)) {
            return false;
        }
        cfg_.persistent_client_expiration = d;
        return true;
    }
    if (key == "max_inflight_messages") {
        return parse_number(key, value, loc, 0, 65535, cfg_.max_inflight_messages, error);
    }
    if (key == "max_queued_messages") {
        return parse_number(key, value, loc, 0, std::numeric_limits<std::uint32_t>::max(),
            cfg_.max_queued_messages, error);
    }
    if (key == "max_queued_bytes") {
        return parse_u64(key, value, loc, cfg_.max_queued_bytes, error);
    }
    if (key == "message_size_limit") {
        return parse_number(key, value, loc, 0, max_payload, cfg_.message_size_limit, error);
    }
    if (key == "max_packet_size") {
        std::int64_t v = 0;
        if (!parse_int(key, value, loc, 0, max_whole_packet, v, error)) {
            return false;
        }
        if (v != 0 && v < 20) {
            error = at(loc, "max_packet_size must be 0 (no limit) or at least 20");
            return false;
        }
        cfg_.max_packet_size = static_cast<std::uint32_t>(v);
        return true;
    }
    if (key == "max_keepalive") {
        return parse_number(key, value, loc, 10, 65535, cfg_.max_keepalive, error);
    }
    if (key == "threads") {
        return parse_number(key, value, loc, 1, 256, cfg_.threads, error);
    }
    if (key == "max_qos") {
        std::uint8_t q = 0;
        if (!parse_number(key, value, loc, 0, 2, q, error)) {
            return false;
        }
        if (max_qos_given_ && max_qos_given_->first != q) {
            error = at(loc, "max_qos differs from the value at " + max_qos_given_->second.str() +
                "; mqtt-broker applies one max_qos to every listener");
            return false;
        }
        max_qos_given_ = std::pair{q, loc};
        cfg_.max_qos = q;
        return true;
    }
    if (key == "retain_available") {
        return parse_bool(key, value, loc, cfg_.retain_available, error);
    }
    if (key == "queue_qos0_messages") {
        return parse_bool(key, value, loc, cfg_.queue_qos0_messages, error);
    }
    if (key == "set_tcp_nodelay") {
        bool v = false;
        if (!parse_bool(key, value, loc, v, error)) {
            return false;
        }
        if (!v) {
            cfg_.notes.push_back(at(loc, "set_tcp_nodelay false ignored: TCP_NODELAY is always on"));
        }
        return true;
    }
    if (key == "upgrade_outgoing_qos" || key == "check_retain_source") {
        // Only the value that matches what we do is accepted.
        bool v = false;
        if (!parse_bool(key, value, loc, v, error)) {
            return false;
        }
        if (v) {
            error = at(loc, "'" + std::string(key) + " true' is not supported by mqtt-broker");
            return false;
        }
        return true;
    }
    if (key == "sys_interval") {
        std::int64_t v = 0;
        if (!parse_int(key, value, loc, 0, 86400 * 365, v, error)) {
            return false;
        }
        cfg_.sys_interval = std::chrono::seconds(v);
        return true;
    }
    if (key == "metrics_port") {
        std::uint16_t p = 0;
        if (!parse_number(key, value, loc, 1, 65535, p, error)) {
            return false;
        }
        cfg_.metrics_port = p;
        return true;
    }
    if (key == "metrics_bind_address") {
        if (!one_word(key, value, loc, error)) {
            return false;
        }
        cfg_.metrics_bind_address = std::string(value);
        return true;
    }
    if (key == "log_type") {
        if (value.empty()) {
            error = at(loc, "missing value for 'log_type'");
            return false;
        }
        if (!log_type_given_) {
            cfg_.log_types = 0; // the first log_type line replaces the default set
            log_type_given_ = true;
        }
        for (const std::string_view w : words(value)) {
            static constexpr std::pair<std::string_view, log_type> names[] = {
                {"debug", log_type::debug}, {"error", log_type::error}, {"warning", log_type::warning},
                {"notice", log_type::notice}, {"information", log_type::information},
                {"subscribe", log_type::subscribe}, {"unsubscribe", log_type::unsubscribe},
                {"websockets", log_type::websockets},
            };
            if (w == "none") {
                cfg_.log_types = 0;
                continue;
            }
            if (w == "all") {
                cfg_.log_types = log_types_all;
                continue;
            }
            const auto found = std::find_if(std::begin(names), std::end(names),
                [&](const auto& n) { return n.first == w; });
            if (found == std::end(names)) {
                error = at(loc, "invalid log_type '" + std::string(w) +
                    "' (debug, error, warning, notice, information, subscribe, unsubscribe, "
                    "websockets, none or all)");
                return false;
            }
            cfg_.log_types = static_cast<std::uint16_t>(cfg_.log_types | static_cast<std::uint16_t>(found->second));
        }
        return true;
    }
    if (key == "log_dest") {
        const auto w = words(value);
        if (w.empty()) {
            error = at(loc, "missing value for 'log_dest'");
            return false;
        }
        if (!log_dest_given_) {
            cfg_.log_dest = log_destinations{false, false, {}};
            log_dest_given_ = true;
        }
        if (w[0] == "file") {
            const std::string_view path = trim(value.substr(4));
            if (path.empty()) {
                error = at(loc, "'log_dest file' needs a file path");
                return false;
            }
            if (!cfg_.log_dest.file.empty()) {
                error = at(loc, "only one 'log_dest file' may be given");
                return false;
            }
            cfg_.log_dest.file = std::string(path);
            return true;
        }
        if (w.size() != 1) {
            error = at(loc, "'log_dest' takes one destination per line");
            return false;
        }
        if (w[0] == "stderr") {
            cfg_.log_dest.to_stderr = true;
        } else if (w[0] == "stdout") {
            cfg_.log_dest.to_stdout = true;
        } else if (w[0] == "none") {
            cfg_.log_dest = log_destinations{false, false, {}};
        } else if (w[0] == "syslog" || w[0] == "topic" || w[0] == "dlt") {
            error = at(loc, "log_dest " + std::string(w[0]) + " is not supported (use stderr, stdout, file PATH or none)");
            return false;
        } else {
            error = at(loc, "invalid log_dest '" + std::string(w[0]) + "' (stderr, stdout, file PATH or none)");
            return false;
        }
        return true;
    }
    if (key == "include_dir") {
        if (!main_file) {
            error = at(loc, "include_dir is only allowed in the main configuration file");
            return false;
        }
        if (value.empty()) {
            error = at(loc, "missing value for 'include_dir'");
            return false;
        }
        return include_dir(value, loc, error);
    }

    for (const ignored_option& o : ignored_options) {
        if (key == o.name) {
            if (value.empty()) {
                error = at(loc, "missing value for '" + std::string(key) + "'");
                return false;
            }
            bool unused = false;
            if (o.boolean && !parse_bool(key, value, loc, unused, error)) {
                return false;
            }
            cfg_.notes.push_back(at(loc, "'" + std::string(key) + "' has no effect: " + std::string(o.why)));
            return true;
        }
    }
    const bool unsupported = key.starts_with("auth_opt_") || key.starts_with("plugin_opt_") ||
        std::find(std::begin(unsupported_options), std::end(unsupported_options), key) !=
            std::end(unsupported_options);
    if (unsupported) {
        error = at(loc, "'" + std::string(key) + "' is a Mosquitto option that mqtt-broker does not support");
        return false;
    }
    error = at(loc, "unknown option '" + std::string(key) + "'");
    return false;
}

bool parser::handle_listener_option(std::string_view key, std::string_view value, const location& loc,
    std::string& error)
{
    listener_state& l = section();
    if (!in_listener() && !l.first_option) {
        l.first_option = loc;
        l.first_option_name = std::string(key);
    }
    if (key == "protocol") {
        if (!one_word(key, value, loc, error)) {
            return false;
        }
        if (value == "mqtt") {
            l.protocol = protocol_kind::mqtt;
        } else if (value == "websockets") {
            l.protocol = protocol_kind::websockets;
        } else {
            error = at(loc, "invalid protocol '" + std::string(value) + "' (use mqtt or websockets)");
            return false;
        }
        return true;
    }
    if (key == "require_certificate") {
        return parse_bool(key, value, loc, l.cfg.require_certificate, error);
    }
    if (key == "use_identity_as_username") {
        return parse_bool(key, value, loc, l.cfg.use_identity_as_username, error);
    }
    if (key == "use_subject_as_username") {
        return parse_bool(key, value, loc, l.cfg.use_subject_as_username, error);
    }
    if (value.empty()) {
        error = at(loc, "missing value for '" + std::string(key) + "'");
        return false;
    }
    if (!first_time(l.seen, key, loc, error)) {
        return false;
    }
    if (key == "websockets_path") {
        if (!one_word(key, value, loc, error)) {
            return false;
        }
        if (value.front() != '/') {
            error = at(loc, "websockets_path must start with '/'");
            return false;
        }
        l.cfg.websockets_path = std::string(value);
        return true;
    }
    std::string& target = key == "cafile" ? l.cfg.cafile
        : key == "capath"                 ? l.cfg.capath
        : key == "certfile"               ? l.cfg.certfile
                                          : l.cfg.keyfile;
    target = std::string(value);
    return true;
}

// Settles the scheme from `protocol` and the certificate files, and refuses
// combinations that would not do what they say.
bool settle_listener(listener_state& l, std::string& error)
{
    listener_config& c = l.cfg;
    const std::string where = l.defined.str() + ": listener on port " + std::to_string(c.port) + ": ";
    if (c.certfile.empty() != c.keyfile.empty()) {
        error = where + (c.certfile.empty() ? "keyfile given without certfile" : "certfile given without keyfile");
        return false;
    }
    const bool tls = !c.certfile.empty();
    if (l.protocol == protocol_kind::websockets) {
        c.scheme = tls ? transport::scheme::wss : transport::scheme::ws;
    } else {
        c.scheme = tls ? transport::scheme::tls : transport::scheme::tcp;
    }
    if (!tls) {
        const char* needs_tls = !c.cafile.empty() ? "cafile"
            : !c.capath.empty()                   ? "capath"
            : c.require_certificate               ? "require_certificate"
            : c.use_identity_as_username          ? "use_identity_as_username"
            : c.use_subject_as_username           ? "use_subject_as_username"
                                                  : nullptr;
        if (needs_tls != nullptr) {
            error = where + needs_tls + " needs TLS: give certfile and keyfile as well";
            return false;
        }
    }
    if (c.require_certificate && c.cafile.empty() && c.capath.empty()) {
        error = where + "require_certificate needs cafile or capath to verify client certificates";
        return false;
    }
    if ((c.use_identity_as_username || c.use_subject_as_username) && !c.require_certificate) {
        error = where + (c.use_identity_as_username ? "use_identity_as_username" : "use_subject_as_username") +
            " needs require_certificate true";
        return false;
    }
    if (!c.websockets_path.empty() && l.protocol != protocol_kind::websockets) {
        error = where + "websockets_path needs 'protocol websockets'";
        return false;
    }
    if (l.max_connections && *l.max_connections >= 0) {
        c.max_connections = static_cast<std::uint32_t>(*l.max_connections);
    }
    return true;
}

bool parser::finish(const std::vector<std::uint16_t>& cli_ports, broker_config& out, std::string& error)
{
    broker_config cfg = std::move(cfg_);
    std::vector<listener_state> all;
    if (default_.created) {
        all.push_back(std::move(default_));
    } else {
        if (default_.first_option) {
            error = at(*default_.first_option, "'" + default_.first_option_name +
                "' applies to a listener: put it after a 'listener PORT' line");
            return false;
        }
        if (default_.max_connections) {
            cfg.max_connections = *default_.max_connections; // before any listener: a global limit
        }
    }
    for (listener_state& l : listeners_) {
        all.push_back(std::move(l));
    }
    for (listener_state& l : all) {
        if (!settle_listener(l, error)) {
            return false;
        }
    }
    const bool configured = !all.empty();
    std::vector<listener_config> result;
    for (listener_state& l : all) {
        result.push_back(std::move(l.cfg));
    }
    if (!configured) {
        // Mosquitto 2: no listener configured means local-only, anonymous allowed there.
        std::vector<std::uint16_t> ports = cli_ports;
        if (ports.empty()) {
            ports.push_back(1883);
        }
        for (const std::uint16_t port : ports) {
            listener_config l;
            l.bind_address = "127.0.0.1";
            l.port = port;
            l.implicit_default = true;
            l.origin = cli_ports.empty() ? "default listener" : "command line -p";
            result.push_back(std::move(l));
        }
    } else {
        for (const std::uint16_t port : cli_ports) {
            const auto same = std::find_if(result.begin(), result.end(),
                [&](const listener_config& l) { return l.port == port; });
            if (same != result.end()) {
                cfg.notes.push_back("command line: -p " + std::to_string(port) +
                    " ignored, the configuration already has a listener on that port (" + same->origin + ")");
                continue;
            }
            listener_config l;
            l.bind_address = "127.0.0.1";
            l.port = port;
            l.origin = "command line -p";
            result.push_back(std::move(l));
        }
    }
    for (std::size_t i = 0; i < result.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            const listener_config& a = result[j];
            const listener_config& b = result[i];
            const bool overlap = a.bind_address.empty() || b.bind_address.empty() || a.bind_address == b.bind_address;
            if (a.port != 0 && a.port == b.port && overlap) {
                error = b.origin + ": duplicate listener on port " + std::to_string(b.port) + " (also at " +
                    a.origin + ", " + std::string(scheme_name(a.scheme)) + ")";
                return false;
            }
        }
    }
    cfg.listeners = std::move(result);
    out = std::move(cfg);
    return true;
}

bool parse_port_argument(std::string_view text, std::uint16_t& port)
{
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(v);
    return true;
}

} // namespace

bool parse_config_file(const std::string& path, broker_config& out, std::string& error)
{
    parser p;
    if (!p.parse_file(path, true, error) || !p.finish({}, out, error)) {
        return false;
    }
    out.config_file = path;
    return true;
}

bool parse_config_string(std::string_view text, std::string_view name, broker_config& out,
    std::string& error)
{
    parser p;
    return p.parse_text(text, name, true, error) && p.finish({}, out, error);
}

bool effective_allow_anonymous(const broker_config& cfg, const listener_config& l) noexcept
{
    if (cfg.per_listener_settings && l.allow_anonymous) {
        return *l.allow_anonymous;
    }
    if (cfg.allow_anonymous) {
        return *cfg.allow_anonymous;
    }
    return l.implicit_default;
}

const std::string& effective_password_file(const broker_config& cfg, const listener_config& l) noexcept
{
    return cfg.per_listener_settings && !l.password_file.empty() ? l.password_file : cfg.password_file;
}

const std::string& effective_acl_file(const broker_config& cfg, const listener_config& l) noexcept
{
    return cfg.per_listener_settings && !l.acl_file.empty() ? l.acl_file : cfg.acl_file;
}

std::string usage_text(std::string_view program)
{
    const std::size_t slash = program.rfind('/');
    if (slash != std::string_view::npos) {
        program.remove_prefix(slash + 1);
    }
    if (program.empty()) {
        program = "mqtt-broker";
    }
    const std::string p(program);
    return p + " is an MQTT 3.1.1 and 5.0 broker.\n"
        "\n"
        "Usage: " + p + " [-c config_file] [-p port]... [-v] [-h]\n"
        "\n"
        " -c, --config-file FILE  read the configuration from FILE (Mosquitto's format;\n"
        "                         see docs/broker-config.md). Without it the broker\n"
        "                         listens on 127.0.0.1:1883 only and allows anonymous\n"
        "                         clients there.\n"
        " -p, --port PORT         listen on PORT on the loopback interface (repeatable).\n"
        "                         Without listeners in the configuration these replace\n"
        "                         the default 127.0.0.1:1883; otherwise they are added.\n"
        " -v, --verbose           log everything (log_type all)\n"
        " -h, --help              this help\n"
        "\n"
        "Signals: SIGINT/SIGTERM stop the broker cleanly; SIGHUP reloads the password\n"
        "file, the ACL file and the TLS certificates.\n";
}

command_line_result apply_command_line(int argc, const char* const* argv)
{
    command_line_result r;
    const std::string_view program = argc > 0 && argv[0] != nullptr ? argv[0] : "mqtt-broker";
    std::optional<std::string> config_file;
    std::vector<std::uint16_t> ports;
    bool verbose = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i] != nullptr ? argv[i] : "";
        const auto value = [&](std::string_view& v) {
            if (i + 1 >= argc || argv[i + 1] == nullptr) {
                return false;
            }
            v = argv[++i];
            return true;
        };
        if (a == "-h" || a == "--help") {
            r.action = command_line_action::exit_ok;
            r.message = usage_text(program);
            return r;
        }
        if (a == "-c" || a == "--config-file") {
            std::string_view v;
            if (!value(v)) {
                r.message = std::string(a) + " needs a file name (see --help)";
                return r;
            }
            if (config_file) {
                r.message = "only one configuration file may be given";
                return r;
            }
            config_file = std::string(v);
        } else if (a == "-p" || a == "--port") {
            std::string_view v;
            std::uint16_t port = 0;
            if (!value(v) || !parse_port_argument(v, port)) {
                r.message = std::string(a) + " needs a port number between 1 and 65535 (see --help)";
                return r;
            }
            if (std::find(ports.begin(), ports.end(), port) != ports.end()) {
                r.message = "-p " + std::to_string(port) + " given twice";
                return r;
            }
            ports.push_back(port);
        } else if (a == "-v" || a == "--verbose") {
            verbose = true;
        } else if (a == "-d" || a == "--daemon") {
            r.message = std::string(a) + ": daemon mode is not supported; run the broker in the "
                "foreground under a service manager (systemd, runit, a container) instead";
            return r;
        } else {
            r.message = "unknown argument '" + std::string(a) + "' (see --help)";
            return r;
        }
    }
    parser p;
    std::string error;
    if (config_file && !p.parse_file(*config_file, true, error)) {
        r.message = error;
        return r;
    }
    if (!p.finish(ports, r.config, error)) {
        r.message = error;
        return r;
    }
    if (config_file) {
        r.config.config_file = *config_file;
    }
    if (verbose) {
        r.config.verbose = true;
        r.config.log_types = log_types_all;
    }
    r.action = command_line_action::run;
    return r;
}

} // namespace mqtt::broker

#include "cli.hpp"

#include <unistd.h>

#include <charconv>
#include <limits>

#include "mqtt/topic.hpp"

namespace mqtt::cli {

// ---------------------------------------------------------------- arg_reader

std::string arg_reader::next()
{
    std::string arg = argv_[i_++];
    inline_value_.reset();
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
        auto eq = arg.find('=');
        if (eq != std::string::npos) {
            inline_value_ = arg.substr(eq + 1);
            arg.resize(eq);
        }
    }
    return arg;
}

bool arg_reader::value(const std::string& flag, std::string& out, std::string& error)
{
    if (inline_value_) {
        out = *inline_value_;
        inline_value_.reset();
        return true;
    }
    if (i_ >= argc_) {
        error = "option " + flag + " needs a value";
        return false;
    }
    out = argv_[i_++];
    return true;
}

namespace {

bool parse_integer(const std::string& text, long long min, long long max, long long& out)
{
    long long v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
        return false;
    out = v;
    return true;
}

} // namespace

bool arg_reader::int_value(const std::string& flag, long long min, long long max, long long& out, std::string& error)
{
    std::string text;
    if (!value(flag, text, error))
        return false;
    if (!parse_integer(text, min, max, out)) {
        error = "option " + flag + ": '" + text + "' is not a number in " + std::to_string(min) + ".." + std::to_string(max);
        return false;
    }
    return true;
}

// ---------------------------------------------------------------- helpers

bool parse_qos(const std::string& text, qos& out)
{
    if (text == "0" || text == "1" || text == "2") {
        out = static_cast<qos>(text[0] - '0');
        return true;
    }
    return false;
}

std::string describe(const std::error_code& ec)
{
    if (ec.category() == reason_category())
        return std::string(to_string(static_cast<reason_code>(ec.value())));
    return ec.message();
}

namespace {

struct property_spec {
    std::string_view name;
    property_id id;
};

constexpr property_spec property_names[] = {
    {"payload-format-indicator", property_id::payload_format_indicator},
    {"message-expiry-interval", property_id::message_expiry_interval},
    {"content-type", property_id::content_type},
    {"response-topic", property_id::response_topic},
    {"correlation-data", property_id::correlation_data},
    {"subscription-identifier", property_id::subscription_identifier},
    {"session-expiry-interval", property_id::session_expiry_interval},
    {"authentication-method", property_id::authentication_method},
    {"authentication-data", property_id::authentication_data},
    {"request-problem-information", property_id::request_problem_information},
    {"will-delay-interval", property_id::will_delay_interval},
    {"request-response-information", property_id::request_response_information},
    {"reason-string", property_id::reason_string},
    {"receive-maximum", property_id::receive_maximum},
    {"topic-alias-maximum", property_id::topic_alias_maximum},
    {"topic-alias", property_id::topic_alias},
    {"user-property", property_id::user_property},
    {"maximum-packet-size", property_id::maximum_packet_size},
};

std::optional<property_id> find_property(std::string_view name)
{
    for (auto& p : property_names)
        if (p.name == name)
            return p.id;
    return std::nullopt;
}

} // namespace

int property_value_count(const std::string& identifier)
{
    auto id = find_property(identifier);
    if (!id)
        return 0;
    return *id == property_id::user_property ? 2 : 1;
}

bool add_property(property_sets& sets, const std::string& command, const std::string& identifier,
    const std::vector<std::string>& values, std::string& error)
{
    properties* target = nullptr;
    packet_type type{};
    bool will = false;
    if (command == "connect") {
        target = &sets.connect;
        type = packet_type::connect;
    } else if (command == "publish") {
        target = &sets.publish;
        type = packet_type::publish;
    } else if (command == "subscribe") {
        target = &sets.subscribe;
        type = packet_type::subscribe;
    } else if (command == "unsubscribe") {
        target = &sets.unsubscribe;
        type = packet_type::unsubscribe;
    } else if (command == "disconnect") {
        target = &sets.disconnect;
        type = packet_type::disconnect;
    } else if (command == "will") {
        target = &sets.will;
        type = packet_type::connect;
        will = true;
    } else {
        error = "-D: unknown command '" + command + "' (connect, publish, subscribe, unsubscribe, disconnect, will)";
        return false;
    }
    auto id = find_property(identifier);
    if (!id) {
        error = "-D: unknown property '" + identifier + "'";
        return false;
    }
    if (!property_allowed(*id, type, will)) {
        error = "-D: property '" + identifier + "' is not allowed in " + command;
        return false;
    }
    if (*id == property_id::user_property) {
        target->add_user_property(values.at(0), values.at(1));
        return true;
    }
    const auto& text = values.at(0);
    long long v = 0;
    switch (type_of(*id)) {
    case property_type::byte:
        if (!parse_integer(text, 0, 255, v)) {
            error = "-D " + identifier + ": expected 0..255";
            return false;
        }
        target->set(*id, static_cast<std::uint32_t>(v));
        return true;
    case property_type::two_byte_integer:
        if (!parse_integer(text, 0, 65535, v)) {
            error = "-D " + identifier + ": expected 0..65535";
            return false;
        }
        target->set(*id, static_cast<std::uint32_t>(v));
        return true;
    case property_type::four_byte_integer:
        if (!parse_integer(text, 0, 4294967295LL, v)) {
            error = "-D " + identifier + ": expected 0..4294967295";
            return false;
        }
        target->set(*id, static_cast<std::uint32_t>(v));
        return true;
    case property_type::variable_byte_integer:
        if (!parse_integer(text, 1, 268435455, v)) {
            error = "-D " + identifier + ": expected 1..268435455";
            return false;
        }
        target->set(*id, static_cast<std::uint32_t>(v));
        return true;
    case property_type::utf8_string:
    case property_type::binary_data:
        target->set(*id, text);
        return true;
    case property_type::utf8_string_pair:
        break;
    }
    error = "-D: unsupported property '" + identifier + "'";
    return false;
}

// ---------------------------------------------------------------- connection flags

namespace {

// mqtt[s]://[user[:password]@]host[:port]/topic (mosquitto's -L), plus ws[s]://host[:port]/path.
bool parse_l_url(const std::string& url, connection_settings& s, std::string& error)
{
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
        error = "-L: '" + url + "' is not a URL (mqtt://host[:port]/topic)";
        return false;
    }
    auto scheme = url.substr(0, scheme_end);
    auto rest = url.substr(scheme_end + 3);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    auto at = authority.rfind('@');
    if (at != std::string::npos) {
        auto userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        auto colon = userinfo.find(':');
        s.username = userinfo.substr(0, colon);
        if (colon != std::string::npos)
            s.password = userinfo.substr(colon + 1);
    }
    std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
    bool websocket = scheme == "ws" || scheme == "wss";
    if (!websocket) {
        if (path.size() > 1)
            s.url_topic = path.substr(1);
        path.clear();
    }
    s.url = scheme + "://" + authority + path;
    transport::endpoint probe;
    if (!transport::parse_url(s.url, probe, error)) {
        error = "-L: " + error;
        return false;
    }
    return true;
}

} // namespace

parse_status parse_connection_flag(const std::string& flag, arg_reader& args, connection_settings& s, std::string& error)
{
    std::string v;
    long long n = 0;
    auto fail = [] { return parse_status::failed; };
    if (flag == "-h" || flag == "--host") {
        if (!args.value(flag, s.host, error))
            return fail();
    } else if (flag == "-p" || flag == "--port") {
        if (!args.int_value(flag, 1, 65535, n, error))
            return fail();
        s.port = static_cast<std::uint16_t>(n);
    } else if (flag == "-L" || flag == "--url") {
        if (!args.value(flag, v, error) || !parse_l_url(v, s, error))
            return fail();
    } else if (flag == "-i" || flag == "--id") {
        if (!args.value(flag, s.id, error))
            return fail();
    } else if (flag == "-I" || flag == "--id-prefix") {
        if (!args.value(flag, s.id_prefix, error))
            return fail();
    } else if (flag == "-k" || flag == "--keepalive") {
        if (!args.int_value(flag, 0, 65535, n, error))
            return fail();
        s.keep_alive = static_cast<std::uint16_t>(n);
    } else if (flag == "-u" || flag == "--username") {
        if (!args.value(flag, v, error))
            return fail();
        s.username = v;
    } else if (flag == "-P" || flag == "--pw") {
        if (!args.value(flag, v, error))
            return fail();
        s.password = v;
    } else if (flag == "-V" || flag == "--protocol-version") {
        if (!args.value(flag, v, error))
            return fail();
        if (v == "mqttv311" || v == "311" || v == "v311")
            s.version = protocol_version::v3_1_1;
        else if (v == "mqttv5" || v == "5" || v == "v5")
            s.version = protocol_version::v5;
        else if (v == "mqttv31" || v == "31") {
            error = "protocol version 3.1 is not supported (use mqttv311 or mqttv5)";
            return fail();
        } else {
            error = "-V: unknown protocol version '" + v + "' (mqttv311, mqttv5, 311, 5)";
            return fail();
        }
    } else if (flag == "-c" || flag == "--disable-clean-session") {
        s.clean = false;
    } else if (flag == "-x" || flag == "--session-expiry-interval") {
        if (!args.int_value(flag, 0, 4294967295LL, n, error))
            return fail();
        s.session_expiry = static_cast<std::uint32_t>(n);
        s.session_expiry_set = true;
    } else if (flag == "-d" || flag == "--debug") {
        s.debug = true;
    } else if (flag == "-D" || flag == "--property") {
        std::string command, identifier;
        if (!args.value(flag, command, error) || !args.value(flag, identifier, error))
            return fail();
        int count = property_value_count(identifier);
        if (count == 0) {
            error = "-D: unknown property '" + identifier + "'";
            return fail();
        }
        std::vector<std::string> values(static_cast<std::size_t>(count));
        for (auto& x : values)
            if (!args.value(flag, x, error))
                return fail();
        if (!add_property(s.props, command, identifier, values, error))
            return fail();
    } else if (flag == "--cafile") {
        if (!args.value(flag, s.ca_file, error))
            return fail();
        s.tls = true;
    } else if (flag == "--capath") {
        if (!args.value(flag, s.ca_path, error))
            return fail();
        s.tls = true;
    } else if (flag == "--cert") {
        if (!args.value(flag, s.cert_file, error))
            return fail();
        s.tls = true;
    } else if (flag == "--key") {
        if (!args.value(flag, s.key_file, error))
            return fail();
    } else if (flag == "--insecure") {
        s.insecure = true;
    } else if (flag == "--tls-use-os-certs") {
        s.os_certs = true;
        s.tls = true;
    } else if (flag == "--will-topic") {
        if (!args.value(flag, s.will_topic, error))
            return fail();
    } else if (flag == "--will-payload") {
        if (!args.value(flag, s.will_payload, error))
            return fail();
    } else if (flag == "--will-qos") {
        if (!args.value(flag, v, error))
            return fail();
        if (!parse_qos(v, s.will_qos)) {
            error = "--will-qos: expected 0, 1 or 2";
            return fail();
        }
    } else if (flag == "--will-retain") {
        s.will_retain = true;
    } else {
        return parse_status::not_mine;
    }
    return parse_status::handled;
}

bool make_client_options(const connection_settings& s, std::string_view tool, client_options& out, std::string& error)
{
    client_options o;
    if (!s.url.empty()) {
        if (!o.set_url(s.url, error))
            return false;
        if (s.port)
            o.endpoint.port = *s.port;
    } else {
        o.endpoint.kind = s.tls ? transport::scheme::tls : transport::scheme::tcp;
        o.endpoint.host = s.host;
        o.endpoint.port = s.port.value_or(s.tls ? 8883 : 1883);
    }
    auto& tls = o.endpoint.tls;
    tls.ca_file = s.ca_file;
    tls.ca_path = s.ca_path;
    tls.cert_file = s.cert_file;
    tls.key_file = s.key_file;
    tls.verify_hostname = !s.insecure;
    if (!s.cert_file.empty() != !s.key_file.empty()) {
        error = "--cert and --key must be given together";
        return false;
    }

    auto& c = o.connect;
    c.version = s.version;
    if (!s.id.empty() && !s.id_prefix.empty()) {
        error = "-i and -I cannot be used together";
        return false;
    }
    if (!s.id.empty())
        c.client_id = s.id;
    else if (!s.id_prefix.empty())
        c.client_id = s.id_prefix + std::to_string(::getpid());
    else
        c.client_id = std::string(tool) + "-" + std::to_string(::getpid());
    if (!s.clean && s.id.empty() && s.version == protocol_version::v3_1_1) {
        error = "-c (no clean session) needs a client id (-i)";
        return false;
    }
    c.clean_start = s.clean;
    c.keep_alive = s.keep_alive;
    c.username = s.username;
    c.password = s.password;
    if (s.password && !s.username) {
        error = "a password (-P) needs a user name (-u)";
        return false;
    }
    if (s.session_expiry_set) {
        if (s.version != protocol_version::v5) {
            error = "-x (session expiry) needs MQTT 5 (-V mqttv5)";
            return false;
        }
        c.session_expiry = s.session_expiry;
    } else if (!s.clean && s.version == protocol_version::v5) {
        c.session_expiry = 0xFFFFFFFF; // as mosquitto: -c alone keeps the session
    }
    bool has_props = !s.props.connect.empty() || !s.props.publish.empty() || !s.props.subscribe.empty()
        || !s.props.unsubscribe.empty() || !s.props.disconnect.empty() || !s.props.will.empty();
    if (has_props && s.version != protocol_version::v5) {
        error = "-D (properties) needs MQTT 5 (-V mqttv5)";
        return false;
    }
    c.props = s.props.connect;
    if (auto v = c.props.get_integer(property_id::session_expiry_interval)) {
        c.session_expiry = *v;
        c.props.remove(property_id::session_expiry_interval);
    }
    if (auto m = c.props.get_string(property_id::authentication_method)) {
        c.authentication_method = std::string(*m);
        c.props.remove(property_id::authentication_method);
    }
    if (auto d = c.props.get_string(property_id::authentication_data)) {
        c.authentication_data = std::string(*d);
        c.props.remove(property_id::authentication_data);
    }
    if (!s.will_topic.empty()) {
        if (validate_topic_name(s.will_topic)) {
            error = "--will-topic: '" + s.will_topic + "' is not a valid topic name";
            return false;
        }
        will w;
        w.topic = buffer(s.will_topic);
        w.payload = buffer(s.will_payload);
        w.qos = s.will_qos;
        w.retain = s.will_retain;
        w.props = s.props.will;
        c.will = std::move(w);
    } else if (!s.will_payload.empty() || s.will_retain || s.will_qos != qos::at_most_once) {
        error = "--will-payload, --will-qos and --will-retain need --will-topic";
        return false;
    }
    if (s.props.publish.contains(property_id::topic_alias)) {
        o.session.auto_topic_alias = true; // aliases are assigned per connection by the session
    }
    out = std::move(o);
    return true;
}

std::string_view connection_help()
{
    return R"(Connection:
  -h, --host HOST          broker host (default localhost)
  -p, --port PORT          broker port (default 1883, 8883 with TLS)
  -L, --url URL            mqtt[s]://[user[:pass]@]host[:port]/topic, or ws[s]://host[:port]/path
  -V, --protocol-version V mqttv311 | mqttv5 | 311 | 5 (default mqttv311)
  -i, --id ID              client id (default: tool name and process id)
  -I, --id-prefix PREFIX   client id = PREFIX + process id
  -k, --keepalive SEC      keep alive in seconds (default 60, 0 = off)
  -u, --username USER      user name
  -P, --pw PASSWORD        password
  -c, --disable-clean-session  keep the session (3.1.1 clean session 0, 5.0 clean start 0)
  -x, --session-expiry-interval SEC  session expiry (MQTT 5)
  -D, --property CMD ID VALUE  an MQTT 5 property; CMD: connect, publish, subscribe,
                           unsubscribe, disconnect, will; ID as in mosquitto, e.g.
                           user-property NAME VALUE, content-type, response-topic,
                           correlation-data, message-expiry-interval, session-expiry-interval,
                           receive-maximum, topic-alias-maximum, subscription-identifier
  -d, --debug              print connection events and packet outcomes on stderr
TLS:
  --cafile FILE            trusted CA certificates (PEM); enables TLS
  --capath DIR             directory of trusted CA certificates; enables TLS
  --tls-use-os-certs       trust the system CA store; enables TLS
  --cert FILE, --key FILE  client certificate and key (mutual TLS)
  --insecure               do not check that the certificate names the host
Will:
  --will-topic TOPIC  --will-payload TEXT  --will-qos QOS  --will-retain
)";
}

} // namespace mqtt::cli

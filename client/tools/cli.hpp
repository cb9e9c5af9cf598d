#pragma once
// Command-line parsing shared by mqtt-pub, mqtt-sub and mqtt-bench: the
// mosquitto_pub / mosquitto_sub connection flags, -D properties, and helpers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/client/client.hpp"

namespace mqtt::cli {

// Walks argv; flags may be given as "-q 1", "--qos 1" or "--qos=1".
class arg_reader {
public:
    arg_reader(int argc, char** argv) : argc_(argc), argv_(argv) {}
    bool done() const noexcept { return i_ >= argc_; }
    // The next flag (or positional argument).
    std::string next();
    // The value of the flag just read; false with an error when it is missing.
    bool value(const std::string& flag, std::string& out, std::string& error);
    bool int_value(const std::string& flag, long long min, long long max, long long& out, std::string& error);

private:
    int argc_;
    char** argv_;
    int i_ = 1;
    std::optional<std::string> inline_value_; // from --flag=value
};

// Properties given with -D, per packet.
struct property_sets {
    properties connect, publish, subscribe, unsubscribe, disconnect, will;
};

// The connection part of the command line, common to every tool.
struct connection_settings {
    std::string host = "localhost";
    std::optional<std::uint16_t> port;
    std::string url; // -L
    std::string url_topic; // the topic part of an mqtt:// -L URL
    bool tls = false;
    bool insecure = false;
    std::string ca_file, ca_path, cert_file, key_file;
    bool os_certs = false;
    protocol_version version = protocol_version::v3_1_1;
    std::string id, id_prefix;
    std::uint16_t keep_alive = 60;
    bool clean = true;
    std::uint32_t session_expiry = 0;
    bool session_expiry_set = false;
    std::optional<std::string> username, password;
    std::string will_topic, will_payload;
    qos will_qos = qos::at_most_once;
    bool will_retain = false;
    property_sets props;
    bool debug = false;
};

enum class parse_status { handled, not_mine, failed };

// Parses one connection flag (-h -p -L -i -I -k -u -P -V -c -x -d -D --cafile
// --capath --cert --key --insecure --tls-use-os-certs --will-*).
parse_status parse_connection_flag(const std::string& flag, arg_reader& args, connection_settings& s, std::string& error);

// Checks the combination (e.g. -x needs MQTT 5, will QoS without topic) and builds
// the client options. `tool` names the default client id prefix.
bool make_client_options(const connection_settings& s, std::string_view tool, client_options& out, std::string& error);

// "-D command identifier value": adds the property; false with an error.
bool add_property(property_sets& sets, const std::string& command, const std::string& identifier,
    const std::vector<std::string>& values, std::string& error);
// How many values an identifier takes (user-property: 2, others: 1); 0 if unknown.
int property_value_count(const std::string& identifier);

bool parse_qos(const std::string& text, qos& out);
std::string describe(const std::error_code& ec);

// The help text for the connection flags.
std::string_view connection_help();

} // namespace mqtt::cli

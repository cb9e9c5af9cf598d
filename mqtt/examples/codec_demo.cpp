// Encodes a CONNECT, a QoS 1 PUBLISH and a SUBSCRIBE in MQTT 3.1.1 and 5.0, prints
// the bytes, then decodes them back with a stream_decoder fed one byte at a time
// (as a slow network would) and checks each packet is the one that was encoded.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace {

std::string hex(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (i != 0)
            out += ' ';
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

const char* version_name(mqtt::protocol_version v)
{
    return v == mqtt::protocol_version::v5 ? "MQTT 5.0" : "MQTT 3.1.1";
}

std::vector<mqtt::packet> sample_packets(mqtt::protocol_version v)
{
    mqtt::connect con;
    con.version = v;
    con.client_id = "codec-demo";
    con.keep_alive = 30;
    con.username = "demo";
    if (v == mqtt::protocol_version::v5)
        con.props.add(mqtt::property_id::session_expiry_interval, std::uint32_t{300});

    mqtt::publish pub;
    pub.topic = mqtt::buffer("sensors/room1/temperature");
    pub.payload = mqtt::buffer("21.5");
    pub.qos = mqtt::qos::at_least_once;
    pub.packet_id = 1;
    if (v == mqtt::protocol_version::v5) {
        pub.props.add(mqtt::property_id::content_type, std::string("text/plain"));
        pub.props.add_user_property("unit", "celsius");
    }

    mqtt::subscribe sub;
    sub.packet_id = 2;
    mqtt::subscription temperatures;
    temperatures.filter = "sensors/+/temperature";
    temperatures.options.qos = mqtt::qos::at_least_once;
    mqtt::subscription alerts;
    alerts.filter = "alerts/#";
    alerts.options.qos = mqtt::qos::exactly_once;
    sub.subscriptions = {temperatures, alerts};
    if (v == mqtt::protocol_version::v5)
        sub.props.add(mqtt::property_id::subscription_identifier, std::uint32_t{7});

    return {con, pub, sub};
}

// Returns the number of packets that did not survive the round trip.
int round_trip(mqtt::protocol_version v)
{
    std::printf("== %s\n", version_name(v));
    const auto packets = sample_packets(v);

    std::string wire;
    for (const auto& p : packets) {
        std::string bytes;
        if (auto ec = mqtt::encode(p, v, bytes)) {
            std::printf("  encode %s failed: %s\n", std::string(mqtt::to_string(mqtt::type_of(p))).c_str(),
                ec.message().c_str());
            return 1;
        }
        std::printf("  %-9s %3zu bytes: %s\n", std::string(mqtt::to_string(mqtt::type_of(p))).c_str(),
            bytes.size(), hex(bytes).c_str());
        wire += bytes;
    }

    // A server-side decoder: no version until the CONNECT tells it.
    mqtt::stream_decoder decoder;
    std::vector<mqtt::packet> decoded;
    for (char byte : wire) {
        decoder.feed(std::string_view(&byte, 1));
        while (auto next = decoder.next()) {
            if (!*next) {
                std::printf("  decode failed: %s\n", next->error().message().c_str());
                return 1;
            }
            decoded.push_back(std::move(next->value()));
        }
    }

    int mismatches = 0;
    std::printf("  decoded %zu packets from %zu bytes fed one at a time (version %s):\n", decoded.size(),
        wire.size(), decoder.version() ? version_name(*decoder.version()) : "unknown");
    for (std::size_t i = 0; i < packets.size(); ++i) {
        const bool same = i < decoded.size() && decoded[i] == packets[i];
        if (!same)
            ++mismatches;
        std::printf("    %-9s %s\n", std::string(mqtt::to_string(mqtt::type_of(packets[i]))).c_str(),
            same ? "round-trips" : "MISMATCH");
    }
    if (decoded.size() != packets.size())
        ++mismatches;
    return mismatches;
}

} // namespace

int main()
{
    int failures = 0;
    failures += round_trip(mqtt::protocol_version::v3_1_1);
    failures += round_trip(mqtt::protocol_version::v5);
    std::printf("%s\n", failures == 0 ? "all packets round-trip" : "round trip FAILED");
    return failures == 0 ? 0 : 1;
}

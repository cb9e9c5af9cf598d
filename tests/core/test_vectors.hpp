#pragma once
// Exact-byte encodings of every MQTT control packet of 3.1.1 and 5.0, each a
// valid packet that our codec decodes and re-encodes to the same bytes. The
// codec tests check each against a hand-built packet; the fuzz seed-corpus
// generator includes this header as is (no test framework needed).
//
// Between them the 5.0 vectors carry every one of the 27 properties.
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/protocol_version.hpp"

namespace mqtt::test_vectors {

struct vector {
    const char* name;
    mqtt::protocol_version version;
    std::string bytes;
};

namespace detail {
// Bytes from integers, so that hex is never glued to following characters.
inline std::string b(std::initializer_list<int> v)
{
    std::string s;
    for (int c : v)
        s.push_back(static_cast<char>(c));
    return s;
}
} // namespace detail

using detail::b;
inline constexpr auto v311 = mqtt::protocol_version::v3_1_1;
inline constexpr auto v5 = mqtt::protocol_version::v5;

inline const std::vector<vector> all = {
    // ------------------------------------------------------------------ MQTT 3.1.1
    {"v311/connect/minimal", v311, b({0x10, 0x0E, 0x00, 0x04}) + "MQTT" + b({0x04, 0x02, 0x00, 0x3C, 0x00, 0x02}) + "c1"},
    // will QoS 1 + retain, user name, password, clean session 0, keep alive 300
    {"v311/connect/full", v311,
        b({0x10, 0x22, 0x00, 0x04}) + "MQTT" + b({0x04, 0xEC, 0x01, 0x2C}) + b({0x00, 0x02}) + "id" +
            b({0x00, 0x03}) + "w/t" + b({0x00, 0x03}) + "bye" + b({0x00, 0x04}) + "user" + b({0x00, 0x02}) + "pw"},
    {"v311/connack/accepted", v311, b({0x20, 0x02, 0x00, 0x00})},
    {"v311/connack/session_present", v311, b({0x20, 0x02, 0x01, 0x00})},
    {"v311/connack/not_authorized", v311, b({0x20, 0x02, 0x00, 0x05})},
    {"v311/publish/qos0", v311, b({0x30, 0x07, 0x00, 0x03}) + "a/bhi"},
    {"v311/publish/qos1_retain", v311, b({0x33, 0x06, 0x00, 0x01}) + "t" + b({0x00, 0x0A}) + "x"},
    {"v311/publish/qos2_dup", v311, b({0x3C, 0x05, 0x00, 0x01}) + "t" + b({0x12, 0x34})},
    {"v311/publish/two_byte_length", v311, b({0x30, 0xCC, 0x01, 0x00, 0x01}) + "t" + std::string(201, 'x')},
    {"v311/puback", v311, b({0x40, 0x02, 0x00, 0x0A})},
    {"v311/pubrec", v311, b({0x50, 0x02, 0x00, 0x0B})},
    {"v311/pubrel", v311, b({0x62, 0x02, 0x00, 0x0C})},
    {"v311/pubcomp", v311, b({0x70, 0x02, 0x00, 0x0D})},
    {"v311/subscribe", v311,
        b({0x82, 0x0E, 0x00, 0x01, 0x00, 0x03}) + "a/+" + b({0x01, 0x00, 0x03}) + "b/#" + b({0x02})},
    {"v311/suback", v311, b({0x90, 0x05, 0x00, 0x01, 0x01, 0x02, 0x80})},
    {"v311/unsubscribe", v311, b({0xA2, 0x0A, 0x00, 0x02, 0x00, 0x03}) + "a/+" + b({0x00, 0x01}) + "b"},
    {"v311/unsuback", v311, b({0xB0, 0x02, 0x00, 0x02})},
    {"v311/pingreq", v311, b({0xC0, 0x00})},
    {"v311/pingresp", v311, b({0xD0, 0x00})},
    {"v311/disconnect", v311, b({0xE0, 0x00})},

    // ------------------------------------------------------------------ MQTT 5.0
    {"v5/connect/minimal", v5, b({0x10, 0x0F, 0x00, 0x04}) + "MQTT" + b({0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x02}) + "c1"},
    // Every CONNECT property and every Will property.
    {"v5/connect/full", v5,
        b({0x10, 0x76, 0x00, 0x04}) + "MQTT" + b({0x05, 0xF6, 0x00, 0x1E}) +
            b({0x28}) +                                     // CONNECT properties: 40 bytes
            b({0x11, 0x00, 0x00, 0x00, 0x78}) +             // Session Expiry Interval 120
            b({0x21, 0x00, 0x14}) +                         // Receive Maximum 20
            b({0x27, 0x00, 0x00, 0x04, 0x00}) +             // Maximum Packet Size 1024
            b({0x22, 0x00, 0x0A}) +                         // Topic Alias Maximum 10
            b({0x19, 0x01}) +                               // Request Response Information 1
            b({0x17, 0x00}) +                               // Request Problem Information 0
            b({0x26, 0x00, 0x01}) + "k" + b({0x00, 0x01}) + "v" + // User Property k=v
            b({0x15, 0x00, 0x05}) + "SCRAM" +               // Authentication Method
            b({0x16, 0x00, 0x02, 0x01, 0x02}) +             // Authentication Data
            b({0x00, 0x02}) + "id" +                        // Client Identifier
            b({0x2A}) +                                     // Will properties: 42 bytes
            b({0x18, 0x00, 0x00, 0x00, 0x05}) +             // Will Delay Interval 5
            b({0x01, 0x01}) +                               // Payload Format Indicator 1
            b({0x02, 0x00, 0x00, 0x00, 0x3C}) +             // Message Expiry Interval 60
            b({0x03, 0x00, 0x0A}) + "text/plain" +          // Content Type
            b({0x08, 0x00, 0x03}) + "r/t" +                 // Response Topic
            b({0x09, 0x00, 0x01, 0xAB}) +                   // Correlation Data
            b({0x26, 0x00, 0x01}) + "a" + b({0x00, 0x01}) + "b" + // User Property a=b
            b({0x00, 0x03}) + "w/t" + b({0x00, 0x03}) + "bye" + b({0x00, 0x04}) + "user" + b({0x00, 0x02}) + "pw"},
    // 5.0 allows a password without a user name.
    {"v5/connect/password_only", v5,
        b({0x10, 0x12, 0x00, 0x04}) + "MQTT" + b({0x05, 0x42, 0x00, 0x3C, 0x00, 0x00, 0x01}) + "c" + b({0x00, 0x02}) + "pw"},
    {"v5/connack/minimal", v5, b({0x20, 0x03, 0x00, 0x00, 0x00})},
    {"v5/connack/session_present", v5, b({0x20, 0x03, 0x01, 0x00, 0x00})},
    {"v5/connack/not_authorized", v5, b({0x20, 0x03, 0x00, 0x87, 0x00})},
    // Every CONNACK property.
    {"v5/connack/full", v5,
        b({0x20, 0x47, 0x00, 0x00, 0x44}) +
            b({0x11, 0x00, 0x00, 0x00, 0x3C}) +             // Session Expiry Interval 60
            b({0x21, 0x00, 0x0A}) +                         // Receive Maximum 10
            b({0x24, 0x01}) +                               // Maximum QoS 1
            b({0x25, 0x00}) +                               // Retain Available 0
            b({0x27, 0x00, 0x01, 0x00, 0x00}) +             // Maximum Packet Size 65536
            b({0x12, 0x00, 0x03}) + "abc" +                 // Assigned Client Identifier
            b({0x22, 0x00, 0x05}) +                         // Topic Alias Maximum 5
            b({0x1F, 0x00, 0x02}) + "ok" +                  // Reason String
            b({0x26, 0x00, 0x01}) + "x" + b({0x00, 0x01}) + "y" + // User Property x=y
            b({0x28, 0x01}) +                               // Wildcard Subscription Available 1
            b({0x29, 0x01}) +                               // Subscription Identifier Available 1
            b({0x2A, 0x00}) +                               // Shared Subscription Available 0
            b({0x13, 0x00, 0x78}) +                         // Server Keep Alive 120
            b({0x1A, 0x00, 0x04}) + "resp" +                // Response Information
            b({0x1C, 0x00, 0x03}) + "srv" +                 // Server Reference
            b({0x15, 0x00, 0x01}) + "m" +                   // Authentication Method
            b({0x16, 0x00, 0x01}) + "d"},                   // Authentication Data
    {"v5/publish/qos0", v5, b({0x30, 0x08, 0x00, 0x03}) + "a/b" + b({0x00}) + "hi"},
    // Every PUBLISH property; Subscription Identifier twice (128 takes two bytes).
    {"v5/publish/qos1_props", v5,
        b({0x33, 0x32, 0x00, 0x01}) + "t" + b({0x00, 0x0A}) + b({0x28}) +
            b({0x01, 0x01}) +                               // Payload Format Indicator 1
            b({0x02, 0x00, 0x00, 0x00, 0x0A}) +             // Message Expiry Interval 10
            b({0x23, 0x00, 0x01}) +                         // Topic Alias 1
            b({0x08, 0x00, 0x03}) + "r/t" +                 // Response Topic
            b({0x09, 0x00, 0x02, 0x01, 0x02}) +             // Correlation Data
            b({0x26, 0x00, 0x01}) + "k" + b({0x00, 0x01}) + "v" + // User Property
            b({0x0B, 0x01}) +                               // Subscription Identifier 1
            b({0x0B, 0x80, 0x01}) +                         // Subscription Identifier 128
            b({0x03, 0x00, 0x04}) + "json" +                // Content Type
            "data"},
    {"v5/publish/qos2_dup", v5, b({0x3C, 0x06, 0x00, 0x01}) + "t" + b({0x12, 0x34, 0x00})},
    // Empty Topic Name with a Topic Alias.
    {"v5/publish/alias_only", v5, b({0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x02}) + "p"},
    {"v5/publish/two_byte_length", v5, b({0x30, 0xCC, 0x01, 0x00, 0x01}) + "t" + b({0x00}) + std::string(200, 'x')},
    {"v5/puback/short", v5, b({0x40, 0x02, 0x00, 0x0A})},
    {"v5/puback/reason", v5, b({0x40, 0x03, 0x00, 0x0A, 0x10})},
    {"v5/puback/props", v5,
        b({0x40, 0x11, 0x00, 0x0A, 0x80, 0x0D, 0x1F, 0x00, 0x03}) + "bad" + b({0x26, 0x00, 0x01}) + "a" +
            b({0x00, 0x01}) + "b"},
    {"v5/pubrec/short", v5, b({0x50, 0x02, 0x00, 0x0B})},
    {"v5/pubrec/reason", v5, b({0x50, 0x03, 0x00, 0x0B, 0x91})},
    {"v5/pubrel/short", v5, b({0x62, 0x02, 0x00, 0x0C})},
    {"v5/pubrel/not_found", v5, b({0x62, 0x03, 0x00, 0x0C, 0x92})},
    {"v5/pubcomp/short", v5, b({0x70, 0x02, 0x00, 0x0D})},
    // Success with properties keeps the reason code byte.
    {"v5/pubcomp/props", v5, b({0x70, 0x09, 0x00, 0x0D, 0x00, 0x05, 0x1F, 0x00, 0x02}) + "ok"},
    {"v5/subscribe", v5,
        b({0x82, 0x1F, 0x00, 0x01, 0x09, 0x0B, 0x05, 0x26, 0x00, 0x01}) + "a" + b({0x00, 0x01}) + "b" +
            b({0x00, 0x03}) + "a/+" + b({0x1D}) + // QoS 1, No Local, Retain As Published, Retain Handling 1
            b({0x00, 0x0A}) + "$share/g/x" + b({0x22})}, // QoS 2, Retain Handling 2
    {"v5/suback", v5, b({0x90, 0x0B, 0x00, 0x01, 0x05, 0x1F, 0x00, 0x02}) + "ok" + b({0x01, 0x00, 0x97})},
    {"v5/suback/no_props", v5, b({0x90, 0x04, 0x00, 0x01, 0x00, 0x02})},
    {"v5/unsubscribe", v5,
        b({0xA2, 0x12, 0x00, 0x02, 0x07, 0x26, 0x00, 0x01}) + "a" + b({0x00, 0x01}) + "b" + b({0x00, 0x03}) + "a/+" +
            b({0x00, 0x01}) + "b"},
    {"v5/unsuback", v5, b({0xB0, 0x05, 0x00, 0x02, 0x00, 0x00, 0x11})},
    {"v5/unsuback/props", v5, b({0xB0, 0x0A, 0x00, 0x02, 0x05, 0x1F, 0x00, 0x02}) + "ok" + b({0x00, 0x11})},
    {"v5/pingreq", v5, b({0xC0, 0x00})},
    {"v5/pingresp", v5, b({0xD0, 0x00})},
    {"v5/disconnect/normal", v5, b({0xE0, 0x00})},
    {"v5/disconnect/with_will", v5, b({0xE0, 0x01, 0x04})},
    {"v5/disconnect/props", v5,
        b({0xE0, 0x18, 0x80, 0x16, 0x11, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00, 0x03}) + "bye" + b({0x1C, 0x00, 0x01}) +
            "s" + b({0x26, 0x00, 0x01}) + "a" + b({0x00, 0x01}) + "b"},
    {"v5/auth/success", v5, b({0xF0, 0x00})},
    {"v5/auth/continue", v5,
        b({0xF0, 0x10, 0x18, 0x0E, 0x15, 0x00, 0x05}) + "SCRAM" + b({0x16, 0x00, 0x03, 0x01, 0x02, 0x03})},
    {"v5/auth/reauthenticate", v5,
        b({0xF0, 0x11, 0x19, 0x0F, 0x15, 0x00, 0x01}) + "m" + b({0x1F, 0x00, 0x01}) + "r" + b({0x26, 0x00, 0x01}) +
            "a" + b({0x00, 0x01}) + "b"},
};

// The vector called `name`; throws std::out_of_range for an unknown name.
inline const vector& get(std::string_view name)
{
    for (const auto& v : all)
        if (name == v.name)
            return v;
    throw std::out_of_range(std::string("no test vector ") + std::string(name));
}

} // namespace mqtt::test_vectors

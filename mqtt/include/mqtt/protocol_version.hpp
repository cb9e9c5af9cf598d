#pragma once
#include <cstdint>

namespace mqtt {

// The Protocol Level byte of CONNECT.
enum class protocol_version : std::uint8_t {
    v3_1_1 = 4,
    v5 = 5,
};

enum class qos : std::uint8_t {
    at_most_once = 0,
    at_least_once = 1,
    exactly_once = 2,
};

// Which side of a connection a session core plays.
enum class role : std::uint8_t { client, server };

} // namespace mqtt

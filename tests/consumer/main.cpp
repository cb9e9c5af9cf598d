// Encodes and decodes a PINGREQ through the installed mqtt::core: proves the
// headers, the library and the CMake package config work outside the build tree.
#include <cstdio>
#include <string>
#include <variant>

#include <mqtt/codec.hpp>

int main()
{
    std::string bytes;
    if (auto ec = mqtt::encode(mqtt::pingreq{}, mqtt::protocol_version::v5, bytes)) {
        std::printf("encode failed: %s\n", ec.message().c_str());
        return 1;
    }
    if (bytes != std::string("\xc0\x00", 2)) {
        std::printf("unexpected encoding of PINGREQ (%zu bytes)\n", bytes.size());
        return 1;
    }
    auto decoded = mqtt::decode(bytes, mqtt::protocol_version::v5);
    if (!decoded || !std::holds_alternative<mqtt::pingreq>(*decoded)) {
        std::printf("decode failed\n");
        return 1;
    }
    std::printf("mqtt::core from the installed package: PINGREQ round-trips\n");
    return 0;
}

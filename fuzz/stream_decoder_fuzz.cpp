// libFuzzer target: the incremental decoder fed arbitrary bytes in chunks, with a
// differential round-trip oracle: every packet it accepts must re-encode, and the
// encoding must decode to an equal packet.
//
// Input: [config][chunk][network bytes...]
//   config % 3       : version: 3.1.1, 5.0, or unknown (CONNECT first, then its level)
//   config / 3 % 8   : maximum packet size (see max_sizes)
//   chunk            : 0 = everything in one feed, else feeds of `chunk` bytes
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace {

constexpr std::uint32_t max_sizes[] = {mqtt::max_packet_size, 2, 5, 16, 64, 200, 1024, 65536};

// Says which invariant broke (libFuzzer shows stderr with the crash), then traps.
[[noreturn]] void fail(const char* why)
{
    std::fprintf(stderr, "invariant violated: %s\n", why);
    __builtin_trap();
}

void check_round_trip(const mqtt::packet& p, mqtt::protocol_version v, std::uint32_t max_size)
{
    std::string bytes;
    // Anything the decoder accepts the encoder must be able to produce, in no more
    // bytes than it arrived in (the canonical encoding is never longer).
    if (mqtt::encode(p, v, bytes) || bytes.size() > max_size)
        fail("a decoded packet does not encode, or encodes larger than the maximum packet size");
    auto size = mqtt::encoded_size(p, v);
    if (!size || *size != bytes.size())
        fail("encoded_size() differs from the size of encode()");

    // The gather form is the same bytes split before the PUBLISH payload.
    std::string header;
    auto payload = mqtt::encode_gather(p, v, header);
    if (!payload || header + payload->str() != bytes)
        fail("encode_gather() differs from encode()");

    auto again = mqtt::decode(bytes, v);
    if (!again || !(*again == p))
        fail("decode(encode(p)) != p");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    const std::uint8_t config = data[0];
    const std::size_t chunk = data[1] == 0 ? size : data[1];
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

    std::optional<mqtt::protocol_version> version;
    switch (config % 3) {
    case 0: version = mqtt::protocol_version::v3_1_1; break;
    case 1: version = mqtt::protocol_version::v5; break;
    default: break;
    }
    const std::uint32_t max_size = max_sizes[(config / 3) % std::size(max_sizes)];

    mqtt::stream_decoder decoder(max_size, version);
    std::size_t fed = 0;
    std::error_code error;
    for (std::size_t pos = 0; pos < input.size() && !error; pos += chunk) {
        const auto part = input.substr(pos, chunk);
        decoder.feed(part);
        fed += part.size();
        while (auto next = decoder.next()) {
            if (!*next) {
                error = next->error();
                if (!error)
                    fail("next() returned an error result with an empty error_code");
                break;
            }
            const auto v = decoder.version();
            // A packet decoded means the version is known (set or taken from CONNECT).
            if (!v)
                fail("a packet was decoded while the decoder has no version");
            // A CONNECT carries its own protocol level, whatever the stream's version.
            const auto* con = std::get_if<mqtt::connect>(&next->value());
            check_round_trip(next->value(), con ? con->version : *v, max_size);
        }
    }

    if (error) {
        // Poisoned: the same error again, whatever is fed afterwards.
        decoder.feed(input.substr(0, 8));
        auto again = decoder.next();
        if (!again || *again || again->error() != error)
            fail("the decoder is not poisoned with the same error after an error");
    } else if (decoder.buffered() > fed) {
        fail("buffered() exceeds the bytes fed");
    }
    return 0;
}

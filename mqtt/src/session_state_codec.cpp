// session_state <-> bytes for durable stores.
//
// Format (all integers big-endian, counts as Variable Byte Integers):
//   "MQSS" 0x01                        magic and format version
//   count, then per outgoing message:  stage (1 byte), packet id (2 bytes),
//                                      length, MQTT 5.0 PUBLISH packet
//   count, then per QoS 2 id received: packet id (2 bytes)
// The PUBLISH is written by the packet encoder, so topic, payload, flags and 5.0
// properties round-trip exactly. Its own packet id field cannot hold the 0 of a
// queued, never-sent message, hence the separate id.
#include "mqtt/codec.hpp"
#include "mqtt/session_state.hpp"
#include "wire.hpp"

namespace mqtt {

namespace {

constexpr std::string_view magic = "MQSS";
constexpr std::uint8_t format_version = 1;

} // namespace

std::string serialize(const session_state& s)
{
    std::string out;
    out.append(magic);
    detail::put_u8(out, format_version);

    // Encode the messages first: one that cannot be encoded as a PUBLISH (which
    // the session never accepts) is left out rather than corrupting the rest.
    std::vector<std::pair<const outgoing_message*, std::string>> encoded;
    encoded.reserve(s.outgoing.size());
    for (const auto& m : s.outgoing) {
        publish p = m.msg;
        if (p.qos == qos::at_most_once) {
            p.packet_id = 0;
            p.dup = false;
        } else if (p.packet_id == 0) {
            p.packet_id = 1; // placeholder; the real id (0) is stored beside it
        }
        std::string bytes;
        if (!encode(packet(std::move(p)), protocol_version::v5, bytes))
            encoded.emplace_back(&m, std::move(bytes));
    }

    encode_variable_byte_integer(static_cast<std::uint32_t>(encoded.size()), out);
    for (const auto& [m, bytes] : encoded) {
        detail::put_u8(out, static_cast<std::uint8_t>(m->stage));
        detail::put_u16(out, m->msg.packet_id);
        encode_variable_byte_integer(static_cast<std::uint32_t>(bytes.size()), out);
        out.append(bytes);
    }
    encode_variable_byte_integer(static_cast<std::uint32_t>(s.qos2_received.size()), out);
    for (auto id : s.qos2_received)
        detail::put_u16(out, id);
    return out;
}

result<session_state> deserialize_session_state(std::string_view bytes)
{
    const auto bad = make_error_code(reason_code::malformed_packet);
    detail::reader r(bytes);
    std::string_view head;
    std::uint8_t version = 0;
    if (!r.bytes(magic.size(), head) || head != magic || !r.u8(version) || version != format_version)
        return bad;

    session_state s;
    // Counts are untrusted: nothing is reserved from them; every element consumes
    // input, so the loops end with the data.
    std::uint32_t count = 0;
    if (!r.varint(count))
        return bad;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint8_t stage = 0;
        std::uint16_t id = 0;
        std::uint32_t length = 0;
        std::string_view pkt;
        if (!r.u8(stage) || stage > 2 || !r.u16(id) || !r.varint(length) || !r.bytes(length, pkt))
            return bad;
        auto decoded = decode(pkt, protocol_version::v5);
        if (!decoded || !std::holds_alternative<publish>(*decoded))
            return bad;
        outgoing_message m;
        m.msg = std::get<publish>(std::move(decoded).value());
        m.msg.packet_id = m.msg.qos == qos::at_most_once ? 0 : id;
        m.stage = static_cast<outgoing_stage>(stage);
        s.outgoing.push_back(std::move(m));
    }
    if (!r.varint(count))
        return bad;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint16_t id = 0;
        if (!r.u16(id))
            return bad;
        s.qos2_received.push_back(id);
    }
    if (!r.empty())
        return bad;
    return s;
}

} // namespace mqtt

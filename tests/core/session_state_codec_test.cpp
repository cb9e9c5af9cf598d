// serialize / deserialize_session_state: the stored form of a session.
#include "codec_test_support.hpp"
#include "mqtt/session_state.hpp"

using namespace mqtt;
using codec_test::hex;
using test_vectors::b;

namespace {

outgoing_message message(std::string topic, std::string payload, qos q, std::uint16_t id, outgoing_stage stage)
{
    outgoing_message m;
    m.msg.topic = buffer(std::move(topic));
    m.msg.payload = buffer(std::move(payload));
    m.msg.qos = q;
    m.msg.packet_id = id;
    m.stage = stage;
    return m;
}

session_state sample()
{
    session_state s;
    auto m1 = message("a/b", "one", qos::at_least_once, 1, outgoing_stage::awaiting_ack);
    m1.msg.dup = true;
    m1.msg.retain = true;
    m1.msg.props.add(property_id::message_expiry_interval, 30u);
    m1.msg.props.add_user_property("k", "v");
    m1.msg.props.add(property_id::correlation_data, b({0x00, 0xFF}));
    s.outgoing.push_back(m1);
    s.outgoing.push_back(message("c", "two", qos::exactly_once, 65535, outgoing_stage::awaiting_comp));
    s.outgoing.push_back(message("queued/never/sent", std::string(300, 'p'), qos::exactly_once, 0,
        outgoing_stage::queued));
    s.outgoing.push_back(message("q0", "", qos::at_most_once, 0, outgoing_stage::queued));
    s.qos2_received = {7, 1, 65535};
    return s;
}

} // namespace

TEST_CASE("Session state: an empty state has a fixed small form", "[session_state]")
{
    const auto bytes = serialize(session_state{});
    CHECK(hex(bytes) == hex(std::string("MQSS") + b({0x01, 0x00, 0x00})));
    auto back = deserialize_session_state(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == session_state{});
}

TEST_CASE("Session state: messages, stages, ids and properties round-trip", "[session_state]")
{
    const auto s = sample();
    const auto bytes = serialize(s);
    auto back = deserialize_session_state(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == s);
    CHECK(back->outgoing[2].msg.packet_id == 0);
    CHECK(back->outgoing[2].msg.payload.size() == 300);
    CHECK(back->outgoing[0].msg.props.user_properties() == std::vector<string_pair>{{"k", "v"}});
    // Serializing again gives the same bytes.
    CHECK(serialize(*back) == bytes);
}

TEST_CASE("Session state: the stored PUBLISH is the 5.0 packet encoding", "[session_state]")
{
    session_state s;
    s.outgoing.push_back(message("t", "x", qos::at_least_once, 10, outgoing_stage::awaiting_ack));
    const auto bytes = serialize(s);
    const std::string expected = std::string("MQSS") + b({0x01, 0x01}) + b({0x01, 0x00, 0x0A, 0x09}) +
        b({0x32, 0x07, 0x00, 0x01}) + "t" + b({0x00, 0x0A, 0x00}) + "x" + b({0x00});
    CHECK(hex(bytes) == hex(expected));
}

TEST_CASE("Session state: every truncation and corruption is rejected without crashing", "[session_state]")
{
    const auto bytes = serialize(sample());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        INFO("prefix of " << n << " bytes");
        CHECK_FALSE(deserialize_session_state(std::string_view(bytes).substr(0, n)).has_value());
    }
    CHECK_FALSE(deserialize_session_state(bytes + "x").has_value()); // trailing bytes

    auto bad_magic = bytes;
    bad_magic[0] = 'X';
    CHECK_FALSE(deserialize_session_state(bad_magic).has_value());
    auto bad_version = bytes;
    bad_version[4] = 0x02;
    CHECK_FALSE(deserialize_session_state(bad_version).has_value());
    auto bad_stage = bytes;
    bad_stage[6] = 0x03; // first message's stage
    CHECK_FALSE(deserialize_session_state(bad_stage).has_value());

    // A huge count with no data behind it fails fast.
    CHECK_FALSE(deserialize_session_state(std::string("MQSS") + b({0x01, 0xFF, 0xFF, 0xFF, 0x7F})).has_value());
    // A stored packet that is not a PUBLISH.
    CHECK_FALSE(deserialize_session_state(std::string("MQSS") + b({0x01, 0x01, 0x00, 0x00, 0x01, 0x02, 0xC0, 0x00, 0x00}))
                    .has_value());
}

TEST_CASE("Session state: every single-byte corruption either fails or yields a valid state", "[session_state]")
{
    const auto bytes = serialize(sample());
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (int delta : {1, 0x80}) {
            auto copy = bytes;
            copy[i] = static_cast<char>(static_cast<unsigned char>(copy[i]) ^ delta);
            auto r = deserialize_session_state(copy);
            if (r) {
                // Whatever decodes must serialize again to something that decodes equal.
                auto again = deserialize_session_state(serialize(*r));
                REQUIRE(again.has_value());
                CHECK(*again == *r);
            }
        }
    }
}

// The engine's client events, which the server turns into Mosquitto-style
// "New client connected ... as ..." / "Client ... disconnected" log lines.
#include <catch2/catch.hpp>

#include "engine_harness.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

namespace {

struct recorded {
    bool connected;
    std::string client_id;
    std::string remote;
    protocol_version version;
    bool clean_start;
    std::uint16_t keep_alive;
    std::optional<std::string> username;
    std::error_code reason;
};

struct recording_fixture : broker_fixture {
    std::vector<recorded> events;
    recording_fixture()
    {
        e.on_client_event([this](const client_event& ev) {
            events.push_back({ev.connected, std::string(ev.client_id), std::string(ev.remote_address), ev.version,
                ev.clean_start, ev.keep_alive,
                ev.username ? std::optional<std::string>(std::string(*ev.username)) : std::nullopt, ev.reason});
        });
    }

    fake_client& connect_as(protocol_version v, std::string id, std::optional<std::string> user, std::uint16_t keep_alive)
    {
        connection_info info;
        info.remote_address = "192.0.2.7:4242";
        auto& c = open(v, info);
        mqtt::connect pkt;
        pkt.version = v;
        pkt.client_id = std::move(id);
        pkt.clean_start = false;
        pkt.keep_alive = keep_alive;
        pkt.username = std::move(user);
        c.send(pkt, now);
        settle();
        return c;
    }
};

} // namespace

TEST_CASE("client events: connect carries id, address, version, clean start, keep alive and user", "[broker][log]")
{
    recording_fixture f;
    f.connect_as(protocol_version::v3_1_1, "dev-1", std::string("alice"), 30);
    REQUIRE(f.events.size() == 1);
    auto& ev = f.events[0];
    CHECK(ev.connected);
    CHECK(ev.client_id == "dev-1");
    CHECK(ev.remote == "192.0.2.7:4242");
    CHECK(ev.version == protocol_version::v3_1_1);
    CHECK_FALSE(ev.clean_start);
    CHECK(ev.keep_alive == 30);
    CHECK(ev.username == std::optional<std::string>("alice"));
}

TEST_CASE("client events: a refused CONNECT is no client event", "[broker][log]")
{
    recording_fixture f;
    auto& c = f.open(protocol_version::v3_1_1);
    mqtt::connect pkt;
    pkt.version = protocol_version::v3_1_1;
    pkt.client_id = ""; // with clean session 0: refused [MQTT-3.1.3-8]
    pkt.clean_start = false;
    c.send(pkt, f.now);
    f.settle();
    auto acks = c.template take_of<connack>();
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].code != reason_code::success);
    CHECK(f.events.empty());
}

TEST_CASE("client events: a normal DISCONNECT ends without a reason, a lost connection with one", "[broker][log]")
{
    recording_fixture f;
    auto& a = f.connect_as(protocol_version::v5, "a", std::nullopt, 0);
    auto& b = f.connect_as(protocol_version::v5, "b", std::nullopt, 0);
    f.events.clear();

    a.send(mqtt::disconnect{}, f.now);
    f.settle();
    a.drop(f.now);
    REQUIRE(f.events.size() == 1);
    CHECK_FALSE(f.events[0].connected);
    CHECK(f.events[0].client_id == "a");
    CHECK_FALSE(f.events[0].reason);

    b.drop(f.now);
    REQUIRE(f.events.size() == 2);
    CHECK_FALSE(f.events[1].connected);
    CHECK(f.events[1].client_id == "b");
    CHECK(f.events[1].reason); // the connection was lost
}

TEST_CASE("client events: a takeover ends the old connection with session taken over", "[broker][log]")
{
    recording_fixture f;
    f.connect_as(protocol_version::v5, "same", std::nullopt, 0);
    f.connect_as(protocol_version::v5, "same", std::nullopt, 0);
    REQUIRE(f.events.size() == 3);
    CHECK(f.events[0].connected);
    CHECK_FALSE(f.events[1].connected);
    CHECK(f.events[1].reason == make_error_code(reason_code::session_taken_over));
    CHECK(f.events[2].connected);
}

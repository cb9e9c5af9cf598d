// A client and a server session over an in-memory network that loses packets and
// cuts the connection at random: QoS 1 never loses, QoS 2 never loses nor
// duplicates, in both directions and both protocol versions.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "session_harness.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

struct tally {
    std::map<std::string, int> seen;
    std::vector<std::string> first_order;
    void add(const std::vector<mqtt::publish>& got)
    {
        seen.clear();
        first_order.clear();
        for (auto& p : got)
            if (seen[p.payload.str()]++ == 0)
                first_order.push_back(p.payload.str());
    }
};

void run_faulty_exchange(protocol_version v, mqtt::qos q, bool client_to_server, unsigned seed)
{
    std::mt19937 rng(seed);
    session_pair net(v);
    int cuts = 0;
    net.network_ok = [&](bool, const packet&) {
        if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) {
            ++cuts;
            return false;
        }
        return true;
    };
    net.connect(false);
    const int n = 40;
    std::vector<std::string> sent_order;
    for (int i = 0; i < n; ++i) {
        auto body = "m" + std::to_string(i);
        sent_order.push_back(body);
        if (client_to_server)
            net.client.publish(make_publish("t/x", body, q), static_cast<std::uint64_t>(i + 1), net.now);
        else
            net.server.publish(make_publish("t/x", body, q), static_cast<std::uint64_t>(i + 1), net.now);
        net.run();
        if (!net.up)
            net.connect(false);
    }
    auto& done = client_to_server ? net.client_done : net.server_done;
    for (int rounds = 0; rounds < 1000 && done.size() < static_cast<std::size_t>(n); ++rounds)
        net.connect(false);
    REQUIRE(done.size() == static_cast<std::size_t>(n));
    for (auto& d : done)
        CHECK_FALSE(d.ec);

    tally t;
    t.add(client_to_server ? net.server_got : net.client_got);
    INFO("seed " << seed << ", cuts " << cuts);
    for (auto& body : sent_order) {
        INFO(body);
        CHECK(t.seen[body] >= 1); // never lost
        if (q == qos::exactly_once)
            CHECK(t.seen[body] == 1); // never duplicated
    }
    CHECK(t.first_order == sent_order); // order kept [MQTT-4.6.0-5]
    CHECK(cuts > 0);
}

} // namespace

TEST_CASE("Random connection cuts: QoS 1 is never lost, client to server and back [MQTT-4.3.2-3]",
    "[session][faults][qos1][MQTT-4.3.2-3]")
{
    auto v = GENERATE(protocol_version::v3_1_1, protocol_version::v5);
    auto dir = GENERATE(true, false);
    for (unsigned seed = 1; seed <= 15; ++seed)
        run_faulty_exchange(v, qos::at_least_once, dir, seed);
}

TEST_CASE("Random connection cuts at every step of the QoS 2 handshake: exactly once, in order "
          "[MQTT-4.3.3-10] [MQTT-4.3.3-6]",
    "[session][faults][qos2][MQTT-4.3.3-10][MQTT-4.3.3-6]")
{
    auto v = GENERATE(protocol_version::v3_1_1, protocol_version::v5);
    auto dir = GENERATE(true, false);
    for (unsigned seed = 1; seed <= 15; ++seed)
        run_faulty_exchange(v, qos::exactly_once, dir, seed);
}

TEST_CASE("Cutting after each kind of packet of a QoS 2 exchange still delivers exactly once",
    "[session][faults][qos2]")
{
    auto v = GENERATE(protocol_version::v3_1_1, protocol_version::v5);
    auto victim = GENERATE(packet_type::publish, packet_type::pubrec, packet_type::pubrel, packet_type::pubcomp);
    session_pair net(v);
    bool fired = false;
    net.network_ok = [&](bool, const packet& p) {
        if (!fired && type_of(p) == victim) {
            fired = true;
            return false;
        }
        return true;
    };
    net.connect(false);
    net.client.publish(make_publish("t", "only", qos::exactly_once), 1, net.now);
    net.run();
    net.connect(false);
    net.connect(false);
    REQUIRE(fired);
    REQUIRE(net.client_done.size() == 1);
    CHECK_FALSE(net.client_done[0].ec);
    REQUIRE(net.server_got.size() == 1);
    CHECK(net.server_got[0].payload == std::string_view("only"));
}

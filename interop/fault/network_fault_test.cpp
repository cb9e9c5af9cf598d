// Scenario 1: publishers and persistent subscribers talk to the broker through the
// fault proxy, which cuts their connections hundreds of times (at random byte
// offsets, mid-packet, and between the steps of the QoS handshakes), delays and
// splits writes. Our broker must lose no QoS 1 message and lose or duplicate no
// QoS 2 message, in order; Mosquitto runs the same for comparison (reported only).
#include <catch2/catch.hpp>

#include "broker_process.hpp"
#include "scenario.hpp"
#include "workload.hpp"

using namespace fault;

namespace {

std::vector<table_row> run_network(broker_kind kind, mqtt::protocol_version v, bool persistence = false)
{
    // Mosquitto logs every packet, to explain its QoS 2 duplicates (see below).
    broker_process broker(kind, persistence, kind == broker_kind::mosquitto);
    INFO(broker_name(kind) << ": " << broker.error());
    REQUIRE(broker.ok());

    mqtt::fault::proxy_options po;
    po.upstream_port = broker.port();
    po.seed = seed() + (kind == broker_kind::ours ? 0 : 1) + (v == mqtt::protocol_version::v5 ? 0 : 2) + (persistence ? 4 : 0);
    po.cut_after_min = 200;
    po.cut_after_max = 6000;
    po.cut_probability = 0.002;
    po.cut_on_ack_probability = 0.01;
    po.max_delay = 2ms;
    po.max_split = 3;
    proxy_thread proxy(po);
    REQUIRE_FALSE(proxy.error());
    proxy->set_faults(false); // subscriptions first, without faults

    ledger book(2);
    workload_options wo;
    wo.publishers = 3;
    wo.subscribers = 2;
    wo.per_qos = soak() ? 5000 : 1000;
    wo.version = v;
    wo.publisher_port = wo.subscriber_port = proxy->port();
    wo.id_prefix = "net-" + std::string(v == mqtt::protocol_version::v5 ? "v5" : "v311");
    wo.per_qos = persistence && !soak() ? 500 : wo.per_qos; // the store writes every change
    workload w(wo, book);
    std::string error;
    INFO(error);
    REQUIRE(w.subscribe(10s, error));

    proxy->set_faults(true);
    w.start_publishing();
    bool published = w.wait_published(soak() ? 1200s : 120s);
    proxy->set_faults(false);
    bool delivered = w.wait_delivered(30s);
    // Let late redeliveries (duplicates) arrive before counting.
    std::this_thread::sleep_for(300ms);
    auto cuts = proxy->stats().cuts;

    std::vector<table_row> rows;
    const std::string version = v == mqtt::protocol_version::v5 ? "5.0" : "3.1.1";
    // Mosquitto 2.0.11 resends a QoS 2 PUBLISH after its PUBREL when the connection
    // drops at the wrong moment; our subscriber must then deliver it again.
    const auto violations = kind == broker_kind::mosquitto ? publish_after_pubrel(broker.log()) : 0;
    for (int q : {1, 2}) {
        auto f = book.count(q);
        // Which messages went wrong, for the log (QoS 1 duplicates are allowed).
        auto note = f.lost || (q == 2 && f.duplicated) || f.reordered ? book.sample(q, 4) : std::string();
        if (q == 2 && kind == broker_kind::mosquitto)
            note = std::to_string(violations) + " PUBLISH after PUBREL [MQTT-4.3.3-6];" + note;
        rows.push_back({persistence ? "network cuts, store" : "network cuts", broker_name(kind), version, q, f, cuts, 0, note});
    }
    report(rows);
    if (kind == broker_kind::mosquitto)
        return rows;

    INFO("seed " << po.seed << ", QoS 1 sample:" << book.sample(1) << "\nQoS 2 sample:" << book.sample(2));
    CHECK(published);
    CHECK(delivered);
    CHECK(cuts >= (soak() ? 1000u : 200u)); // the faults really happened
    auto q1 = book.count(1), q2 = book.count(2);
    CHECK(q1.failed == 0);
    CHECK(q2.failed == 0);
    CHECK(q1.acked == w.total() / 2);
    CHECK(q2.acked == w.total() / 2);
    CHECK(q1.lost == 0);
    CHECK(q1.reordered == 0);
    CHECK(q2.lost == 0);
    CHECK(q2.duplicated == 0);
    CHECK(q2.reordered == 0);
    return rows;
}

} // namespace

TEST_CASE("Network faults - our broker - MQTT 5.0 - QoS 1 loses nothing and QoS 2 loses and duplicates nothing in order", "[fault][network][MQTT-4.4.0-1][MQTT-4.3.3-10][MQTT-4.6.0-5]")
{
    run_network(broker_kind::ours, mqtt::protocol_version::v5);
}

TEST_CASE("Network faults - our broker - MQTT 3.1.1 - QoS 1 loses nothing and QoS 2 loses and duplicates nothing in order", "[fault][network][MQTT-4.4.0-1][MQTT-4.6.0-5]")
{
    run_network(broker_kind::ours, mqtt::protocol_version::v3_1_1);
}

TEST_CASE("Network faults - our broker with its durable store - MQTT 5.0 - same figures", "[fault][network][MQTT-4.4.0-1][MQTT-4.3.3-10]")
{
    run_network(broker_kind::ours, mqtt::protocol_version::v5, true);
}

TEST_CASE("Network faults - Mosquitto for comparison (figures reported only)", "[fault][network][mosquitto]")
{
    run_network(broker_kind::mosquitto, mqtt::protocol_version::v5);
    run_network(broker_kind::mosquitto, mqtt::protocol_version::v3_1_1);
}

TEST_CASE("Mosquitto log check: a QoS 2 PUBLISH sent again after its PUBREL is counted [MQTT-4.3.3-6]", "[fault][log]")
{
    const std::string log = "1: Sending PUBLISH to s1 (d0, q2, r0, m7, 'a', ... (1 bytes))\n"
                            "1: Received PUBREC from s1 (Mid: 7)\n"
                            "1: Sending PUBREL to s1 (m7)\n"
                            "1: Sending PUBLISH to s2 (d1, q2, r0, m7, 'a', ... (1 bytes))\n" // another client
                            "1: Sending PUBLISH to s1 (d1, q2, r0, m7, 'a', ... (1 bytes))\n" // the violation
                            "1: Received PUBCOMP from s1 (Mid: 7, RC:146)\n"
                            "1: Sending PUBLISH to s1 (d0, q2, r0, m7, 'a', ... (1 bytes))\n"; // a new message
    CHECK(publish_after_pubrel(log) == 1);
    CHECK(publish_after_pubrel("") == 0);
}

// Scenario 3: a client process is SIGKILLed and started again with its durable
// session store (mqtt-fault-client).
//  - Publisher: killed at random moments; the new process resumes its session from
//    the store and goes on after the last message it had handed to the client.
//    Every message it saw acknowledged must arrive (QoS 2 exactly once).
//  - Subscriber: connected through the proxy, which kills it (SIGKILL) when a
//    PUBREL is on its way to it: after it sent PUBREC, before it got the PUBREL.
//    QoS 1 must lose nothing, QoS 2 lose and duplicate nothing.
// Without a durable client store (mqtt::sqlite_session_store, not in main yet when
// this was written) a restarted process starts from an empty session: the figures
// are reported, not asserted. The assertions switch on by themselves when
// mqtt-fault-client finds the store header (it prints "STORE durable").
#include <signal.h>

#include <atomic>
#include <random>

#include <catch2/catch.hpp>

#include "broker_process.hpp"
#include "scenario.hpp"
#include "workload.hpp"

using namespace fault;

namespace {

const char* version_arg(mqtt::protocol_version v)
{
    return v == mqtt::protocol_version::v5 ? "5" : "3";
}

// Feeds a publisher process's "SENT/ACK/FAIL i" lines into the ledger; returns the
// highest index sent plus one (0 if none).
std::uint32_t read_publisher(const std::string& out, int publisher, ledger& book)
{
    std::uint32_t next = 0;
    std::size_t start = 0;
    while (start < out.size()) {
        auto end = out.find('\n', start);
        if (end == std::string::npos)
            break; // a line cut by the kill
        auto line = out.substr(start, end - start);
        start = end + 1;
        auto space = line.find(' ');
        if (space == std::string::npos)
            continue;
        auto word = line.substr(0, space);
        if (word != "SENT" && word != "ACK" && word != "FAIL")
            continue;
        auto i = static_cast<std::uint32_t>(std::stoul(line.substr(space + 1)));
        message_key k{publisher, 1 + static_cast<int>(i % 2), i / 2};
        if (word == "SENT") {
            book.sent(k);
            next = std::max(next, i + 1);
        } else if (word == "ACK") {
            book.acked(k);
        } else {
            book.failed(k);
        }
    }
    return next;
}

// Feeds a subscriber process's "MSG <payload>" lines into the ledger.
void read_subscriber(const std::string& out, int subscriber, ledger& book)
{
    std::size_t start = 0;
    while (start < out.size()) {
        auto end = out.find('\n', start);
        if (end == std::string::npos)
            break;
        auto line = out.substr(start, end - start);
        start = end + 1;
        if (line.rfind("MSG ", 0) == 0)
            if (auto k = parse_payload(line.substr(4)))
                book.received(subscriber, *k);
    }
}

bool durable(const std::string& out)
{
    return out.find("STORE durable") != std::string::npos;
}

// Reports the figures of one kill scenario. They are asserted (see
// check_delivered) only against our broker and with a durable store in every
// client process that ran.
std::vector<table_row> report_kills(const char* scenario, broker_kind kind, mqtt::protocol_version v, ledger& book,
    int kills, bool asserted)
{
    std::vector<table_row> rows;
    const std::string note = kind == broker_kind::mosquitto ? "report only"
        : asserted                                          ? "durable client store"
                                                            : "report only: no durable client store";
    for (int q : {1, 2})
        rows.push_back({scenario, broker_name(kind), v == mqtt::protocol_version::v5 ? "5.0" : "3.1.1", q, book.count(q),
            0, static_cast<std::uint64_t>(kills), note});
    report(rows);
    return rows;
}

// QoS 1 lost nothing, QoS 2 lost, duplicated and reordered nothing.
void check_delivered(ledger& book, bool delivered)
{
    INFO("QoS 1 sample:" << book.sample(1) << "\nQoS 2 sample:" << book.sample(2));
    CHECK(delivered);
    auto q1 = book.count(1), q2 = book.count(2);
    CHECK(q1.lost == 0);
    CHECK(q2.lost == 0);
    CHECK(q2.duplicated == 0);
    CHECK(q2.reordered == 0);
}

std::vector<table_row> run_publisher_kill(broker_kind kind, mqtt::protocol_version v)
{
    broker_process broker(kind, false);
    INFO(broker_name(kind) << ": " << broker.error());
    REQUIRE(broker.ok());
    interop::temp_dir dir("mqtt-fault-pub");
    ledger book(2);
    workload_options wo;
    wo.publishers = 0;
    wo.subscribers = 2;
    wo.version = v;
    wo.subscriber_port = broker.port();
    wo.id_prefix = "pubkill-" + std::string(version_arg(v));
    workload subs(wo, book);
    std::string error;
    INFO(error);
    REQUIRE(subs.subscribe(10s, error));

    const std::uint32_t total = soak() ? 6000 : 1500; // QoS 1 and 2 alternate
    const int max_kills = soak() ? 60 : 8;
    std::mt19937_64 rng(seed() + 20 + (kind == broker_kind::ours ? 0 : 1));
    std::uint32_t next = 0;
    int kills = 0;
    bool all_durable = true;
    auto start_publisher = [&] {
        return std::make_unique<interop::process>(std::vector<std::string>{MQTT_FAULT_CLIENT_PATH, "pub",
            std::to_string(broker.port()), wo.id_prefix + "-pub", "0", std::to_string(next), std::to_string(total),
            version_arg(v), dir.file("pub.store")});
    };
    auto pub = start_publisher();
    while (kills < max_kills) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 600)(rng)));
        if (!pub->running())
            break;
        pub->signal(SIGKILL);
        pub->wait(5s);
        ++kills;
        all_durable = all_durable && durable(pub->out());
        next = std::max(next, read_publisher(pub->out(), 0, book));
        pub = start_publisher();
    }
    bool finished = pub->wait(60s).has_value();
    all_durable = all_durable && durable(pub->out());
    read_publisher(pub->out(), 0, book);
    bool delivered = subs.wait_delivered(20s);
    std::this_thread::sleep_for(300ms);

    const bool asserted = kind == broker_kind::ours && all_durable;
    auto rows = report_kills("publisher SIGKILL", kind, v, book, kills, asserted);
    INFO("publisher output: " << pub->out() << pub->err() << pub->start_error());
    CHECK(finished); // the publisher always comes to an end
    if (asserted)
        check_delivered(book, delivered);
    return rows;
}

std::vector<table_row> run_subscriber_kill(broker_kind kind, mqtt::protocol_version v)
{
    broker_process broker(kind, false);
    INFO(broker_name(kind) << ": " << broker.error());
    REQUIRE(broker.ok());
    // The subscriber to kill when the next PUBREL travels to it (0: none).
    std::atomic<pid_t> armed{0};
    std::atomic<int> kills{0};
    mqtt::fault::proxy_options po;
    po.upstream_port = broker.port();
    po.seed = seed() + 30;
    po.max_delay = 2ms;
    po.on_packet = [&](bool to_client, std::uint8_t header) {
        if (to_client && header == 0x62) // PUBREL
            if (auto pid = armed.exchange(0); pid > 0) {
                ::kill(pid, SIGKILL);
                ++kills;
            }
    };
    proxy_thread proxy(po);
    REQUIRE_FALSE(proxy.error());
    interop::temp_dir dir("mqtt-fault-sub");
    const std::string sub_id = "subkill-" + std::string(version_arg(v)) + "-sub";
    auto start_subscriber = [&] {
        return std::make_unique<interop::process>(std::vector<std::string>{MQTT_FAULT_CLIENT_PATH, "sub",
            std::to_string(proxy->port()), sub_id, version_arg(v), dir.file("sub.store")});
    };
    auto sub = start_subscriber();
    REQUIRE(sub->wait_for_output("SUBSCRIBED", 10s));

    ledger book(1);
    workload_options wo;
    wo.publishers = 1;
    wo.subscribers = 0;
    wo.per_qos = soak() ? 3000 : 600;
    wo.window = 2;
    wo.interval = 5ms;
    wo.version = v;
    wo.publisher_port = broker.port();
    wo.id_prefix = "subkill-" + std::string(version_arg(v));
    workload pubs(wo, book);
    pubs.start_publishing();

    const int max_kills = soak() ? 60 : 8;
    std::mt19937_64 rng(seed() + 40 + (kind == broker_kind::ours ? 0 : 1));
    bool all_durable = true;
    std::string earlier; // output of the killed subscribers
    auto deadline = std::chrono::steady_clock::now() + (soak() ? 1200s : 60s);
    while (kills < max_kills && book.settled_count() < pubs.total() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 400)(rng)));
        armed = sub->pid();
        auto until = std::chrono::steady_clock::now() + 5s;
        while (sub->running() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(2ms);
        if (armed.exchange(0) != 0)
            continue; // no PUBREL came by (the stream ended)
        sub->wait(5s);
        all_durable = all_durable && durable(sub->out());
        read_subscriber(sub->out(), 0, book);
        earlier += sub->out();
        sub = start_subscriber();
    }
    bool published = pubs.wait_published(60s);
    // Wait for the rest: until the live subscriber printed the last message of both
    // streams (or the deadline), then a moment for late duplicates.
    const auto last = std::to_string(wo.per_qos - 1);
    deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto out = earlier + sub->out();
        if (out.find("p0 q1 s" + last + " ") != std::string::npos && out.find("p0 q2 s" + last + " ") != std::string::npos)
            break;
        std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(300ms);
    sub->stop(3s);
    all_durable = all_durable && durable(sub->out());
    read_subscriber(sub->out(), 0, book);
    bool delivered = book.complete();

    const bool asserted = kind == broker_kind::ours && all_durable;
    auto rows = report_kills("subscriber SIGKILL", kind, v, book, kills, asserted);
    CHECK(published);
    if (kind == broker_kind::ours)
        CHECK(kills >= 1); // the proxy saw a PUBREL and the kill happened
    if (asserted)
        check_delivered(book, delivered);
    return rows;
}

} // namespace

TEST_CASE("Publisher SIGKILL and restart with its durable store - our broker - acknowledged messages arrive once", "[fault][kill][MQTT-4.4.0-1][MQTT-4.3.3-10]")
{
    run_publisher_kill(broker_kind::ours, mqtt::protocol_version::v5);
}

TEST_CASE("Publisher SIGKILL and restart - Mosquitto for comparison (figures reported only)", "[fault][kill][mosquitto]")
{
    run_publisher_kill(broker_kind::mosquitto, mqtt::protocol_version::v5);
}

TEST_CASE("Subscriber SIGKILL between PUBREC and PUBREL and restart - our broker", "[fault][kill][MQTT-4.3.3-10][MQTT-4.3.3-11]")
{
    run_subscriber_kill(broker_kind::ours, mqtt::protocol_version::v5);
}

TEST_CASE("Subscriber SIGKILL between PUBREC and PUBREL and restart - our broker - MQTT 3.1.1",
    "[fault][kill][v311][MQTT-4.3.3-2]")
{
    run_subscriber_kill(broker_kind::ours, mqtt::protocol_version::v3_1_1);
}

TEST_CASE("Subscriber SIGKILL and restart - Mosquitto for comparison (figures reported only)", "[fault][kill][mosquitto]")
{
    run_subscriber_kill(broker_kind::mosquitto, mqtt::protocol_version::v5);
}

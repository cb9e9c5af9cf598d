// The engine on a durable store: acknowledgments wait for the commit, and what was
// acknowledged survives a crash (an engine destroyed without shutdown, a new one
// on the same store file).
#include <catch2/catch.hpp>

#include "engine_harness.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

namespace {

const wall_clock::time_point w0 = wall_clock::time_point{} + std::chrono::hours(24 * 20000);
const clock::time_point s0 = clock::time_point{} + std::chrono::hours(2);

std::unique_ptr<store> open_store(const temp_dir& dir)
{
    std::string error;
    auto st = open_sqlite_store(dir.file("mqtt-broker.db"), {}, error);
    INFO(error);
    REQUIRE(st);
    return st;
}

struct store_holder {
    std::unique_ptr<store> st;
};

// One run of the broker on the store file in `dir`. Going out of scope without
// shutdown() is a crash: the next run finds only what was committed.
struct stored_broker : store_holder, persistent_fixture {
    explicit stored_broker(const temp_dir& dir, wall_clock::time_point wall_now = w0, clock::time_point steady_now = s0,
        engine_options o = {})
        : store_holder{open_store(dir)}, persistent_fixture(*st, wall_now, steady_now, std::move(o))
    {
    }
};

// Connects a 5.0 client resuming its session (Clean Start 0, the given expiry).
fake_client& resume(broker_fixture& f, const std::string& id, std::uint32_t seconds, bool* present = nullptr)
{
    connack ack;
    auto& c = f.connect(protocol_version::v5, id, false, expiry(seconds), std::nullopt, &ack);
    if (present)
        *present = ack.session_present;
    return c;
}

// The persistent subscriber "sub" (1 h session expiry), subscribed to `filter` at `q`.
fake_client& persistent_subscriber(broker_fixture& f, const std::string& filter, qos q)
{
    auto& sub = resume(f, "sub", 3600);
    f.subscribe(sub, filter, {q});
    return sub;
}

} // namespace

TEST_CASE("Store: a QoS 1 PUBACK leaves only after the commit, and the message survives a crash for the offline "
          "subscriber [MQTT-3.1.2-23] [MQTT-4.1.0-1]",
    "[persistence][unit][MQTT-3.1.2-23][MQTT-4.1.0-1]")
{
    temp_dir dir;
    bool committed = GENERATE(true, false);
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "t/#", qos::at_least_once);
        sub.drop(f.now);
        f.settle();
        auto& pub = f.connect(protocol_version::v5, "pub");
        pub.send(broker_fixture::msg("t/1", "hello", qos::at_least_once, 10), f.now);
        pub.collect();
        CHECK(f.e.output_held());
        CHECK(pub.take_of<puback>().empty()); // not before the commit
        if (committed) {
            f.settle();
            CHECK(pub.take_of<puback>().size() == 1);
        }
    } // crash: the engine goes without shutdown
    stored_broker f(dir, w0 + std::chrono::seconds(10), s0 + std::chrono::hours(5));
    REQUIRE(f.e.find_session("sub"));
    bool present = false;
    auto& sub = resume(f, "sub", 3600, &present);
    CHECK(present);
    auto got = sub.take_of<mqtt::publish>();
    if (committed) {
        REQUIRE(got.size() == 1);
        CHECK(got[0].payload == "hello");
        CHECK(got[0].qos == qos::at_least_once);
        CHECK_FALSE(got[0].dup); // never sent before the crash
    } else {
        CHECK(got.empty()); // never acknowledged to the publisher either: it sends again
    }
}

TEST_CASE("Store: an unacknowledged delivery is resent with DUP and its packet id after a crash, an acknowledged "
          "one is not resent [MQTT-4.4.0-1] [MQTT-3.3.1-1]",
    "[persistence][unit][MQTT-4.4.0-1][MQTT-3.3.1-1]")
{
    temp_dir dir;
    std::uint16_t first_id = 0;
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "t/#", qos::exactly_once);
        auto& pub = f.connect(protocol_version::v5, "pub");
        pub.send(broker_fixture::msg("t/1", "one", qos::at_least_once, 1), f.now);
        pub.send(broker_fixture::msg("t/2", "two", qos::exactly_once, 2), f.now);
        f.settle();
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 2);
        CHECK_FALSE(got[0].dup);
        first_id = got[0].packet_id;
        // The second (QoS 2) is received and released by the subscriber; the first is not acknowledged.
        sub.send(pubrec{got[1].packet_id, reason_code::success, {}}, f.now);
        f.settle();
        REQUIRE(sub.take_of<pubrel>().size() == 1);
        sub.send(pubcomp{got[1].packet_id, reason_code::success, {}}, f.now);
        f.settle();
    }
    {
        stored_broker f(dir, w0 + std::chrono::seconds(5));
        auto& sub = resume(f, "sub", 3600);
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 1);
        CHECK(got[0].payload == "one");
        CHECK(got[0].dup);
        CHECK(got[0].packet_id == first_id);
        sub.send(puback{got[0].packet_id, reason_code::success, {}}, f.now);
        f.settle();
    }
    stored_broker f(dir, w0 + std::chrono::seconds(9));
    auto& sub = resume(f, "sub", 3600);
    CHECK(sub.take_of<mqtt::publish>().empty());
    CHECK(sub.take_of<pubrel>().empty());
}

TEST_CASE("Store: a PUBREL awaiting its PUBCOMP is resent after a crash, the PUBLISH is not [MQTT-4.4.0-1]",
    "[persistence][unit][MQTT-4.4.0-1]")
{
    temp_dir dir;
    std::uint16_t id = 0;
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "t/#", qos::exactly_once);
        auto& pub = f.connect(protocol_version::v5, "pub");
        pub.send(broker_fixture::msg("t/1", "x", qos::exactly_once, 4), f.now);
        f.settle();
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 1);
        id = got[0].packet_id;
        sub.send(pubrec{id, reason_code::success, {}}, f.now);
        f.settle();
        REQUIRE(sub.take_of<pubrel>().size() == 1);
    }
    stored_broker f(dir);
    auto& sub = resume(f, "sub", 3600);
    CHECK(sub.take_of<mqtt::publish>().empty());
    auto rel = sub.take_of<pubrel>();
    REQUIRE(rel.size() == 1);
    CHECK(rel[0].packet_id == id);
}

TEST_CASE("Store: a QoS 2 message PUBREC'd before a crash is not routed again when the publisher resends it "
          "[MQTT-4.3.3-10] [MQTT-4.4.0-1]",
    "[persistence][unit][MQTT-4.3.3-10][MQTT-4.4.0-1]")
{
    temp_dir dir;
    auto resent = broker_fixture::msg("t/1", "once", qos::exactly_once, 7);
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "t/#", qos::exactly_once);
        sub.drop(f.now);
        auto& pub = resume(f, "pub", 3600);
        pub.send(resent, f.now);
        f.settle();
        REQUIRE(pub.take_of<pubrec>().size() == 1);
    }
    stored_broker f(dir, w0 + std::chrono::seconds(3));
    bool present = false;
    auto& pub = resume(f, "pub", 3600, &present);
    CHECK(present);
    resent.dup = true;
    pub.send(resent, f.now);
    f.settle();
    auto recs = pub.take_of<pubrec>();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].packet_id == 7);
    pub.send(pubrel{7, reason_code::success, {}}, f.now);
    f.settle();
    auto comps = pub.take_of<pubcomp>();
    REQUIRE(comps.size() == 1);
    CHECK(comps[0].code == reason_code::success);

    auto& sub = resume(f, "sub", 3600);
    CHECK(sub.take_of<mqtt::publish>().size() == 1);
}

TEST_CASE("Store: session expiry continues by wall clock across a restart", "[persistence][unit][expiry]")
{
    temp_dir dir;
    {
        stored_broker f(dir);
        auto& c = resume(f, "c", 60);
        f.subscribe(c, "t", {qos::at_least_once});
        c.drop(f.now);
        f.settle();
    }
    SECTION("restarted within the interval: kept until it ends")
    {
        // A different steady clock base: only the wall clock relates the two runs.
        stored_broker f(dir, w0 + std::chrono::seconds(30), s0 + std::chrono::hours(100));
        f.advance(std::chrono::seconds(29));
        f.e.tick(f.now);
        CHECK(f.e.find_session("c"));
        f.advance(std::chrono::seconds(2));
        f.e.tick(f.now);
        CHECK_FALSE(f.e.find_session("c"));
        f.settle(); // the removal is committed
    }
    SECTION("restarted after the interval: gone at the first tick")
    {
        stored_broker f(dir, w0 + std::chrono::seconds(61));
        f.e.tick(f.now);
        CHECK_FALSE(f.e.find_session("c"));
        f.settle();
    }
    stored_broker f(dir, w0 + std::chrono::seconds(62));
    CHECK(f.e.session_count() == 0);
}

TEST_CASE("Store: retained and queued messages keep their Message Expiry Interval across a restart "
          "[MQTT-3.3.2-5] [MQTT-3.3.2-6]",
    "[persistence][unit][expiry][MQTT-3.3.2-5][MQTT-3.3.2-6]")
{
    temp_dir dir;
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "q/#", qos::at_least_once);
        sub.drop(f.now);
        auto& pub = f.connect(protocol_version::v5, "pub");
        auto retained = broker_fixture::msg("r/1", "kept", qos::at_least_once, 1, true);
        retained.props.add(property_id::message_expiry_interval, 100u);
        pub.send(retained, f.now);
        auto queued = broker_fixture::msg("q/1", "waiting", qos::at_least_once, 2);
        queued.props.add(property_id::message_expiry_interval, 100u);
        pub.send(queued, f.now);
        f.settle();
        // 20 s later the session is written again: the first message then has 80 s left.
        f.advance(std::chrono::seconds(20));
        pub.send(broker_fixture::msg("q/2", "no expiry", qos::at_least_once, 3), f.now);
        f.settle();
    }
    SECTION("60 s later: both there, with 40 s left")
    {
        stored_broker f(dir, w0 + std::chrono::seconds(60), s0 + std::chrono::hours(9));
        auto& sub = resume(f, "sub", 3600);
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 2);
        CHECK(got[0].topic == "q/1");
        CHECK(got[0].props.get_integer(property_id::message_expiry_interval) == 40u);
        CHECK_FALSE(got[1].props.contains(property_id::message_expiry_interval));
        auto& other = f.connect(protocol_version::v5, "other");
        other.send(mqtt::subscribe{1, {{"r/#", {qos::at_least_once}}}, {}}, f.now);
        f.settle();
        auto retained = other.take_of<mqtt::publish>();
        REQUIRE(retained.size() == 1);
        CHECK(retained[0].retain);
        CHECK(retained[0].props.get_integer(property_id::message_expiry_interval) == 40u);
    }
    SECTION("101 s later: both expired")
    {
        stored_broker f(dir, w0 + std::chrono::seconds(101));
        auto& sub = resume(f, "sub", 3600);
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 1);
        CHECK(got[0].topic == "q/2");
        auto& other = f.connect(protocol_version::v5, "other");
        other.send(mqtt::subscribe{1, {{"r/#", {qos::at_least_once}}}, {}}, f.now);
        f.settle();
        CHECK(other.take_of<mqtt::publish>().empty());
    }
}

TEST_CASE("Store: 3.1.1 sessions with Clean Session 0 survive a restart with their subscriptions, Clean Session 1 "
          "ones are not stored [MQTT-3.1.2-4] [MQTT-3.1.2-5]",
    "[persistence][unit][v311][MQTT-3.1.2-4][MQTT-3.1.2-5]")
{
    temp_dir dir;
    {
        stored_broker f(dir);
        auto& keep = f.connect(protocol_version::v3_1_1, "keep", false);
        f.subscribe(keep, "a/+", {qos::at_least_once});
        f.subscribe(keep, "b", {qos::at_least_once});
        keep.send(mqtt::unsubscribe{3, {"b"}, {}}, f.now);
        auto& clean = f.connect(protocol_version::v3_1_1, "clean", true);
        f.subscribe(clean, "a/+", {qos::at_least_once});
        f.settle();
    }
    stored_broker f(dir);
    CHECK(f.e.session_count() == 1);
    CHECK(f.e.subscription_count() == 1);
    auto& pub = f.connect(protocol_version::v3_1_1, "pub");
    pub.send(broker_fixture::msg("a/1", "m", qos::at_least_once, 1), f.now);
    pub.send(broker_fixture::msg("b", "n", qos::at_least_once, 2), f.now);
    f.settle();
    connack ack;
    auto& keep = f.connect(protocol_version::v3_1_1, "keep", false, {}, std::nullopt, &ack);
    CHECK(ack.session_present);
    auto got = keep.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].topic == "a/1");
}

TEST_CASE("Store: subscription options and identifiers, username and will survive a restart", "[persistence][unit][v5]")
{
    temp_dir dir;
    {
        stored_broker f(dir);
        mqtt::will w;
        w.topic = buffer("status/c");
        w.payload = buffer("offline");
        w.qos = qos::at_least_once;
        auto& c = f.connect(protocol_version::v5, "c", false, expiry(3600), w);
        properties id;
        id.add(property_id::subscription_identifier, 42u);
        f.subscribe(c, "x/#", {qos::exactly_once, true, false, retain_handling::send_on_subscribe}, id);
        f.settle();
    } // crashed while the client was connected: its will goes out after the restart
    stored_broker f(dir);
    auto& watcher = f.connect(protocol_version::v5, "watcher");
    f.subscribe(watcher, "status/#", {qos::at_least_once});
    f.e.tick(f.now);
    f.settle();
    auto wills = watcher.take_of<mqtt::publish>();
    REQUIRE(wills.size() == 1);
    CHECK(wills[0].payload == "offline");

    watcher.send(broker_fixture::msg("x/1", "hi", qos::exactly_once, 5), f.now);
    f.settle();
    auto& c = resume(f, "c", 3600);
    auto got = c.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].qos == qos::exactly_once);
    CHECK(got[0].props.get_integer(property_id::subscription_identifier) == 42u);
}

TEST_CASE("Store: a queue written over several commits, partly sent and acknowledged, comes back in order "
          "[MQTT-4.4.0-1] [MQTT-3.1.2-23]",
    "[persistence][unit][queue][MQTT-4.4.0-1][MQTT-3.1.2-23]")
{
    temp_dir dir;
    auto publish = [](broker_fixture& f, fake_client& pub, int from, int to) {
        for (int i = from; i <= to; ++i) {
            pub.send(broker_fixture::msg("t/" + std::to_string(i), "m" + std::to_string(i), qos::at_least_once,
                         static_cast<std::uint16_t>(i)),
                f.now);
            f.settle(); // one commit each
        }
    };
    {
        stored_broker f(dir);
        auto& sub = persistent_subscriber(f, "t/#", qos::at_least_once);
        sub.drop(f.now);
        auto& pub = f.connect(protocol_version::v5, "pub");
        publish(f, pub, 1, 5);
        auto& back = resume(f, "sub", 3600);
        auto got = back.take_of<mqtt::publish>();
        REQUIRE(got.size() == 5);
        for (int i = 0; i < 2; ++i)
            back.send(puback{got[static_cast<std::size_t>(i)].packet_id, reason_code::success, {}}, f.now);
        f.settle();
        back.drop(f.now);
        publish(f, pub, 6, 7);
    }
    {
        stored_broker f(dir);
        auto& pub = f.connect(protocol_version::v5, "pub");
        publish(f, pub, 8, 8); // appended after the restored queue
    }
    stored_broker f(dir);
    auto& sub = resume(f, "sub", 3600);
    auto got = sub.take_of<mqtt::publish>();
    REQUIRE(got.size() == 6);
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].payload == "m" + std::to_string(i + 3));
        CHECK(got[i].dup == (i < 3)); // sent before, unacknowledged
    }
}

TEST_CASE("Store: a long queue is appended to between whole comparisons, after a crash it comes back complete and "
          "in order, without what the subscriber acknowledged before the last comparison",
    "[persistence][unit][queue]")
{
    temp_dir dir;
    engine_options o;
    o.max_inflight = 10;
    {
        stored_broker f(dir, w0, s0, o);
        auto& sub = persistent_subscriber(f, "t/#", qos::at_least_once);
        auto& pub = f.connect(protocol_version::v5, "pub");
        // 200 messages, one commit each, while the subscriber does not acknowledge:
        // 10 in flight, the rest queued (appended, not compared, once past 64).
        for (int i = 1; i <= 200; ++i) {
            pub.send(broker_fixture::msg("t/" + std::to_string(i), std::to_string(i), qos::at_least_once,
                         static_cast<std::uint16_t>(i)),
                f.now);
            f.settle();
        }
        CHECK(pub.take_of<puback>().size() == 200);
        auto got = sub.take_of<mqtt::publish>();
        REQUIRE(got.size() == 10);
        for (auto& p : got)
            sub.send(puback{p.packet_id, reason_code::success, {}}, f.now);
        f.settle(); // 10 more go out; the acknowledgments may be recorded later
        REQUIRE(sub.take_of<mqtt::publish>().size() == 10);
        f.advance(std::chrono::seconds(1));
        pub.send(broker_fixture::msg("t/201", "201", qos::at_least_once, 201), f.now);
        f.settle(); // now compared whole: the first 10 are gone from the store
    }
    stored_broker f(dir, w0, s0, o);
    auto& sub = resume(f, "sub", 3600);
    std::vector<mqtt::publish> all;
    for (int round = 0; round < 30; ++round) {
        auto got = sub.take_of<mqtt::publish>();
        if (got.empty())
            break;
        for (auto& p : got) {
            sub.send(puback{p.packet_id, reason_code::success, {}}, f.now);
            all.push_back(std::move(p));
        }
        f.settle();
    }
    REQUIRE(all.size() == 191);
    for (std::size_t i = 0; i < all.size(); ++i)
        CHECK(all[i].payload == std::to_string(i + 11));
}

TEST_CASE("Store: before the commit a QoS 1 PUBLISH already goes to the subscriber, while the PUBACK to the publisher, "
          "a QoS 2 PUBLISH and a SUBACK wait for it",
    "[persistence][unit]")
{
    temp_dir dir;
    stored_broker f(dir);
    auto& sub = persistent_subscriber(f, "t/#", qos::exactly_once);
    auto& pub = f.connect(protocol_version::v5, "pub");

    pub.send(broker_fixture::msg("t/1", "one", qos::at_least_once, 1), f.now);
    sub.collect();
    pub.collect();
    CHECK(sub.take_of<mqtt::publish>().size() == 1); // a duplicate after a crash is allowed for QoS 1
    CHECK(pub.take_of<puback>().empty());
    f.settle();
    CHECK(pub.take_of<puback>().size() == 1);

    pub.send(broker_fixture::msg("t/2", "two", qos::exactly_once, 2), f.now);
    sub.send(mqtt::subscribe{9, {{"u/#", {qos::at_least_once}}}, {}}, f.now);
    sub.collect();
    pub.collect();
    CHECK(sub.take_of<mqtt::publish>().empty());
    CHECK(sub.take_of<suback>().empty());
    CHECK(pub.take_of<pubrec>().empty());
    f.settle();
    CHECK(sub.take_of<mqtt::publish>().size() == 1);
    CHECK(sub.take_of<suback>().size() == 1);
    CHECK(pub.take_of<pubrec>().size() == 1);
}

namespace {

// A memory store whose commits fail while `broken` is set.
class flaky_store final : public store {
public:
    bool broken = false;
    memory_store inner;
    std::error_code load(store_contents& out, std::string& error) override { return inner.load(out, error); }
    std::error_code begin() override { return inner.begin(); }
    std::error_code put_session(const stored_session& s) override { return inner.put_session(s); }
    std::error_code remove_session(const std::string& id) override { return inner.remove_session(id); }
    std::error_code append_queued(const std::string& id, const stored_queued& m) override { return inner.append_queued(id, m); }
    std::error_code remove_queued_before(const std::string& id, std::uint64_t seq) override
    {
        return inner.remove_queued_before(id, seq);
    }
    std::error_code put_retained(const stored_retained& r) override { return inner.put_retained(r); }
    std::error_code remove_retained(const std::string& topic) override { return inner.remove_retained(topic); }
    std::error_code commit() override
    {
        if (broken) {
            inner.rollback();
            return std::make_error_code(std::errc::no_space_on_device);
        }
        return inner.commit();
    }
    void rollback() override { inner.rollback(); }
    std::string name() const override { return "flaky"; }
};

} // namespace

TEST_CASE("Store: while commits fail the PUBACK is held, and it goes out once a commit works with everything kept",
    "[persistence][unit]")
{
    flaky_store st;
    {
        persistent_fixture f(st, w0, s0);
        auto& sub = persistent_subscriber(f, "t/#", qos::at_least_once);
        sub.drop(f.now);
        f.settle();
        auto& pub = f.connect(protocol_version::v5, "pub");
        st.broken = true;
        pub.send(broker_fixture::msg("t/1", "kept", qos::at_least_once, 1), f.now);
        CHECK(f.e.commit(f.now, f.wall));
        CHECK(f.e.commit(f.now, f.wall)); // retried, still failing
        pub.collect();
        CHECK(pub.take_of<puback>().empty());
        CHECK(f.e.output_held());
        st.broken = false;
        f.settle();
        CHECK(pub.take_of<puback>().size() == 1);
        CHECK_FALSE(f.e.output_held());
    }
    persistent_fixture f(st, w0, s0);
    auto& sub = resume(f, "sub", 3600);
    auto got = sub.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "kept");
}

TEST_CASE("Store: a message acknowledged between two commits is not taken for a new one queued in its place, "
          "and after a crash the queue holds the new one",
    "[persistence][unit][queue]")
{
    temp_dir dir;
    engine_options o;
    o.max_inflight = 1;
    {
        stored_broker f(dir, w0, s0, o);
        auto& sub = persistent_subscriber(f, "t", qos::at_least_once);
        auto& pub = f.connect(protocol_version::v5, "pub");
        sub.drop(f.now);
        f.settle();
        pub.send(broker_fixture::msg("t", "first", qos::at_least_once, 1), f.now);
        pub.send(broker_fixture::msg("t", std::string(300, 'A'), qos::at_least_once, 2), f.now);
        f.settle(); // both stored as queued rows
        auto& back = resume(f, "sub", 3600);
        auto got = back.take_of<mqtt::publish>();
        REQUIRE(got.size() == 1); // one in flight, std::string(300, 'A') still queued (and so in the store)
        // Until the next commit: "first" acknowledged, std::string(300, 'A') sent and acknowledged
        // (its bytes freed), the client gone, and a message of the same topic and
        // size queued for it, whose copy may land where std::string(300, 'A') was.
        back.send(puback{got[0].packet_id, reason_code::success, {}}, f.now);
        back.collect();
        auto second = back.take_of<mqtt::publish>();
        REQUIRE(second.size() == 1);
        CHECK(second[0].payload == std::string(300, 'A'));
        back.send(puback{second[0].packet_id, reason_code::success, {}}, f.now);
        back.drop(f.now);
        pub.send(broker_fixture::msg("t", std::string(300, 'B'), qos::at_least_once, 3), f.now);
        f.settle();
    } // crash
    stored_broker f(dir, w0, s0, o);
    auto& sub = resume(f, "sub", 3600);
    auto got = sub.take_of<mqtt::publish>();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == std::string(300, 'B'));
}

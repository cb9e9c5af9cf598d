// The SQLite store on its own: round trips through a close and reopen, groups that
// were never committed, corrupt files.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "engine_harness.hpp"
#include "mqtt/broker/store.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using mqtt::broker::test::temp_dir;

namespace {

std::unique_ptr<store> open_or_fail(const std::string& path)
{
    std::string error;
    auto st = open_sqlite_store(path, {}, error);
    INFO(error);
    REQUIRE(st);
    return st;
}

store_contents load_or_fail(store& st)
{
    store_contents c;
    std::string error;
    auto ec = st.load(c, error);
    INFO(error);
    REQUIRE_FALSE(ec);
    return c;
}

const stored_session* find(const store_contents& c, const std::string& id)
{
    for (auto& s : c.sessions)
        if (s.client_id == id)
            return &s;
    return nullptr;
}

mqtt::publish message(std::string topic, std::string payload, qos q, std::uint16_t id, bool dup = false)
{
    mqtt::publish p;
    p.topic = buffer(std::move(topic));
    p.payload = buffer(std::move(payload));
    p.qos = q;
    p.packet_id = id;
    p.dup = dup;
    return p;
}

stored_session sample_session()
{
    stored_session s;
    s.client_id = "sensor-1";
    s.version = protocol_version::v5;
    s.username = "alice";
    s.expiry_interval = 3600;
    s.expires_at = 1'700'000'123'456;
    s.connected = false;
    mqtt::will w;
    w.topic = buffer("status/sensor-1");
    w.payload = buffer("gone");
    w.qos = qos::at_least_once;
    w.retain = true;
    w.props.add(property_id::content_type, "text/plain");
    s.will = w;
    s.will_delay = 30;
    s.will_at = 1'700'000'000'000;
    s.saved_at = 1'699'999'999'000;
    auto queued = message("a/b", "queued", qos::at_least_once, 0);
    queued.props.add(property_id::message_expiry_interval, 120u);
    queued.props.add(property_id::subscription_identifier, 7u);
    s.state.outgoing.push_back({queued, outgoing_stage::queued});
    s.state.outgoing.push_back({message("a/c", "sent", qos::at_least_once, 3, true), outgoing_stage::awaiting_ack});
    s.state.outgoing.push_back({message("a/d", "two", qos::exactly_once, 4, true), outgoing_stage::awaiting_ack});
    s.state.outgoing.push_back({message("a/e", "", qos::exactly_once, 5), outgoing_stage::awaiting_comp});
    s.state.qos2_received = {9, 11};
    subscribe_options o1{qos::exactly_once, true, true, retain_handling::do_not_send};
    subscribe_options o2{qos::at_least_once, false, false, retain_handling::send_if_new_subscription};
    s.subscriptions = {{"$share/g/x/+", o2, 0}, {"a/#", o1, 7}};
    return s;
}

} // namespace

TEST_CASE("SQLite store: sessions, subscriptions, queued and in-flight messages, QoS 2 ids and retained messages "
          "survive a close and reopen [MQTT-4.1.0-1]",
    "[store][unit][MQTT-4.1.0-1]")
{
    temp_dir dir;
    auto path = dir.file("nested/dir/mqtt-broker.db"); // the directory is created
    auto expected = sample_session();
    stored_retained r;
    r.topic = "config/x";
    r.msg = message("config/x", "v1", qos::at_least_once, 0);
    r.msg.retain = true;
    r.msg.props.add(property_id::message_expiry_interval, 100u);
    r.stored_at = 1'699'999'000'000;
    {
        auto st = open_or_fail(path);
        REQUIRE_FALSE(st->begin());
        REQUIRE_FALSE(st->put_session(expected));
        auto other = sample_session();
        other.client_id = "short-lived";
        REQUIRE_FALSE(st->put_session(other));
        REQUIRE_FALSE(st->put_retained(r));
        stored_retained gone{"config/y", message("config/y", "y", qos::at_most_once, 0), 5};
        REQUIRE_FALSE(st->put_retained(gone));
        for (std::uint64_t seq = 1; seq <= 4; ++seq)
            REQUIRE_FALSE(st->append_queued("sensor-1", {seq, message("q/" + std::to_string(seq), "m", qos::exactly_once, 0), 77}));
        REQUIRE_FALSE(st->append_queued("short-lived", {1, message("q/x", "m", qos::at_least_once, 0), 1}));
        REQUIRE_FALSE(st->commit());

        REQUIRE_FALSE(st->begin());
        REQUIRE_FALSE(st->remove_session("short-lived"));
        REQUIRE_FALSE(st->remove_retained("config/y"));
        REQUIRE_FALSE(st->remove_queued_before("sensor-1", 3)); // the first two were sent
        REQUIRE_FALSE(st->commit());

        // A group that never commits leaves nothing behind.
        REQUIRE_FALSE(st->begin());
        auto ghost = sample_session();
        ghost.client_id = "ghost";
        REQUIRE_FALSE(st->put_session(ghost));
        REQUIRE_FALSE(st->remove_retained("config/x"));
    }
    auto st = open_or_fail(path);
    auto c = load_or_fail(*st);
    REQUIRE(c.sessions.size() == 1);
    auto* s = find(c, "sensor-1");
    REQUIRE(s);
    REQUIRE(s->queue.size() == 2);
    CHECK(s->queue[0] == stored_queued{3, message("q/3", "m", qos::exactly_once, 0), 77});
    CHECK(s->queue[1].seq == 4);
    auto without_queue = *s;
    without_queue.queue.clear();
    CHECK(without_queue == expected);
    REQUIRE(c.retained.size() == 1);
    CHECK(c.retained[0] == r);
}

TEST_CASE("SQLite store: a session written without subscription changes keeps its subscriptions", "[store][unit]")
{
    temp_dir dir;
    auto st = open_or_fail(dir.file("s.db"));
    auto s = sample_session();
    REQUIRE_FALSE(st->begin());
    REQUIRE_FALSE(st->put_session(s));
    REQUIRE_FALSE(st->commit());
    auto again = s;
    again.subscriptions.clear();
    again.subscriptions_changed = false;
    again.state.outgoing.clear();
    REQUIRE_FALSE(st->begin());
    REQUIRE_FALSE(st->put_session(again));
    REQUIRE_FALSE(st->commit());
    auto c = load_or_fail(*st);
    REQUIRE(c.sessions.size() == 1);
    CHECK(c.sessions[0].subscriptions == s.subscriptions);
    CHECK(c.sessions[0].state.outgoing.empty());
}

TEST_CASE("Memory store: committed groups are kept, uncommitted ones are not", "[store][unit]")
{
    memory_store st;
    auto s = sample_session();
    REQUIRE_FALSE(st.begin());
    REQUIRE_FALSE(st.put_session(s));
    REQUIRE_FALSE(st.append_queued(s.client_id, {1, message("q", "a", qos::at_least_once, 0), 5}));
    REQUIRE_FALSE(st.append_queued(s.client_id, {2, message("q", "b", qos::at_least_once, 0), 5}));
    REQUIRE_FALSE(st.commit());
    REQUIRE_FALSE(st.begin());
    REQUIRE_FALSE(st.remove_session(s.client_id));
    st.rollback();
    REQUIRE_FALSE(st.begin());
    REQUIRE_FALSE(st.remove_queued_before(s.client_id, 2));
    REQUIRE_FALSE(st.commit());
    auto c = load_or_fail(st);
    REQUIRE(c.sessions.size() == 1);
    REQUIRE(c.sessions[0].queue.size() == 1);
    CHECK(c.sessions[0].queue[0].msg.payload == "b");
    c.sessions[0].queue.clear();
    CHECK(c.sessions[0] == s);
}

TEST_CASE("SQLite store: a file that is not a database is refused with a message naming it, and can be moved aside",
    "[store][unit]")
{
    temp_dir dir;
    auto path = dir.file("mqtt-broker.db");
    {
        std::ofstream f(path, std::ios::binary);
        for (int i = 0; i < 200; ++i)
            f << "this is not an SQLite database, just some text. ";
    }
    std::string error;
    auto st = open_sqlite_store(path, {}, error);
    CHECK_FALSE(st);
    CHECK_THAT(error, Catch::Contains(path));

    std::string move_error;
    auto moved = move_store_aside(path, move_error);
    INFO(move_error);
    REQUIRE_FALSE(moved.empty());
    CHECK_THAT(moved, Catch::StartsWith(path + ".corrupt-"));
    CHECK(std::filesystem::exists(moved));
    CHECK_FALSE(std::filesystem::exists(path));
    auto fresh = open_or_fail(path);
    CHECK(load_or_fail(*fresh).sessions.empty());
}

TEST_CASE("SQLite store: a row that does not decode fails the load with a message naming the file", "[store][unit]")
{
    temp_dir dir;
    auto path = dir.file("mqtt-broker.db");
    {
        auto st = open_or_fail(path);
        REQUIRE_FALSE(st->begin());
        REQUIRE_FALSE(st->put_session(sample_session()));
        REQUIRE_FALSE(st->commit());
    }
    {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "UPDATE sessions SET state = x'4d5153530109'", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    auto st = open_or_fail(path);
    store_contents c;
    std::string error;
    CHECK(st->load(c, error));
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("sensor-1"));
}

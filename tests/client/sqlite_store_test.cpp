// sqlite_session_store on its own: round trips through a reopened file, the
// incremental writes against the snapshot scheme, and errors as values.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include "mqtt/client/sqlite_session_store.hpp"
#include "process.hpp"

using namespace mqtt;

namespace {

publish message(std::string topic, std::string payload, qos q, std::uint16_t id = 0)
{
    publish p;
    p.topic = buffer(std::move(topic));
    p.payload = buffer(std::move(payload));
    p.qos = q;
    p.packet_id = id;
    return p;
}

session_state sample_state()
{
    session_state s;
    auto queued = message("a/queued", std::string("offline \0 payload", 17), qos::exactly_once);
    queued.retain = true;
    queued.props.add(property_id::content_type, std::string("text/plain"));
    queued.props.add(property_id::message_expiry_interval, 60u);
    queued.props.add_user_property("k", "v");
    auto sent = message("a/sent", std::string(3000, 'x'), qos::at_least_once, 5);
    sent.dup = true;
    auto released = message("a/released", "", qos::exactly_once, 7);
    s.outgoing.push_back({sent, outgoing_stage::awaiting_ack});
    s.outgoing.push_back({released, outgoing_stage::awaiting_comp});
    s.outgoing.push_back({queued, outgoing_stage::queued});
    s.qos2_received = {3, 9, 65535};
    return s;
}

session_state reopen(const std::string& path, sqlite_store_options o = {})
{
    sqlite_session_store store(path, o);
    auto loaded = store.load();
    INFO(store.last_error());
    REQUIRE(loaded);
    return *loaded;
}

void exec(const std::string& path, const char* sql)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

} // namespace

TEST_CASE("SQLite store: a new file loads as an empty state", "[store][sqlite]")
{
    interop::temp_dir dir("mqtt-store");
    sqlite_session_store store(dir.file("s.db"));
    REQUIRE_FALSE(store.open());
    auto loaded = store.load();
    REQUIRE(loaded);
    CHECK(loaded->outgoing.empty());
    CHECK(loaded->qos2_received.empty());
    CHECK(std::filesystem::exists(dir.file("s.db")));
}

TEST_CASE("SQLite store: payloads, properties, PUBREL-pending, queued and QoS 2 ids survive a reopen", "[store][sqlite]")
{
    for (bool snapshot : {false, true}) {
        DYNAMIC_SECTION((snapshot ? "snapshot" : "rows"))
        {
            interop::temp_dir dir("mqtt-store");
            const auto path = dir.file("s.db");
            sqlite_store_options o;
            o.snapshot = snapshot;
            const auto state = sample_state();
            {
                sqlite_session_store store(path, o);
                REQUIRE_FALSE(store.save(state));
                CHECK(store.save_count() == 1);
            }
            CHECK(reopen(path, o) == state);
            // Read back by the other scheme too: the format does not depend on it.
            sqlite_store_options other;
            other.snapshot = !snapshot;
            CHECK(reopen(path, other) == state);
        }
    }
}

TEST_CASE("SQLite store: a message in awaiting_comp comes back without its payload", "[store][sqlite]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("s.db");
    session_state s;
    s.outgoing.push_back({message("t", "payload", qos::exactly_once, 4), outgoing_stage::awaiting_ack});
    {
        sqlite_session_store store(path);
        REQUIRE_FALSE(store.save(s));
        // PUBREC: the session drops the payload and moves on; the row changes in place.
        s.outgoing[0].stage = outgoing_stage::awaiting_comp;
        s.outgoing[0].msg.payload = buffer();
        REQUIRE_FALSE(store.save(s));
    }
    auto loaded = reopen(path);
    REQUIRE(loaded.outgoing.size() == 1);
    CHECK(loaded.outgoing[0].stage == outgoing_stage::awaiting_comp);
    CHECK(loaded.outgoing[0].msg.payload.empty());
    CHECK(loaded.outgoing[0].msg.packet_id == 4);
}

// A session's life in small steps (append, acknowledge anywhere, send, PUBREC,
// QoS 2 ids in and out), each saved; every reopen must give the last state.
TEST_CASE("SQLite store: incremental saves always equal the state", "[store][sqlite]")
{
    for (bool snapshot : {false, true}) {
        DYNAMIC_SECTION((snapshot ? "snapshot" : "rows"))
        {
            interop::temp_dir dir("mqtt-store");
            const auto path = dir.file("s.db");
            sqlite_store_options o;
            o.snapshot = snapshot;
            std::mt19937 rng(snapshot ? 7u : 11u);
            session_state s;
            std::uint16_t next_id = 1;
            auto store = std::make_unique<sqlite_session_store>(path, o);
            for (int step = 0; step < 400; ++step) {
                const auto what = rng() % 8;
                if (what <= 2 || s.outgoing.empty()) {
                    // Identical messages on purpose: matching must not depend on content.
                    auto payload = rng() % 2 ? std::string("same") : std::to_string(step);
                    auto q = rng() % 2 ? qos::at_least_once : qos::exactly_once;
                    s.outgoing.push_back({message("t/" + std::to_string(rng() % 3), payload, q), outgoing_stage::queued});
                } else if (what == 3) {
                    s.outgoing.erase(s.outgoing.begin() + static_cast<long>(rng() % s.outgoing.size()));
                } else if (what == 4) {
                    for (auto& m : s.outgoing)
                        if (m.stage == outgoing_stage::queued) {
                            m.stage = outgoing_stage::awaiting_ack;
                            m.msg.packet_id = next_id++;
                            break;
                        }
                } else if (what == 5) {
                    for (auto& m : s.outgoing)
                        if (m.stage == outgoing_stage::awaiting_ack && m.msg.qos == qos::exactly_once) {
                            m.stage = outgoing_stage::awaiting_comp;
                            m.msg.payload = buffer();
                            break;
                        }
                } else if (what == 6) {
                    s.qos2_received.push_back(static_cast<std::uint16_t>(1 + rng() % 50));
                    std::sort(s.qos2_received.begin(), s.qos2_received.end());
                    s.qos2_received.erase(std::unique(s.qos2_received.begin(), s.qos2_received.end()), s.qos2_received.end());
                } else if (!s.qos2_received.empty()) {
                    s.qos2_received.erase(s.qos2_received.begin() + static_cast<long>(rng() % s.qos2_received.size()));
                }
                // Saves see copies, as the client's session_.state() gives them.
                session_state copy = s;
                REQUIRE_FALSE(store->save(copy));
                if (step % 50 == 49) {
                    store.reset(); // the reopened store continues from what the file holds
                    CHECK(reopen(path, o) == s);
                    store = std::make_unique<sqlite_session_store>(path, o);
                    REQUIRE(store->load());
                }
            }
            store.reset();
            CHECK(reopen(path, o) == s);
        }
    }
}

TEST_CASE("SQLite store: a file that cannot be opened is an error naming it", "[store][sqlite][errors]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("no/such/dir/s.db");
    sqlite_session_store store(path);
    auto ec = store.open();
    REQUIRE(ec);
    CHECK(ec.category() == sqlite_category());
    CHECK(ec.value() == SQLITE_CANTOPEN);
    CHECK_THAT(store.last_error(), Catch::Contains(path));
    CHECK_FALSE(store.load());
    CHECK(store.save(sample_state()));
}

TEST_CASE("SQLite store: a file that is not a database is reported and left alone", "[store][sqlite][errors]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("garbage.db");
    const std::string garbage(8192, '\x5a');
    interop::write_file(path, garbage);
    sqlite_session_store store(path);
    auto loaded = store.load();
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error() == std::error_code(SQLITE_NOTADB, sqlite_category()));
    CHECK_THAT(store.last_error(), Catch::Contains(path));
    CHECK(store.save(sample_state()));
    CHECK(interop::read_file(path) == garbage);
}

TEST_CASE("SQLite store: another application's database is not taken over", "[store][sqlite][errors]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("other.db");
    exec(path, "CREATE TABLE mine(x)");
    sqlite_session_store store(path);
    auto ec = store.open();
    REQUIRE(ec);
    CHECK_THAT(store.last_error(), Catch::Contains("not an MQTT session store"));
}

TEST_CASE("SQLite store: a corrupt row or a newer format is reported", "[store][sqlite][errors]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("s.db");
    {
        sqlite_session_store store(path);
        REQUIRE_FALSE(store.save(sample_state()));
    }
    SECTION("a message that does not decode")
    {
        exec(path, "UPDATE outgoing SET message = x'300100' WHERE seq = (SELECT min(seq) FROM outgoing)");
        sqlite_session_store store(path);
        REQUIRE(store.open() == std::error_code(SQLITE_CORRUPT, sqlite_category()));
        CHECK_THAT(store.last_error(), Catch::Contains("does not decode"));
        CHECK(store.save(session_state{})); // refuses to write over it
    }
    SECTION("a stage out of range")
    {
        exec(path, "UPDATE outgoing SET stage = 9");
        sqlite_session_store store(path);
        CHECK(store.open());
    }
    SECTION("a received id out of range")
    {
        exec(path, "INSERT INTO qos2_received VALUES(70000)");
        sqlite_session_store store(path);
        CHECK(store.open());
        CHECK_THAT(store.last_error(), Catch::Contains("out of range"));
    }
    SECTION("a newer format")
    {
        exec(path, "PRAGMA user_version = 2");
        sqlite_session_store store(path);
        CHECK(store.open());
        CHECK_THAT(store.last_error(), Catch::Contains("format version 2"));
    }
}

TEST_CASE("SQLite store: one file serves one store at a time", "[store][sqlite][errors]")
{
    interop::temp_dir dir("mqtt-store");
    const auto path = dir.file("s.db");
    sqlite_session_store first(path);
    REQUIRE_FALSE(first.save(sample_state()));
    sqlite_session_store second(path);
    auto ec = second.open();
    REQUIRE(ec);
    CHECK_THAT(second.last_error(), Catch::Contains("in use"));
}

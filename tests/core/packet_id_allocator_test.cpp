#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "mqtt/packet_id_allocator.hpp"

using mqtt::packet_id_allocator;

TEST_CASE("allocated packet ids are non-zero and never one still in use [MQTT-2.3.1-2] [MQTT-2.2.1-3] "
          "[MQTT-2.2.1-4]",
          "[packet_id][MQTT-2.3.1-2][MQTT-2.2.1-3][MQTT-2.2.1-4]")
{
    packet_id_allocator ids;
    std::set<std::uint16_t> seen;
    for (int i = 0; i < 65535; ++i) {
        const auto id = ids.allocate();
        REQUIRE(id);
        REQUIRE(*id != 0);
        REQUIRE(seen.insert(*id).second); // unused until now
    }
    CHECK(ids.used_count() == 65535);
    CHECK_FALSE(ids.allocate());

    // Free a few scattered ids: only those may come back, each once.
    for (std::uint16_t id : {std::uint16_t{1}, std::uint16_t{300}, std::uint16_t{65535}}) {
        ids.release(id);
    }
    std::set<std::uint16_t> again;
    for (int i = 0; i < 3; ++i) {
        const auto id = ids.allocate();
        REQUIRE(id);
        again.insert(*id);
    }
    CHECK(again == std::set<std::uint16_t>{1, 300, 65535});
    CHECK_FALSE(ids.allocate());
}

TEST_CASE("exhaustion with a small maximum", "[packet_id]")
{
    packet_id_allocator ids(5);
    CHECK(ids.maximum() == 5);
    for (std::uint16_t expected = 1; expected <= 5; ++expected) {
        const auto id = ids.allocate();
        REQUIRE(id);
        CHECK(*id == expected);
    }
    CHECK(ids.used_count() == 5);
    CHECK_FALSE(ids.allocate());
    CHECK_FALSE(ids.allocate());

    ids.release(3);
    CHECK(ids.used_count() == 4);
    CHECK_FALSE(ids.in_use(3));
    const auto id = ids.allocate();
    REQUIRE(id);
    CHECK(*id == 3);
    CHECK_FALSE(ids.allocate());
}

TEST_CASE("a zero maximum has no ids", "[packet_id]")
{
    packet_id_allocator ids(0);
    CHECK_FALSE(ids.allocate());
    CHECK_FALSE(ids.register_id(1));
    CHECK(ids.used_count() == 0);
}

TEST_CASE("allocation rotates instead of reusing a just freed id", "[packet_id]")
{
    packet_id_allocator ids(10);
    CHECK(ids.allocate() == std::optional<std::uint16_t>(1));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(2));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(3));
    ids.release(2);
    CHECK(ids.allocate() == std::optional<std::uint16_t>(4)); // not 2
    ids.release(4);
    CHECK(ids.allocate() == std::optional<std::uint16_t>(5));
    for (std::uint16_t expected = 6; expected <= 10; ++expected) {
        CHECK(ids.allocate() == std::optional<std::uint16_t>(expected));
    }
    // Wrapped around: the free ones are 2 and 4, found in order from 1.
    CHECK(ids.allocate() == std::optional<std::uint16_t>(2));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(4));
    CHECK_FALSE(ids.allocate());
}

TEST_CASE("the search skips a run of used ids and wraps at the maximum", "[packet_id]")
{
    packet_id_allocator ids(65535);
    for (std::uint16_t id = 65530; id != 0; ++id) { // 65530..65535, then wraps to 0
        REQUIRE(ids.register_id(id));
    }
    for (std::uint16_t id = 1; id <= 3; ++id) {
        REQUIRE(ids.register_id(id));
    }
    std::optional<std::uint16_t> last;
    for (int i = 0; i < 65526; ++i) { // 4..65529
        last = ids.allocate();
        REQUIRE(last);
    }
    CHECK(*last == 65529);
    CHECK(ids.used_count() == 65535);
    CHECK_FALSE(ids.allocate());
    ids.release(2);
    ids.release(65533);
    CHECK(ids.allocate() == std::optional<std::uint16_t>(65533));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(2));
    CHECK_FALSE(ids.allocate());
}

TEST_CASE("registered ids are skipped by allocation", "[packet_id]")
{
    packet_id_allocator ids(6);
    CHECK(ids.register_id(1));
    CHECK(ids.register_id(2));
    CHECK(ids.register_id(4));
    CHECK(ids.used_count() == 3);
    CHECK(ids.in_use(1));
    CHECK(ids.in_use(4));
    CHECK_FALSE(ids.in_use(3));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(3));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(5));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(6));
    CHECK_FALSE(ids.allocate());
}

TEST_CASE("register_id rejects 0, ids above the maximum and ids in use", "[packet_id]")
{
    packet_id_allocator ids(100);
    CHECK_FALSE(ids.register_id(0));
    CHECK_FALSE(ids.register_id(101));
    CHECK_FALSE(ids.register_id(65535));
    CHECK(ids.register_id(100));
    CHECK_FALSE(ids.register_id(100));
    const auto id = ids.allocate();
    REQUIRE(id);
    CHECK_FALSE(ids.register_id(*id));
    CHECK(ids.used_count() == 2);
    CHECK_FALSE(ids.in_use(0));
    CHECK_FALSE(ids.in_use(101));
}

TEST_CASE("release of an unused id is a no-op", "[packet_id]")
{
    packet_id_allocator ids(10);
    ids.release(5);
    ids.release(0);
    ids.release(11);
    CHECK(ids.used_count() == 0);
    const auto id = ids.allocate();
    REQUIRE(id);
    ids.release(*id);
    ids.release(*id);
    CHECK(ids.used_count() == 0);
    CHECK_FALSE(ids.in_use(*id));
}

TEST_CASE("release splits and register merges intervals", "[packet_id]")
{
    packet_id_allocator ids(20);
    for (std::uint16_t id = 1; id <= 9; ++id) {
        REQUIRE(ids.register_id(id));
    }
    ids.release(5); // middle of [1,9]
    ids.release(1); // first
    ids.release(9); // last
    for (std::uint16_t id = 1; id <= 20; ++id) {
        const bool expected = id >= 2 && id <= 8 && id != 5;
        CHECK(ids.in_use(id) == expected);
    }
    CHECK(ids.used_count() == 6);
    CHECK(ids.register_id(5)); // re-joins [2,4] and [6,8]
    CHECK(ids.register_id(1));
    CHECK(ids.register_id(9));
    for (std::uint16_t id = 1; id <= 9; ++id) {
        CHECK(ids.in_use(id));
    }
    CHECK_FALSE(ids.in_use(10));
    CHECK(ids.used_count() == 9);
}

TEST_CASE("clear frees every id and restarts at 1", "[packet_id]")
{
    packet_id_allocator ids(3);
    REQUIRE(ids.allocate());
    REQUIRE(ids.allocate());
    ids.clear();
    CHECK(ids.used_count() == 0);
    CHECK_FALSE(ids.in_use(1));
    CHECK(ids.allocate() == std::optional<std::uint16_t>(1));
}

TEST_CASE("randomized operations agree with a std::set model", "[packet_id]")
{
    const std::uint16_t maximum = GENERATE(std::uint16_t{7}, std::uint16_t{64}, std::uint16_t{1000});
    const auto seed = GENERATE(1u, 2u, 3u);
    std::mt19937 rng(seed * 7919u + maximum);
    packet_id_allocator ids(maximum);
    std::set<std::uint16_t> model;
    std::uint16_t last_allocated = 0;
    std::uniform_int_distribution<int> op_dist(0, 9);
    std::uniform_int_distribution<unsigned> id_dist(0, maximum + 1U);

    for (int step = 0; step < 20000; ++step) {
        const int op = op_dist(rng);
        if (op < 5) {
            const auto id = ids.allocate();
            if (model.size() == maximum) {
                REQUIRE_FALSE(id);
                continue;
            }
            REQUIRE(id);
            REQUIRE(*id >= 1);
            REQUIRE(*id <= maximum);
            REQUIRE(model.count(*id) == 0);
            // Rotation: the first free id after the previous allocation, wrapping.
            std::uint16_t expected = 0;
            for (unsigned k = 1; k <= maximum; ++k) {
                const auto candidate = static_cast<std::uint16_t>((last_allocated + k - 1U) % maximum + 1U);
                if (model.count(candidate) == 0) {
                    expected = candidate;
                    break;
                }
            }
            REQUIRE(*id == expected);
            model.insert(*id);
            last_allocated = *id;
        } else if (op < 8) {
            // Release: mostly ids in use, sometimes arbitrary ones.
            std::uint16_t id;
            if (!model.empty() && op < 7) {
                auto it = model.begin();
                std::advance(it, static_cast<long>(rng() % model.size()));
                id = *it;
            } else {
                id = static_cast<std::uint16_t>(id_dist(rng));
            }
            ids.release(id);
            model.erase(id);
        } else if (op == 8) {
            const auto id = static_cast<std::uint16_t>(id_dist(rng));
            const bool expected = id != 0 && id <= maximum && model.count(id) == 0;
            REQUIRE(ids.register_id(id) == expected);
            if (expected) {
                model.insert(id);
            }
        } else {
            const auto id = static_cast<std::uint16_t>(id_dist(rng));
            REQUIRE(ids.in_use(id) == (model.count(id) == 1));
        }
        REQUIRE(ids.used_count() == model.size());
    }
    for (unsigned id = 0; id <= maximum + 1U; ++id) {
        REQUIRE(ids.in_use(static_cast<std::uint16_t>(id)) == (model.count(static_cast<std::uint16_t>(id)) == 1));
    }
}

// The client's table of publishes waiting for their outcome: a slot pool whose
// tags carry a generation, so a tag whose entry was taken never finds the entry
// that reuses its slot.
#include <catch2/catch.hpp>

#include <string>

#include "tag_table.hpp"

using mqtt::detail::tag_table;

TEST_CASE("tag_table: insert, find and take by tag", "[client][tag_table]")
{
    tag_table<std::string> t;
    auto a = t.insert("a");
    auto b = t.insert("b");
    CHECK(a != b);
    CHECK(t.size() == 2);
    REQUIRE(t.find(b));
    CHECK(*t.find(b) == "b");
    auto got = t.take(a);
    REQUIRE(got);
    CHECK(*got == "a");
    CHECK(t.size() == 1);
    CHECK_FALSE(t.take(a)); // taken once only
    CHECK_FALSE(t.contains(a));
    CHECK(t.contains(b));
}

TEST_CASE("tag_table: a stale tag does not find the entry that reuses its slot", "[client][tag_table]")
{
    tag_table<int> t;
    auto first = t.insert(1);
    REQUIRE(t.take(first));
    auto second = t.insert(2); // the freed slot is reused
    CHECK(static_cast<std::uint32_t>(second) == static_cast<std::uint32_t>(first));
    CHECK(second != first);
    CHECK_FALSE(t.find(first));
    CHECK_FALSE(t.take(first));
    REQUIRE(t.find(second));
    CHECK(*t.find(second) == 2);
    CHECK_FALSE(t.find(0)); // never a valid tag
    CHECK_FALSE(t.find(std::uint64_t{1} << 40 | 999)); // no such slot
}

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "mqtt/reason_code.hpp"
#include "mqtt/topic.hpp"

using namespace std::string_literals;
using mqtt::parse_topic_filter;
using mqtt::topic_matches;
using mqtt::validate_topic_filter;
using mqtt::validate_topic_name;

namespace {

const std::error_code name_invalid = mqtt::make_error_code(mqtt::reason_code::topic_name_invalid);
const std::error_code filter_invalid = mqtt::make_error_code(mqtt::reason_code::topic_filter_invalid);

bool name_ok(std::string_view s) { return !validate_topic_name(s); }
bool filter_ok(std::string_view s) { return !validate_topic_filter(s); }

// Wildcards are for filters only: 3.1.1 [MQTT-4.7.1-1], 5.0 [MQTT-4.7.0-1].
void check_no_wildcards_in_names()
{
    CHECK(name_ok("sport/tennis/player1"));
    CHECK(validate_topic_name("sport/tennis/#") == name_invalid);
    CHECK(validate_topic_name("sport/+/player1") == name_invalid);
    CHECK(validate_topic_name("#") == name_invalid);
    CHECK(validate_topic_name("+") == name_invalid);
    CHECK(validate_topic_name("sport+") == name_invalid); // not even inside a level
    CHECK(validate_topic_name("a#b") == name_invalid);
    // The same strings are fine as filters.
    CHECK(filter_ok("sport/tennis/#"));
    CHECK(filter_ok("sport/+/player1"));
}

// '#' alone or after '/', and last: 3.1.1 [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1].
void check_multi_level_wildcard_placement()
{
    CHECK(filter_ok("#"));
    CHECK(filter_ok("sport/#"));
    CHECK(filter_ok("sport/tennis/player1/#"));
    CHECK(filter_ok("/#"));
    CHECK(filter_ok("+/#"));
    CHECK(filter_ok("//#"));
    CHECK(validate_topic_filter("sport/tennis#") == filter_invalid);
    CHECK(validate_topic_filter("sport/tennis/#/ranking") == filter_invalid);
    CHECK(validate_topic_filter("#/") == filter_invalid);
    CHECK(validate_topic_filter("##") == filter_invalid);
    CHECK(validate_topic_filter("#/#") == filter_invalid);
    CHECK(validate_topic_filter("sport/#a") == filter_invalid);
    CHECK(validate_topic_filter("a#/b") == filter_invalid);
}

// '+' must be a whole level, at any level: 3.1.1 [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-2].
void check_single_level_wildcard_placement()
{
    CHECK(filter_ok("+"));
    CHECK(filter_ok("+/tennis/#"));
    CHECK(filter_ok("sport/+/player1"));
    CHECK(filter_ok("sport/+"));
    CHECK(filter_ok("+/+"));
    CHECK(filter_ok("/+"));
    CHECK(filter_ok("+/"));
    CHECK(filter_ok("+/+/+/+"));
    CHECK(validate_topic_filter("sport+") == filter_invalid);
    CHECK(validate_topic_filter("sport/+tennis") == filter_invalid);
    CHECK(validate_topic_filter("++") == filter_invalid);
    CHECK(validate_topic_filter("+a/b") == filter_invalid);
    CHECK(validate_topic_filter("a/b+") == filter_invalid);
    CHECK(validate_topic_filter("+#") == filter_invalid);
}

} // namespace

TEST_CASE("wildcards are not allowed in topic names [MQTT-4.7.1-1]", "[topic][v311][MQTT-4.7.1-1]")
{
    check_no_wildcards_in_names();
}

TEST_CASE("wildcards are not allowed in topic names [MQTT-4.7.0-1]", "[topic][v5][MQTT-4.7.0-1]")
{
    check_no_wildcards_in_names();
}

TEST_CASE("multi-level wildcard must be last and a whole level [MQTT-4.7.1-2]", "[topic][v311][MQTT-4.7.1-2]")
{
    check_multi_level_wildcard_placement();
}

TEST_CASE("multi-level wildcard must be last and a whole level [MQTT-4.7.1-1]", "[topic][v5][MQTT-4.7.1-1]")
{
    check_multi_level_wildcard_placement();
}

TEST_CASE("single-level wildcard must occupy a whole level [MQTT-4.7.1-3]", "[topic][v311][MQTT-4.7.1-3]")
{
    check_single_level_wildcard_placement();
}

TEST_CASE("single-level wildcard must occupy a whole level [MQTT-4.7.1-2]", "[topic][v5][MQTT-4.7.1-2]")
{
    check_single_level_wildcard_placement();
}

TEST_CASE("multi-level wildcard matching (spec examples of 4.7.1.2)", "[topic]")
{
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis"));
    CHECK(topic_matches("sport/#", "sport"));
    CHECK(topic_matches("sport/#", "sport/"));
    CHECK(topic_matches("sport/#", "sport/tennis"));
    CHECK_FALSE(topic_matches("sport/#", "sports"));
    CHECK_FALSE(topic_matches("sport/#", "spor"));
    CHECK(topic_matches("#", "sport"));
    CHECK(topic_matches("#", "sport/tennis/player1"));
    CHECK(topic_matches("#", "/"));
    CHECK(topic_matches("#", "/finance"));
}

TEST_CASE("single-level wildcard matching (spec examples of 4.7.1.3)", "[topic]")
{
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis"));
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/")); // '+' matches an empty level
    CHECK_FALSE(topic_matches("sport/+", "sport"));
    CHECK(topic_matches("sport/+", "sport/"));
    CHECK(topic_matches("+/+", "/finance"));
    CHECK(topic_matches("/+", "/finance"));
    CHECK_FALSE(topic_matches("+", "/finance"));
    CHECK(topic_matches("+", "finance"));
    CHECK(topic_matches("+/tennis/#", "sport/tennis"));
    CHECK(topic_matches("+/tennis/#", "sport/tennis/player1/ranking"));
    CHECK_FALSE(topic_matches("+/tennis/#", "sport/golf/player1"));
    CHECK(topic_matches("sport/+/player1", "sport/tennis/player1"));
    CHECK_FALSE(topic_matches("sport/+/player1", "sport/tennis/player2"));
    CHECK(topic_matches("+/+/+", "//"));
    CHECK_FALSE(topic_matches("+/+/+", "/"));
    CHECK(topic_matches("+/#", "a"));
}

TEST_CASE("topic levels, empty levels and exact matching", "[topic]")
{
    CHECK(topic_matches("sport/tennis", "sport/tennis"));
    CHECK_FALSE(topic_matches("sport/tennis", "sport/tennis/"));
    CHECK_FALSE(topic_matches("sport/tennis/", "sport/tennis"));
    CHECK_FALSE(topic_matches("/sport", "sport"));
    CHECK_FALSE(topic_matches("sport", "/sport"));
    CHECK(topic_matches("/", "/"));
    CHECK(topic_matches("a//b", "a//b"));
    CHECK_FALSE(topic_matches("a//b", "a/b"));
    CHECK(topic_matches("a/+/b", "a//b"));
    CHECK_FALSE(topic_matches("sport/tennis", "sport/tennis/player1"));
    CHECK_FALSE(topic_matches("sport/tennis/player1", "sport/tennis"));
    // Topic names and filters are case sensitive and spaces count.
    CHECK_FALSE(topic_matches("ACCOUNTS", "Accounts"));
    CHECK(topic_matches("Accounts payable", "Accounts payable"));
    CHECK_FALSE(topic_matches("Accounts payable", "Accounts  payable"));
}

TEST_CASE("topics beginning with $ are not matched by leading wildcards [MQTT-4.7.2-1]",
          "[topic][MQTT-4.7.2-1]")
{
    CHECK_FALSE(topic_matches("#", "$SYS/monitor/Clients"));
    CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK_FALSE(topic_matches("#", "$SYS"));
    CHECK_FALSE(topic_matches("+", "$SYS"));
    CHECK_FALSE(topic_matches("+/#", "$foo/bar"));
    CHECK(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/#", "$SYS/x"));
    CHECK(topic_matches("$SYS/#", "$SYS"));
    CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/monitor/Clients", "$SYS/monitor/Clients"));
    // '$' later in a name is ordinary.
    CHECK(topic_matches("#", "a/$SYS"));
    CHECK(topic_matches("+/$SYS", "a/$SYS"));
}

TEST_CASE("topic names and filters are at least one character long [MQTT-4.7.3-1]", "[topic][MQTT-4.7.3-1]")
{
    CHECK(validate_topic_name("") == name_invalid);
    CHECK(validate_topic_filter("") == filter_invalid);
    CHECK(name_ok("a"));
    CHECK(filter_ok("a"));
    CHECK(name_ok("/")); // a single separator is one character
    CHECK(filter_ok("/"));
}

TEST_CASE("topic names and filters must not contain U+0000 [MQTT-4.7.3-2]", "[topic][MQTT-4.7.3-2]")
{
    CHECK(validate_topic_name("sport\0tennis"s) == name_invalid);
    CHECK(validate_topic_name("\0"s) == name_invalid);
    CHECK(validate_topic_filter("sport/\0/#"s) == filter_invalid);
    CHECK(validate_topic_filter("$share/g/a\0"s) == filter_invalid);
    CHECK(validate_topic_filter("$share/g\0/a"s) == filter_invalid);
}

TEST_CASE("topic names and filters are well-formed UTF-8", "[topic]")
{
    CHECK(validate_topic_name("sport/\xED\xA0\x80") == name_invalid);
    CHECK(validate_topic_name("\xC0\xAF") == name_invalid);
    CHECK(validate_topic_filter("sport/\xFF/#") == filter_invalid);
    CHECK(name_ok("caf\xC3\xA9/\xF0\x9F\x98\x80"));
    CHECK(filter_ok("caf\xC3\xA9/+/\xF0\x9F\x98\x80/#"));
}

TEST_CASE("topic names and filters are at most 65535 bytes [MQTT-4.7.3-3]", "[topic][MQTT-4.7.3-3]")
{
    const std::string max(65535, 'a');
    const std::string over(65536, 'a');
    CHECK(name_ok(max));
    CHECK(filter_ok(max));
    CHECK(validate_topic_name(over) == name_invalid);
    CHECK(validate_topic_filter(over) == filter_invalid);
    std::string over_filter(65534, 'a');
    over_filter += "/#";
    CHECK(validate_topic_filter(over_filter) == filter_invalid);
}

TEST_CASE("matching performs no normalization or substitution [MQTT-4.7.3-4]", "[topic][MQTT-4.7.3-4]")
{
    // U+00E9 precomposed vs 'e' + U+0301 combining acute: canonically equivalent,
    // but they must not match since the server does not normalize.
    const std::string precomposed = "caf\xC3\xA9";
    const std::string decomposed = "cafe\xCC\x81";
    CHECK(name_ok(precomposed));
    CHECK(name_ok(decomposed));
    CHECK(topic_matches(precomposed, precomposed));
    CHECK_FALSE(topic_matches(precomposed, decomposed));
    CHECK_FALSE(topic_matches(decomposed, precomposed));
    // No case folding, no width folding (fullwidth 'A' U+FF21), no trimming.
    CHECK_FALSE(topic_matches("a", "A"));
    CHECK_FALSE(topic_matches("\xEF\xBC\xA1", "A"));
    CHECK_FALSE(topic_matches("a ", "a"));
    CHECK_FALSE(topic_matches(" a", "a"));
    // Unusual but valid characters are compared as they are, not replaced.
    CHECK(topic_matches("\xEF\xBF\xBF/+", "\xEF\xBF\xBF/x"));       // U+FFFF
    CHECK_FALSE(topic_matches("\xEF\xBF\xBD/+", "\xEF\xBF\xBF/x")); // U+FFFD is not a stand-in
    CHECK(topic_matches("\xEF\xBB\xBF" "a", "\xEF\xBB\xBF" "a"));   // BOM is kept
    CHECK_FALSE(topic_matches("a", "\xEF\xBB\xBF" "a"));
    CHECK_FALSE(topic_matches("a/b", "a\\b"));
}

TEST_CASE("shared subscription filters start with $share/ and a non-empty ShareName [MQTT-4.8.2-1]",
          "[topic][v5][MQTT-4.8.2-1]")
{
    auto parts = parse_topic_filter("$share/consumer1/sport/tennis/+");
    REQUIRE(parts);
    CHECK(parts->shared());
    CHECK(parts->share_name == "consumer1");
    CHECK(parts->filter == "sport/tennis/+");

    auto single = parse_topic_filter("$share/g/#");
    REQUIRE(single);
    CHECK(single->share_name == "g");
    CHECK(single->filter == "#");

    CHECK(parse_topic_filter("$share//sport").error() == filter_invalid);
    CHECK(validate_topic_filter("$share//sport") == filter_invalid);

    // Not shared: other "$..." prefixes and ordinary filters.
    auto plain = parse_topic_filter("sport/tennis/#");
    REQUIRE(plain);
    CHECK_FALSE(plain->shared());
    CHECK(plain->share_name.empty());
    CHECK(plain->filter == "sport/tennis/#");

    auto sharefoo = parse_topic_filter("$sharefoo/x");
    REQUIRE(sharefoo);
    CHECK_FALSE(sharefoo->shared());
    CHECK(sharefoo->filter == "$sharefoo/x");

    auto sys = parse_topic_filter("$SYS/#");
    REQUIRE(sys);
    CHECK_FALSE(sys->shared());

    auto upper = parse_topic_filter("$SHARE/g/x"); // the prefix is case sensitive
    REQUIRE(upper);
    CHECK_FALSE(upper->shared());
}

TEST_CASE("ShareName has no '/', '+' or '#' and is followed by '/' and a topic filter [MQTT-4.8.2-2]",
          "[topic][v5][MQTT-4.8.2-2]")
{
    CHECK(validate_topic_filter("$share/group") == filter_invalid);  // no "/" after ShareName
    CHECK(validate_topic_filter("$share/group/") == filter_invalid); // "/" but no filter
    CHECK(validate_topic_filter("$share/") == filter_invalid);
    CHECK(validate_topic_filter("$share/gr+oup/x") == filter_invalid);
    CHECK(validate_topic_filter("$share/+/x") == filter_invalid);
    CHECK(validate_topic_filter("$share/#/x") == filter_invalid);
    CHECK(validate_topic_filter("$share/g#/x") == filter_invalid);
    // The filter part must itself be a valid filter.
    CHECK(validate_topic_filter("$share/g/sport#") == filter_invalid);
    CHECK(validate_topic_filter("$share/g/#/x") == filter_invalid);
    CHECK(validate_topic_filter("$share/g/a+") == filter_invalid);

    // A '/' ends the ShareName, so later ones belong to the filter (even an empty level).
    auto parts = parse_topic_filter("$share/g//a/");
    REQUIRE(parts);
    CHECK(parts->share_name == "g");
    CHECK(parts->filter == "/a/");
    CHECK(filter_ok("$share/g/$SYS/#"));
    CHECK(filter_ok("$share/g/+"));
    CHECK(filter_ok("$share/caf\xC3\xA9/x"));
}

TEST_CASE("stripped shared filters match like ordinary ones", "[topic]")
{
    auto parts = parse_topic_filter("$share/g/sport/+/player1");
    REQUIRE(parts);
    CHECK(topic_matches(parts->filter, "sport/tennis/player1"));
    CHECK_FALSE(topic_matches(parts->filter, "sport/tennis/player2"));
}

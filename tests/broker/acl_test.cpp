// ACL files in Mosquitto's format: parsing, user sections, patterns with %c/%u,
// deny precedence, and the SUBSCRIBE filter rule.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "mqtt/broker/acl.hpp"

using mqtt::broker::acl;
using mqtt::broker::acl_access;

namespace {

constexpr auto R = acl_access::read;
constexpr auto W = acl_access::write;
const std::optional<std::string_view> anonymous = std::nullopt;

acl parse_ok(std::string_view text)
{
    acl a;
    std::string error;
    const bool ok = acl::parse(text, "acl", a, error);
    INFO(error);
    REQUIRE(ok);
    REQUIRE(a.active());
    return a;
}

std::string parse_error(std::string_view text)
{
    acl a;
    std::string error;
    REQUIRE_FALSE(acl::parse(text, "acl", a, error));
    return error;
}

} // namespace

TEST_CASE("without an acl file everything is allowed", "[broker][acl]")
{
    const acl a;
    CHECK_FALSE(a.active());
    CHECK(a.allowed("c", anonymous, "any/topic", W));
    CHECK(a.allowed("c", "u", "$SYS/x", R));
    CHECK(a.can_subscribe("c", "u", "#"));
}

TEST_CASE("an empty acl file denies everything", "[broker][acl]")
{
    const acl a = parse_ok("# nothing\n\n");
    CHECK_FALSE(a.allowed("c", anonymous, "t", R));
    CHECK_FALSE(a.allowed("c", "u", "t", W));
    CHECK_FALSE(a.can_subscribe("c", "u", "t"));
}

TEST_CASE("the example of mosquitto.conf(5): anonymous topics, user sections, patterns", "[broker][acl]")
{
    const acl a = parse_ok(
        "# This affects access control for clients with no username.\n"
        "topic read $SYS/#\n"
        "\n"
        "# This only affects clients with username \"roger\".\n"
        "user roger\n"
        "topic foo/bar\n"
        "\n"
        "# This affects all clients.\n"
        "pattern write $SYS/broker/connection/%c/state\n"
        "pattern write sensor/%u/data\n");

    // Topic lines before the first `user` line: clients without a username only.
    CHECK(a.allowed("anon", anonymous, "$SYS/broker/uptime", R));
    CHECK_FALSE(a.allowed("anon", anonymous, "$SYS/broker/uptime", W));
    CHECK_FALSE(a.allowed("r1", "roger", "$SYS/broker/uptime", R));

    // roger's section: readwrite by default.
    CHECK(a.allowed("r1", "roger", "foo/bar", R));
    CHECK(a.allowed("r1", "roger", "foo/bar", W));
    CHECK_FALSE(a.allowed("r1", "roger", "foo/baz", R));
    CHECK_FALSE(a.allowed("anon", anonymous, "foo/bar", R));
    CHECK_FALSE(a.allowed("x", "other", "foo/bar", R));

    // Patterns apply to everyone, even though they come after `user roger`.
    CHECK(a.allowed("bridge1", anonymous, "$SYS/broker/connection/bridge1/state", W));
    CHECK_FALSE(a.allowed("bridge1", anonymous, "$SYS/broker/connection/bridge2/state", W));
    CHECK(a.allowed("bridge1", "roger", "$SYS/broker/connection/bridge1/state", W));
    CHECK_FALSE(a.allowed("bridge1", "roger", "$SYS/broker/connection/bridge1/state", R));
    CHECK(a.allowed("c", "roger", "sensor/roger/data", W));
    CHECK(a.allowed("c", "other", "sensor/other/data", W));
    CHECK_FALSE(a.allowed("c", "other", "sensor/roger/data", W));
    // %u rules say nothing about clients without a username.
    CHECK_FALSE(a.allowed("c", anonymous, "sensor//data", W));
}

TEST_CASE("access words: read, write, readwrite, deny and the default", "[broker][acl]")
{
    const acl a = parse_ok(
        "user u\n"
        "topic read r/#\n"
        "topic write w/#\n"
        "topic readwrite rw/#\n"
        "topic both/#\n"
        "topic deny rw/secret\n");
    CHECK(a.allowed("c", "u", "r/x", R));
    CHECK_FALSE(a.allowed("c", "u", "r/x", W));
    CHECK(a.allowed("c", "u", "w/x", W));
    CHECK_FALSE(a.allowed("c", "u", "w/x", R));
    CHECK(a.allowed("c", "u", "rw/x", R));
    CHECK(a.allowed("c", "u", "rw/x", W));
    CHECK(a.allowed("c", "u", "both/x", R));
    CHECK(a.allowed("c", "u", "both/x", W));
    CHECK_FALSE(a.allowed("c", "u", "rw/secret", R));
    CHECK_FALSE(a.allowed("c", "u", "rw/secret", W));
    CHECK(a.allowed("c", "u", "rw/secret/deeper", R));
}

TEST_CASE("deny rules win wherever they are written", "[broker][acl]")
{
    // A pattern deny written after a user grant still wins (Mosquitto would let
    // the user grant through because it checks user rules before patterns).
    const acl a = parse_ok(
        "user admin\n"
        "topic readwrite #\n"
        "pattern deny private/%u/#\n"
        "pattern deny vault/#\n"
        "user admin\n"
        "topic read also/#\n");
    CHECK(a.allowed("c", "admin", "anything", W));
    CHECK(a.allowed("c", "admin", "also/x", R));
    CHECK_FALSE(a.allowed("c", "admin", "vault/key", R));
    CHECK_FALSE(a.allowed("c", "admin", "vault", W)); // '#' includes the parent level
    CHECK_FALSE(a.allowed("c", "admin", "private/admin/x", W));
    CHECK(a.allowed("c", "admin", "private/bob/x", W));

    // Deny before grant in the same section: same result.
    const acl b = parse_ok("topic deny a/b\ntopic a/#\n");
    CHECK_FALSE(b.allowed("c", anonymous, "a/b", R));
    CHECK(b.allowed("c", anonymous, "a/c", R));
}

TEST_CASE("wildcards in rules: '+', '#' and '$' topics", "[broker][acl]")
{
    const acl a = parse_ok("topic read +/status\ntopic read all/#\ntopic write #\n");
    CHECK(a.allowed("c", anonymous, "dev/status", R));
    CHECK_FALSE(a.allowed("c", anonymous, "dev/x/status", R));
    CHECK(a.allowed("c", anonymous, "all", R));
    CHECK(a.allowed("c", anonymous, "all/x/y", R));
    CHECK(a.allowed("c", anonymous, "x/y", W));
    // A rule starting with a wildcard does not reach '$' topics.
    CHECK_FALSE(a.allowed("c", anonymous, "$SYS/status", R));
    CHECK_FALSE(a.allowed("c", anonymous, "$SYS/x", W));
    // Empty levels are levels.
    CHECK(a.allowed("c", anonymous, "/status", R));
    CHECK_FALSE(a.allowed("c", anonymous, "status", R));
}

TEST_CASE("%c and %u are replaced by the client id and the username", "[broker][acl]")
{
    const acl a = parse_ok("pattern readwrite devices/%c/#\npattern read users/%u/+/%c\n");
    CHECK(a.allowed("dev1", anonymous, "devices/dev1/temp", W));
    CHECK(a.allowed("dev1", "u", "devices/dev1", R));
    CHECK_FALSE(a.allowed("dev1", anonymous, "devices/dev2/temp", W));
    CHECK(a.allowed("dev1", "alice", "users/alice/x/dev1", R));
    CHECK_FALSE(a.allowed("dev1", "alice", "users/alice/x/dev2", R));
    CHECK_FALSE(a.allowed("dev1", "alice", "users/bob/x/dev1", R));
    // In `topic` lines %c is literal text.
    const acl b = parse_ok("topic read lit/%c\n");
    CHECK(b.allowed("x", anonymous, "lit/%c", R));
    CHECK_FALSE(b.allowed("x", anonymous, "lit/x", R));
}

TEST_CASE("a client id or username with '+', '#', '/' or a leading '$' never widens access", "[broker][acl]")
{
    const acl a = parse_ok("pattern readwrite devices/%c/#\npattern readwrite %u/#\n");
    // Would become devices/+/# or devices/#/# and match other devices' topics.
    CHECK_FALSE(a.allowed("+", anonymous, "devices/other/x", W));
    CHECK_FALSE(a.allowed("#", anonymous, "devices/other/x", W));
    CHECK_FALSE(a.allowed("a/b", anonymous, "devices/a/b/x", W));
    CHECK_FALSE(a.allowed("a/b", anonymous, "devices/a/x", W));
    CHECK_FALSE(a.can_subscribe("+", anonymous, "devices/+/x"));
    // Would become $SYS/# at the first level.
    CHECK_FALSE(a.allowed("c", "$SYS", "$SYS/broker/x", R));
    CHECK_FALSE(a.allowed("c", "#", "anything/x", R));
    CHECK_FALSE(a.allowed("c", "a+b", "a+b/x", R));
    // A leading '$' deeper down is an ordinary level.
    CHECK(a.allowed("$dev", anonymous, "devices/$dev/x", W));
    // Ordinary identities keep working next to the bad ones.
    CHECK(a.allowed("good", "alice", "devices/good/x", W));
    CHECK(a.allowed("good", "alice", "alice/x", W));

    // In a deny rule an unsafe substitution denies everything instead.
    const acl d = parse_ok("topic readwrite #\npattern deny jail/%c/#\nuser u\ntopic readwrite #\n");
    CHECK(d.allowed("ok", anonymous, "free/x", W));
    CHECK_FALSE(d.allowed("ok", anonymous, "jail/ok/x", W));
    CHECK_FALSE(d.allowed("a/b", anonymous, "free/x", W));
    CHECK_FALSE(d.can_subscribe("a/b", anonymous, "free/x"));
    CHECK(d.allowed("a/b", "u", "x", W) == false);
}

TEST_CASE("SUBSCRIBE filters must be covered by a read rule", "[broker][acl]")
{
    const acl a = parse_ok(
        "user u\n"
        "topic read sensors/#\n"
        "topic read rooms/+/temp\n"
        "topic write cmd/#\n"
        "topic read exact/topic\n"
        "topic deny sensors/secret/#\n"
        "pattern read clients/%c/#\n");
    CHECK(a.can_subscribe("c", "u", "sensors/#"));
    CHECK(a.can_subscribe("c", "u", "sensors"));
    CHECK(a.can_subscribe("c", "u", "sensors/+/temp"));
    CHECK(a.can_subscribe("c", "u", "rooms/+/temp"));
    CHECK(a.can_subscribe("c", "u", "rooms/kitchen/temp"));
    CHECK_FALSE(a.can_subscribe("c", "u", "rooms/#"));        // wider than the rule
    CHECK_FALSE(a.can_subscribe("c", "u", "rooms/+/+"));
    CHECK_FALSE(a.can_subscribe("c", "u", "#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "+/temp"));
    CHECK_FALSE(a.can_subscribe("c", "u", "cmd/x"));          // write only
    CHECK(a.can_subscribe("c", "u", "exact/topic"));
    CHECK_FALSE(a.can_subscribe("c", "u", "exact/+"));
    CHECK(a.can_subscribe("c", "u", "clients/c/#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "clients/+/#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "clients/other/#"));
    // A deny rule covering the whole filter refuses it ...
    CHECK_FALSE(a.can_subscribe("c", "u", "sensors/secret/#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "sensors/secret/x"));
    // ... a deny rule covering part of it leaves the filtering to each delivery.
    CHECK(a.can_subscribe("c", "u", "sensors/+/x"));
    CHECK_FALSE(a.allowed("c", "u", "sensors/secret/x", R));
    CHECK(a.allowed("c", "u", "sensors/open/x", R));
    // Shared subscriptions are checked on the filter part.
    CHECK(a.can_subscribe("c", "u", "$share/g/sensors/#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "$share/g/#"));
    CHECK_FALSE(a.can_subscribe("c", "u", "$share//bad"));
}

TEST_CASE("'$' filters need a rule that starts with '$'", "[broker][acl]")
{
    const acl a = parse_ok("topic read #\ntopic read $SYS/broker/#\n");
    CHECK(a.can_subscribe("c", anonymous, "#"));
    CHECK(a.can_subscribe("c", anonymous, "+/x"));
    CHECK_FALSE(a.can_subscribe("c", anonymous, "$SYS/#"));
    CHECK(a.can_subscribe("c", anonymous, "$SYS/broker/#"));
    CHECK(a.allowed("c", anonymous, "$SYS/broker/uptime", R));
    CHECK_FALSE(a.allowed("c", anonymous, "$SYS/other", R));
}

TEST_CASE("topics with spaces need an access word, the user name is the rest of the line", "[broker][acl]")
{
    const acl a = parse_ok("user John Smith\ntopic read room 1/temp\ntopic   write   a b  \n");
    CHECK(a.allowed("c", "John Smith", "room 1/temp", R));
    CHECK(a.allowed("c", "John Smith", "a b", W));
    CHECK_FALSE(a.allowed("c", "John", "room 1/temp", R));
    // A lone word is a topic granted readwrite, even when it looks like an access word.
    const acl b = parse_ok("topic read\n");
    CHECK(b.allowed("c", anonymous, "read", W));
}

TEST_CASE("acl errors name the file and line", "[broker][acl]")
{
    CHECK(parse_error("topic read a\nuser\n") == "acl:2: missing username after 'user'");
    CHECK(parse_error("\n\ntopic\n") == "acl:3: missing topic after 'topic'");
    CHECK(parse_error("pattern\n") == "acl:1: missing topic after 'pattern'");
    CHECK(parse_error("topic all a/b\n") == "acl:1: invalid access 'all' (expected read, write, readwrite or deny)");
    CHECK(parse_error("topic read a/#/b\n") == "acl:1: invalid topic filter 'a/#/b'");
    CHECK(parse_error("topic read a+\n") == "acl:1: invalid topic filter 'a+'");
    CHECK(parse_error("# c\nallow read x\n") == "acl:2: unknown keyword 'allow' (expected topic, pattern or user)");
    CHECK(parse_error("pattern read dev_%c/x\n") ==
        "acl:1: '%c' and '%u' must be a whole topic level in 'dev_%c/x'");
    CHECK(parse_error("pattern read x/%u%c\n").starts_with("acl:1: '%c' and '%u' must be a whole"));

    acl a;
    std::string error;
    CHECK_FALSE(acl::load("/nonexistent/acl", a, error));
    CHECK(error == "/nonexistent/acl: cannot open the acl file");
    CHECK_FALSE(acl::load("/", a, error));
    CHECK(error == "/: is a directory, not an acl file");
    CHECK_FALSE(a.active());
}

TEST_CASE("acl files load from disk, Windows line endings are fine", "[broker][acl]")
{
    const auto path = std::filesystem::temp_directory_path() / ("acl_test_" + std::to_string(::getpid()));
    {
        std::ofstream out(path);
        out << "user alice\r\ntopic read a/#\r\n";
    }
    acl a;
    std::string error;
    const bool ok = acl::load(path.string(), a, error);
    std::filesystem::remove(path);
    INFO(error);
    REQUIRE(ok);
    CHECK(a.allowed("c", "alice", "a/b", R));
    CHECK_FALSE(a.allowed("c", "alice", "a/b", W));
}

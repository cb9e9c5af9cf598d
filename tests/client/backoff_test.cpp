// Reconnect delays: exponential backoff with full jitter, bounded.
#include <catch2/catch.hpp>

#include "mqtt/client/backoff.hpp"

using namespace mqtt;
using namespace std::chrono_literals;

TEST_CASE("Backoff cap doubles per attempt up to the maximum", "[client][backoff]")
{
    reconnect_options o;
    o.initial_delay = 100ms;
    o.max_delay = 1000ms;
    CHECK(backoff_cap(o, 0) == 100ms);
    CHECK(backoff_cap(o, 1) == 200ms);
    CHECK(backoff_cap(o, 2) == 400ms);
    CHECK(backoff_cap(o, 3) == 800ms);
    CHECK(backoff_cap(o, 4) == 1000ms);
    CHECK(backoff_cap(o, 1000) == 1000ms); // no overflow however many attempts
    CHECK(backoff_cap(o, ~0u) == 1000ms);
}

TEST_CASE("Full jitter: the delay is uniform in [0, cap]", "[client][backoff]")
{
    reconnect_options o;
    o.initial_delay = 100ms;
    o.max_delay = 30s;
    CHECK(backoff_delay(o, 0, 0) == 0ms);
    CHECK(backoff_delay(o, 0, 100) == 100ms);
    CHECK(backoff_delay(o, 0, 101) == 0ms);
    CHECK(backoff_delay(o, 2, 12345) == std::chrono::milliseconds(12345 % 401));
    for (std::uint64_t r : {0ull, 1ull, 999ull, ~0ull, 0x123456789abcdefull})
        for (unsigned a = 0; a < 20; ++a) {
            auto d = backoff_delay(o, a, r);
            CHECK(d >= 0ms);
            CHECK(d <= backoff_cap(o, a));
        }
}

TEST_CASE("Degenerate backoff settings stay bounded", "[client][backoff]")
{
    reconnect_options o;
    o.initial_delay = 0ms;
    o.max_delay = 0ms;
    CHECK(backoff_delay(o, 5, 77) == 0ms);
    o.initial_delay = 5000ms;
    o.max_delay = 10ms; // a maximum below the initial delay wins
    CHECK(backoff_cap(o, 0) == 10ms);
}

TEST_CASE("Permanent refusals are the ones retrying cannot fix", "[client][backoff]")
{
    CHECK(is_permanent_refusal(reason_code::bad_user_name_or_password));
    CHECK(is_permanent_refusal(reason_code::not_authorized));
    CHECK(is_permanent_refusal(reason_code::banned));
    CHECK(is_permanent_refusal(reason_code::client_identifier_not_valid));
    CHECK_FALSE(is_permanent_refusal(reason_code::server_busy));
    CHECK_FALSE(is_permanent_refusal(reason_code::server_unavailable));
    CHECK_FALSE(is_permanent_refusal(reason_code::quota_exceeded));
}

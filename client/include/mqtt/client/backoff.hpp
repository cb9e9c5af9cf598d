#pragma once
// Reconnect delays: exponential backoff with full jitter.
#include <chrono>
#include <cstdint>

#include "mqtt/client/options.hpp"

namespace mqtt {

// The upper bound for attempt `n` (0-based): min(max_delay, initial_delay * 2^n).
std::chrono::milliseconds backoff_cap(const reconnect_options& options, unsigned attempt) noexcept;

// The delay before attempt `n`: uniform in [0, backoff_cap(n)], drawn from `random`
// (any 64-bit random value).
std::chrono::milliseconds backoff_delay(const reconnect_options& options, unsigned attempt, std::uint64_t random) noexcept;

// True when a CONNACK with this reason cannot succeed by retrying the same CONNECT.
bool is_permanent_refusal(reason_code code) noexcept;

} // namespace mqtt

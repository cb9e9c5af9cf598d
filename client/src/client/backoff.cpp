#include "mqtt/client/backoff.hpp"

#include <algorithm>

namespace mqtt {

std::chrono::milliseconds backoff_cap(const reconnect_options& options, unsigned attempt) noexcept
{
    const auto max = std::max<std::int64_t>(options.max_delay.count(), 0);
    auto cap = std::max<std::int64_t>(options.initial_delay.count(), 0);
    for (unsigned i = 0; i < attempt && cap < max; ++i)
        cap *= 2; // stops doubling at the bound, so it cannot overflow
    return std::chrono::milliseconds(std::min(cap, max));
}

std::chrono::milliseconds backoff_delay(const reconnect_options& options, unsigned attempt, std::uint64_t random) noexcept
{
    const auto cap = static_cast<std::uint64_t>(backoff_cap(options, attempt).count());
    return std::chrono::milliseconds(static_cast<std::int64_t>(random % (cap + 1)));
}

bool is_permanent_refusal(reason_code code) noexcept
{
    switch (code) {
    case reason_code::bad_user_name_or_password:
    case reason_code::not_authorized:
    case reason_code::banned:
    case reason_code::bad_authentication_method:
    case reason_code::client_identifier_not_valid:
    case reason_code::unsupported_protocol_version:
        return true;
    default:
        return false;
    }
}

} // namespace mqtt

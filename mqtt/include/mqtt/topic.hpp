#pragma once
// Topic names, topic filters, wildcard matching and shared subscriptions
// (3.1.1 section 4.7, 5.0 sections 4.7 and 4.8.2).
#include <string_view>
#include <system_error>

#include "mqtt/result.hpp"

namespace mqtt {

// topic_name_invalid when the name is empty, contains '+' or '#', or is not a valid
// MQTT UTF-8 string; else an empty code. [MQTT-4.7.1-1], [MQTT-4.7.3-1]
std::error_code validate_topic_name(std::string_view name) noexcept;

// topic_filter_invalid when the filter is empty, has '#' anywhere but as the
// whole last level, '+' not as a whole level, or invalid UTF-8. Shared
// subscription filters are validated too (see parse_topic_filter).
std::error_code validate_topic_filter(std::string_view filter) noexcept;

// True when `name` matches `filter` ('+' one level, '#' any remaining levels,
// including the parent level). Names starting with '$' are not matched by a filter
// starting with a wildcard [MQTT-4.7.2-1]. Both arguments must be valid; a shared
// subscription filter must be stripped with parse_topic_filter first.
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

// A filter split into its share name (empty when not shared) and the filter proper.
struct topic_filter_parts {
    std::string_view share_name;
    std::string_view filter;
    bool shared() const noexcept { return !share_name.empty(); }
};

// Splits "$share/{ShareName}/{filter}". topic_filter_invalid when the share name is
// empty or contains '/', '+' or '#', when the filter part is missing, or when the
// filter itself is invalid.
result<topic_filter_parts> parse_topic_filter(std::string_view filter) noexcept;

} // namespace mqtt

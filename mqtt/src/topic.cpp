#include "mqtt/topic.hpp"

#include <cstddef>

#include "mqtt/reason_code.hpp"
#include "mqtt/utf8.hpp"

namespace mqtt {

namespace {

constexpr std::size_t max_topic_length = 65535;
constexpr std::string_view share_prefix = "$share/";

// Walks the '/'-separated levels of a topic without copying. A trailing '/'
// yields a final empty level, as the spec treats empty levels as significant.
class level_cursor {
public:
    explicit level_cursor(std::string_view s) noexcept : s_(s) {}

    bool next(std::string_view& level) noexcept
    {
        if (done_) {
            return false;
        }
        const std::size_t slash = s_.find('/', pos_);
        if (slash == std::string_view::npos) {
            level = s_.substr(pos_);
            done_ = true;
        } else {
            level = s_.substr(pos_, slash - pos_);
            pos_ = slash + 1;
        }
        return true;
    }

    bool done() const noexcept { return done_; }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
    bool done_ = false;
};

bool is_valid_topic_string(std::string_view s) noexcept
{
    return !s.empty() && s.size() <= max_topic_length && is_valid_utf8(s);
}

// Wildcard placement only; length and UTF-8 are checked by the caller.
bool wildcards_well_placed(std::string_view filter) noexcept
{
    level_cursor levels(filter);
    std::string_view level;
    while (levels.next(level)) {
        if (level == "#") {
            return levels.done(); // '#' must be the whole last level
        }
        if (level == "+") {
            continue;
        }
        if (level.find_first_of("+#") != std::string_view::npos) {
            return false;
        }
    }
    return true;
}

std::error_code filter_invalid() noexcept
{
    return make_error_code(reason_code::topic_filter_invalid);
}

} // namespace

std::error_code validate_topic_name(std::string_view name) noexcept
{
    if (!is_valid_topic_string(name))
        return make_error_code(reason_code::topic_name_invalid);
    // A plain loop: find_first_of("+#") calls memchr once per character.
    for (char c : name)
        if (c == '+' || c == '#')
            return make_error_code(reason_code::topic_name_invalid);
    return {};
}

std::error_code validate_topic_filter(std::string_view filter) noexcept
{
    return parse_topic_filter(filter).error();
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept
{
    if (!name.empty() && name.front() == '$' && !filter.empty() &&
        (filter.front() == '+' || filter.front() == '#')) {
        return false;
    }
    level_cursor f(filter);
    level_cursor n(name);
    std::string_view fl;
    std::string_view nl;
    while (f.next(fl)) {
        if (fl == "#") {
            return true; // zero or more remaining levels, so also the parent itself
        }
        if (!n.next(nl)) {
            return false;
        }
        if (fl != "+" && fl != nl) {
            return false;
        }
    }
    return n.done();
}

result<topic_filter_parts> parse_topic_filter(std::string_view filter) noexcept
{
    if (!is_valid_topic_string(filter)) {
        return filter_invalid();
    }
    if (!filter.starts_with(share_prefix)) {
        if (!wildcards_well_placed(filter)) {
            return filter_invalid();
        }
        return topic_filter_parts{{}, filter};
    }
    const std::string_view rest = filter.substr(share_prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return filter_invalid(); // "$share/name" with no topic filter
    }
    const std::string_view share_name = rest.substr(0, slash);
    const std::string_view inner = rest.substr(slash + 1);
    if (share_name.empty() || share_name.find_first_of("+#") != std::string_view::npos ||
        inner.empty() || !wildcards_well_placed(inner)) {
        return filter_invalid();
    }
    return topic_filter_parts{share_name, inner};
}

} // namespace mqtt

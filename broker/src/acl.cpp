#include "mqtt/broker/acl.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mqtt/topic.hpp"

namespace mqtt::broker {

namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// Splits off the first whitespace-separated word; `rest` keeps the remainder, trimmed.
std::string_view first_word(std::string_view s, std::string_view& rest) noexcept
{
    std::size_t n = 0;
    while (n < s.size() && !is_space(s[n])) {
        ++n;
    }
    rest = trim(s.substr(n));
    return s.substr(0, n);
}

// Walks the '/'-separated levels of a topic or filter; "a/" has two levels.
class levels {
public:
    explicit levels(std::string_view s) noexcept : s_(s) {}
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

private:
    std::string_view s_;
    std::size_t pos_ = 0;
    bool done_ = false;
};

// A client id or username substituted into a pattern must be exactly one topic
// level: with '/', '+' or '#' it would stand for other levels or wildcards, and
// a leading '$' at the first level would reach $SYS-like topics.
bool unsafe_substitution(std::string_view value, bool first_level) noexcept
{
    if (value.find_first_of("/+#") != std::string_view::npos) {
        return true;
    }
    return first_level && !value.empty() && value.front() == '$';
}

std::string where(std::string_view name, std::size_t line)
{
    return std::string(name) + ":" + std::to_string(line) + ": ";
}

} // namespace

bool acl::load(const std::string& path, acl& out, std::string& error)
{
    std::error_code dir_ec;
    if (std::filesystem::is_directory(path, dir_ec)) {
        error = path + ": is a directory, not an acl file";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot open the acl file";
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        error = path + ": cannot read the acl file";
        return false;
    }
    return parse(text.str(), path, out, error);
}

bool acl::parse(std::string_view text, std::string_view name, acl& out, std::string& error)
{
    acl result;
    result.active_ = true;
    std::optional<std::string> user; // current `user` section; none: anonymous
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t eol = text.find('\n', pos);
        const std::string_view raw =
            text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? text.size() + 1 : eol + 1;
        ++line_no;

        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::string_view rest;
        const std::string_view keyword = first_word(line, rest);
        if (keyword == "user") {
            if (rest.empty()) {
                error = where(name, line_no) + "missing username after 'user'";
                return false;
            }
            user = std::string(rest);
            continue;
        }
        if (keyword != "topic" && keyword != "pattern") {
            error = where(name, line_no) + "unknown keyword '" + std::string(keyword) +
                "' (expected topic, pattern or user)";
            return false;
        }
        const bool is_pattern = keyword == "pattern";
        if (rest.empty()) {
            error = where(name, line_no) + "missing topic after '" + std::string(keyword) + "'";
            return false;
        }
        std::string_view topic_text;
        const std::string_view first = first_word(rest, topic_text);
        rule r;
        if (topic_text.empty()) {
            // A lone word is the topic, granted read and write.
            topic_text = first;
            r.access = static_cast<std::uint8_t>(acl_access::read) | static_cast<std::uint8_t>(acl_access::write);
        } else if (first == "read") {
            r.access = static_cast<std::uint8_t>(acl_access::read);
        } else if (first == "write") {
            r.access = static_cast<std::uint8_t>(acl_access::write);
        } else if (first == "readwrite") {
            r.access = static_cast<std::uint8_t>(acl_access::read) | static_cast<std::uint8_t>(acl_access::write);
        } else if (first == "deny") {
            r.access = 0;
        } else {
            error = where(name, line_no) + "invalid access '" + std::string(first) +
                "' (expected read, write, readwrite or deny)";
            return false;
        }
        if (validate_topic_filter(topic_text)) {
            error = where(name, line_no) + "invalid topic filter '" + std::string(topic_text) + "'";
            return false;
        }
        levels it(topic_text);
        std::string_view lv;
        while (it.next(lv)) {
            level l;
            if (lv == "+") {
                l.kind = level_kind::plus;
            } else if (lv == "#") {
                l.kind = level_kind::hash;
            } else if (is_pattern && lv == "%c") {
                l.kind = level_kind::client_id;
            } else if (is_pattern && lv == "%u") {
                l.kind = level_kind::username;
                r.uses_username = true;
            } else {
                if (is_pattern &&
                    (lv.find("%c") != std::string_view::npos || lv.find("%u") != std::string_view::npos)) {
                    error = where(name, line_no) + "'%c' and '%u' must be a whole topic level in '" +
                        std::string(topic_text) + "'";
                    return false;
                }
                l.text = std::string(lv);
            }
            r.levels.push_back(std::move(l));
        }
        if (is_pattern) {
            result.patterns_.push_back(std::move(r));
        } else if (user) {
            auto found = result.users_.find(*user);
            if (found == result.users_.end()) {
                found = result.users_.emplace(*user, std::vector<rule>{}).first;
            }
            found->second.push_back(std::move(r));
        } else {
            result.anonymous_.push_back(std::move(r));
        }
    }
    out = std::move(result);
    return true;
}

template <class F>
void acl::for_each_rule(std::optional<std::string_view> username, F&& f) const
{
    if (!username) {
        for (const rule& r : anonymous_) {
            f(r);
        }
    } else if (const auto found = users_.find(*username); found != users_.end()) {
        for (const rule& r : found->second) {
            f(r);
        }
    }
    for (const rule& r : patterns_) {
        f(r);
    }
}

namespace {

template <class Rule, class Kind>
bool substitution_unsafe(const Rule& r, std::string_view client_id,
    std::optional<std::string_view> username, Kind client_kind, Kind user_kind) noexcept
{
    for (std::size_t i = 0; i < r.levels.size(); ++i) {
        const auto& l = r.levels[i];
        if (l.kind == client_kind && unsafe_substitution(client_id, i == 0)) {
            return true;
        }
        if (l.kind == user_kind && username && unsafe_substitution(*username, i == 0)) {
            return true;
        }
    }
    return false;
}

} // namespace

acl::match acl::matches_topic(const rule& r, std::string_view client_id,
    std::optional<std::string_view> username, std::string_view topic) noexcept
{
    if (r.uses_username && !username) {
        return match::no; // a %u rule says nothing about clients without a username
    }
    if (substitution_unsafe(r, client_id, username, level_kind::client_id, level_kind::username)) {
        return match::unsafe;
    }
    const bool dollar = !topic.empty() && topic.front() == '$';
    levels it(topic);
    std::string_view t;
    for (std::size_t i = 0; i < r.levels.size(); ++i) {
        const level& l = r.levels[i];
        if (l.kind == level_kind::hash) {
            // '#' also matches the parent level; never a '$' topic from the first level.
            return (i == 0 && dollar) ? match::no : match::yes;
        }
        if (!it.next(t)) {
            return match::no;
        }
        switch (l.kind) {
        case level_kind::plus:
            if (i == 0 && dollar) {
                return match::no;
            }
            break;
        case level_kind::literal:
            if (t != l.text) {
                return match::no;
            }
            break;
        case level_kind::client_id:
            if (t != client_id) {
                return match::no;
            }
            break;
        case level_kind::username:
            if (t != *username) {
                return match::no;
            }
            break;
        case level_kind::hash:
            break;
        }
    }
    return it.next(t) ? match::no : match::yes;
}

acl::match acl::covers_filter(const rule& r, std::string_view client_id,
    std::optional<std::string_view> username, std::string_view filter) noexcept
{
    if (r.uses_username && !username) {
        return match::no;
    }
    if (substitution_unsafe(r, client_id, username, level_kind::client_id, level_kind::username)) {
        return match::unsafe;
    }
    const bool dollar = !filter.empty() && filter.front() == '$';
    levels it(filter);
    std::string_view f;
    for (std::size_t i = 0; i < r.levels.size(); ++i) {
        const level& l = r.levels[i];
        if (l.kind == level_kind::hash) {
            return (i == 0 && dollar) ? match::no : match::yes;
        }
        if (!it.next(f)) {
            return match::no;
        }
        if (f == "#") {
            return match::no; // only '#' in the rule covers '#' in the filter
        }
        switch (l.kind) {
        case level_kind::plus:
            if (i == 0 && dollar) {
                return match::no;
            }
            break; // covers a literal level and '+'
        case level_kind::literal:
            if (f == "+" || f != l.text) {
                return match::no;
            }
            break;
        case level_kind::client_id:
            if (f != client_id) {
                return match::no;
            }
            break;
        case level_kind::username:
            if (f != *username) {
                return match::no;
            }
            break;
        case level_kind::hash:
            break;
        }
    }
    return it.next(f) ? match::no : match::yes;
}

bool acl::allowed(std::string_view client_id, std::optional<std::string_view> username,
    std::string_view topic, acl_access a) const
{
    if (!active_) {
        return true;
    }
    bool denied = false;
    bool granted = false;
    for_each_rule(username, [&](const rule& r) {
        if (denied) {
            return;
        }
        const match m = matches_topic(r, client_id, username, topic);
        if (r.access == 0) {
            denied = m != match::no; // an unsafe substitution in a deny rule denies
        } else if (m == match::yes && (r.access & static_cast<std::uint8_t>(a)) != 0) {
            granted = true;
        }
    });
    return granted && !denied;
}

bool acl::can_subscribe(std::string_view client_id, std::optional<std::string_view> username,
    std::string_view filter) const
{
    if (!active_) {
        return true;
    }
    if (const auto parts = parse_topic_filter(filter)) {
        filter = parts->filter;
    } else {
        return false;
    }
    bool denied = false;
    bool granted = false;
    for_each_rule(username, [&](const rule& r) {
        if (denied) {
            return;
        }
        const match m = covers_filter(r, client_id, username, filter);
        if (r.access == 0) {
            denied = m != match::no;
        } else if (m == match::yes && (r.access & static_cast<std::uint8_t>(acl_access::read)) != 0) {
            granted = true;
        }
    });
    return granted && !denied;
}

} // namespace mqtt::broker

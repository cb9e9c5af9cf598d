#pragma once
// Access control lists in Mosquitto's acl_file format:
//   # comment
//   topic [read|write|readwrite|deny] TOPIC    rules before any `user` line: anonymous clients
//   user NAME                                  later `topic` rules: that user only
//   pattern [read|write|readwrite|deny] TOPIC  every client; %c = client id, %u = username
// Without an access word a rule grants readwrite. See docs/broker-config.md for
// the exact decision rules; in short: deny rules win over grants, and a client
// id or username that cannot be a single topic level never widens access.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqtt::broker {

enum class acl_access : std::uint8_t {
    read = 1,  // receive a message on the topic (and subscribe)
    write = 2, // publish to the topic
};

class acl {
public:
    // An acl that was never loaded allows everything (no acl_file configured).
    acl() = default;

    // Reads an acl file; on failure `error` is "FILE:LINE: reason".
    static bool load(const std::string& path, acl& out, std::string& error);
    static bool parse(std::string_view text, std::string_view name, acl& out, std::string& error);

    // True when a file was loaded: only what its rules grant is allowed.
    bool active() const noexcept { return active_; }

    // May this client read (receive) or write (publish) on topic name `topic`?
    // A matching deny rule refuses; otherwise a matching rule with the access
    // grants; otherwise refused.
    bool allowed(std::string_view client_id, std::optional<std::string_view> username,
        std::string_view topic, acl_access a) const;

    // May this client subscribe to `filter` ("$share/group/" is stripped first)?
    // Yes when a read grant covers every topic the filter can match (a wildcard in
    // the filter is covered only by the same or a wider wildcard in the rule) and
    // no deny rule covers the whole filter. Deliveries are still checked one by one
    // with allowed(read), so a deny rule covering part of the filter filters them.
    bool can_subscribe(std::string_view client_id, std::optional<std::string_view> username,
        std::string_view filter) const;

private:
    enum class level_kind : std::uint8_t { literal, plus, hash, client_id, username };
    struct level {
        level_kind kind = level_kind::literal;
        std::string text;
    };
    struct rule {
        std::uint8_t access = 0; // acl_access bits; 0 = deny
        std::vector<level> levels;
        bool uses_username = false;
    };
    enum class match : std::uint8_t { no, yes, unsafe };

    template <class F>
    void for_each_rule(std::optional<std::string_view> username, F&& f) const;
    static match matches_topic(const rule& r, std::string_view client_id,
        std::optional<std::string_view> username, std::string_view topic) noexcept;
    static match covers_filter(const rule& r, std::string_view client_id,
        std::optional<std::string_view> username, std::string_view filter) noexcept;

    bool active_ = false;
    std::vector<rule> anonymous_;
    std::map<std::string, std::vector<rule>, std::less<>> users_;
    std::vector<rule> patterns_;
};

} // namespace mqtt::broker

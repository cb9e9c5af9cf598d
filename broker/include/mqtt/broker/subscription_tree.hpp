#pragma once
// The broker's subscriptions as a tree of topic levels. Matching walks the levels
// of a topic name once, following exact, '+' and '#' children, so its cost depends
// on the topic's depth and the matching subscriptions, not on the subscription count.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/packet.hpp"

namespace mqtt::broker {

struct session_record;

struct subscriber {
    session_record* session;
    subscribe_options options;
    std::uint32_t subscription_id = 0; // 0: none
};

// The members of one shared subscription ($share/{name}/{filter}); delivery
// goes to one member at a time, round robin.
struct shared_group {
    std::vector<subscriber> members;
    std::size_t next = 0;
};

class subscription_tree {
public:
    subscription_tree();
    ~subscription_tree();

    // Adds or replaces the subscription of `session` to `filter` (share_name empty:
    // not shared). Returns true when it replaced an existing one.
    bool subscribe(std::string_view share_name, std::string_view filter, const subscriber& s);
    // Returns true when there was such a subscription.
    bool unsubscribe(std::string_view share_name, std::string_view filter, const session_record* session);

    // Appends what matches `topic` (a valid topic name) to the output vectors.
    void match(std::string_view topic, std::vector<const subscriber*>& plain, std::vector<shared_group*>& shared);

    std::size_t size() const noexcept { return count_; }

private:
    struct node;
    node* find_or_create(std::string_view filter);
    node* find(std::string_view filter) const;
    void prune(std::string_view filter);
    static void match_node(node* n, std::string_view rest, bool at_end, bool first_level, std::vector<const subscriber*>& plain,
        std::vector<shared_group*>& shared);

    std::unique_ptr<node> root_;
    std::size_t count_ = 0;
};

} // namespace mqtt::broker

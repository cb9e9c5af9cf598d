#include "mqtt/broker/subscription_tree.hpp"

#include <algorithm>

namespace mqtt::broker {

struct subscription_tree::node {
    std::unordered_map<std::string, std::unique_ptr<node>> children; // includes "+" and "#"
    std::vector<subscriber> subscribers;
    std::map<std::string, shared_group, std::less<>> shared;
    node* plus = nullptr;
    node* hash = nullptr;

    bool empty() const noexcept { return children.empty() && subscribers.empty() && shared.empty(); }
};

namespace {

// Splits off the first level of `s`: returns it and leaves the rest (without the
// separator) in `rest`; `last` tells whether there was no separator.
std::string_view next_level(std::string_view s, std::string_view& rest, bool& last) noexcept
{
    auto slash = s.find('/');
    if (slash == std::string_view::npos) {
        rest = {};
        last = true;
        return s;
    }
    rest = s.substr(slash + 1);
    last = false;
    return s.substr(0, slash);
}

} // namespace

subscription_tree::subscription_tree() : root_(std::make_unique<node>()) {}
subscription_tree::~subscription_tree() = default;

subscription_tree::node* subscription_tree::find_or_create(std::string_view filter)
{
    node* n = root_.get();
    std::string_view rest = filter;
    bool last = false;
    while (!last) {
        auto level = next_level(rest, rest, last);
        auto it = n->children.find(std::string(level));
        if (it == n->children.end()) {
            auto child = std::make_unique<node>();
            auto* raw = child.get();
            n->children.emplace(std::string(level), std::move(child));
            if (level == "+")
                n->plus = raw;
            else if (level == "#")
                n->hash = raw;
            n = raw;
        } else {
            n = it->second.get();
        }
    }
    return n;
}

subscription_tree::node* subscription_tree::find(std::string_view filter) const
{
    node* n = root_.get();
    std::string_view rest = filter;
    bool last = false;
    while (!last) {
        auto level = next_level(rest, rest, last);
        auto it = n->children.find(std::string(level));
        if (it == n->children.end())
            return nullptr;
        n = it->second.get();
    }
    return n;
}

bool subscription_tree::subscribe(std::string_view share_name, std::string_view filter, const subscriber& s)
{
    node* n = find_or_create(filter);
    auto& list = share_name.empty() ? n->subscribers : n->shared[std::string(share_name)].members;
    for (auto& existing : list) {
        if (existing.session == s.session) {
            existing = s; // replaces the old one [MQTT-3.8.4-3]
            return true;
        }
    }
    list.push_back(s);
    ++count_;
    return false;
}

bool subscription_tree::unsubscribe(std::string_view share_name, std::string_view filter, const session_record* session)
{
    node* n = find(filter);
    if (!n)
        return false;
    bool removed = false;
    auto drop = [&](std::vector<subscriber>& list) {
        auto it = std::find_if(list.begin(), list.end(), [&](const subscriber& x) { return x.session == session; });
        if (it != list.end()) {
            list.erase(it);
            removed = true;
        }
    };
    if (share_name.empty()) {
        drop(n->subscribers);
    } else {
        auto g = n->shared.find(share_name);
        if (g != n->shared.end()) {
            drop(g->second.members);
            if (g->second.members.empty())
                n->shared.erase(g);
            else
                g->second.next %= g->second.members.size();
        }
    }
    if (removed) {
        --count_;
        prune(filter);
    }
    return removed;
}

void subscription_tree::prune(std::string_view filter)
{
    // Walks down recording the path, then removes empty nodes bottom-up.
    std::vector<std::pair<node*, std::string_view>> path;
    node* n = root_.get();
    std::string_view rest = filter;
    bool last = false;
    while (!last) {
        auto level = next_level(rest, rest, last);
        auto it = n->children.find(std::string(level));
        if (it == n->children.end())
            return;
        path.emplace_back(n, level);
        n = it->second.get();
    }
    for (auto i = path.size(); i-- > 0;) {
        auto [parent, level] = path[i];
        auto it = parent->children.find(std::string(level));
        if (!it->second->empty())
            return;
        if (level == "+")
            parent->plus = nullptr;
        else if (level == "#")
            parent->hash = nullptr;
        parent->children.erase(it);
    }
}

void subscription_tree::match_node(node* n, std::string_view rest, bool at_end, bool first_level,
    std::vector<const subscriber*>& plain, std::vector<shared_group*>& shared)
{
    auto report = [&](node* m) {
        for (auto& s : m->subscribers)
            plain.push_back(&s);
        for (auto& [name, g] : m->shared)
            shared.push_back(&g);
    };
    if (at_end) {
        report(n);
        if (n->hash)
            report(n->hash); // "a/#" also matches "a"
        return;
    }
    std::string_view tail;
    bool last = false;
    auto level = next_level(rest, tail, last);
    // Wildcards in the first level do not match topics starting with '$' [MQTT-4.7.2-1].
    bool dollar = first_level && !level.empty() && level.front() == '$';
    if (n->hash && !dollar)
        report(n->hash);
    if (n->plus && !dollar)
        match_node(n->plus, tail, last, false, plain, shared);
    if (!n->children.empty()) {
        // Lookup without building a std::string for the common short level.
        auto it = n->children.find(std::string(level));
        if (it != n->children.end())
            match_node(it->second.get(), tail, last, false, plain, shared);
    }
}

void subscription_tree::match(std::string_view topic, std::vector<const subscriber*>& plain,
    std::vector<shared_group*>& shared)
{
    match_node(root_.get(), topic, false, true, plain, shared);
}

} // namespace mqtt::broker

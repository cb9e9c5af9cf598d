// The memory store: committed groups live in maps for as long as the object.
#include "mqtt/broker/store.hpp"

namespace mqtt::broker {

std::error_code memory_store::load(store_contents& out, std::string&)
{
    out = {};
    for (auto& [id, s] : committed_.sessions)
        out.sessions.push_back(s);
    for (auto& [topic, r] : committed_.retained)
        out.retained.push_back(r);
    return {};
}

// A group is a list of changes applied at commit (nothing of it before).
std::error_code memory_store::begin()
{
    pending_.clear();
    in_group_ = true;
    return {};
}

std::error_code memory_store::put_session(const stored_session& s)
{
    pending_.push_back([s](state& st) {
        auto& slot = st.sessions[s.client_id];
        auto subs = std::move(slot.subscriptions);
        slot = s;
        if (!s.subscriptions_changed)
            slot.subscriptions = std::move(subs);
        slot.subscriptions_changed = true;
    });
    return {};
}

std::error_code memory_store::remove_session(const std::string& client_id)
{
    pending_.push_back([client_id](state& st) { st.sessions.erase(client_id); });
    return {};
}

std::error_code memory_store::put_retained(const stored_retained& r)
{
    pending_.push_back([r](state& st) { st.retained[r.topic] = r; });
    return {};
}

std::error_code memory_store::remove_retained(const std::string& topic)
{
    pending_.push_back([topic](state& st) { st.retained.erase(topic); });
    return {};
}

std::error_code memory_store::commit()
{
    if (in_group_) {
        for (auto& change : pending_)
            change(committed_);
        pending_.clear();
        in_group_ = false;
        ++commits_;
    }
    return {};
}

void memory_store::rollback()
{
    pending_.clear();
    in_group_ = false;
}

} // namespace mqtt::broker

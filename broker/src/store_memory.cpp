// The memory store (committed groups live in maps for as long as the object), and
// applying a group of changes to any store.
#include "mqtt/broker/store.hpp"

namespace mqtt::broker {

std::error_code apply_groups(store& st, const std::vector<store_group>& groups)
{
    bool any = false;
    for (auto& g : groups)
        any |= !g.ops.empty();
    if (!any)
        return {};
    if (auto ec = st.begin())
        return ec;
    for (auto& g : groups) {
        for (auto& op : g.ops) {
            std::error_code ec = std::visit(
                [&](auto& o) -> std::error_code {
                    using T = std::decay_t<decltype(o)>;
                    if constexpr (std::is_same_v<T, put_session_op>)
                        return st.put_session(o.session);
                    else if constexpr (std::is_same_v<T, remove_session_op>)
                        return st.remove_session(o.client_id);
                    else if constexpr (std::is_same_v<T, append_queued_op>)
                        return st.append_queued(o.client_id, o.message);
                    else if constexpr (std::is_same_v<T, remove_queued_op>)
                        return st.remove_queued_before(o.client_id, o.before_seq);
                    else if constexpr (std::is_same_v<T, put_retained_op>)
                        return st.put_retained(o.retained);
                    else
                        return st.remove_retained(o.topic);
                },
                op);
            if (ec) {
                st.rollback();
                return ec;
            }
        }
    }
    return st.commit();
}

std::error_code memory_store::load(store_contents& out, std::string&)
{
    out = {};
    for (auto& [id, s] : committed_.sessions) {
        out.sessions.push_back(s);
        out.sessions.back().queue.clear();
        if (auto q = committed_.queues.find(id); q != committed_.queues.end())
            for (auto& [seq, m] : q->second)
                out.sessions.back().queue.push_back(m);
    }
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
    pending_.push_back([client_id](state& st) {
        st.sessions.erase(client_id);
        st.queues.erase(client_id);
    });
    return {};
}

std::error_code memory_store::append_queued(const std::string& client_id, const stored_queued& m)
{
    pending_.push_back([client_id, m](state& st) { st.queues[client_id][m.seq] = m; });
    return {};
}

std::error_code memory_store::remove_queued_before(const std::string& client_id, std::uint64_t seq)
{
    pending_.push_back([client_id, seq](state& st) {
        auto q = st.queues.find(client_id);
        if (q == st.queues.end())
            return;
        q->second.erase(q->second.begin(), q->second.lower_bound(seq));
        if (q->second.empty())
            st.queues.erase(q);
    });
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

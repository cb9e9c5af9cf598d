// The engine's side of persistence: what a session and a retained message look
// like in the store, the group commit, and the restore at start-up.
#include <algorithm>

#include "mqtt/broker/engine.hpp"
#include "mqtt/topic.hpp"

namespace mqtt::broker {

namespace {

constexpr std::uint32_t never_expires = 0xFFFFFFFF;
constexpr std::uint64_t delivery_tag = 1; // as in engine.cpp: outcomes are counted

bool persistent(const session_record& s) { return s.expiry_interval != 0; }

// $SYS is the broker's own state of this run: never stored.
bool stored_topic(std::string_view topic) { return !topic.starts_with("$SYS/"); }

} // namespace

void engine::touch_retained(std::string_view topic)
{
    if (store_ && stored_topic(topic))
        dirty_retained_.emplace(topic);
}

stored_session engine::snapshot(session_record& s, clock::time_point now, wall_clock::time_point wall_now) const
{
    const wall_ms wall = to_wall_ms(wall_now);
    auto to_wall = [&](clock::time_point t) {
        return wall + std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
    };
    stored_session ss;
    ss.client_id = s.client_id;
    ss.version = s.version;
    ss.username = s.username;
    ss.expiry_interval = s.expiry_interval;
    if (s.expires_at)
        ss.expires_at = to_wall(*s.expires_at);
    ss.connected = s.connection != 0;
    ss.will = s.will;
    ss.will_delay = s.will_delay;
    if (s.will_at)
        ss.will_at = to_wall(*s.will_at);
    ss.saved_at = wall;
    ss.state = s.core->state();

    // A queued message keeps the expiry it has left now; one already expired is
    // not stored (the core would drop it before sending anyway).
    std::unordered_map<const void*, clock::time_point> still_queued;
    auto& out = ss.state.outgoing;
    out.erase(std::remove_if(out.begin(), out.end(),
                  [&](outgoing_message& m) {
                      if (m.stage != outgoing_stage::queued)
                          return false;
                      if (!m.msg.props.get_integer(property_id::message_expiry_interval))
                          return false;
                      auto found = s.expiry_deadlines.find(m.msg.payload.data());
                      if (found == s.expiry_deadlines.end())
                          return false; // not seen being queued: keep the full interval
                      still_queued.insert(*found);
                      auto left = std::chrono::ceil<std::chrono::seconds>(found->second - now).count();
                      if (left <= 0)
                          return true;
                      m.msg.props.set(property_id::message_expiry_interval, static_cast<std::uint32_t>(left));
                      return false;
                  }),
        out.end());
    s.expiry_deadlines = std::move(still_queued);

    ss.subscriptions_changed = s.subscriptions_changed;
    if (s.subscriptions_changed)
        for (auto& [filter, sub] : s.subscriptions)
            ss.subscriptions.push_back({filter, sub.options, sub.subscription_id});
    return ss;
}

std::error_code engine::commit(clock::time_point now, wall_clock::time_point wall_now)
{
    if (!output_held())
        return {};
    bool began = false;
    std::error_code ec;
    auto begin = [&] {
        if (!began && !ec) {
            ec = store_->begin();
            began = !ec;
        }
        return began;
    };
    std::vector<session_record*> written;
    std::vector<std::string> removed;
    for (auto& id : dirty_sessions_) {
        auto it = sessions_.find(id);
        if (it != sessions_.end() && persistent(*it->second)) {
            if (!begin())
                break;
            if ((ec = store_->put_session(snapshot(*it->second, now, wall_now))))
                break;
            written.push_back(it->second.get());
        } else if (stored_ids_.count(id)) {
            if (!begin())
                break;
            if ((ec = store_->remove_session(id)))
                break;
            removed.push_back(id);
        }
    }
    for (auto& topic : dirty_retained_) {
        if (ec || !begin())
            break;
        auto it = retained_.find(topic);
        if (it != retained_.end())
            ec = store_->put_retained({topic, it->second.msg, to_wall_ms(wall_now)
                    + std::chrono::duration_cast<std::chrono::milliseconds>(it->second.stored_at - now).count()});
        else
            ec = store_->remove_retained(topic);
    }
    if (!ec && began)
        ec = store_->commit();
    if (ec) {
        if (began)
            store_->rollback();
        return ec; // everything stays dirty: the next commit writes it all again
    }
    for (auto* s : written) {
        s->subscriptions_changed = false;
        stored_ids_.insert(s->client_id);
    }
    for (auto& id : removed)
        stored_ids_.erase(id);
    dirty_sessions_.clear();
    dirty_retained_.clear();
    return {};
}

void engine::restore_session(stored_session& ss, clock::time_point now, wall_clock::time_point wall_now)
{
    const wall_ms wall = to_wall_ms(wall_now);
    auto from_wall = [&](wall_ms t) { return now + std::chrono::milliseconds(t - wall); };
    auto rec = std::make_unique<session_record>();
    auto* s = rec.get();
    s->client_id = ss.client_id;
    s->version = ss.version;
    s->username = ss.username;
    s->expiry_interval = ss.expiry_interval;
    s->will = std::move(ss.will);
    s->will_delay = ss.will_delay;
    s->core = std::make_unique<server_session>(core_options());

    // In-flight messages resume as they were (same packet ids, DUP on resend);
    // queued ones are queued anew, with the expiry they have left.
    const auto offline_seconds = std::max<wall_ms>(0, wall - ss.saved_at) / 1000;
    session_state inflight;
    inflight.qos2_received = std::move(ss.state.qos2_received);
    std::vector<mqtt::publish> queued;
    for (auto& m : ss.state.outgoing) {
        if (m.stage != outgoing_stage::queued) {
            inflight.outgoing.push_back(std::move(m));
            continue;
        }
        if (auto expiry = m.msg.props.get_integer(property_id::message_expiry_interval)) {
            if (static_cast<wall_ms>(*expiry) <= offline_seconds) {
                ++metrics_.publish_dropped;
                ++metrics_.dropped_expired;
                continue;
            }
            auto left = static_cast<std::uint32_t>(*expiry - offline_seconds);
            m.msg.props.set(property_id::message_expiry_interval, left);
            s->expiry_deadlines.insert_or_assign(m.msg.payload.data(), now + std::chrono::seconds(left));
        }
        queued.push_back(std::move(m.msg));
    }
    s->core->restore(std::move(inflight));
    for (auto& msg : queued)
        s->core->publish(std::move(msg), delivery_tag, now);
    s->core->actions().clear();

    if (s->expiry_interval != never_expires) {
        if (ss.connected)
            s->expires_at = now + std::chrono::seconds(s->expiry_interval); // its connection ended with the crash
        else if (ss.expires_at)
            s->expires_at = from_wall(*ss.expires_at);
    }
    if (ss.will_at)
        s->will_at = from_wall(*ss.will_at);
    else if (ss.connected && s->will)
        s->will_at = now + std::chrono::seconds(std::min(s->will_delay, s->expiry_interval)); // published by tick()

    for (auto& sub : ss.subscriptions) {
        auto parts = parse_topic_filter(sub.filter);
        if (!parts)
            continue;
        subscriber entry{s, sub.options, sub.subscription_id};
        tree_.subscribe(parts->share_name, parts->filter, entry);
        s->subscriptions[sub.filter] = entry;
    }
    s->subscriptions_changed = false;
    stored_ids_.insert(s->client_id);
    if (ss.connected)
        touch(*s); // written again as offline at the next commit
    sessions_.insert_or_assign(s->client_id, std::move(rec));
}

std::error_code engine::attach_store(store* st, clock::time_point now, wall_clock::time_point wall_now, std::string& error)
{
    store_contents contents;
    if (auto ec = st->load(contents, error))
        return ec;
    store_ = st;
    for (auto& ss : contents.sessions)
        restore_session(ss, now, wall_now);
    const wall_ms wall = to_wall_ms(wall_now);
    for (auto& r : contents.retained) {
        if (r.msg.payload.empty())
            continue;
        r.msg.dup = false;
        r.msg.packet_id = 0;
        retained_.insert_or_assign(r.topic, retained_message{std::move(r.msg), now + std::chrono::milliseconds(r.stored_at - wall)});
    }
    return {};
}

} // namespace mqtt::broker

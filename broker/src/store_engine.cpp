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

// Sessions with at most this many messages are compared with the store at every
// commit; longer queues at most every snapshot_interval (the comparison walks them).
constexpr std::size_t whole_snapshot_below = 64;
constexpr auto snapshot_interval = std::chrono::milliseconds(100);

} // namespace

void engine::touch_retained(std::string_view topic)
{
    if (store_ && stored_topic(topic))
        dirty_retained_.emplace(topic);
}

// What keeps a queued message's bytes alive (see queued_row::bytes).
static std::shared_ptr<const void> owner_of(const mqtt::publish& msg)
{
    return msg.payload.owner() ? msg.payload.owner() : msg.topic.owner();
}

// Appends one queued message to the session's stored queue.
static void append_row(session_record& s, const mqtt::publish& msg, clock::time_point now, wall_ms wall, std::vector<store_op>& ops)
{
    stored_queued row;
    row.seq = s.persisted().next_seq++;
    row.msg = msg;
    row.msg.dup = false;
    row.msg.packet_id = 0;
    row.written_at = wall;
    // The expiry left now (the core counts it from when the message was queued).
    if (row.msg.props.get_integer(property_id::message_expiry_interval)) {
        auto found = s.persisted().expiry_deadlines.find(msg.payload.data());
        if (found != s.persisted().expiry_deadlines.end()) {
            auto left = std::chrono::ceil<std::chrono::seconds>(found->second - now).count();
            row.msg.props.set(property_id::message_expiry_interval, static_cast<std::uint32_t>(std::max<long long>(left, 0)));
        }
    }
    s.persisted().stored_queue.push_back({msg.topic.data(), msg.payload.data(), msg.payload.size(), msg.qos, row.seq, owner_of(msg)});
    ops.emplace_back(append_queued_op{s.client_id, std::move(row)});
}

// Writes one session: its row (metadata, in-flight messages, QoS 2 ids), its
// subscriptions when they changed, and the difference between its queue and the
// queue rows the store holds (sent ones removed from the front, new ones appended).
void engine::write_session(session_record& s, clock::time_point now, wall_clock::time_point wall_now, std::vector<store_op>& ops)
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
    if (s.will)
        ss.will = *s.will;
    ss.will_delay = s.will_delay;
    if (s.will_at)
        ss.will_at = to_wall(*s.will_at);
    ss.saved_at = wall;

    auto full = s.core->state();
    ss.state.qos2_received = std::move(full.qos2_received);
    std::vector<mqtt::publish*> queued;
    for (auto& m : full.outgoing) {
        if (m.stage == outgoing_stage::queued)
            queued.push_back(&m.msg);
        else
            ss.state.outgoing.push_back(std::move(m));
    }
    ss.subscriptions_changed = s.subscriptions_changed;
    if (s.subscriptions_changed)
        for (auto& [filter, sub] : s.subscriptions)
            ss.subscriptions.push_back({filter, sub.options, sub.subscription_id});
    ops.emplace_back(put_session_op{std::move(ss)});

    // The queue: normally the stored rows minus a prefix, plus new messages.
    auto& rows = s.persisted().stored_queue;
    std::size_t first_kept = rows.size();
    if (!queued.empty())
        for (first_kept = 0; first_kept < rows.size() && !rows[first_kept].same(*queued.front());)
            ++first_kept;
    const std::size_t kept = rows.size() - first_kept;
    bool lines_up = !s.persisted().rewrite_queue && kept <= queued.size();
    for (std::size_t i = 0; lines_up && i < kept; ++i)
        lines_up = rows[first_kept + i].same(*queued[i]);
    std::size_t append_from = kept;
    if (lines_up) {
        if (first_kept > 0) {
            auto before = first_kept < rows.size() ? rows[first_kept].seq : s.persisted().next_seq;
            ops.emplace_back(remove_queued_op{s.client_id, before});
            rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(first_kept));
        }
    } else {
        // Something left from the middle (or nothing is known): replace them all.
        ops.emplace_back(remove_queued_op{s.client_id, UINT64_MAX});
        rows.clear();
        append_from = 0;
        s.persisted().rewrite_queue = false;
    }
    for (std::size_t i = append_from; i < queued.size(); ++i)
        append_row(s, *queued[i], now, wall, ops);
    s.persisted().pending_appends.clear(); // the comparison covered them
    // Forget the deadlines of messages no longer queued.
    if (!s.persisted().expiry_deadlines.empty()) {
        std::unordered_map<const void*, clock::time_point> still;
        for (auto* m : queued)
            if (auto found = s.persisted().expiry_deadlines.find(m->payload.data()); found != s.persisted().expiry_deadlines.end())
                still.insert(*found);
        s.persisted().expiry_deadlines = std::move(still);
    }
}

// Only the messages queued since the last commit: appended to the stored queue.
void engine::write_appends(session_record& s, clock::time_point now, wall_clock::time_point wall_now, std::vector<store_op>& ops)
{
    const wall_ms wall = to_wall_ms(wall_now);
    for (auto& msg : s.persisted().pending_appends)
        append_row(s, msg, now, wall, ops);
    s.persisted().pending_appends.clear();
}

std::optional<store_group> engine::take_group(clock::time_point now, wall_clock::time_point wall_now)
{
    if (!store_ || (dirty_sessions_.empty() && dirty_retained_.empty() && staged_.empty()))
        return std::nullopt;
    store_group g;
    g.id = next_group_++;
    for (auto& id : dirty_sessions_) {
        auto it = sessions_.find(id);
        if (it != sessions_.end() && persistent(*it->second)) {
            auto& s = *it->second;
            // A session with a long queue that only had QoS 1 traffic is compared
            // with the store at most every snapshot_interval (acknowledgments from
            // its client may then be resent once, with DUP, after a crash).
            const bool whole = s.persisted().needs_snapshot || s.persisted().rewrite_queue || !stored_ids_.count(id)
                || s.core->queued_count() + s.core->inflight_count() <= whole_snapshot_below
                || now - s.persisted().last_snapshot >= snapshot_interval;
            if (whole) {
                write_session(s, now, wall_now, g.ops);
                s.subscriptions_changed = false;
                s.persisted().needs_snapshot = false;
                s.persisted().last_snapshot = now;
                stored_ids_.insert(id);
            } else {
                write_appends(s, now, wall_now, g.ops);
            }
        } else {
            if (it != sessions_.end())
                it->second->persisted().pending_appends.clear(); // not stored (any more)
            if (stored_ids_.erase(id))
                g.ops.emplace_back(remove_session_op{id});
        }
    }
    for (auto& topic : dirty_retained_) {
        auto it = retained_.find(topic);
        if (it != retained_.end())
            g.ops.emplace_back(put_retained_op{{topic, it->second.msg, to_wall_ms(wall_now)
                    + std::chrono::duration_cast<std::chrono::milliseconds>(it->second.stored_at - now).count()}});
        else
            g.ops.emplace_back(remove_retained_op{topic});
    }
    dirty_sessions_.clear();
    dirty_retained_.clear();
    hold_staged(g.id);
    return g;
}

std::error_code engine::commit(clock::time_point now, wall_clock::time_point wall_now)
{
    if (auto g = take_group(now, wall_now))
        unapplied_.push_back(std::move(*g));
    if (unapplied_.empty())
        return {};
    if (auto ec = apply_groups(*store_, unapplied_))
        return ec;
    auto last = unapplied_.back().id;
    unapplied_.clear();
    group_committed(last);
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
    if (ss.will)
        s->will = std::make_unique<mqtt::will>(std::move(*ss.will));
    s->will_delay = ss.will_delay;
    s->core = std::make_unique<server_session>(core_options());

    // In-flight messages resume as they were (same packet ids, DUP on resend);
    // queued ones are queued anew, with the expiry they have left.
    s->core->restore(std::move(ss.state));
    for (auto& row : ss.queue) {
        s->persisted().next_seq = std::max(s->persisted().next_seq, row.seq + 1);
        auto& msg = row.msg;
        if (auto expiry = msg.props.get_integer(property_id::message_expiry_interval)) {
            const auto waited = std::max<wall_ms>(0, wall - row.written_at) / 1000;
            if (static_cast<wall_ms>(*expiry) <= waited) {
                ++metrics_.publish_dropped;
                ++metrics_.dropped_expired;
                continue; // its row goes at the next write of the session
            }
            auto left = static_cast<std::uint32_t>(*expiry - waited);
            msg.props.set(property_id::message_expiry_interval, left);
            s->persisted().expiry_deadlines.insert_or_assign(msg.payload.data(), now + std::chrono::seconds(left));
        }
        s->persisted().stored_queue.push_back({msg.topic.data(), msg.payload.data(), msg.payload.size(), msg.qos, row.seq, owner_of(msg)});
        s->core->publish(std::move(msg), delivery_tag, now); // the buffers stay the same
    }
    give_spare_actions(std::move(s->core->actions()));
    s->persisted().rewrite_queue = false;

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
    // The key views the record's client_id: an old record goes with its key.
    sessions_.erase(std::string_view(s->client_id));
    sessions_.emplace(std::string_view(s->client_id), std::move(rec));
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

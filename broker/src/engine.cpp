// Broker engine: connection handling, sessions, routing. The QoS exchanges
// themselves are the core's (server_session); this file decides who gets what.
#include "mqtt/broker/engine.hpp"

#include <algorithm>
#include <random>

#include "mqtt/topic.hpp"

namespace mqtt::broker {

namespace {

constexpr std::uint32_t never_expires = 0xFFFFFFFF;

// The tag on every delivery: the core reports each one's outcome (drops counted).
constexpr std::uint64_t delivery_tag = 1;

mqtt::qos min_qos(mqtt::qos a, mqtt::qos b) { return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b; }

// A message about to be kept for long (retained, or queued for an offline client)
// gets its topic and payload copied into one allocation of their size. A decoded
// message views the read it came in with: kept as it is, one small message
// would pin that whole read (up to 64 KB) for as long as it waits. A message of
// 64 KB or more is not copied: the buffer it was decoded into was sized for it,
// and what that holds beside it is bounded by two reads (what came before it
// and after it, 128 KB), at most twice its own size.
constexpr std::size_t copy_below = 64 * 1024;

mqtt::publish kept_copy(const mqtt::publish& msg)
{
    if (msg.topic.size() + msg.payload.size() >= copy_below)
        return msg;
    mqtt::publish out;
    const auto t = msg.topic.size();
    const auto n = t + msg.payload.size();
    // One spare byte: an empty payload still gets an address of its own (the
    // expiry bookkeeping keys on it).
    auto holder = std::make_shared_for_overwrite<char[]>(n + 1);
    std::copy(msg.topic.view().begin(), msg.topic.view().end(), holder.get());
    std::copy(msg.payload.view().begin(), msg.payload.view().end(), holder.get() + t);
    std::shared_ptr<const void> owner(holder, holder.get());
    out.topic = mqtt::buffer(owner, std::string_view(holder.get(), t));
    out.payload = mqtt::buffer(std::move(owner), std::string_view(holder.get() + t, n - t));
    out.qos = msg.qos;
    out.retain = msg.retain;
    out.dup = msg.dup;
    out.packet_id = msg.packet_id;
    out.props = msg.props;
    return out;
}

} // namespace

// Fields ordered by size (one per connection: no padding).
struct engine::connection_state {
    connection_id id = 0;
    std::string remote_address;
    // What the server told us at open(), until the CONNECT has been handled
    // (an established connection keeps only the address above).
    std::unique_ptr<connection_info> info;
    std::unique_ptr<server_session> pending; // the core until CONNECT is accepted
    session_record* session = nullptr;
    // The flags below live in the tail padding of `out` (no_unique_address lets
    // them): 8 bytes less per client.
    [[no_unique_address]] connection_output out;
    bool dirty = false;
    bool close_pending = false; // close once the held output is out
    bool ended = false;
    bool will_suppressed = false;   // normal DISCONNECT received
    bool will_requested = false;    // DISCONNECT 0x04 received
    // Why we disconnect it (for the log), when the core's close has none;
    // success while there is no such reason.
    reason_code end_reason = reason_code::success;
    // With a store: output held for the next group, then per group until committed.
    // Allocated when output is first held, so that without a store (or while
    // idle) a connection pays a pointer for it.
    struct held_output {
        write_batch staged;
        // A vector, not a deque: libstdc++'s deque allocates 576 bytes even when
        // empty; there are only a few groups here.
        std::vector<std::pair<std::uint64_t, write_batch>> waiting;
    };
    std::unique_ptr<held_output> held;
    maybe_time keep_alive_at; // the core's keep-alive timer
    std::optional<std::uint32_t> expiry_update; // Session Expiry Interval from DISCONNECT

    // Valid until the connection has ended.
    server_session& core() { return session ? *session->core : *pending; }
    bool holds_output() const noexcept { return held && (!held->staged.empty() || !held->waiting.empty()); }
    write_batch& staged()
    {
        if (!held)
            held = std::make_unique<held_output>();
        return held->staged;
    }
};

engine::engine(engine_options options, std::shared_ptr<access_control> access)
    : opts_(std::move(options)), access_(access ? std::move(access) : std::make_shared<access_control>())
{
    session_options so;
    so.manual_ack = true; // acknowledge only once routed (and, with a store, committed)
    so.max_inflight = opts_.max_inflight;
    so.max_queued_messages = opts_.max_queued_messages;
    so.max_queued_bytes = opts_.max_queued_bytes;
    // For 3.1.1 clients; 5.0 ones are told these in the CONNACK.
    so.maximum_packet_size = opts_.max_packet_size;
    so.maximum_qos = opts_.max_qos;
    so.retain_available = opts_.retain_available;
    // A 5.0 client that sets a Topic Alias Maximum gets aliases: a topic's first
    // PUBLISH on a connection carries it with an alias, the next ones the alias only.
    so.auto_topic_alias = true;
    core_options_ = std::make_shared<const session_options>(so);
}

engine::~engine() = default;

void engine::set_access_control(std::shared_ptr<access_control> access)
{
    access_ = access ? std::move(access) : std::make_shared<access_control>();
}

const session_record* engine::find_session(std::string_view client_id) const
{
    auto it = sessions_.find(client_id);
    return it == sessions_.end() ? nullptr : it->second.get();
}

bool engine::has_session(connection_id id)
{
    auto* c = find(id);
    return c && c->session;
}

engine::connection_state* engine::find(connection_id id)
{
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
}

connection_output* engine::output(connection_id id)
{
    auto* c = find(id);
    return c ? &c->out : nullptr;
}

connection_output* engine::unmark(connection_id id)
{
    auto* c = find(id);
    if (!c)
        return nullptr;
    c->dirty = false;
    return &c->out;
}

void engine::mark(connection_state& c)
{
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(c.id);
    }
}

client_identity engine::identity(const session_record& s) const
{
    std::optional<std::size_t> listener;
    if (s.listener != session_record::no_listener)
        listener = s.listener;
    client_identity who{s.client_id, std::nullopt, listener};
    if (s.username)
        who.username = *s.username;
    return who;
}

// ---------------------------------------------------------------- connections

connection_id engine::open(connection_info info, clock::time_point)
{
    auto c = std::make_unique<connection_state>();
    c->id = next_id_++;
    c->remote_address = info.remote_address;
    c->info = std::make_unique<connection_info>(std::move(info));
    c->pending = std::make_unique<server_session>(core_options());
    auto id = c->id;
    connections_.emplace(id, std::move(c));
    ++metrics_.connections_total;
    return id;
}


void engine::received(connection_id id, std::string_view bytes, clock::time_point now)
{
    auto* c = find(id);
    if (!c || c->ended)
        return;
    metrics_.bytes_received += bytes.size();
    auto& core = c->core();
    core.receive(bytes, now);
    run(*c, core, now);
    // Acknowledgments from the client change its session without telling us.
    if (c->session)
        touch_light(*c->session);
    collect_garbage();
}

void engine::timer_fired(connection_id id, timer_id timer, clock::time_point now)
{
    auto* c = find(id);
    if (!c || c->ended)
        return;
    auto& core = c->core();
    core.timer_fired(timer, now);
    run(*c, core, now);
    if (c->session)
        touch_light(*c->session);
    collect_garbage();
}

void engine::closed(connection_id id, clock::time_point now)
{
    auto* c = find(id);
    if (!c)
        return;
    if (!c->ended) {
        auto& core = c->core();
        core.connection_lost(now);
        give_spare_actions(std::move(core.actions()));
        connection_ended(*c, make_error_code(errc::connection_lost), now);
    }
    connections_.erase(id);
    collect_garbage();
}

// Performs the actions a connection's core produced.
void engine::run(connection_state& c, server_session& core, clock::time_point now)
{
    auto& queue = core.actions();
    while (!queue.empty()) {
        auto batch = take_spare_actions();
        batch.swap(queue); // the core fills a vector with capacity: no allocation per run
        for (auto& a : batch) {
            if (auto* s = std::get_if<send_packet>(&a)) {
                if (c.ended || !core.version())
                    continue;
                if (auto* p = std::get_if<mqtt::publish>(&s->pkt)) {
                    ++metrics_.messages_sent;
                    if (p->dup)
                        ++metrics_.redeliveries;
                }
                send_output(c, s->pkt, *core.version());
            } else if (auto* d = std::get_if<deliver_message>(&a)) {
                on_publish(c, d->msg, now);
            } else if (auto* cr = std::get_if<connect_received>(&a)) {
                on_connect(c, cr->pkt, now);
            } else if (auto* sr = std::get_if<subscribe_received>(&a)) {
                on_subscribe(c, sr->pkt, now);
            } else if (auto* ur = std::get_if<unsubscribe_received>(&a)) {
                on_unsubscribe(c, ur->pkt, now);
            } else if (auto* dr = std::get_if<disconnect_received>(&a)) {
                if (dr->pkt.code == reason_code::disconnect_with_will_message)
                    c.will_requested = true;
                else if (!is_error(dr->pkt.code))
                    c.will_suppressed = true; // [MQTT-3.1.2-10] / [MQTT-3.14.4-3]
                c.expiry_update = dr->pkt.props.get_integer(property_id::session_expiry_interval);
            } else if (std::get_if<auth_received>(&a)) {
                // We offer no enhanced authentication: AUTH is unexpected here.
                core.disconnect(mqtt::disconnect{reason_code::protocol_error, {}}, now);
            } else if (auto* pd = std::get_if<publish_done>(&a)) {
                if (pd->ec) {
                    ++metrics_.publish_dropped;
                    if (pd->ec == make_error_code(errc::queue_full))
                        ++metrics_.dropped_queue_full;
                    else if (pd->ec == make_error_code(reason_code::packet_too_large))
                        ++metrics_.dropped_too_large;
                    else if (pd->ec == make_error_code(errc::message_expired))
                        ++metrics_.dropped_expired;
                }
            } else if (auto* st = std::get_if<set_timer>(&a)) {
                if (st->id == timer_id::keep_alive) {
                    c.keep_alive_at = st->at;
                    timers_.emplace_back(st->at, c.id);
                    std::push_heap(timers_.begin(), timers_.end(), std::greater<>{});
                }
            } else if (auto* ct = std::get_if<cancel_timer>(&a)) {
                if (ct->id == timer_id::keep_alive)
                    c.keep_alive_at.reset();
            } else if (auto* cl = std::get_if<close_connection>(&a)) {
                if (cl->reason && cl->reason != make_error_code(reason_code::session_taken_over))
                    ++metrics_.protocol_errors;
                connection_ended(c, cl->reason, now);
            }
        }
        give_spare_actions(std::move(batch));
    }
    give_spare_actions(std::move(queue)); // an idle core holds no capacity
}

std::vector<action> engine::take_spare_actions()
{
    if (spare_actions_.empty())
        return {};
    auto v = std::move(spare_actions_.back());
    spare_actions_.pop_back();
    return v;
}

void engine::give_spare_actions(std::vector<action>&& v)
{
    v.clear();
    if (v.capacity() != 0 && spare_actions_.size() < 8)
        spare_actions_.push_back(std::move(v));
    v = std::vector<action>();
}

// Performs the actions of a session's core whatever connection it is on (or none).
void engine::run_session(session_record& s, clock::time_point now)
{
    if (s.connection != 0) {
        if (auto* c = find(s.connection)) {
            run(*c, *s.core, now);
            return;
        }
    }
    // Offline: sends cannot happen; only outcomes matter.
    auto& queue = s.core->actions();
    for (auto& a : queue) {
        if (auto* pd = std::get_if<publish_done>(&a); pd && pd->ec) {
            ++metrics_.publish_dropped;
            if (pd->ec == make_error_code(errc::queue_full))
                ++metrics_.dropped_queue_full;
        }
    }
    give_spare_actions(std::move(queue));
}

void engine::refuse(server_session& core, reason_code code, clock::time_point now)
{
    core.accept(connack{false, code, {}}, now);
}

std::string engine::assign_client_id()
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string id;
    do {
        id = opts_.auto_id_prefix + std::to_string(rng()) + "-" + std::to_string(++assigned_ids_);
    } while (sessions_.count(id));
    return id;
}

void engine::on_connect(connection_state& c, mqtt::connect& pkt, clock::time_point now)
{
    auto held_info = std::move(c.info); // freed when this returns, whatever the outcome
    static const connection_info no_info;
    const connection_info& info = held_info ? *held_info : no_info;
    auto& core = *c.pending;
    const bool v5 = pkt.version == protocol_version::v5;
    connack ack;

    // Client identifier [MQTT-3.1.3-6..9] (3.1.1) / [MQTT-3.1.3-6..8] (5.0).
    std::string client_id = pkt.client_id;
    bool assigned = false;
    if (client_id.empty()) {
        if (!v5 && !pkt.clean_start)
            return refuse(core, reason_code::client_identifier_not_valid, now); // [MQTT-3.1.3-8]
        if (!opts_.allow_zero_length_clientid)
            return refuse(core, reason_code::client_identifier_not_valid, now);
        client_id = assign_client_id();
        assigned = true;
    }

    // Authentication.
    std::optional<std::string> username = pkt.username;
    if (info.use_identity_as_username) {
        if (info.tls_common_name.empty())
            return refuse(core, reason_code::not_authorized, now);
        username = info.tls_common_name;
    }
    std::optional<std::string_view> user_view;
    if (username)
        user_view = *username;
    auto verdict = access_->authenticate(info, user_view, info.use_identity_as_username ? std::nullopt : pkt.password);
    if (is_error(verdict))
        return refuse(core, verdict, now);

    if (v5 && pkt.props.contains(property_id::authentication_method))
        return refuse(core, reason_code::bad_authentication_method, now);
    if (pkt.will) {
        if (static_cast<std::uint8_t>(pkt.will->qos) > opts_.max_qos)
            return refuse(core, reason_code::qos_not_supported, now); // [MQTT-3.2.2-12]
        if (pkt.will->retain && !opts_.retain_available)
            return refuse(core, reason_code::retain_not_supported, now); // [MQTT-3.2.2-13]
    }
    std::optional<std::uint16_t> server_keep_alive;
    if (opts_.max_keepalive < 65535 && (pkt.keep_alive == 0 || pkt.keep_alive > opts_.max_keepalive)) {
        if (!v5)
            return refuse(core, reason_code::client_identifier_not_valid, now); // as Mosquitto does for 3.1.1
        server_keep_alive = opts_.max_keepalive;
    }

    // Session: take over a live connection, resume or start anew.
    session_record* s = nullptr;
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
        s = it->second.get();
        if (s->connection != 0) {
            if (auto* old = find(s->connection)) {
                // [MQTT-3.1.4-2] (3.1.1) / [MQTT-3.1.4-3] (5.0): the existing client is disconnected.
                old->end_reason = reason_code::session_taken_over;
                // The session goes on with the new connection, made before the old
                // one closed: its Will is not published (5.0: a new connection
                // within the Will Delay Interval [MQTT-3.1.3-9]; Mosquitto does
                // the same for 3.1.1). A Clean Start ends the session: published.
                if (!pkt.clean_start && s->expiry_interval != 0)
                    s->will.reset();
                s->core->disconnect(mqtt::disconnect{reason_code::session_taken_over, {}}, now);
                run(*old, *s->core, now);
                if (!old->ended)
                    connection_ended(*old, make_error_code(reason_code::session_taken_over), now);
            }
        }
        // The old connection's end may have expired the session (expiry 0).
        it = sessions_.find(client_id);
        s = it == sessions_.end() ? nullptr : it->second.get();
        if (s && pkt.clean_start) {
            discard_session(*s); // [MQTT-3.1.2-4] (5.0) / [MQTT-3.1.2-6] (3.1.1)
            s = nullptr;
        }
    }
    bool session_present = s != nullptr;
    if (!s) {
        auto rec = std::make_unique<session_record>();
        rec->client_id = client_id;
        s = rec.get();
        sessions_.emplace(std::string_view(s->client_id), std::move(rec));
    } else {
        c.pending->adopt_session(*s->core); // [MQTT-4.4.0-1]: resent on accept
        if (s->will_at) {
            s->will_at.reset(); // reconnected within the Will Delay Interval: not published
            s->will.reset();
        }
    }
    s->core = std::move(c.pending);
    s->connection = c.id;
    s->version = pkt.version;
    s->username = username;
    s->listener = static_cast<std::uint32_t>(info.listener_index);
    s->expires_at.reset();
    s->will = pkt.will ? std::make_unique<mqtt::will>(*pkt.will) : nullptr;
    s->will_delay = 0;
    if (s->will) {
        if (auto d = s->will->props.get_integer(property_id::will_delay_interval))
            s->will_delay = *d;
        s->will->props.remove(property_id::will_delay_interval);
    }
    if (v5) {
        s->expiry_interval = pkt.props.get_integer(property_id::session_expiry_interval).value_or(0);
    } else {
        s->expiry_interval = pkt.clean_start ? 0 : never_expires;
    }
    s->expiry_interval = capped_expiry(s->expiry_interval);
    c.session = s;

    ack.session_present = session_present; // [MQTT-3.2.2-2], [MQTT-3.2.2-3]
    ack.code = reason_code::success;
    if (v5) {
        if (opts_.receive_maximum != 65535)
            ack.props.add(property_id::receive_maximum, opts_.receive_maximum);
        if (opts_.max_packet_size)
            ack.props.add(property_id::maximum_packet_size, opts_.max_packet_size);
        if (opts_.topic_alias_maximum)
            ack.props.add(property_id::topic_alias_maximum, opts_.topic_alias_maximum);
        if (opts_.max_qos < 2)
            ack.props.add(property_id::maximum_qos, opts_.max_qos);
        if (!opts_.retain_available)
            ack.props.add(property_id::retain_available, 0u);
        if (assigned)
            ack.props.add(property_id::assigned_client_identifier, client_id); // [MQTT-3.2.2-16]
        if (server_keep_alive)
            ack.props.add(property_id::server_keep_alive, *server_keep_alive);
        if (s->expiry_interval != pkt.props.get_integer(property_id::session_expiry_interval).value_or(0))
            ack.props.add(property_id::session_expiry_interval, s->expiry_interval);
    }
    ++metrics_.clients_connected;
    metrics_.clients_maximum = std::max(metrics_.clients_maximum, metrics_.clients_connected);
    touch(*s);
    s->core->accept(ack, now);
    if (client_event_) {
        client_event e;
        e.client_id = s->client_id;
        e.remote_address = c.remote_address;
        e.version = pkt.version;
        e.clean_start = pkt.clean_start;
        e.keep_alive = pkt.keep_alive;
        if (s->username)
            e.username = *s->username;
        client_event_(e);
    }
}

// A session's expiry within persistent_client_expiration, whatever the client
// asked for in CONNECT or DISCONNECT (0 stays 0: no session to keep).
std::uint32_t engine::capped_expiry(std::uint32_t requested) const
{
    if (!opts_.persistent_client_expiration || requested == 0)
        return requested;
    auto cap = static_cast<std::uint64_t>(opts_.persistent_client_expiration->count());
    if (requested == never_expires || requested > cap)
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, never_expires - 1));
    return requested;
}

void engine::connection_ended(connection_state& c, std::error_code reason, clock::time_point now)
{
    if (c.ended)
        return;
    c.ended = true;
    end_output(c);
    auto* s = c.session;
    if (s && client_event_) {
        client_event e;
        e.connected = false;
        e.client_id = s->client_id;
        e.remote_address = c.remote_address;
        e.version = s->version;
        if (!c.will_suppressed)
            e.reason = reason ? reason
                : c.end_reason != reason_code::success ? make_error_code(c.end_reason) : std::error_code();
        client_event_(e);
    }
    c.session = nullptr; // the session lives on without this connection
    if (!s || s->connection != c.id)
        return;
    s->connection = 0;
    touch(*s);
    --metrics_.clients_connected;
    // A 5.0 client may change the expiry on DISCONNECT (not from 0: the core
    // takes such a DISCONNECT for a protocol error and reports none).
    if (c.expiry_update)
        s->expiry_interval = capped_expiry(*c.expiry_update);
    // The will: not after a normal DISCONNECT; published on anything else, or on
    // DISCONNECT 0x04 [MQTT-3.1.2-8] (3.1.1) / [MQTT-3.1.2-10] (5.0).
    if (c.will_suppressed && !c.will_requested)
        s->will.reset();
    if (s->will) {
        if (s->will_delay == 0 || s->expiry_interval == 0)
            publish_will(*s, now);
        else
            s->will_at = now + std::chrono::seconds(std::min(s->will_delay, s->expiry_interval));
    }
    if (s->expiry_interval == 0) {
        discard_session(*s);
    } else if (s->expiry_interval != never_expires) {
        s->expires_at = now + std::chrono::seconds(s->expiry_interval);
    }
}

void engine::discard_session(session_record& s)
{
    touch(s);
    for (auto& [filter, sub] : s.subscriptions) {
        auto parts = parse_topic_filter(filter);
        if (parts)
            tree_.unsubscribe(parts->share_name, parts->filter, &s);
    }
    s.subscriptions.clear();
    if (s.connection != 0)
        if (auto* c = find(s.connection); c && c->session == &s)
            c->session = nullptr; // the connection must not point at a freed session
    // Destroyed later: its core may be running right now (see collect_garbage).
    auto it = sessions_.find(s.client_id);
    if (it != sessions_.end()) {
        graveyard_.push_back(std::move(it->second));
        sessions_.erase(it);
    }
}

void engine::collect_garbage() { graveyard_.clear(); }

namespace {

// Topics no client may publish to, whatever the ACL says (as in Mosquitto): $SYS
// is the broker's own, so a client cannot fake its statistics, and a $share/
// topic name could never reach a subscriber (such filters are shared ones). A
// bridge's state under $SYS/broker/connection/ stays possible where the ACL
// grants it.
bool reserved_for_broker(std::string_view topic) noexcept
{
    auto under = [&](std::string_view root) {
        return topic.substr(0, root.size()) == root && (topic.size() == root.size() || topic[root.size()] == '/');
    };
    return (under("$SYS") && !under("$SYS/broker/connection")) || under("$share");
}

} // namespace

void engine::publish_will(session_record& s, clock::time_point now)
{
    if (!s.will)
        return;
    auto w = std::move(*s.will);
    s.will.reset();
    s.will_at.reset();
    touch(s);
    if (reserved_for_broker(w.topic) || !access_->can_publish(identity(s), w.topic))
        return;
    mqtt::publish msg;
    msg.topic = std::move(w.topic);
    msg.payload = std::move(w.payload);
    msg.qos = w.qos;
    msg.retain = w.retain;
    msg.props = std::move(w.props);
    if (msg.retain)
        store_retained(msg, now);
    route(msg, nullptr, now);
}

// ---------------------------------------------------------------- publish

void engine::on_publish(connection_state& c, mqtt::publish& msg, clock::time_point now)
{
    auto* s = c.session;
    if (!s)
        return;
    ++metrics_.messages_received;
    const bool v5 = s->version == protocol_version::v5;
    auto ack = [&](reason_code code) {
        if (msg.qos != qos::at_most_once) {
            s->core->acknowledge(msg.packet_id, v5 ? code : reason_code::success, now);
            run(c, *s->core, now);
        }
    };
    if (opts_.message_size_limit && msg.payload.size() > opts_.message_size_limit) {
        ++metrics_.publish_dropped;
        // 0x95 is not a PUBACK/PUBREC reason code (the encoder refuses it, so no
        // acknowledgment at all would go out): the implementation-specific refusal.
        return ack(reason_code::implementation_specific_error);
    }
    if (reserved_for_broker(msg.topic.view()) || !access_->can_publish(identity(*s), msg.topic)) {
        // 3.1.1 has no way to say no: positive acknowledgment, message dropped [MQTT-3.3.5-2].
        ++metrics_.dropped_not_authorized;
        return ack(reason_code::not_authorized);
    }
    if (msg.retain)
        store_retained(msg, now);
    std::size_t delivered = 0;
    route(msg, s, now, &delivered);
    ack(delivered == 0 ? reason_code::no_matching_subscribers : reason_code::success);
}

void engine::store_retained(const mqtt::publish& msg, clock::time_point now)
{
    if (!opts_.retain_available)
        return;
    touch_retained(msg.topic.view());
    if (msg.payload.empty()) {
        // An empty retained message clears the topic and is not stored [MQTT-3.3.1-10] / [MQTT-3.3.1-6].
        auto it = retained_.find(msg.topic.view());
        if (it != retained_.end())
            retained_.erase(it);
        return;
    }
    auto copy = kept_copy(msg);
    copy.dup = false;
    copy.packet_id = 0;
    copy.props.remove(property_id::subscription_identifier);
    copy.props.remove(property_id::topic_alias);
    auto it = retained_.find(msg.topic.view());
    if (it != retained_.end())
        it->second = retained_message{std::move(copy), now}; // replaces [MQTT-3.3.1-5]
    else
        retained_.emplace(msg.topic.str(), retained_message{std::move(copy), now});
}

void engine::publish_internal(mqtt::publish msg, clock::time_point now)
{
    if (msg.retain)
        store_retained(msg, now);
    route(msg, nullptr, now);
}

void engine::route(const mqtt::publish& msg, const session_record* from, clock::time_point now, std::size_t* delivered)
{
    // Local copies keep this safe should delivery ever re-enter routing.
    std::vector<const subscriber*> plain;
    std::vector<shared_group*> shared;
    plain.swap(match_plain_);
    shared.swap(match_shared_);
    plain.clear();
    shared.clear();
    tree_.match(msg.topic, plain, shared);

    // One copy per client: the highest QoS of its matching subscriptions, with all of
    // their subscription identifiers [MQTT-3.3.5-1] (3.1.1) / [MQTT-3.3.4-2..4] (5.0).
    std::sort(plain.begin(), plain.end(), [](auto* a, auto* b) { return a->session < b->session; });
    std::vector<std::uint32_t> ids;
    std::size_t count = 0;
    std::optional<mqtt::publish> kept; // made for the first offline client, shared by the rest
    for (std::size_t i = 0; i < plain.size();) {
        auto* target = plain[i]->session;
        mqtt::qos best = qos::at_most_once;
        bool any = false;
        bool keep_retain = false;
        ids.clear();
        for (; i < plain.size() && plain[i]->session == target; ++i) {
            auto& sub = *plain[i];
            if (sub.options.no_local && target == from)
                continue; // [MQTT-3.8.3-3] (5.0): not back to its publisher
            any = true;
            if (static_cast<std::uint8_t>(sub.options.qos) > static_cast<std::uint8_t>(best))
                best = sub.options.qos;
            keep_retain |= sub.options.retain_as_published;
            if (sub.subscription_id)
                ids.push_back(sub.subscription_id);
        }
        if (!any)
            continue;
        // A live subscription gets RETAIN 0 unless it asked for Retain As Published
        // [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (5.0).
        deliver(*target, msg, min_qos(msg.qos, best), keep_retain && msg.retain, ids, now, &kept);
        ++count;
    }
    for (auto* g : shared) {
        if (g->members.empty())
            continue;
        // Round robin, preferring members that are connected.
        std::size_t n = g->members.size();
        std::size_t pick = g->next % n;
        for (std::size_t k = 0; k < n; ++k) {
            auto idx = (g->next + k) % n;
            if (g->members[idx].session->connection != 0) {
                pick = idx;
                break;
            }
        }
        g->next = (pick + 1) % n;
        auto& sub = g->members[pick];
        ids.clear();
        if (sub.subscription_id)
            ids.push_back(sub.subscription_id);
        deliver(*sub.session, msg, min_qos(msg.qos, sub.options.qos), false, ids, now, &kept);
        ++count;
    }
    if (delivered)
        *delivered = count;
    plain.swap(match_plain_);
    shared.swap(match_shared_);
}

// Bytes produced for a connection and not yet taken by the server.
std::size_t engine::output_backlog(const connection_state& c) const
{
    std::size_t n = c.out.batch.size();
    if (c.held) {
        n += c.held->staged.size();
        for (auto& group : c.held->waiting)
            n += group.second.size();
    }
    return n;
}

void engine::deliver(session_record& s, const mqtt::publish& original, mqtt::qos q, bool retain,
    const std::vector<std::uint32_t>& subscription_ids, clock::time_point now, std::optional<mqtt::publish>* kept)
{
    if (!access_->can_receive(identity(s), original.topic)) {
        ++metrics_.dropped_not_authorized;
        return;
    }
    if (s.connection == 0 && q == qos::at_most_once && !opts_.queue_qos0_messages)
        return; // at most once: not kept for an offline client
    if (q == qos::at_most_once && s.connection != 0 && opts_.max_output_backlog != 0) {
        if (auto* c = find(s.connection); c && output_backlog(*c) > opts_.max_output_backlog) {
            ++metrics_.publish_dropped; // a slow consumer: at most once allows the loss
            ++metrics_.dropped_queue_full;
            return;
        }
    }
    // Queued for an offline client, the message may wait for hours: it must not
    // pin the read it arrived in (see kept_copy).
    const bool offline = s.connection == 0 && kept;
    if (offline && !*kept)
        *kept = kept_copy(original);
    const mqtt::publish& msg = offline ? **kept : original;
    mqtt::publish out;
    out.topic = msg.topic;
    out.payload = msg.payload; // shared, not copied
    out.qos = q;
    out.retain = retain;
    if (!msg.props.empty() || !subscription_ids.empty()) {
        out.props = msg.props;
        out.props.remove(property_id::subscription_identifier);
        for (auto id : subscription_ids)
            out.props.add(property_id::subscription_identifier, id);
    }
    if (store_ && q != qos::at_most_once && s.expiry_interval != 0) {
        if (auto expiry = out.props.get_integer(property_id::message_expiry_interval))
            s.persisted().expiry_deadlines.insert_or_assign(out.payload.data(), now + std::chrono::seconds(*expiry));
        // Remembered for the next commit: appended to the stored queue, unless the
        // core did something else with it (then the session is written whole).
        auto copy = out;
        auto before = s.core->queued_count() + s.core->inflight_count();
        s.core->publish(std::move(out), delivery_tag, now);
        auto after = s.core->queued_count() + s.core->inflight_count();
        if (after == before + 1) {
            s.persisted().pending_appends.push_back(std::move(copy));
            touch_light(s);
        } else if (after != before) {
            touch(s);
        } // else refused (queue full): nothing changed
        run_session(s, now);
        return;
    }
    s.core->publish(std::move(out), delivery_tag, now);
    run_session(s, now);
}

// ---------------------------------------------------------------- subscribe

// 3.1.1 has no answer for a filter that breaks the wildcard rules or is empty
// (4.7.1, [MQTT-4.7.3-1]): that is a protocol violation, and the connection
// closes [MQTT-4.8.0-1], as Mosquitto does. A 5.0 client gets 0x8F for it.
void engine::close_for_malformed_filter(connection_state& c, session_record& s, clock::time_point now)
{
    s.core->disconnect(mqtt::disconnect{reason_code::protocol_error, {}}, now);
    run(c, *s.core, now);
}

static bool malformed_filter(std::string_view filter) { return !parse_topic_filter(filter); }

void engine::on_subscribe(connection_state& c, mqtt::subscribe& pkt, clock::time_point now)
{
    auto* s = c.session;
    if (!s)
        return;
    const bool v5 = s->version == protocol_version::v5;
    if (!v5 && std::ranges::any_of(pkt.subscriptions, malformed_filter, &mqtt::subscription::filter))
        return close_for_malformed_filter(c, *s, now);
    std::uint32_t sub_id = pkt.props.get_integer(property_id::subscription_identifier).value_or(0);
    suback ack;
    ack.packet_id = pkt.packet_id; // [MQTT-3.8.4-2]
    struct granted {
        std::string filter;
        subscriber sub;
        bool existed;
    };
    std::vector<granted> retained_to_send;
    for (auto& req : pkt.subscriptions) {
        auto parts = parse_topic_filter(req.filter);
        if (!parts) {
            ack.codes.push_back(v5 ? reason_code::topic_filter_invalid : reason_code::unspecified_error);
            continue;
        }
        if (!access_->can_subscribe(identity(*s), req.filter)) {
            ack.codes.push_back(v5 ? reason_code::not_authorized : reason_code::unspecified_error);
            continue;
        }
        if (opts_.max_subscriptions_per_client && s->subscriptions.size() >= opts_.max_subscriptions_per_client
            && !s->subscriptions.count(req.filter)) {
            ack.codes.push_back(v5 ? reason_code::quota_exceeded : reason_code::unspecified_error);
            continue;
        }
        subscriber sub{s, req.options, sub_id};
        if (static_cast<std::uint8_t>(sub.options.qos) > opts_.max_qos)
            sub.options.qos = static_cast<mqtt::qos>(opts_.max_qos); // granted lower [MQTT-3.8.4-6] (3.1.1)
        bool existed = tree_.subscribe(parts->share_name, parts->filter, sub);
        s->subscriptions[req.filter] = sub;
        s->subscriptions_changed = true;
        ack.codes.push_back(static_cast<reason_code>(static_cast<std::uint8_t>(sub.options.qos)));
        if (!parts->shared())
            retained_to_send.push_back({std::string(parts->filter), sub, existed});
    }
    touch(*s);
    s->core->send(std::move(ack), now); // one SUBACK for all filters [MQTT-3.8.4-4] (3.1.1) / [MQTT-3.8.4-5] (5.0)
    run(c, *s->core, now);
    for (auto& g : retained_to_send) {
        auto rh = v5 ? g.sub.options.retain_handling : retain_handling::send_on_subscribe;
        if (rh == retain_handling::do_not_send || (rh == retain_handling::send_if_new_subscription && g.existed))
            continue;
        send_retained(*s, g.filter, g.sub, now);
    }
}

void engine::send_retained(session_record& s, std::string_view filter, const subscriber& sub, clock::time_point now)
{
    std::vector<std::string> expired;
    std::vector<std::uint32_t> ids;
    if (sub.subscription_id)
        ids.push_back(sub.subscription_id);
    for (auto& [topic, r] : retained_) {
        if (!topic_matches(filter, topic))
            continue;
        auto msg = r.msg;
        if (auto expiry = msg.props.get_integer(property_id::message_expiry_interval)) {
            auto age = std::chrono::duration_cast<std::chrono::seconds>(now - r.stored_at).count();
            if (age >= static_cast<long long>(*expiry)) {
                expired.push_back(topic);
                continue;
            }
            msg.props.set(property_id::message_expiry_interval, *expiry - static_cast<std::uint32_t>(age));
        }
        // Retained messages sent on subscribe keep RETAIN 1 [MQTT-3.3.1-8] (3.1.1) / [MQTT-3.3.1-9] (5.0).
        deliver(s, msg, min_qos(msg.qos, sub.options.qos), true, ids, now);
    }
    for (auto& t : expired) {
        retained_.erase(t);
        touch_retained(t);
    }
}

void engine::on_unsubscribe(connection_state& c, mqtt::unsubscribe& pkt, clock::time_point now)
{
    auto* s = c.session;
    if (!s)
        return;
    const bool v5 = s->version == protocol_version::v5;
    if (!v5 && std::ranges::any_of(pkt.filters, malformed_filter))
        return close_for_malformed_filter(c, *s, now);
    unsuback ack;
    ack.packet_id = pkt.packet_id;
    for (auto& f : pkt.filters) {
        auto parts = parse_topic_filter(f);
        if (!parts) {
            ack.codes.push_back(reason_code::topic_filter_invalid);
            continue;
        }
        bool existed = tree_.unsubscribe(parts->share_name, parts->filter, s);
        if (s->subscriptions.erase(f))
            s->subscriptions_changed = true;
        if (v5)
            ack.codes.push_back(existed ? reason_code::success : reason_code::no_subscription_existed);
    }
    touch(*s);
    s->core->send(std::move(ack), now); // [MQTT-3.10.4-4] / [MQTT-3.10.4-5]
    run(c, *s->core, now);
}

// ---------------------------------------------------------------- held output (with a store)

// The output staged since the last group now waits for that group's commit.
void engine::hold_staged(std::uint64_t group)
{
    for (auto id : staged_) {
        auto* c = find(id);
        if (!c || !c->held || c->held->staged.empty())
            continue;
        c->held->waiting.emplace_back(group, std::move(c->held->staged));
        c->held->staged.clear();
        waiting_.push_back(id);
    }
    staged_.clear();
}

void engine::group_committed(std::uint64_t id)
{
    committed_group_ = std::max(committed_group_, id);
    std::vector<connection_id> still;
    for (auto cid : waiting_) {
        auto* c = find(cid);
        if (!c || !c->held)
            continue;
        auto& waiting = c->held->waiting;
        std::size_t released = 0;
        while (released < waiting.size() && waiting[released].first <= committed_group_) {
            c->out.batch.splice(std::move(waiting[released].second));
            ++released;
        }
        waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(released));
        if (released)
            mark(*c);
        if (!waiting.empty())
            still.push_back(cid);
        else if (c->close_pending && c->held->staged.empty())
            end_output(*c);
        if (!c->holds_output())
            c->held.reset(); // idle again: give the buffers back
    }
    // One entry per connection and group: drop the duplicates.
    std::sort(still.begin(), still.end());
    still.erase(std::unique(still.begin(), still.end()), still.end());
    waiting_ = std::move(still);
}

namespace {

// Packets that tell the peer something is stored (or released) for good.
bool promises(const packet& p)
{
    if (auto* pub = std::get_if<mqtt::publish>(&p))
        return pub->qos == qos::exactly_once;
    return !std::holds_alternative<pingresp>(p) && !std::holds_alternative<connack>(p);
}

} // namespace

void engine::send_output(connection_state& c, const packet& pkt, protocol_version v)
{
    if (store_ && (c.holds_output() || promises(pkt))) {
        auto& staged = c.staged();
        if (staged.empty())
            staged_.push_back(c.id);
        if (c.session)
            touch(*c.session); // what it promises is in the session state: write it whole
        staged.append(pkt, v);
        return;
    }
    if (c.out.batch.append(pkt, v))
        mark(c);
}

void engine::end_output(connection_state& c)
{
    if (c.holds_output()) {
        c.close_pending = true; // after the held output (group_committed)
        return;
    }
    c.close_pending = false;
    c.out.close = true;
    mark(c);
}

// ---------------------------------------------------------------- time

std::optional<clock::time_point> engine::next_timer() const
{
    if (timers_.empty())
        return std::nullopt;
    return timers_.front().first;
}

std::optional<clock::time_point> engine::keep_alive_deadline(connection_id id)
{
    auto* c = find(id);
    if (!c || !c->keep_alive_at)
        return std::nullopt;
    return *c->keep_alive_at;
}

void engine::fire_timers(clock::time_point now)
{
    while (!timers_.empty() && timers_.front().first <= now) {
        std::pop_heap(timers_.begin(), timers_.end(), std::greater<>{});
        auto [at, id] = timers_.back();
        timers_.pop_back();
        auto* c = find(id);
        if (!c || c->ended || !c->keep_alive_at || *c->keep_alive_at != at)
            continue; // re-armed, cancelled or closed since
        c->keep_alive_at.reset();
        timer_fired(id, timer_id::keep_alive, now); // may re-arm (a push onto timers_)
    }
    // Entries of closed or re-armed connections stay until their time comes; after
    // a burst of connections the heap's capacity is given back once it empties.
    if (timers_.capacity() > 64 && timers_.size() < timers_.capacity() / 4)
        timers_.shrink_to_fit();
}

void engine::tick(clock::time_point now)
{
    fire_timers(now);
    std::vector<std::string> expired;
    for (auto& [id, s] : sessions_) {
        if (s->connection != 0)
            continue;
        if (s->will_at && *s->will_at <= now)
            publish_will(*s, now);
        if (s->expires_at && *s->expires_at <= now)
            expired.emplace_back(id);
    }
    for (auto& id : expired) {
        auto it = sessions_.find(id);
        if (it == sessions_.end())
            continue;
        publish_will(*it->second, now); // a will still waiting goes out when the session ends
        auto again = sessions_.find(id);
        if (again != sessions_.end())
            discard_session(*again->second);
    }
    collect_garbage();
}

std::optional<clock::time_point> engine::next_deadline() const
{
    std::optional<clock::time_point> next;
    for (auto& [id, s] : sessions_) {
        for (auto& t : {s->will_at, s->expires_at})
            if (t && (!next || *t < *next))
                next = *t;
    }
    return next;
}

void engine::shutdown(clock::time_point now)
{
    for (auto& [id, c] : connections_) {
        if (c->ended)
            continue;
        auto& core = c->core();
        c->end_reason = reason_code::server_shutting_down;
        if (c->session)
            core.disconnect(mqtt::disconnect{reason_code::server_shutting_down, {}}, now);
        else
            core.connection_lost(now);
        run(*c, core, now);
        if (!c->ended)
            connection_ended(*c, make_error_code(reason_code::server_shutting_down), now);
    }
}

} // namespace mqtt::broker

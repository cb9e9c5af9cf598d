#pragma once
// The broker without I/O: sessions, routing, retained messages, wills, shared
// subscriptions and access control, driven by connection events and time. The
// network server (server.hpp) feeds it bytes and performs its output; tests and
// fuzzers drive it directly.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mqtt/broker/store.hpp"
#include "mqtt/broker/subscription_tree.hpp"
#include "mqtt/broker/write_batch.hpp"
#include "mqtt/maybe_time.hpp"
#include "mqtt/session.hpp"

namespace mqtt::broker {

using connection_id = std::uint64_t;

// What the server knows about a connection before CONNECT.
struct connection_info {
    std::string remote_address;
    std::size_t listener_index = 0;     // which configured listener accepted it
    std::string tls_common_name;        // verified client certificate CN, if any
    bool use_identity_as_username = false;
    std::optional<bool> allow_anonymous; // per-listener override
};

// Who a connected client is, for access control.
struct client_identity {
    std::string_view client_id;
    std::optional<std::string_view> username;
    // connection_info::listener_index of its connection, or of its last one while
    // offline; unset for a session loaded from the store that has not reconnected.
    std::optional<std::size_t> listener;
};

// Authentication and authorization; the default allows everything.
class access_control {
public:
    virtual ~access_control() = default;
    // success, bad_user_name_or_password or not_authorized. `username` is the
    // CONNECT user name (or the certificate CN when the listener says so).
    virtual reason_code authenticate(const connection_info&, std::optional<std::string_view> username,
        const std::optional<std::string>& password)
    {
        (void)username;
        (void)password;
        return reason_code::success;
    }
    virtual bool can_publish(const client_identity&, std::string_view topic) { (void)topic; return true; }
    virtual bool can_subscribe(const client_identity&, std::string_view filter) { (void)filter; return true; }
    virtual bool can_receive(const client_identity&, std::string_view topic) { (void)topic; return true; }
};

struct engine_options {
    std::uint16_t max_inflight = 20;          // per client, outgoing QoS 1/2 (0 = client's Receive Maximum only)
    std::size_t max_queued_messages = 1000;   // per client, beyond the in-flight window (0 = unbounded)
    std::size_t max_queued_bytes = 0;         // 0 = unbounded
    // Unsent output per connection beyond which QoS 0 deliveries to it are dropped
    // (counted as queue full): a subscriber that stops reading cannot grow the
    // broker's memory without bound. QoS 1/2 are bounded by the queue limits. 0 = no limit.
    std::size_t max_output_backlog = 16 * 1024 * 1024;
    std::uint32_t max_packet_size = 0;        // 0 = the protocol maximum
    std::uint32_t message_size_limit = 0;     // payload bytes, 0 = no limit
    std::uint16_t max_keepalive = 65535;
    std::uint16_t receive_maximum = 100;      // what each client may have in flight to us
    std::uint16_t topic_alias_maximum = 10;
    bool retain_available = true;
    std::uint8_t max_qos = 2;
    bool allow_zero_length_clientid = true;
    std::string auto_id_prefix = "auto-";
    bool queue_qos0_messages = false;
    // Sessions of 3.1.1 clients with clean session 0 (which never expire in the
    // protocol) and the cap for 5.0 expiry; nullopt: never.
    std::optional<std::chrono::seconds> persistent_client_expiration;
    std::size_t max_subscriptions_per_client = 0; // 0 = unlimited
    std::string version = "mqtt-broker";
};

// Counters a reliability engineer watches; also served as $SYS and Prometheus text.
struct broker_metrics {
    std::uint64_t messages_received = 0;     // PUBLISH packets from clients
    std::uint64_t messages_sent = 0;         // PUBLISH packets to clients
    std::uint64_t redeliveries = 0;          // of them, resent with DUP
    std::uint64_t publish_dropped = 0;       // deliveries dropped, all reasons
    std::uint64_t dropped_queue_full = 0;
    std::uint64_t dropped_too_large = 0;
    std::uint64_t dropped_expired = 0;
    std::uint64_t dropped_not_authorized = 0;
    std::uint64_t qos2_duplicates_suppressed = 0;
    std::uint64_t connections_total = 0;
    std::uint64_t clients_connected = 0;
    std::uint64_t clients_maximum = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t protocol_errors = 0;
};

// A client connecting or its connection ending, for the log (Mosquitto's "New
// client connected from ... as ..." and "Client ... disconnected").
struct client_event {
    bool connected = true; // false: the connection ended
    std::string_view client_id;
    std::string_view remote_address;
    protocol_version version = protocol_version::v5;
    bool clean_start = false;
    std::uint16_t keep_alive = 0;
    std::optional<std::string_view> username;
    std::error_code reason; // ended: empty after a normal DISCONNECT
};

// What the server must do for one connection.
struct connection_output {
    write_batch batch;             // bytes to write (take it when no write is in flight)
    std::error_code close_reason;
    bool close = false;            // close once the batch is written (last: its padding is reused)
};

// One per client: its fields ordered by size, so that they carry no padding.
struct session_record {
    std::string client_id;
    std::unique_ptr<server_session> core;
    connection_id connection = 0; // 0 while offline
    std::optional<std::string> username;
    std::unique_ptr<mqtt::will> will; // a pointer: most clients have none
    maybe_time will_at;    // a delayed will waiting to be published
    maybe_time expires_at; // while offline
    std::map<std::string, subscriber> subscriptions; // by the filter as subscribed (with $share/...)
    std::uint32_t will_delay = 0;
    std::uint32_t expiry_interval = 0;           // seconds; 0xFFFFFFFF = never
    // Of the last connection (client_identity::listener); no_listener until one
    // (a sentinel, not an optional: one record per client).
    static constexpr std::uint32_t no_listener = 0xFFFFFFFF;
    std::uint32_t listener = no_listener;
    protocol_version version = protocol_version::v5;
    // With a store: the subscriptions must be written at the next commit.
    bool subscriptions_changed = true;
    // What only a broker with a store tracks: allocated on first use (persisted()),
    // so that without a store a session pays a pointer for it.
    struct persistence {
        // With a store: when queued messages with a Message Expiry Interval expire, by
        // payload address (what the core's session_state lets us recognise them by).
        std::unordered_map<const void*, clock::time_point> expiry_deadlines;
        // With a store: the queue rows it holds for this session, in order, each known by
        // the buffers of its message; the next commit removes those sent since from the
        // front and appends what was queued since.
        struct queued_row {
            const void* topic;
            const void* payload;
            std::size_t size;
            mqtt::qos qos;
            std::uint64_t seq;
            // Holds the message's bytes: while the row exists, no later message can
            // be allocated at these addresses and be taken for this one.
            std::shared_ptr<const void> bytes;
            bool same(const mqtt::publish& m) const noexcept
            {
                return topic == m.topic.data() && payload == m.payload.data() && size == m.payload.size() && qos == m.qos;
            }
        };
        std::vector<queued_row> stored_queue; // not a deque: that costs 576 bytes per idle session
        std::uint64_t next_seq = 1;
        bool rewrite_queue = true; // the store's rows are unknown: replace them all
        // Messages queued since the last commit, and whether the next commit must
        // compare the whole session with the store (otherwise it may only append these).
        std::vector<mqtt::publish> pending_appends;
        bool needs_snapshot = true;
        clock::time_point last_snapshot{};
    };
    std::unique_ptr<persistence> stored;
    persistence& persisted()
    {
        if (!stored)
            stored = std::make_unique<persistence>();
        return *stored;
    }
};

class engine {
public:
    explicit engine(engine_options options = {}, std::shared_ptr<access_control> access = nullptr);
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // ---- input
    connection_id open(connection_info info, clock::time_point now);
    void received(connection_id id, std::string_view bytes, clock::time_point now);
    void timer_fired(connection_id id, timer_id timer, clock::time_point now);
    // The transport is gone (EOF, error, or the close the engine asked for).
    void closed(connection_id id, clock::time_point now);
    // Keep-alive checks, delayed wills, session expiry. Call every second, and at
    // next_timer() for keep alive on time (fire_timers() alone does that part).
    void tick(clock::time_point now);
    std::optional<clock::time_point> next_deadline() const;
    // The engine keeps every connection's keep-alive deadline in one heap rather
    // than asking the server for a timer per connection: an idle connection then
    // costs no timer object and no pending wait. The earliest deadline (possibly
    // one since re-armed or closed: firing early is harmless), and the check.
    std::optional<clock::time_point> next_timer() const;
    void fire_timers(clock::time_point now);
    // When the connection's keep-alive check is due (none: no Keep Alive).
    std::optional<clock::time_point> keep_alive_deadline(connection_id id);
    // A message from the broker itself ($SYS): routed like a client's, no ACL.
    void publish_internal(mqtt::publish msg, clock::time_point now);
    // Disconnects everyone (5.0: 0x8B Server shutting down). Sessions stay.
    void shutdown(clock::time_point now);

    // ---- persistence
    // Loads everything `st` holds (sessions offline with their queues, retained
    // messages; expiry continues by wall clock) and from then on records changes
    // for commit(). `st` must outlive the engine. On error nothing is changed.
    std::error_code attach_store(store* st, clock::time_point now, wall_clock::time_point wall_now, std::string& error);
    //
    // With a store, output that promises something (PUBACK, PUBREC, PUBREL, PUBCOMP,
    // QoS 2 PUBLISH, SUBACK, UNSUBACK, and whatever follows them on that connection)
    // is held until the group of changes it belongs to is committed; QoS 0/1
    // PUBLISH (a duplicate after a crash is allowed) and PINGRESP go out at once.
    //
    // True while changes or held output wait for a commit.
    bool output_held() const noexcept
    {
        return store_ && (!dirty_sessions_.empty() || !dirty_retained_.empty() || !staged_.empty() || committed_group_ + 1 < next_group_);
    }
    // Takes the changes since the last call as one group of store operations (a
    // value: apply it on any thread, e.g. with apply_groups) and ties the held
    // output to it. nullopt when there is nothing new.
    std::optional<store_group> take_group(clock::time_point now, wall_clock::time_point wall_now);
    // The groups up to `id` are committed: their output is released.
    void group_committed(std::uint64_t id);
    // take_group + apply_groups on this thread + group_committed. On error the
    // group is kept (output held) and applied first at the next call.
    std::error_code commit(clock::time_point now, wall_clock::time_point wall_now);

    // ---- output
    connection_output* output(connection_id id);
    bool has_output() const noexcept { return !dirty_.empty(); }
    // Calls f(id, output) for every connection with something to do, then forgets the list.
    template <class F>
    void drain(F&& f)
    {
        auto ids = std::move(dirty_);
        dirty_.clear();
        for (auto id : ids)
            if (auto* out = unmark(id))
                f(id, *out);
    }

    // ---- state
    const broker_metrics& metrics() const noexcept { return metrics_; }
    broker_metrics& metrics() noexcept { return metrics_; }
    std::size_t session_count() const noexcept { return sessions_.size(); }
    std::size_t subscription_count() const noexcept { return tree_.size(); }
    std::size_t retained_count() const noexcept { return retained_.size(); }
    std::size_t connection_count() const noexcept { return connections_.size(); }
    const session_record* find_session(std::string_view client_id) const;
    // True once the connection's CONNECT has been accepted.
    bool has_session(connection_id id);
    void set_access_control(std::shared_ptr<access_control> access);
    // Called (on the engine's caller's thread) as clients connect and their connections end.
    void on_client_event(std::function<void(const client_event&)> f) { client_event_ = std::move(f); }
    const engine_options& options() const noexcept { return opts_; }

private:
    struct connection_state;
    struct retained_message {
        mqtt::publish msg;
        clock::time_point stored_at;
    };

    connection_state* find(connection_id id);
    std::size_t output_backlog(const connection_state& c) const;
    connection_output* unmark(connection_id id); // output(id), and forget that it was listed
    void mark(connection_state& c);
    void run(connection_state& c, server_session& core, clock::time_point now);
    std::vector<action> take_spare_actions();
    void give_spare_actions(std::vector<action>&& v); // leaves `v` empty, without capacity
    void run_session(session_record& s, clock::time_point now);
    void on_connect(connection_state& c, mqtt::connect& pkt, clock::time_point now);
    void refuse(server_session& core, reason_code code, clock::time_point now);
    void collect_garbage();
    void on_publish(connection_state& c, mqtt::publish& msg, clock::time_point now);
    void on_subscribe(connection_state& c, mqtt::subscribe& pkt, clock::time_point now);
    void on_unsubscribe(connection_state& c, mqtt::unsubscribe& pkt, clock::time_point now);
    void close_for_malformed_filter(connection_state& c, session_record& s, clock::time_point now);
    std::uint32_t capped_expiry(std::uint32_t requested) const;
    void connection_ended(connection_state& c, std::error_code reason, clock::time_point now);
    void route(const mqtt::publish& msg, const session_record* from, clock::time_point now, std::size_t* delivered = nullptr);
    // `kept`: where route() caches the one compact copy for offline clients.
    void deliver(session_record& s, const mqtt::publish& msg, mqtt::qos q, bool retain,
        const std::vector<std::uint32_t>& subscription_ids, clock::time_point now,
        std::optional<mqtt::publish>* kept = nullptr);
    void send_retained(session_record& s, std::string_view filter, const subscriber& sub, clock::time_point now);
    void publish_will(session_record& s, clock::time_point now);
    void discard_session(session_record& s);
    void store_retained(const mqtt::publish& msg, clock::time_point now);
    client_identity identity(const session_record& s) const;
    std::string assign_client_id();
    // One copy shared by every session's core.
    const std::shared_ptr<const session_options>& core_options() const noexcept { return core_options_; }
    std::shared_ptr<const session_options> core_options_;
    // Records that a session changed (for the next commit); nothing without a store.
    void touch(session_record& s)
    {
        if (store_) {
            dirty_sessions_.insert(s.client_id);
            s.persisted().needs_snapshot = true;
        }
    }
    // Changed only by QoS 1 acknowledgments and deliveries (pending_appends): a long
    // queue need not be compared with the store at every commit.
    void touch_light(session_record& s)
    {
        if (store_)
            dirty_sessions_.insert(s.client_id);
    }
    void write_appends(session_record& s, clock::time_point now, wall_clock::time_point wall_now, std::vector<store_op>& ops);
    void touch_retained(std::string_view topic);
    void write_session(session_record& s, clock::time_point now, wall_clock::time_point wall_now, std::vector<store_op>& ops);
    void send_output(connection_state& c, const packet& pkt, protocol_version v);
    void end_output(connection_state& c);
    void hold_staged(std::uint64_t group);
    void restore_session(stored_session& ss, clock::time_point now, wall_clock::time_point wall_now);

    engine_options opts_;
    std::shared_ptr<access_control> access_;
    std::function<void(const client_event&)> client_event_;
    std::unordered_map<connection_id, std::unique_ptr<connection_state>> connections_;
    // Keyed by a view of the record's own client_id (no second copy of it per client).
    std::unordered_map<std::string_view, std::unique_ptr<session_record>> sessions_;
    subscription_tree tree_;
    std::map<std::string, retained_message, std::less<>> retained_;
    std::vector<connection_id> dirty_;
    // Keep-alive deadlines, a min-heap; an entry whose connection has since moved
    // its deadline (or gone) is skipped when it comes up.
    std::vector<std::pair<clock::time_point, connection_id>> timers_;
    connection_id next_id_ = 1;
    std::uint64_t assigned_ids_ = 0;
    broker_metrics metrics_;

    // Scratch space reused by route() so that routing does not allocate.
    std::vector<const subscriber*> match_plain_;
    std::vector<shared_group*> match_shared_;
    std::vector<std::unique_ptr<session_record>> graveyard_; // discarded sessions, freed between events
    // Emptied action vectors that keep their capacity: a core's queue is swapped
    // with one to be performed and handed back empty after, so neither a message
    // allocates one nor does an idle core hold one.
    std::vector<std::vector<action>> spare_actions_;

    // Persistence (all empty without a store).
    store* store_ = nullptr;
    std::unordered_set<std::string> dirty_sessions_;  // client ids changed since the last commit
    std::unordered_set<std::string> dirty_retained_;  // topics changed since the last commit
    std::unordered_set<std::string> stored_ids_;      // client ids the store has a row for
    std::vector<connection_id> staged_;               // connections with output for the next group
    std::vector<connection_id> waiting_;              // connections with output waiting for a commit
    std::uint64_t next_group_ = 1;
    std::uint64_t committed_group_ = 0;
    std::vector<store_group> unapplied_;              // commit(): groups whose write failed
};

} // namespace mqtt::broker

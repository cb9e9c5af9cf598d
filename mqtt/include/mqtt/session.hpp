#pragma once
// The sans-I/O MQTT session: one implementation of QoS 0/1/2, flow control, topic
// aliases and keep alive for both the client and the server role. It owns no
// socket, thread or clock: feed it bytes, packets, requests and "timer fired"
// (each with the current time), then perform the actions it queued.
//
// The object lives as long as the MQTT session, not the network connection: after
// close_connection / connection_lost it keeps its session_state, and the next
// connect()/accept() resumes it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/action.hpp"
#include "mqtt/maybe_time.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/packet_id_allocator.hpp"
#include "mqtt/session_state.hpp"
#include "mqtt/stream_decoder.hpp"

namespace mqtt {

struct session_options {
    // Deliver QoS 1/2 messages and wait for acknowledge() before PUBACK / PUBREC,
    // so the application can commit its side effect first.
    bool manual_ack = false;
    // Give outgoing PUBLISH packets topic aliases when the peer allows them (5.0).
    bool auto_topic_alias = false;
    // 3.1.1 only: resend an unacknowledged PUBLISH/PUBREL after this long while
    // connected (0 = never, the default), at most max_retransmits times.
    std::chrono::milliseconds retransmit_interval{0};
    unsigned max_retransmits = 3;
    // Bounds on messages waiting to be sent (not yet in flight); 0 = unbounded.
    std::size_t max_queued_messages = 0;
    std::size_t max_queued_bytes = 0;
    // When the server had no session for us (session present = 0), resend
    // unacknowledged QoS 1/2 PUBLISH as new messages instead of failing them.
    bool resend_on_session_lost = true;
    // Packet id space (a small value makes exhaustion testable).
    std::uint16_t maximum_packet_id = 65535;
    // Our own cap on QoS 1/2 messages in flight to the peer (0: only the peer's
    // Receive Maximum limits it), e.g. a broker's max_inflight_messages.
    std::uint16_t max_inflight = 0;
    // Server: the largest packet accepted from a 3.1.1 client (0: the protocol's
    // limit). A 5.0 client is told its limit in the CONNACK (Maximum Packet Size),
    // which the core takes from there.
    std::uint32_t maximum_packet_size = 0;
    // Server: what a 3.1.1 client may publish (a 5.0 client learns these from the
    // CONNACK's Maximum QoS and Retain Available). A PUBLISH beyond them closes
    // the connection, as Mosquitto's max_qos and retain_available do.
    std::uint8_t maximum_qos = 2;
    bool retain_available = true;
};

namespace detail {

// The role-independent implementation; use client_session / server_session.
class session_core {
public:
    // The options are shared: a broker gives every session the same ones.
    session_core(role r, std::shared_ptr<const session_options> opts);

    // ---- connection lifecycle
    void start_connect(const connect& pkt, clock::time_point now);  // client
    void accept(const connack& ack, clock::time_point now);         // server
    void receive(std::string_view bytes, clock::time_point now);
    void receive(packet pkt, clock::time_point now);
    // receive() in two steps, for a caller that wants to act on the first packets
    // of a long read before the rest are handled (a client sends the publishes its
    // acknowledgments free while it handles the others): feed() buffers the bytes,
    // process() handles at most max_packets of the whole packets buffered and says
    // whether it stopped at that limit with bytes left.
    void feed(std::string_view bytes);
    bool process(clock::time_point now, std::size_t max_packets);
    void timer_fired(timer_id id, clock::time_point now);
    void connection_lost(clock::time_point now);

    // ---- requests
    void publish(mqtt::publish msg, std::uint64_t tag, clock::time_point now);
    void subscribe(mqtt::subscribe pkt, std::uint64_t tag, clock::time_point now);
    void unsubscribe(mqtt::unsubscribe pkt, std::uint64_t tag, clock::time_point now);
    void acknowledge(std::uint16_t packet_id, reason_code code, clock::time_point now, properties props = {});
    void disconnect(mqtt::disconnect pkt, clock::time_point now);
    void send_control(packet pkt, clock::time_point now); // SUBACK, UNSUBACK, AUTH

    // ---- state
    std::vector<action>& actions() noexcept { return actions_; }
    bool is_connected() const noexcept { return phase_ == phase::connected; }
    std::optional<protocol_version> version() const noexcept { return version_; }
    session_state state() const;
    void restore(session_state s);
    // Fails every queued and in-flight request with `why` and forgets the received
    // ids not yet acknowledged (a QoS 2 id whose PUBREC went out is kept).
    void clear(std::error_code why);
    // Moves the session part (queued and in-flight messages, QoS 2 received ids) of
    // `from`, whose connection must be closed, into this core, which keeps its own
    // connection. A broker resumes a stored session on a new connection this way.
    void adopt_session(session_core& from);

    std::size_t inflight_count() const noexcept { return inflight_out_; }
    std::size_t queued_count() const noexcept { return queued_count_; }
    std::size_t queued_bytes() const noexcept { return queued_bytes_; }
    std::uint16_t peer_receive_maximum() const noexcept { return peer_receive_max_; }
    std::uint32_t peer_maximum_packet_size() const noexcept { return peer_max_packet_; }

private:
    enum class phase : std::uint8_t { idle, awaiting_connack, awaiting_accept, connected };

    struct out_item {
        mqtt::publish msg;
        outgoing_stage stage = outgoing_stage::queued;
        std::uint64_t tag = 0;
        bool sent_this_connection = false;
        bool ever_sent = false;
        unsigned retransmits = 0;
        clock::time_point enqueued_at{};
        clock::time_point last_sent_at{};
    };
    using out_list = std::list<out_item>;

    // A message accepted while there is no connection (an offline client's
    // queue), or behind such messages: a compact entry in a deque instead of a
    // list node with a whole publish, 64 bytes instead of 144 with malloc's
    // header. Topic and payload stay views into the bytes they came in, kept by
    // one owner. It becomes an out_item when its turn comes (pump).
    struct waiting_item {
        waiting_item(mqtt::publish&& msg, std::uint64_t tag, clock::time_point now);
        mqtt::publish take();

        std::shared_ptr<const void> owner; // keeps topic and payload alive
        const char* topic = nullptr;
        const char* payload = nullptr;
        std::uint32_t payload_size = 0;
        std::uint16_t topic_size = 0; // a topic name is at most 65,535 bytes
        mqtt::qos qos = qos::at_most_once;
        bool retain = false;
        properties props;
        std::uint64_t tag = 0;
        clock::time_point enqueued_at{};
    };
    using waiting_list = std::deque<waiting_item>;

    struct pending_request {
        bool is_subscribe;
        std::uint64_t tag;
        std::size_t count; // filters sent: the ack must carry as many reason codes
    };

    void handle(packet& pkt, clock::time_point now);
    void on_connect(mqtt::connect& pkt, clock::time_point now);
    void on_connack(mqtt::connack& pkt, clock::time_point now);
    void on_publish(mqtt::publish& pkt, clock::time_point now);
    void on_puback(const mqtt::puback& pkt, clock::time_point now);
    void on_pubrec(const mqtt::pubrec& pkt, clock::time_point now);
    void on_pubrel(const mqtt::pubrel& pkt, clock::time_point now);
    void on_pubcomp(const mqtt::pubcomp& pkt, clock::time_point now);
    template <class Ack>
    void on_sub_ack(Ack& pkt, bool is_subscribe, clock::time_point now);

    void session_started(bool session_present, clock::time_point now);
    void pump(clock::time_point now);
    void transmit(out_list::iterator it, clock::time_point now);
    void append_out(mqtt::publish msg, std::uint64_t tag, clock::time_point enqueued_at);
    bool has_waiting() const noexcept { return tables_ && tables_->waiting && !tables_->waiting->empty(); }
    bool window_full() const noexcept;
    std::error_code send_publish(mqtt::publish out, bool resend, clock::time_point enqueued_at, clock::time_point now);
    static reason_code failure_code(std::error_code ec) noexcept;
    void finish(out_list::iterator it, std::error_code ec, reason_code code, properties props);
    bool send(packet pkt, clock::time_point now);
    void protocol_violation(reason_code code, clock::time_point now);
    void close(std::error_code reason);
    void arm_keep_alive(clock::time_point now);
    void arm_retransmit();
    void reset_connection();
    void mark_all_unsent();
    std::size_t incoming_unacknowledged() const noexcept;
    bool topic_valid(const buffer& topic);

    // Ordered by size, so that a broker's one core per client carries no padding.
    std::shared_ptr<const session_options> opts_;
    stream_decoder decoder_;
    std::vector<action> actions_;
    std::vector<packet> held_; // server: packets after CONNECT, processed once accepted

    // Outgoing: every accepted message in order. Items before cursor_ have been
    // transmitted on this connection; from cursor_ on they wait (window, ids).
    // Messages never sent follow in tables::waiting, after all of out_.
    out_list out_;
    out_list::iterator cursor_;
    std::size_t queued_bytes_ = 0;
    std::uint32_t inflight_out_ = 0;
    std::uint32_t queued_count_ = 0;

    // Limits: ours and the ones the peer set.
    std::uint32_t max_packet_ = max_packet_size;      // ours
    std::uint32_t peer_max_packet_ = max_packet_size;
    std::uint16_t receive_max_ = 65535;               // ours
    std::uint16_t alias_max_ = 0;                     // ours: aliases the peer may use
    std::uint16_t peer_receive_max_ = 65535;
    std::uint16_t peer_alias_max_ = 0;

    // The tables by packet id and alias: empty on an idle connection, so they are
    // allocated at first use and an idle session costs a pointer for them, not
    // some 400 bytes (a broker holds one core per client).
    struct tables {
        explicit tables(std::uint16_t maximum_packet_id) : ids(maximum_packet_id) {}
        std::unordered_map<std::uint16_t, out_list::iterator> out_by_id; // into out_
        packet_id_allocator ids;
        std::map<std::uint16_t, pending_request> requests; // SUBSCRIBE / UNSUBSCRIBE awaiting ack
        std::map<std::uint16_t, bool> qos2_in; // id -> PUBREC sent (false: waiting for acknowledge())
        std::set<std::uint16_t> qos1_unacked;  // manual-ack QoS 1 ids not yet acknowledged
        std::unordered_map<std::uint16_t, buffer> in_aliases;
        std::unordered_map<std::string_view, std::uint16_t> out_aliases;
        std::vector<buffer> out_alias_topics; // owns the keys of out_aliases
        // Client: the topic of the last publish, once valid. An application that
        // builds its topic once and publishes with it again and again has it
        // checked once; held, so that its bytes cannot change meanwhile.
        buffer checked_topic;
        // Nodes of finished messages kept for the next ones, so that a QoS 1/2
        // message in steady flow allocates no list, map or set node (a few kept).
        out_list spare_items;
        // The messages after out_ that were never sent (see waiting_item);
        // allocated when one has to wait (an empty deque takes some 600 bytes).
        std::unique_ptr<waiting_list> waiting;
        std::vector<decltype(out_by_id)::node_type> spare_id_nodes;
        std::vector<decltype(qos1_unacked)::node_type> spare_unacked_nodes;
    };
    std::unique_ptr<tables> tables_;
    tables& tb();

    // Keep alive.
    std::chrono::milliseconds keep_alive_{0};
    clock::time_point last_sent_{};
    clock::time_point last_received_{};
    maybe_time ping_sent_; // client: when the unanswered PINGREQ went out

    // The small ones last (role is one byte: these fill 16 bytes, and the core
    // stays in its malloc size step).
    // Counts close() calls, to stop processing a closed connection's bytes (only
    // compared across one packet's handling: 32 bits cannot wrap in between).
    std::uint32_t closes_ = 0;
    role role_;
    phase phase_ = phase::idle;
    std::optional<protocol_version> version_;
    bool clean_start_sent_ = false;
    bool retransmit_armed_ = false;
    std::uint8_t max_qos_ = 2;              // server: Maximum QoS it granted
    bool retain_available_ = true;          // server: Retain Available it granted
    bool problem_info_ = true;              // server: the client's Request Problem Information
    bool connect_expiry_zero_ = true;       // server: the CONNECT's Session Expiry Interval was 0
    // Server: a decoding error in what followed the CONNECT, reported only if the
    // connection is accepted: a refused CONNECT gets its own CONNACK and nothing
    // after it is processed [MQTT-3.1.4-6].
    reason_code held_error_ = reason_code::success;
};

} // namespace detail

// The session core for one role. Packets the role may not send are rejected at
// compile time (a client cannot send SUBACK; a server cannot SUBSCRIBE).
template <role R>
class basic_session {
public:
    explicit basic_session(session_options opts = {})
        : core_(R, std::make_shared<const session_options>(std::move(opts)))
    {
    }
    // Options shared by many sessions (a broker's): one copy for all of them.
    explicit basic_session(std::shared_ptr<const session_options> opts) : core_(R, std::move(opts)) {}

    void connect(const mqtt::connect& pkt, clock::time_point now)
        requires(R == role::client)
    {
        core_.start_connect(pkt, now);
    }
    // Answers a connect_received: a success CONNACK starts (or resumes) the
    // session; a failure CONNACK is sent and the connection closed.
    void accept(const connack& ack, clock::time_point now)
        requires(R == role::server)
    {
        core_.accept(ack, now);
    }

    void receive(std::string_view bytes, clock::time_point now) { core_.receive(bytes, now); }
    void receive(packet pkt, clock::time_point now) { core_.receive(std::move(pkt), now); }
    void feed(std::string_view bytes) { core_.feed(bytes); }
    bool process(clock::time_point now, std::size_t max_packets) { return core_.process(now, max_packets); }
    void timer_fired(timer_id id, clock::time_point now) { core_.timer_fired(id, now); }
    void connection_lost(clock::time_point now) { core_.connection_lost(now); }

    void publish(mqtt::publish msg, std::uint64_t tag, clock::time_point now)
    {
        core_.publish(std::move(msg), tag, now);
    }
    void subscribe(mqtt::subscribe pkt, std::uint64_t tag, clock::time_point now)
        requires(R == role::client)
    {
        core_.subscribe(std::move(pkt), tag, now);
    }
    void unsubscribe(mqtt::unsubscribe pkt, std::uint64_t tag, clock::time_point now)
        requires(R == role::client)
    {
        core_.unsubscribe(std::move(pkt), tag, now);
    }
    void acknowledge(std::uint16_t packet_id, reason_code code, clock::time_point now, properties props = {})
    {
        core_.acknowledge(packet_id, code, now, std::move(props));
    }
    void disconnect(mqtt::disconnect pkt, clock::time_point now) { core_.disconnect(std::move(pkt), now); }

    template <class P>
        requires(may_send(R, packet_type_of<P>()) &&
            (std::is_same_v<P, suback> || std::is_same_v<P, unsuback> || std::is_same_v<P, auth>))
    void send(P pkt, clock::time_point now)
    {
        core_.send_control(packet(std::move(pkt)), now);
    }

    std::vector<action>& actions() noexcept { return core_.actions(); }
    bool is_connected() const noexcept { return core_.is_connected(); }
    std::optional<protocol_version> version() const noexcept { return core_.version(); }
    session_state state() const { return core_.state(); }
    void restore(session_state s) { core_.restore(std::move(s)); }
    void clear(std::error_code why) { core_.clear(why); }
    void adopt_session(basic_session& from) { core_.adopt_session(from.core_); }
    std::size_t inflight_count() const noexcept { return core_.inflight_count(); }
    std::size_t queued_count() const noexcept { return core_.queued_count(); }
    std::size_t queued_bytes() const noexcept { return core_.queued_bytes(); }
    std::uint16_t peer_receive_maximum() const noexcept { return core_.peer_receive_maximum(); }
    std::uint32_t peer_maximum_packet_size() const noexcept { return core_.peer_maximum_packet_size(); }

private:
    detail::session_core core_;
};

using client_session = basic_session<role::client>;
using server_session = basic_session<role::server>;

} // namespace mqtt

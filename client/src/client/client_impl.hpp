#pragma once
// The client's state machine. Everything here runs on the strand; the public
// client queues each call for it (submit). The session core decides what goes on the wire;
// this class moves bytes, arms timers, reconnects and completes handlers.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "mqtt/client/client.hpp"
#include "mqtt/session.hpp"
#include "mqtt/transport/stream.hpp"
#include "tag_table.hpp"
#include "write_batch.hpp"

namespace mqtt::detail {

// A pending operation: its handler and the work it keeps alive on the handler's
// executor. A local handler has no executor of its own: it runs on the client's
// strand, which one shared work count keeps alive (no executor object per call).
template <class Handler>
struct pending {
    Handler handler;
    std::optional<boost::asio::any_completion_executor> work; // empty: local
};

// A publish waiting for its outcome.
struct publish_waiter {
    pending<client::publish_handler> p;
    bool at_most_once = false; // completes once its bytes are written
};

// One network connection: the stream and the buffers its operations use. Handlers
// hold it by shared_ptr, so buffers outlive the operations even after the client
// moved on to the next connection.
struct connection {
    std::unique_ptr<transport::stream> stream;
    write_batch queued;  // filled during this loop turn
    write_batch writing; // handed to async_write
    // QoS 0 publishes whose PUBLISH is in `queued` / `writing`: they complete
    // when that write does.
    std::vector<pending<client::publish_handler>> queued_done;
    std::vector<pending<client::publish_handler>> writing_done;
    bool write_in_flight = false;
    bool closing = false; // close once the queued bytes are written
    std::vector<char> read_buffer;
    bool closed = false;
    std::vector<pending<client::disconnect_handler>> on_closed; // async_disconnect waiters
    std::unique_ptr<boost::asio::steady_timer> close_deadline;
};

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;

    client_impl(boost::asio::any_io_executor ex, client_options options);
    ~client_impl();

    const strand_type& strand() const noexcept { return strand_; }
    bool connected_hint() const noexcept { return connected_flag_.load(std::memory_order_relaxed); }

    // Any thread: queues a call for the strand. Calls run in the order
    // submitted, many in one strand turn, and the packets they produce leave in
    // one write at the end of that turn.
    void submit_publish(mqtt::publish&& msg, client::publish_handler&& h, bool local);
    template <class F>
    void submit(F&& f)
    {
        queued_call r;
        r.other = std::make_unique<task_impl<std::decay_t<F>>>(std::forward<F>(f));
        enqueue(std::move(r));
    }

    // On the strand.
    void connect(client::connect_handler h);
    void publish(mqtt::publish&& msg, client::publish_handler&& h, bool local);
    void subscribe(mqtt::subscribe pkt, client::subscribe_handler h);
    void unsubscribe(mqtt::unsubscribe pkt, client::unsubscribe_handler h);
    void receive(client::receive_handler h);
    void disconnect(mqtt::disconnect pkt, client::disconnect_handler h);
    void stop();
    void acknowledge(std::uint16_t packet_id, qos q, reason_code code, properties props);
    void reauthenticate(properties props);
    void set_message_handler(std::function<void(mqtt::publish)> h) { message_handler_ = std::move(h); }
    void set_event_handler(std::function<void(const connection_event&)> h) { event_handler_ = std::move(h); }

private:
    enum class phase {
        idle,          // not started, stopped, or gave up
        connecting,    // transport connect in progress
        handshaking,   // CONNECT sent, waiting for CONNACK
        connected,     // session up
        backoff,       // waiting before the next attempt
        disconnecting, // DISCONNECT requested
    };

    struct timer_slot {
        explicit timer_slot(const strand_type& s) : timer(s) {}
        boost::asio::steady_timer timer;
        std::uint64_t seq = 0;
    };

    using held_request = std::variant<mqtt::subscribe, mqtt::unsubscribe>;

    struct task {
        virtual ~task() = default;
        virtual void run(client_impl& impl) = 0;
    };
    template <class F>
    struct task_impl final : task {
        explicit task_impl(F fn) : f(std::move(fn)) {}
        void run(client_impl& impl) override { f(impl); }
        F f;
    };
    // A publish (the hot path, no allocation of its own) or any other call.
    struct queued_call {
        mqtt::publish msg;
        client::publish_handler handler;
        std::unique_ptr<task> other;
        bool local = false;
    };
    void enqueue(queued_call r);
    void drain();
    void run_submitted();
    // Sets a flag for a scope and restores its previous value (scopes nest).
    struct scoped_flag {
        explicit scoped_flag(bool& f) : flag(f), previous(f) { flag = true; }
        ~scoped_flag() { flag = previous; }
        scoped_flag(const scoped_flag&) = delete;
        scoped_flag& operator=(const scoped_flag&) = delete;
        bool& flag;
        bool previous;
    };
    // While one lives, writes wait: the packets of a whole turn leave together.
    struct hold_writes : scoped_flag {
        explicit hold_writes(client_impl& i) : scoped_flag(i.batching_) {}
    };

    // Connection lifecycle.
    void begin_attempt();
    void on_transport_connected(std::uint64_t attempt, transport::error_code ec, std::unique_ptr<transport::stream> s);
    void on_connect_timeout(std::uint64_t attempt);
    void start_read(const std::shared_ptr<connection>& c);
    void on_read(const std::shared_ptr<connection>& c, transport::error_code ec, std::size_t n);
    void flush(const std::shared_ptr<connection>& c);
    void on_written(const std::shared_ptr<connection>& c, transport::error_code ec);
    void retire(bool graceful);
    void finish_close(const std::shared_ptr<connection>& c);
    void transport_failed(std::error_code why);
    void connection_down(std::error_code why);
    void schedule_reconnect(std::error_code why);
    void give_up(std::error_code why);
    void cancel_all(std::error_code why);
    mqtt::connect next_connect_packet() const;

    // Actions of the session core.
    void run_actions();
    void handle(action& a);
    void on_send(packet& pkt);
    void on_connected(connected& c);
    void on_auth(const auth& pkt);
    void arm(timer_slot& slot, timer_id id, clock::time_point at);
    void deliver(mqtt::publish msg);
    void deliver_saved();
    void submit_held();
    void resubscribe();
    void note_subscription(const mqtt::subscribe& pkt, const suback& ack);
    bool needs_save() const noexcept;
    void schedule_commit();
    void commit();
    bool save_state();
    bool completes_when_stored() const noexcept;
    void emit(connection_event ev);

    template <class Handler>
    pending<Handler> track(Handler h);
    template <class Handler>
    pending<Handler> track_local(Handler h);
    void complete_written(std::vector<pending<client::publish_handler>>& done, std::error_code ec);
    template <class Handler, class... Args>
    void complete(pending<Handler> p, Args&&... args);

    strand_type strand_;
    client_options options_;
    mqtt::connect connect_packet_;
    client_session session_;
    std::shared_ptr<connection> conn_;
    phase phase_ = phase::idle;
    std::uint64_t attempt_id_ = 0; // identifies the current connection attempt
    unsigned failures_ = 0;        // attempts failed in a row
    bool ever_connected_ = false;
    bool stopped_ = false; // stop() or giving up; async_connect clears it
    std::error_code stop_reason_;
    std::string assigned_client_id_;
    std::optional<mqtt::disconnect> server_disconnect_;
    std::optional<connack> refusal_;
    connack last_connack_;
    std::uint8_t server_maximum_qos_ = 2;     // from the last CONNACK (5.0)
    bool server_retain_available_ = true;
    std::atomic<bool> connected_flag_{false};

    timer_slot keep_alive_timer_;
    timer_slot retransmit_timer_;
    boost::asio::steady_timer attempt_timer_; // connect timeout, then backoff
    std::mt19937_64 random_;

    std::uint64_t next_tag_ = 1;
    std::vector<pending<client::connect_handler>> connect_waiters_;
    tag_table<publish_waiter> publishes_;
    std::unordered_map<std::uint64_t, pending<client::subscribe_handler>> subscribes_;
    std::unordered_map<std::uint64_t, pending<client::unsubscribe_handler>> unsubscribes_;
    std::unordered_map<std::uint64_t, mqtt::subscribe> subscribe_requests_; // to learn what was granted
    std::unordered_map<std::uint64_t, mqtt::unsubscribe> unsubscribe_requests_;
    std::deque<std::pair<std::uint64_t, held_request>> held_;
    std::vector<pending<client::disconnect_handler>> disconnect_waiters_;
    std::deque<pending<client::receive_handler>> receivers_;
    std::deque<mqtt::publish> inbox_;
    // Granted subscriptions, for resubscribing after a lost session.
    std::map<std::string, std::pair<subscribe_options, properties>> subscriptions_;

    std::function<void(mqtt::publish)> message_handler_;
    std::function<void(const connection_event&)> event_handler_;
    bool dirty_ = false; // session state changed since the last save
    std::size_t saved_outstanding_ = 0;
    bool in_actions_ = false;
    // With a store, the bytes queued in a strand turn are written only after the
    // state they depend on is saved: one save per turn, posted behind the requests
    // already waiting on the strand so that a burst of them shares it.
    bool commit_scheduled_ = false;
    // The store could not be loaded: never saved to, so that what it holds is not
    // overwritten by a state that never saw it.
    bool store_unusable_ = false;
    std::vector<std::uint64_t> unstored_tags_; // publishes that complete once stored
    // With a store, a QoS 2 message reaches the application only once the store
    // holds its packet id (spec 4.3.3, method B: store the id, then deliver): a
    // crash before the save makes the broker send it again, and it arrives once.
    // Messages behind it wait with it, so that the order stays as received.
    std::vector<mqtt::publish> unsaved_deliveries_;

    // Submitted requests (any thread) and the ones being run (strand): two
    // buffers swapped at each turn, so that neither allocates once warm.
    std::mutex submit_mutex_;
    std::vector<queued_call> submitted_;
    bool drain_posted_ = false;
    // Whether submitted_ holds anything (read without the lock by the fast path).
    std::atomic<bool> submitted_waiting_{false};
    std::vector<queued_call> draining_;
    std::size_t drain_pos_ = 0; // the next call of draining_ to run
    bool batching_ = false;          // writes wait for the end of the turn (hold_writes)
    bool in_drain_ = false;
    // Set while one of our strand handlers runs completions and then runs what
    // they submitted (drain, on_read, on_written): a publish submitted from such
    // a completion goes straight to draining_, without the lock (see submit_publish).
    bool collecting_ = false;
    struct collecting : scoped_flag {
        explicit collecting(client_impl& i) : scoped_flag(i.collecting_) {}
    };
    clock::time_point turn_started_; // when the current drain() began
    std::vector<action> actions_batch_; // run_actions' buffer, kept for its capacity
    // Local handlers outstanding, and the work that keeps the strand's context
    // running while there are any.
    std::size_t local_pending_ = 0;
    std::optional<decltype(boost::asio::prefer(std::declval<const strand_type&>(),
        boost::asio::execution::outstanding_work.tracked))>
        local_work_;
};

} // namespace mqtt::detail

#include "client_impl.hpp"

#include <algorithm>
#include <exception>

#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include "mqtt/client/backoff.hpp"
#include "mqtt/codec.hpp"

namespace mqtt::detail {

namespace {

using namespace std::chrono_literals;

// How long a closing connection may take to write its last bytes (DISCONNECT)
// and see the broker close its side.
constexpr auto close_grace = 1000ms;

// Calls that one strand turn runs (see drain()).
constexpr std::size_t max_calls_per_turn = 1024;
// Packets of one read handled before what they produced is written (on_read).
// Small enough that the peer gets work while we handle the rest of a window of
// acknowledgments; large enough to keep a few dozen packets per write.
constexpr std::size_t packets_per_slice = 32;

clock::time_point now() { return clock::now(); }

std::uint64_t seed() noexcept
{
    try {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
        return static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
    }
}

// A network error as the user sees it: the end of the stream is a lost connection.
std::error_code network_error(const transport::error_code& ec)
{
    namespace ae = boost::asio::error;
    if (ec == ae::eof || ec == ae::connection_reset || ec == ae::broken_pipe || ec == ae::connection_aborted)
        return make_error_code(errc::connection_lost);
    return static_cast<std::error_code>(ec);
}

connection_event make_event(connection_event_kind kind, std::error_code reason = {}, unsigned attempt = 0)
{
    connection_event ev;
    ev.kind = kind;
    ev.reason = reason;
    ev.attempt = attempt;
    return ev;
}

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

bool changes_state(const packet& p)
{
    if (auto* pub = std::get_if<mqtt::publish>(&p))
        return pub->qos != qos::at_most_once;
    return std::holds_alternative<pubrel>(p) || std::holds_alternative<pubrec>(p) || std::holds_alternative<pubcomp>(p);
}

} // namespace

client_impl::client_impl(boost::asio::any_io_executor ex, client_options options)
    : strand_(boost::asio::make_strand(std::move(ex))),
      options_(std::move(options)),
      connect_packet_(make_connect_packet(options_.connect)),
      session_(options_.session),
      keep_alive_timer_(strand_),
      retransmit_timer_(strand_),
      attempt_timer_(strand_),
      random_(seed())
{
    if (options_.read_buffer_size < 512)
        options_.read_buffer_size = 512;
    if (options_.store) {
        auto loaded = options_.store->load();
        if (!loaded) {
            store_unusable_ = true;
            if (options_.on_store_error)
                options_.on_store_error(loaded.error());
        } else if (!loaded->outgoing.empty() || !loaded->qos2_received.empty()) {
            session_.restore(std::move(*loaded));
            saved_outstanding_ = session_.inflight_count() + session_.queued_count();
        }
    }
}

client_impl::~client_impl() = default;

// ---------------------------------------------------------------- handlers

template <class Handler>
pending<Handler> client_impl::track(Handler h)
{
    auto ex = boost::asio::get_associated_executor(h, strand_);
    boost::asio::any_completion_executor work =
        boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
    return {std::move(h), std::move(work)};
}

template <class Handler>
pending<Handler> client_impl::track_local(Handler h)
{
    if (local_pending_++ == 0)
        local_work_.emplace(boost::asio::prefer(strand_, boost::asio::execution::outstanding_work.tracked));
    return {std::move(h), std::nullopt};
}

template <class Handler, class... Args>
void client_impl::complete(pending<Handler> p, Args&&... args)
{
    // We run on the strand, never inside the initiating call (every call is
    // queued): handlers may run inline on their executor.
    if (!p.work) {
        if (--local_pending_ == 0)
            local_work_.reset();
        std::move(p.handler)(std::forward<Args>(args)...);
        return;
    }
    auto work = std::move(p.work);
    boost::asio::dispatch(strand_, boost::asio::append(std::move(p.handler), std::forward<Args>(args)...));
}

void client_impl::complete_written(std::vector<pending<client::publish_handler>>& done, std::error_code ec)
{
    if (done.empty())
        return;
    auto waiters = std::move(done);
    done.clear();
    for (auto& w : waiters)
        complete(std::move(w), ec, publish_result{ec ? reason_code::unspecified_error : reason_code::success, {}});
    if (done.empty()) {
        waiters.clear();
        done.swap(waiters); // keep the capacity
    }
}

// ---------------------------------------------------------------- submission

void client_impl::submit_publish(mqtt::publish&& msg, client::publish_handler&& h, bool local)
{
    // A completion that publishes the next message (the usual way to keep a
    // window of publishes going) runs on the strand inside a handler of ours that
    // runs what was submitted before it returns. Its call can then join the calls
    // being run directly: no lock and no post. Only while nothing waits in
    // submitted_, which keeps each thread's calls in the order it made them: a
    // call this thread made earlier from elsewhere is already in draining_.
    if (strand_.running_in_this_thread() && collecting_ && !submitted_waiting_.load(std::memory_order_acquire)) {
        draining_.push_back(queued_call{std::move(msg), std::move(h), nullptr, local});
        return;
    }
    {
        std::lock_guard lock(submit_mutex_);
        submitted_waiting_.store(true, std::memory_order_relaxed);
        // Constructed, not assigned: Boost 1.81's any_completion_handler move
        // assignment wraps the handler in another one instead of moving it.
        submitted_.push_back(queued_call{std::move(msg), std::move(h), nullptr, local});
        if (drain_posted_)
            return;
        drain_posted_ = true;
    }
    boost::asio::post(strand_, [self = shared_from_this()] { self->drain(); });
}

void client_impl::enqueue(queued_call r)
{
    {
        std::lock_guard lock(submit_mutex_);
        submitted_waiting_.store(true, std::memory_order_relaxed);
        submitted_.push_back(std::move(r));
        if (drain_posted_)
            return;
        drain_posted_ = true;
    }
    boost::asio::post(strand_, [self = shared_from_this()] { self->drain(); });
}

void client_impl::drain()
{
    if (drain_pos_ == draining_.size()) {
        draining_.clear();
        drain_pos_ = 0;
        std::lock_guard lock(submit_mutex_);
        draining_.swap(submitted_);
        submitted_waiting_.store(false, std::memory_order_relaxed);
        drain_posted_ = false;
    }
    struct turn {
        client_impl& impl;
        ~turn()
        {
            impl.in_drain_ = false;
            if (impl.drain_pos_ == impl.draining_.size() || std::uncaught_exceptions() > 0) {
                impl.draining_.clear();
                impl.drain_pos_ = 0;
            }
        }
    } guard{*this};
    std::optional<hold_writes> hold(std::in_place, *this);
    collecting collect(*this);
    in_drain_ = true;
    turn_started_ = now(); // one clock read per turn, not one per publish
    // A bounded number of calls per turn, so that a large burst does not hold
    // back reads and timers: the rest runs in the next turn, before anything
    // submitted later.
    const auto end = std::min(draining_.size(), drain_pos_ + max_calls_per_turn);
    while (drain_pos_ < end) {
        // Moved out: calls submitted meanwhile are appended to draining_.
        auto r = std::move(draining_[drain_pos_++]);
        if (r.other)
            r.other->run(*this);
        else
            publish(std::move(r.msg), std::move(r.handler), r.local);
    }
    hold.reset();
    if (conn_)
        flush(conn_);
    if (drain_pos_ < draining_.size())
        boost::asio::post(strand_, [self = shared_from_this()] { self->drain(); });
}

// Calls that handlers submitted just now (completions of a read or a write) run
// in this turn rather than in the next one: a scheduler round trip less each.
void client_impl::run_submitted()
{
    if (batching_)
        return;
    if (drain_pos_ == draining_.size()) {
        std::lock_guard lock(submit_mutex_);
        if (submitted_.empty())
            return;
    }
    drain(); // the drain posted for these finds nothing left
}

void client_impl::emit(connection_event ev)
{
    if (event_handler_)
        event_handler_(ev);
}

// ---------------------------------------------------------------- requests

void client_impl::connect(client::connect_handler h)
{
    auto p = track(std::move(h));
    if (phase_ == phase::connected) {
        complete(std::move(p), std::error_code(), last_connack_);
        return;
    }
    if (auto size = encoded_size(packet(connect_packet_), connect_packet_.version); !size) {
        complete(std::move(p), size.error(), connack{});
        return;
    }
    connect_waiters_.push_back(std::move(p));
    if (phase_ == phase::idle) {
        stopped_ = false;
        failures_ = 0;
        begin_attempt();
    }
}

namespace {

// Without properties, a topic and payload within the limits always encode.
bool trivially_encodable(const mqtt::publish& msg) noexcept
{
    constexpr std::size_t max_remaining = 268'435'455;
    return msg.props.empty() && static_cast<std::uint8_t>(msg.qos) <= 2 && !msg.topic.empty()
        && msg.topic.size() <= 65535 && msg.payload.size() <= max_remaining - 65535 - 2 - 2 - 1;
}

} // namespace

void client_impl::publish(mqtt::publish&& msg, client::publish_handler&& h, bool local)
{
    auto p = local ? track_local(std::move(h)) : track(std::move(h));
    // Refuse at once what can never be encoded (topic or properties too long, QoS 3...):
    // the session would otherwise hold it forever.
    if (!trivially_encodable(msg)) {
        auto probe = msg;
        probe.dup = false;
        probe.packet_id = probe.qos == qos::at_most_once ? 0 : 1;
        auto v = session_.version().value_or(connect_packet_.version);
        auto size = encoded_size(packet(std::move(probe)), v);
        if (!size) {
            complete(std::move(p), size.error(), publish_result{to_reason_code(size.error()), {}});
            return;
        }
    }
    // The core does not apply the server's Maximum QoS / Retain Available to a
    // client's publishes [MQTT-3.2.2-11] [MQTT-3.2.2-14]: refuse them here.
    if (static_cast<std::uint8_t>(msg.qos) > server_maximum_qos_) {
        complete(std::move(p), make_error_code(reason_code::qos_not_supported), publish_result{reason_code::qos_not_supported, {}});
        return;
    }
    if (msg.retain && !server_retain_available_) {
        complete(std::move(p), make_error_code(reason_code::retain_not_supported), publish_result{reason_code::retain_not_supported, {}});
        return;
    }
    const bool at_most_once = msg.qos == qos::at_most_once;
    auto tag = publishes_.insert(publish_waiter{std::move(p), at_most_once});
    if (!at_most_once) {
        dirty_ = true;
        if (completes_when_stored())
            unstored_tags_.push_back(tag);
    }
    session_.publish(std::move(msg), tag, in_drain_ ? turn_started_ : now());
    run_actions();
}

void client_impl::subscribe(mqtt::subscribe pkt, client::subscribe_handler h)
{
    auto tag = next_tag_++;
    subscribes_.emplace(tag, track(std::move(h)));
    if (options_.resubscribe)
        subscribe_requests_.emplace(tag, pkt);
    if (phase_ == phase::connected) {
        session_.subscribe(std::move(pkt), tag, now());
        run_actions();
    } else {
        held_.emplace_back(tag, std::move(pkt));
    }
}

void client_impl::unsubscribe(mqtt::unsubscribe pkt, client::unsubscribe_handler h)
{
    auto tag = next_tag_++;
    unsubscribes_.emplace(tag, track(std::move(h)));
    if (options_.resubscribe)
        unsubscribe_requests_.emplace(tag, pkt);
    if (phase_ == phase::connected) {
        session_.unsubscribe(std::move(pkt), tag, now());
        run_actions();
    } else {
        held_.emplace_back(tag, std::move(pkt));
    }
}

void client_impl::receive(client::receive_handler h)
{
    auto p = track(std::move(h));
    if (!inbox_.empty()) {
        auto msg = std::move(inbox_.front());
        inbox_.pop_front();
        complete(std::move(p), std::error_code(), std::move(msg));
        return;
    }
    if (stopped_) {
        complete(std::move(p), stop_reason_, mqtt::publish{});
        return;
    }
    receivers_.push_back(std::move(p));
}

void client_impl::disconnect(mqtt::disconnect pkt, client::disconnect_handler h)
{
    auto p = track(std::move(h));
    if (phase_ != phase::connected) {
        // No session to close with the broker: stopping is all there is to do.
        stop();
        complete(std::move(p), std::error_code());
        return;
    }
    if (session_.version() != protocol_version::v5) {
        pkt.code = reason_code::normal_disconnection;
        pkt.props.clear();
    }
    phase_ = phase::disconnecting;
    disconnect_waiters_.push_back(std::move(p));
    session_.disconnect(std::move(pkt), now());
    run_actions();
}

void client_impl::stop()
{
    const auto previous = phase_;
    ++attempt_id_; // a transport connect still running is discarded when it completes
    attempt_timer_.cancel();
    phase_ = phase::idle;
    connected_flag_.store(false, std::memory_order_relaxed);
    stopped_ = true;
    stop_reason_ = make_error_code(errc::cancelled);
    cancel_all(stop_reason_);
    if (conn_) {
        session_.connection_lost(now());
        retire(false);
    }
    run_actions();
    if (previous == phase::connected)
        emit(make_event(connection_event_kind::disconnected, stop_reason_));
    if (previous != phase::idle)
        emit(make_event(connection_event_kind::stopped, stop_reason_));
}

void client_impl::acknowledge(std::uint16_t packet_id, qos q, reason_code code, properties props)
{
    if (q == qos::at_most_once || packet_id == 0)
        return;
    session_.acknowledge(packet_id, code, now(), std::move(props));
    if (q == qos::exactly_once)
        dirty_ = true;
    run_actions();
}

void client_impl::reauthenticate(properties props)
{
    if (phase_ != phase::connected || session_.version() != protocol_version::v5)
        return;
    session_.send(auth{reason_code::reauthenticate, std::move(props)}, now());
    run_actions();
}

// ---------------------------------------------------------------- connection lifecycle

mqtt::connect client_impl::next_connect_packet() const
{
    auto pkt = connect_packet_;
    if (pkt.client_id.empty() && !assigned_client_id_.empty())
        pkt.client_id = assigned_client_id_; // the session lives under the assigned id
    if (ever_connected_ && pkt.version == protocol_version::v5 && options_.connect.session_expiry > 0)
        pkt.clean_start = false; // resume the session the first connection started
    return pkt;
}

void client_impl::begin_attempt()
{
    phase_ = phase::connecting;
    const auto attempt = ++attempt_id_;
    refusal_.reset();
    server_disconnect_.reset();
    attempt_timer_.expires_after(options_.connect.connect_timeout);
    attempt_timer_.async_wait([self = shared_from_this(), attempt](const boost::system::error_code& ec) {
        if (!ec)
            self->on_connect_timeout(attempt);
    });
    auto ep = options_.endpoint;
    if (ep.connect_timeout.count() == 0)
        ep.connect_timeout = options_.connect.connect_timeout; // the transport gives up too
    transport::async_connect(strand_, ep,
        [self = shared_from_this(), attempt](transport::error_code ec, std::unique_ptr<transport::stream> s) {
            auto strand = self->strand_;
            boost::asio::dispatch(strand, [self = std::move(self), attempt, ec, s = std::move(s)]() mutable {
                self->on_transport_connected(attempt, ec, std::move(s));
            });
        });
}

void client_impl::on_transport_connected(std::uint64_t attempt, transport::error_code ec, std::unique_ptr<transport::stream> s)
{
    if (attempt != attempt_id_ || phase_ != phase::connecting) {
        if (s)
            s->close(); // an attempt that timed out or was stopped meanwhile
        return;
    }
    if (ec || !s) {
        transport_failed(ec ? network_error(ec) : make_error_code(errc::connection_lost));
        return;
    }
    conn_ = std::make_shared<connection>();
    conn_->stream = std::move(s);
    conn_->read_buffer.resize(options_.read_buffer_size);
    phase_ = phase::handshaking;
    session_.connect(next_connect_packet(), now());
    auto c = conn_;
    run_actions();
    if (c == conn_)
        start_read(c);
}

void client_impl::on_connect_timeout(std::uint64_t attempt)
{
    if (attempt != attempt_id_ || (phase_ != phase::connecting && phase_ != phase::handshaking))
        return;
    ++attempt_id_; // forget the transport connect if it is still running
    transport_failed(make_error_code(errc::timeout));
}

void client_impl::start_read(const std::shared_ptr<connection>& c)
{
    c->stream->async_read_some(boost::asio::buffer(c->read_buffer),
        [self = shared_from_this(), c](transport::error_code ec, std::size_t n) {
            auto strand = self->strand_;
            boost::asio::dispatch(strand, [self = std::move(self), c = std::move(c), ec, n] { self->on_read(c, ec, n); });
        });
}

void client_impl::on_read(const std::shared_ptr<connection>& c, transport::error_code ec, std::size_t n)
{
    if (c != conn_) {
        // A closing connection: drain until the broker closes, then finish.
        if (ec || !c->closing)
            finish_close(c);
        else
            start_read(c);
        return;
    }
    if (ec) {
        transport_failed(network_error(ec));
        return;
    }
    // The packets are handled a slice at a time, and what a slice produces (its
    // acknowledgments, the publishes its completions submit) is written before
    // the next slice is handled: the broker starts on those while we handle the
    // rest, instead of both sides taking turns with whole windows.
    collecting collect(*this);
    session_.feed(std::string_view(c->read_buffer.data(), n));
    const auto t = now();
    for (bool more = true; more && conn_ == c;) {
        {
            hold_writes hold(*this);
            more = session_.process(t, packets_per_slice);
            run_actions();
        }
        run_submitted();
        if (conn_)
            flush(conn_);
    }
    // Read on once this turn's packets are written. A connection that a
    // submitted call closed gracefully (DISCONNECT) reads on too, to see the
    // broker's close.
    if (c == conn_ || (c->closing && !c->closed))
        start_read(c);
}

void client_impl::flush(const std::shared_ptr<connection>& c)
{
    if (c->write_in_flight || c->queued.empty() || !c->stream)
        return;
    if ((commit_scheduled_ || batching_) && c == conn_)
        return; // commit() writes them once the state is saved; drain() at the end of its turn
    std::swap(c->queued, c->writing);
    std::swap(c->queued_done, c->writing_done);
    c->write_in_flight = true;
    c->stream->async_write(c->writing.buffers(), [self = shared_from_this(), c](transport::error_code ec, std::size_t) {
        auto strand = self->strand_;
        boost::asio::dispatch(strand, [self = std::move(self), c = std::move(c), ec] { self->on_written(c, ec); });
    });
}

void client_impl::on_written(const std::shared_ptr<connection>& c, transport::error_code ec)
{
    c->write_in_flight = false;
    c->writing.clear();
    if (ec) {
        complete_written(c->writing_done, make_error_code(stopped_ ? errc::cancelled : errc::connection_lost));
        if (c == conn_)
            transport_failed(network_error(ec));
        else
            finish_close(c);
        return;
    }
    {
        collecting collect(*this);
        complete_written(c->writing_done, {});
        run_submitted();
    }
    flush(c);
}

void client_impl::retire(bool graceful)
{
    if (commit_scheduled_)
        commit(); // the closing connection may hold bytes that wait for a save
    auto c = std::move(conn_);
    conn_.reset();
    if (!c)
        return;
    for (auto& w : disconnect_waiters_)
        c->on_closed.push_back(std::move(w));
    disconnect_waiters_.clear();
    if (!graceful || (c->queued.empty() && !c->write_in_flight)) {
        finish_close(c);
        return;
    }
    // Write what is queued (DISCONNECT), then wait for the broker to close: closing
    // with unread bytes would reset the connection and could lose the DISCONNECT.
    c->closing = true;
    flush(c);
    c->close_deadline = std::make_unique<boost::asio::steady_timer>(strand_, close_grace);
    c->close_deadline->async_wait([self = shared_from_this(), c](const boost::system::error_code& e) {
        if (!e)
            self->finish_close(c);
    });
}

void client_impl::finish_close(const std::shared_ptr<connection>& c)
{
    if (c->stream && !c->closed) {
        c->closed = true;
        c->stream->close();
    }
    if (c->close_deadline)
        c->close_deadline->cancel();
    // QoS 0 publishes whose bytes never left.
    const auto lost = make_error_code(stopped_ ? errc::cancelled : errc::connection_lost);
    complete_written(c->queued_done, lost);
    if (!c->write_in_flight)
        complete_written(c->writing_done, lost);
    auto waiters = std::move(c->on_closed);
    c->on_closed.clear();
    for (auto& w : waiters)
        complete(std::move(w), std::error_code());
}

void client_impl::transport_failed(std::error_code why)
{
    if (conn_) {
        session_.connection_lost(now());
        retire(false);
    }
    run_actions();
    connection_down(why);
    run_actions();
}

void client_impl::connection_down(std::error_code why)
{
    const auto previous = phase_;
    connected_flag_.store(false, std::memory_order_relaxed);
    attempt_timer_.cancel();
    ++keep_alive_timer_.seq;
    ++retransmit_timer_.seq;
    keep_alive_timer_.timer.cancel();
    retransmit_timer_.timer.cancel();

    if (previous == phase::disconnecting) {
        phase_ = phase::idle;
        stopped_ = true;
        stop_reason_ = make_error_code(errc::cancelled);
        emit(make_event(connection_event_kind::disconnected));
        cancel_all(stop_reason_);
        emit(make_event(connection_event_kind::stopped, stop_reason_));
        return;
    }
    if (previous == phase::idle || previous == phase::backoff)
        return;
    if (!why)
        why = make_error_code(errc::connection_lost);
    if (previous == phase::connected) {
        auto ev = make_event(connection_event_kind::disconnected, why);
        if (server_disconnect_) {
            ev.props = server_disconnect_->props;
            ev.server_reason = server_disconnect_->code;
        }
        emit(std::move(ev));
        failures_ = 0;
    } else {
        ++failures_;
    }
    if (refusal_ && is_permanent_refusal(refusal_->code) && !options_.reconnect.retry_on_refusal) {
        give_up(make_error_code(refusal_->code));
        return;
    }
    schedule_reconnect(why);
}

void client_impl::schedule_reconnect(std::error_code why)
{
    const auto& r = options_.reconnect;
    if (!r.enabled || (r.max_attempts != 0 && failures_ >= r.max_attempts)) {
        give_up(why);
        return;
    }
    auto delay = backoff_delay(r, failures_, random_());
    phase_ = phase::backoff;
    const auto attempt = ++attempt_id_;
    auto ev = make_event(connection_event_kind::reconnecting, why, failures_);
    ev.delay = delay;
    emit(std::move(ev));
    attempt_timer_.expires_after(delay);
    attempt_timer_.async_wait([self = shared_from_this(), attempt](const boost::system::error_code& ec) {
        if (!ec && attempt == self->attempt_id_ && self->phase_ == phase::backoff)
            self->begin_attempt();
    });
}

void client_impl::give_up(std::error_code why)
{
    phase_ = phase::idle;
    stopped_ = true;
    stop_reason_ = why;
    emit(make_event(connection_event_kind::stopped, why, failures_));
    cancel_all(why);
}

void client_impl::cancel_all(std::error_code why)
{
    if (completes_when_stored()) {
        // Stored messages belong to the store, not to this run of the client: save
        // what was accepted (completing it), cancel the rest, and continue from the
        // store. A later save rewrites the same content.
        commit();
        session_.clear(why);
        auto loaded = options_.store->load();
        if (loaded)
            session_.restore(std::move(*loaded));
        else if (options_.on_store_error)
            options_.on_store_error(loaded.error());
    } else {
        // Messages waiting for their ids to be saved are saved and delivered
        // first: they were received, and the waiting receivers get them.
        if (!unsaved_deliveries_.empty())
            commit();
        // Queued and in-flight publishes complete through publish_done actions.
        session_.clear(why);
    }
    dirty_ = true;
    auto waiters = std::move(connect_waiters_);
    connect_waiters_.clear();
    for (auto& w : waiters)
        complete(std::move(w), why, connack{});
    held_.clear();
    auto subs = std::move(subscribes_);
    subscribes_.clear();
    subscribe_requests_.clear();
    for (auto& [tag, s] : subs)
        complete(std::move(s), why, subscribe_result{});
    auto unsubs = std::move(unsubscribes_);
    unsubscribes_.clear();
    unsubscribe_requests_.clear();
    for (auto& [tag, u] : unsubs)
        complete(std::move(u), why, unsubscribe_result{});
    auto receivers = std::move(receivers_);
    receivers_.clear();
    for (auto& r : receivers)
        complete(std::move(r), why, mqtt::publish{});
    auto disconnects = std::move(disconnect_waiters_);
    disconnect_waiters_.clear();
    for (auto& d : disconnects)
        complete(std::move(d), why);
}

// ---------------------------------------------------------------- actions

void client_impl::run_actions()
{
    if (in_actions_)
        return; // the loop below picks up what was added
    in_actions_ = true;
    struct reset {
        bool& flag;
        ~reset() { flag = false; }
    } guard{in_actions_};
    auto& queue = session_.actions();
    // Two buffers swapped back and forth: neither allocates once warm.
    auto& batch = actions_batch_;
    while (!queue.empty()) {
        batch.clear();
        batch.swap(queue);
        for (auto& a : batch)
            handle(a);
    }
    batch.clear();
    if (options_.store && !store_unusable_ && needs_save())
        schedule_commit();
    else if (conn_)
        flush(conn_);
}

void client_impl::handle(action& a)
{
    std::visit(overloaded{
                   [&](send_packet& s) { on_send(s.pkt); },
                   [&](deliver_message& d) {
                       if (d.msg.qos == qos::exactly_once)
                           dirty_ = true;
                       const bool saving = options_.store && !store_unusable_;
                       if (saving && (d.msg.qos == qos::exactly_once || !unsaved_deliveries_.empty()))
                           unsaved_deliveries_.push_back(std::move(d.msg)); // delivered by commit()
                       else
                           deliver(std::move(d.msg));
                   },
                   [&](publish_done& d) {
                       dirty_ = true;
                       auto w = publishes_.take(d.tag);
                       if (!w)
                           return;
                       if (w->at_most_once && !d.ec && conn_ && !conn_->queued.empty()) {
                           // Sent just now: its PUBLISH is in the queued bytes.
                           conn_->queued_done.push_back(std::move(w->p));
                           return;
                       }
                       complete(std::move(w->p), d.ec, publish_result{d.code, std::move(d.props)});
                   },
                   [&](subscribe_done& d) {
                       auto request = subscribe_requests_.extract(d.tag);
                       if (!d.ec && !request.empty())
                           note_subscription(request.mapped(), d.ack);
                       auto found = subscribes_.find(d.tag);
                       if (found == subscribes_.end())
                           return;
                       auto p = std::move(found->second);
                       subscribes_.erase(found);
                       complete(std::move(p), d.ec, subscribe_result{std::move(d.ack.codes), std::move(d.ack.props)});
                   },
                   [&](unsubscribe_done& d) {
                       auto request = unsubscribe_requests_.extract(d.tag);
                       if (!d.ec && !request.empty())
                           for (auto& f : request.mapped().filters)
                               subscriptions_.erase(f);
                       auto found = unsubscribes_.find(d.tag);
                       if (found == unsubscribes_.end())
                           return;
                       auto p = std::move(found->second);
                       unsubscribes_.erase(found);
                       complete(std::move(p), d.ec, unsubscribe_result{std::move(d.ack.codes), std::move(d.ack.props)});
                   },
                   [&](connected& c) { on_connected(c); },
                   [&](connection_refused& r) {
                       refusal_ = r.ack;
                       auto ev = make_event(connection_event_kind::refused, make_error_code(r.ack.code), failures_);
                       ev.props = r.ack.props;
                       emit(std::move(ev));
                   },
                   [&](disconnect_received& d) { server_disconnect_ = std::move(d.pkt); },
                   [&](auth_received& r) { on_auth(r.pkt); },
                   [&](set_timer& t) {
                       arm(t.id == timer_id::keep_alive ? keep_alive_timer_ : retransmit_timer_, t.id, t.at);
                   },
                   [&](cancel_timer& t) {
                       auto& slot = t.id == timer_id::keep_alive ? keep_alive_timer_ : retransmit_timer_;
                       ++slot.seq;
                       slot.timer.cancel();
                   },
                   [&](close_connection& c) {
                       if (!conn_)
                           return;
                       retire(true);
                       auto why = c.reason;
                       if (!why && server_disconnect_ && is_error(server_disconnect_->code))
                           why = make_error_code(server_disconnect_->code);
                       connection_down(why);
                   },
                   // Server-role actions never reach a client session.
                   [&](connect_received&) {},
                   [&](subscribe_received&) {},
                   [&](unsubscribe_received&) {},
               },
        a);
}

void client_impl::on_send(packet& pkt)
{
    if (!conn_)
        return;
    if (changes_state(pkt))
        dirty_ = true;
    auto v = session_.version().value_or(connect_packet_.version);
    if (auto ec = conn_->queued.add(pkt, v)) {
        // The session believes this packet is on its way; a connection that cannot
        // carry it is useless (publishes were checked up front, so this is rare).
        session_.connection_lost(now());
        retire(false);
        connection_down(ec);
    }
}

void client_impl::on_connected(connected& c)
{
    phase_ = phase::connected;
    connected_flag_.store(true, std::memory_order_relaxed);
    failures_ = 0;
    attempt_timer_.cancel();
    ever_connected_ = true;
    last_connack_ = c.ack;
    server_maximum_qos_ = static_cast<std::uint8_t>(c.ack.props.get_integer(property_id::maximum_qos).value_or(2));
    server_retain_available_ = c.ack.props.get_integer(property_id::retain_available).value_or(1) != 0;
    if (auto id = c.ack.props.get_string(property_id::assigned_client_identifier))
        assigned_client_id_ = std::string(*id);
    auto ev = make_event(connection_event_kind::connected);
    ev.session_present = c.ack.session_present;
    ev.props = c.ack.props;
    emit(std::move(ev));
    auto waiters = std::move(connect_waiters_);
    connect_waiters_.clear();
    for (auto& w : waiters)
        complete(std::move(w), std::error_code(), c.ack);
    if (!c.ack.session_present && options_.resubscribe && !subscriptions_.empty())
        resubscribe();
    submit_held();
}

void client_impl::on_auth(const auth& pkt)
{
    auto& hook = options_.connect.on_auth;
    if (!hook) {
        // AUTH without an authentication method of ours [MQTT-4.12.0-?]: a protocol error.
        session_.disconnect(mqtt::disconnect{reason_code::protocol_error, {}}, now());
        return;
    }
    auto reply = hook(pkt);
    if (pkt.code == reason_code::success)
        return; // re-authentication succeeded; nothing to answer
    if (!reply) {
        session_.disconnect(mqtt::disconnect{reason_code::not_authorized, {}}, now());
        return;
    }
    session_.send(std::move(*reply), now());
}

void client_impl::arm(timer_slot& slot, timer_id id, clock::time_point at)
{
    const auto seq = ++slot.seq;
    slot.timer.expires_at(at);
    slot.timer.async_wait([self = shared_from_this(), &slot, id, seq](const boost::system::error_code& ec) {
        if (ec || seq != slot.seq)
            return;
        self->session_.timer_fired(id, now());
        self->run_actions();
    });
}

void client_impl::deliver(mqtt::publish msg)
{
    if (message_handler_) {
        message_handler_(std::move(msg));
        return;
    }
    if (!receivers_.empty()) {
        auto r = std::move(receivers_.front());
        receivers_.pop_front();
        complete(std::move(r), std::error_code(), std::move(msg));
        return;
    }
    inbox_.push_back(std::move(msg));
}

void client_impl::submit_held()
{
    while (!held_.empty() && phase_ == phase::connected) {
        auto [tag, request] = std::move(held_.front());
        held_.pop_front();
        if (auto* s = std::get_if<mqtt::subscribe>(&request))
            session_.subscribe(std::move(*s), tag, now());
        else
            session_.unsubscribe(std::move(std::get<mqtt::unsubscribe>(request)), tag, now());
    }
}

void client_impl::note_subscription(const mqtt::subscribe& pkt, const suback& ack)
{
    for (std::size_t i = 0; i < pkt.subscriptions.size() && i < ack.codes.size(); ++i) {
        const auto& s = pkt.subscriptions[i];
        if (!is_error(ack.codes[i]))
            subscriptions_[s.filter] = {s.options, pkt.props};
    }
}

void client_impl::resubscribe()
{
    // One SUBSCRIBE per distinct set of properties (they carry the Subscription Identifier).
    std::vector<mqtt::subscribe> packets;
    for (auto& [filter, entry] : subscriptions_) {
        const auto& opts = entry.first;
        const auto& props = entry.second; // named, not a structured binding: clang 14 cannot capture those
        auto same = std::find_if(packets.begin(), packets.end(), [&](const mqtt::subscribe& p) {
            return p.props == props && p.subscriptions.size() < 64;
        });
        if (same == packets.end()) {
            packets.push_back(mqtt::subscribe{0, {}, props});
            same = std::prev(packets.end());
        }
        same->subscriptions.push_back(subscription{filter, opts});
    }
    for (auto& p : packets) {
        // Tag 0: nobody waits; a refusal now just drops the filter.
        session_.subscribe(std::move(p), 0, now());
    }
}

bool client_impl::completes_when_stored() const noexcept
{
    return options_.store && !store_unusable_ && options_.complete_publish == publish_completion::stored;
}

bool client_impl::needs_save() const noexcept
{
    // Restored messages carry no tag, so their acknowledgment emits no action:
    // a change in what is outstanding also counts as a change of state.
    return dirty_ || session_.inflight_count() + session_.queued_count() != saved_outstanding_;
}

void client_impl::schedule_commit()
{
    if (commit_scheduled_)
        return;
    commit_scheduled_ = true;
    boost::asio::post(strand_, [self = shared_from_this()] {
        if (self->commit_scheduled_)
            self->commit();
    });
}

// Saves the state, completes the publishes waiting for that, then writes the
// packets queued meanwhile: a PUBLISH, PUBREL or PUBREC leaves only once the
// state it belongs to is in the store.
void client_impl::commit()
{
    commit_scheduled_ = false;
    if (save_state() && !unstored_tags_.empty()) {
        auto tags = std::move(unstored_tags_);
        unstored_tags_.clear();
        for (auto tag : tags) {
            auto w = publishes_.take(tag);
            if (!w)
                continue; // already failed (refused, expired, cancelled)
            complete(std::move(w->p), std::error_code(), publish_result{reason_code::success, {}});
        }
    }
    // Saved, or the store failed (reported): either way the messages go on, at
    // worst at least once, never lost. Delivered before their PUBACK / PUBREC
    // leave: once the broker has one, it never sends that message again.
    deliver_saved();
    if (conn_)
        flush(conn_);
}

void client_impl::deliver_saved()
{
    if (unsaved_deliveries_.empty())
        return;
    auto messages = std::move(unsaved_deliveries_);
    unsaved_deliveries_.clear();
    for (auto& m : messages)
        deliver(std::move(m));
}

// True when the store holds the current state.
bool client_impl::save_state()
{
    if (!options_.store || store_unusable_)
        return false;
    if (!needs_save())
        return true;
    dirty_ = false;
    saved_outstanding_ = session_.inflight_count() + session_.queued_count();
    if (auto ec = options_.store->save(session_.state())) {
        if (options_.on_store_error)
            options_.on_store_error(ec);
        // Publishes still waiting complete at their acknowledgment instead.
        std::erase_if(unstored_tags_, [&](std::uint64_t tag) { return !publishes_.contains(tag); });
        return false;
    }
    return true;
}

} // namespace mqtt::detail

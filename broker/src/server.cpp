// The broker's network side: listeners, connections, timers, $SYS and metrics.
// Connections are spread over one io_context per core; each does its socket work
// (reads, TLS, WebSocket framing, writes) on its own thread and takes the engine's
// lock only to hand bytes in and take the next batch out. Acceptors, timers and
// the store's completions run on the caller's io_context.
#include "mqtt/broker/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <deque>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "mqtt/broker/access.hpp"
#include "mqtt/broker/logger.hpp"
#include "mqtt/broker/store.hpp"
#include "store_worker.hpp"
#include "tcp_poller.hpp"
#include "mqtt/transport/stream.hpp"
#include "mqtt/version.hpp"

namespace mqtt::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t read_buffer_size = 16 * 1024; // per TLS / WebSocket connection
constexpr std::size_t shared_read_size = 64 * 1024; // per I/O thread, for TCP connections
constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr std::size_t max_http_request = 8 * 1024;

std::string format_listener(const listener_config& l, std::uint16_t port)
{
    std::string addr = l.bind_address.empty() ? "*" : l.bind_address;
    return std::string(transport::to_string(l.scheme)) + " " + addr + ":" + std::to_string(port);
}

// A write in progress: the batch taken from the engine and its segments. Lent
// by the connection's thread for the write and taken back after it, so an idle
// connection holds none (nor the payloads it last wrote).
struct pending_write {
    write_batch in_flight;
    std::vector<asio::const_buffer> buffers;
};

} // namespace

struct server::impl {
    struct listener {
        listener_config config;
        std::size_t index;
        std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
        std::shared_ptr<transport::server_tls_context> tls;
        std::uint16_t port = 0;
        std::uint32_t connections = 0; // under mu
    };

    struct connection;
    using ready_list = std::vector<std::shared_ptr<connection>>;

    // One per core: an io_context run by one thread, serving the connections
    // given to it. The first is the caller's io_context, which also runs the
    // acceptors, the timers and the store's completions.
    struct io_thread {
        impl* srv = nullptr;
        asio::io_context* ctx = nullptr;
        std::unique_ptr<asio::io_context> owned;
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
        std::thread thread;
        std::atomic<bool> finished{false};
        // Shared by this thread's plain TCP connections: they read into it when
        // the poller reports input, so an idle connection holds no read buffer.
        std::vector<char> read_buffer = std::vector<char>(shared_read_size);
        // Plain TCP connections: readiness from this thread's epoll set (created
        // with the first one). An event names a slot and its generation, so an
        // event for a connection closed earlier in the same wake finds nothing.
        std::shared_ptr<detail::tcp_poller> poller;
        std::vector<connection*> slots; // generations are in the connections
        std::uint32_t next_generation = 0;
        std::vector<std::uint32_t> free_slots;
        // During a wake: the connections with output, flushed once at its end,
        // so that input from many sockets leaves in one write per connection.
        ready_list* wake_ready = nullptr;
        std::vector<std::unique_ptr<pending_write>> spare_writes;
        // Connections that have not sent CONNECT yet, oldest first. All wait the
        // same time, so a queue and one timer per thread do the work of a timer
        // per connection (which an idle connection would keep paying for).
        std::deque<std::pair<clock::time_point, std::weak_ptr<connection>>> awaiting_connect;
        std::unique_ptr<asio::steady_timer> connect_sweep;

        std::unique_ptr<pending_write> take_write()
        {
            if (spare_writes.empty())
                return std::make_unique<pending_write>();
            auto w = std::move(spare_writes.back());
            spare_writes.pop_back();
            return w;
        }
        void give_write(std::unique_ptr<pending_write> w)
        {
            w->in_flight.clear();
            w->buffers.clear();
            // A few kept, none grown large by a backlog.
            if (spare_writes.size() < 64 && w->in_flight.headers.capacity() <= 64 * 1024
                && w->buffers.capacity() <= 1024)
                spare_writes.push_back(std::move(w));
        }
    };

    // A connection's socket, timers and write in flight belong to its io_thread;
    // the engine, the map of connections and the fields marked "under mu" are
    // shared and guarded by impl::mu.
    struct connection : std::enable_shared_from_this<connection> {
        io_thread* home;
        connection_id id = 0;
        // Plain TCP: the socket itself, watched by home->poller, read and written
        // here. Otherwise (TLS, WebSocket) the transport's stream.
        int fd = -1;
        std::uint32_t slot = 0;       // in home->slots, with its generation
        std::uint32_t generation = 0;
        std::uint32_t write_pos = 0; // plain TCP: first buffer not yet fully written
        std::uint32_t listener_index = 0;
        std::unique_ptr<transport::stream> stream;
        std::unique_ptr<char[]> own_buffer; // TLS and WebSocket streams only
        std::unique_ptr<pending_write> w; // while writing
        bool writing = false;
        bool closed = false;
        bool connect_seen = false; // CONNECT accepted: no longer in home->awaiting_connect's sweep
        bool flush_queued = false; // under mu: listed for a flush() not yet run

        // Fields ordered by size: there is one of these per client. No timer:
        // the CONNECT deadline is in the thread's queue, keep alive in the
        // engine's timer heap.
        explicit connection(io_thread* h) : home(h) {}

        ~connection()
        {
            if (fd >= 0)
                ::close(fd); // never closed through close_now(): the server is going
        }

        std::string peer() const
        {
            if (stream)
                return stream->remote_endpoint();
            tcp::endpoint ep;
            socklen_t len = static_cast<socklen_t>(ep.capacity());
            if (fd < 0 || ::getpeername(fd, ep.data(), &len) != 0)
                return {};
            ep.resize(len);
            return transport::format_endpoint(ep);
        }

        void start()
        {
            home->srv->await_connect(*this);
            if (fd < 0)
                start_reading(); // plain TCP: the poller reports input
        }

        // TLS and WebSocket: their layers hold decoded bytes the socket does not
        // show, so each such connection reads into a buffer of its own.
        void start_reading()
        {
            own_buffer = std::make_unique<char[]>(read_buffer_size);
            read();
        }

        // Plain TCP, after the poller reported `events`: reads what has arrived.
        // A short read drained the socket, and the next edge reports new bytes;
        // a full one may have left more, read on after the other connections of
        // this thread had their turn. After the peer's close, reads until the end.
        void read_raw(std::uint32_t events)
        {
            auto& buf = home->read_buffer;
            const bool hangup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
            for (;;) {
                if (closed)
                    return;
                ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno != EAGAIN && errno != EWOULDBLOCK)
                        close_now();
                    return;
                }
                if (n == 0) { // the peer closed
                    close_now();
                    return;
                }
                home->srv->on_input(*this, std::string_view(buf.data(), static_cast<std::size_t>(n)));
                if (closed)
                    return;
                if (static_cast<std::size_t>(n) == buf.size()) {
                    asio::post(*home->ctx, [self = shared_from_this(), events] {
                        if (!self->closed)
                            self->read_raw(events);
                    });
                    return;
                }
                if (!hangup)
                    return;
            }
        }

        // Plain TCP: writes buffers[write_pos...] without blocking. Returns the
        // bytes of the whole batch once it is out; nothing while the socket is
        // full (the poller's next output event continues) or after an error.
        std::optional<std::size_t> write_raw()
        {
            constexpr std::size_t max_iov = 64;
            std::array<iovec, max_iov> iov;
            auto& buffers = w->buffers;
            while (write_pos < buffers.size()) {
                std::size_t count = std::min(max_iov, buffers.size() - write_pos);
                for (std::size_t i = 0; i < count; ++i) {
                    const auto& b = buffers[write_pos + i];
                    iov[i].iov_base = const_cast<void*>(b.data());
                    iov[i].iov_len = b.size();
                }
                msghdr msg{};
                msg.msg_iov = iov.data();
                msg.msg_iovlen = count;
                ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return std::nullopt;
                    close_now();
                    return std::nullopt;
                }
                auto left = static_cast<std::size_t>(n);
                while (left > 0 && write_pos < buffers.size()) {
                    auto& b = buffers[write_pos];
                    if (left < b.size()) {
                        b += left;
                        left = 0;
                    } else {
                        left -= b.size();
                        ++write_pos;
                    }
                }
            }
            writing = false;
            buffers.clear();
            write_pos = 0;
            return w->in_flight.size();
        }

        // Plain TCP: the socket has room again (or failed).
        void write_ready()
        {
            if (closed || !writing || !w || w->buffers.empty())
                return;
            if (auto sent = write_raw())
                flush(*sent);
        }

        void read()
        {
            if (closed)
                return;
            stream->async_read_some(asio::buffer(own_buffer.get(), read_buffer_size),
                [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                    if (self->closed)
                        return;
                    if (ec) {
                        self->close_now();
                        return;
                    }
                    self->home->srv->on_input(*self, std::string_view(self->own_buffer.get(), n));
                    self->read();
                });
        }

        // On this connection's thread, after the engine marked it: starts one
        // gather write of everything queued since the previous write (or closes
        // once nothing is left to write).
        void flush(std::size_t sent = 0)
        {
            for (;;) {
                bool close = false;
                {
                    std::lock_guard lock(home->srv->mu);
                    home->srv->eng.metrics().bytes_sent += sent;
                    flush_queued = false;
                    auto* out = home->srv->eng.output(id);
                    if (out && !closed && !writing) {
                        if (!out->batch.empty()) {
                            if (!w)
                                w = home->take_write();
                            w->in_flight.clear(); // what the previous write sent
                            std::swap(w->in_flight, out->batch); // the engine gets back a cleared one
                            writing = true;
                        } else {
                            close = out->close;
                        }
                    }
                }
                if (closed)
                    return;
                if (writing && w->buffers.empty()) {
                    w->in_flight.for_each_segment([&](const char* p, std::size_t n) { w->buffers.emplace_back(p, n); });
                    if (fd >= 0) {
                        // Written at once; if all of it went, look for more.
                        auto done = write_raw();
                        if (!done)
                            return;
                        sent = *done;
                        continue;
                    }
                    stream->async_write(w->buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                        self->writing = false;
                        self->w->buffers.clear();
                        if (self->closed)
                            return;
                        if (ec) {
                            self->close_now();
                            return;
                        }
                        self->flush(n);
                    });
                    return;
                }
                if (!writing && w)
                    home->give_write(std::move(w));
                if (close)
                    close_now();
                return;
            }
        }

        void close_now()
        {
            if (closed)
                return;
            auto self = shared_from_this(); // the map entry goes below
            closed = true;
            if (fd >= 0) {
                home->srv->release_raw(*this);
                ::close(fd);
                fd = -1;
            } else {
                stream->close();
            }
            home->srv->on_closed(*this);
        }
    };

    // Everything below "mu" is shared by the I/O threads and guarded by it: the
    // engine, the map of connections, the listeners' counts, the store hand-off.
    std::mutex mu;
    asio::io_context& io;
    broker_config cfg;
    logger log;
    std::shared_ptr<config_access_control> access;
    engine eng;
    std::vector<listener> listeners;
    std::unordered_map<connection_id, std::shared_ptr<connection>> connections;
    std::vector<std::unique_ptr<io_thread>> threads; // [0] is `io`
    std::size_t next_thread = 0;
    asio::steady_timer tick_timer;
    clock::time_point next_full_tick = clock::now() + std::chrono::seconds(1);
    asio::steady_timer sys_timer;
    std::unique_ptr<tcp::acceptor> metrics_acceptor;
    clock::time_point started = clock::now();
    std::atomic<bool> stopping{false};

    // Persistence: the store, its thread, and a guard that keeps io.run() going
    // while a group is being committed (its output is still to be written).
    server_options options;
    std::unique_ptr<store> durable;
    std::unique_ptr<store_worker> worker;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> commit_guard;
    std::uint64_t last_submitted = 0;
    bool pump_posted = false;
    bool commit_failing = false;
    asio::steady_timer checkpoint_timer;
    asio::steady_timer commit_retry_timer;

    impl(asio::io_context& ctx, broker_config c, server_options o)
        : io(ctx),
          cfg(std::move(c)),
          log(cfg),
          access(std::make_shared<config_access_control>()),
          eng(make_engine_options(cfg), access),
          tick_timer(ctx),
          sys_timer(ctx),
          options(o),
          checkpoint_timer(ctx),
          commit_retry_timer(ctx)
    {
        threads.push_back(std::make_unique<io_thread>());
        threads.back()->ctx = &io;
        threads.back()->srv = this;
        eng.on_client_event([this](const client_event& e) { log_client(e); });
    }

    // Mosquitto's lines, so that the habits (and greps) of its users carry over.
    void log_client(const client_event& e)
    {
        if (!log.enabled(log_type::notice))
            return;
        std::string line;
        if (e.connected) {
            line = "New client connected from " + std::string(e.remote_address) + " as " + std::string(e.client_id)
                + " (p" + (e.version == protocol_version::v5 ? "5" : "2") + ", c" + (e.clean_start ? "1" : "0")
                + ", k" + std::to_string(e.keep_alive);
            if (e.username)
                line += ", u'" + std::string(*e.username) + "'";
            line += ").";
        } else {
            line = "Client " + std::string(e.client_id) + " disconnected";
            if (e.reason)
                line += ": " + e.reason.message();
            line += ".";
        }
        log.log(log_type::notice, line);
    }
    ~impl();

    // With two cores or fewer, one thread: a second one pays a cross-thread wake-up
    // per message handed between its connections and the other's (measured: +20 us
    // at p50), and on such a machine it competes with the clients or the OS for
    // the other core. More cores: one thread per core.
    static unsigned automatic_threads()
    {
        unsigned cores = std::thread::hardware_concurrency();
        return cores <= 2 ? 1u : cores;
    }

    // The threads beyond the caller's: --threads, else `threads`, else automatic.
    void start_threads()
    {
        unsigned n = options.threads ? options.threads : cfg.threads ? cfg.threads : automatic_threads();
        while (threads.size() < n) {
            auto t = std::make_unique<io_thread>();
            t->owned = std::make_unique<asio::io_context>(1);
            t->ctx = t->owned.get();
            t->srv = this;
            t->guard.emplace(t->ctx->get_executor());
            auto* raw = t.get();
            t->thread = std::thread([raw] {
                raw->ctx->run();
                raw->finished = true;
            });
            threads.push_back(std::move(t));
        }
    }

    static engine_options make_engine_options(const broker_config& cfg)
    {
        engine_options o;
        o.max_inflight = static_cast<std::uint16_t>(std::min<std::uint32_t>(cfg.max_inflight_messages, 65535));
        o.max_queued_messages = cfg.max_queued_messages;
        o.max_queued_bytes = static_cast<std::size_t>(cfg.max_queued_bytes);
        o.max_packet_size = cfg.max_packet_size;
        o.message_size_limit = cfg.message_size_limit;
        o.max_keepalive = cfg.max_keepalive;
        o.retain_available = cfg.retain_available;
        o.max_qos = cfg.max_qos;
        o.allow_zero_length_clientid = cfg.allow_zero_length_clientid;
        o.auto_id_prefix = cfg.auto_id_prefix;
        o.queue_qos0_messages = cfg.queue_qos0_messages;
        o.persistent_client_expiration = cfg.persistent_client_expiration;
        o.version = std::string("mqtt-broker ") + std::string(library_version());
        return o;
    }

    // Engine input from a connection's thread. Within a poller wake, the
    // output is flushed when the wake ends.
    void on_input(connection& c, std::string_view bytes)
    {
        ready_list local;
        ready_list& ready = c.home->wake_ready ? *c.home->wake_ready : local;
        {
            std::lock_guard lock(mu);
            eng.received(c.id, bytes, clock::now());
            if (!c.connect_seen && eng.has_session(c.id))
                c.connect_seen = true;
            after_input_locked(ready);
        }
        if (&ready == &local)
            flush_all(local);
    }

    // Many sockets ready at once (fan-in: measured 2.8x Mosquitto batched,
    // 2.2x not): output waits for the end of the wake, one write per
    // connection. A few (one publisher, one subscriber): each read's output
    // goes at once, so that a subscriber gets its messages before the other
    // socket's acknowledgments are read (measured: +15% at QoS 1 and 2).
    static constexpr std::size_t batched_wake = 4;

    void on_poll_events(io_thread& t, const epoll_event* events, std::size_t count)
    {
        if (count < batched_wake) {
            for (std::size_t i = 0; i < count; ++i)
                on_poll_event(t, events[i]);
            return;
        }
        ready_list ready; // every connection that gets output in this wake, written once at its end
        t.wake_ready = &ready;
        for (std::size_t i = 0; i < count; ++i)
            on_poll_event(t, events[i]);
        t.wake_ready = nullptr;
        flush_all(ready);
    }

    void on_poll_event(io_thread& t, const epoll_event& event)
    {
        auto key = event.data.u64;
        auto index = static_cast<std::uint32_t>(key);
        auto generation = static_cast<std::uint32_t>(key >> 32);
        auto* conn = index < t.slots.size() ? t.slots[index] : nullptr;
        if (!conn || conn->generation != generation)
            return; // closed earlier in this wake
        auto c = conn->shared_from_this();
        if (event.events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            c->write_ready();
        if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->read_raw(event.events);
    }

    // On the connection's thread: watches its socket from now on.
    bool register_raw(connection& c, boost::system::error_code& ec)
    {
        auto& t = *c.home;
        if (!t.poller) {
            auto* tp = &t;
            t.poller = detail::tcp_poller::create(*t.ctx,
                [this, tp](const epoll_event* events, std::size_t count) { on_poll_events(*tp, events, count); }, ec);
            if (!t.poller)
                return false;
        }
        std::uint32_t index;
        if (!t.free_slots.empty()) {
            index = t.free_slots.back();
            t.free_slots.pop_back();
        } else {
            index = static_cast<std::uint32_t>(t.slots.size());
            t.slots.emplace_back();
        }
        t.slots[index] = &c;
        c.slot = index;
        c.generation = ++t.next_generation;
        ec = t.poller->add(c.fd, (std::uint64_t{c.generation} << 32) | index);
        if (ec) {
            t.slots[index] = nullptr;
            t.free_slots.push_back(index);
            return false;
        }
        return true;
    }

    // On the connection's thread, before its socket is closed.
    void release_raw(connection& c)
    {
        auto& t = *c.home;
        if (c.slot < t.slots.size() && t.slots[c.slot] == &c) {
            t.slots[c.slot] = nullptr;
            t.free_slots.push_back(c.slot);
        }
        if (t.poller)
            t.poller->remove(c.fd);
    }

    void on_closed(connection& c)
    {
        ready_list ready;
        {
            std::lock_guard lock(mu);
            eng.closed(c.id, clock::now());
            if (connections.erase(c.id) && c.listener_index < listeners.size()
                && listeners[c.listener_index].connections > 0)
                --listeners[c.listener_index].connections;
            after_input_locked(ready);
        }
        flush_all(ready);
    }

    // After engine input: without a store the output goes out at once; with one,
    // once per turn of the main loop, so that one commit covers everything read
    // meanwhile.
    void after_input_locked(ready_list& ready)
    {
        if (!durable) {
            drain_locked(ready);
            return;
        }
        if (pump_posted)
            return;
        pump_posted = true;
        asio::post(io, [this] { pump(); });
    }

    void pump()
    {
        ready_list ready;
        {
            std::lock_guard lock(mu);
            pump_locked(ready);
        }
        flush_all(ready);
    }

    // Hands what changed to the store thread (with a store) and collects the
    // connections with engine output. Output that waits for a commit is released
    // by committed().
    void pump_locked(ready_list& ready)
    {
        pump_posted = false;
        if (durable && !worker) {
            // periodic: a commit is a write() to the WAL, cheaper here than a thread handoff.
            if (auto ec = eng.commit(clock::now(), wall_clock::now()))
                commit_failed_locked(durable->last_error());
            else if (commit_failing)
                committed_locked(0, ready);
        }
        if (worker) {
            if (auto g = eng.take_group(clock::now(), wall_clock::now())) {
                last_submitted = g->id;
                if (!commit_guard)
                    commit_guard.emplace(io.get_executor());
                worker->submit(std::move(*g));
            }
        }
        drain_locked(ready);
    }

    // Lists the connections with engine output (write, timer, close), each once
    // until its flush() has taken it.
    void drain_locked(ready_list& ready)
    {
        while (eng.has_output()) {
            eng.drain([&](connection_id id, connection_output&) {
                auto it = connections.find(id);
                if (it == connections.end())
                    return;
                auto& c = *it->second;
                if (!c.flush_queued) {
                    c.flush_queued = true;
                    ready.push_back(it->second);
                }
            });
        }
    }

    // Outside the lock: each connection flushes on its own thread, inline when
    // that is this one. The write starts at once (an acknowledgment waiting for
    // the end of the loop turn slows every QoS 1/2 round trip: posting the flush
    // instead cost a quarter of the QoS 1 rate); whatever is queued while it is
    // in flight goes out together in the next write.
    static void flush_all(ready_list& ready)
    {
        for (auto& c : ready)
            asio::dispatch(*c->home->ctx, [c] { c->flush(); });
    }

    // On the main thread: the groups up to `id` are on disk.
    void committed(std::uint64_t id)
    {
        ready_list ready;
        {
            std::lock_guard lock(mu);
            committed_locked(id, ready);
        }
        flush_all(ready);
    }

    void committed_locked(std::uint64_t id, ready_list& ready)
    {
        if (commit_failing)
            log.log(log_type::notice, "persistence store writable again: " + durable->name());
        commit_failing = false;
        if (id == 0)
            return; // the inline commit of persistence_sync periodic
        eng.group_committed(id);
        if (id >= last_submitted)
            commit_guard.reset();
        pump_locked(ready);
    }

    void commit_failed(const std::string& why)
    {
        std::lock_guard lock(mu);
        commit_failed_locked(why);
    }

    // On the main thread (pump_locked runs there).
    void commit_failed_locked(const std::string& why)
    {
        if (!commit_failing)
            log.log(log_type::error, "cannot write the persistence store (acknowledgments wait until it works): " + why);
        commit_failing = true;
        if (!worker) { // the inline commit is retried by the next pump
            commit_retry_timer.expires_after(std::chrono::seconds(1));
            commit_retry_timer.async_wait([this](boost::system::error_code ec) {
                if (!ec)
                    pump();
            });
        }
    }

    void start_worker()
    {
        store_worker::callbacks cb;
        cb.committed = [this](std::uint64_t id) { asio::post(io, [this, id] { committed(id); }); };
        cb.failed = [this](std::string why) { asio::post(io, [this, why] { commit_failed(why); }); };
        worker = std::make_unique<store_worker>(*durable, std::move(cb));
    }

    std::string store_path() const
    {
        std::filesystem::path file(cfg.persistence_file.empty() ? std::string("mqtt-broker.db") : cfg.persistence_file);
        if (file.is_absolute())
            return file.string();
        std::filesystem::path dir(cfg.persistence_location.empty() ? std::string(".") : cfg.persistence_location);
        return (dir / file).string();
    }

    // Opens the store and restores the engine from it; a corrupt store is moved
    // aside when the options say so.
    bool open_store(std::string& error)
    {
        if (!cfg.persistence)
            return true;
        auto path = store_path();
        sqlite_store_options so;
        so.sync = cfg.sync == persistence_sync::always ? store_sync::always : store_sync::periodic;
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::string why;
            auto st = open_sqlite_store(path, so, why);
            if (st) {
                auto ec = eng.attach_store(st.get(), clock::now(), wall_clock::now(), why);
                if (!ec) {
                    durable = std::move(st);
                    if (cfg.sync == persistence_sync::always)
                        start_worker(); // fsync off the I/O thread
                    log.log(log_type::notice, "persistence store " + path + ": " + std::to_string(eng.session_count())
                            + " sessions, " + std::to_string(eng.retained_count()) + " retained messages restored");
                    schedule_checkpoint();
                    return true;
                }
            }
            if (attempt == 1 || !options.move_corrupt_store || !std::filesystem::exists(path)) {
                error = why + (options.move_corrupt_store ? std::string()
                                                           : std::string("; to move it aside and start with an empty store,"
                                                                         " run with --move-corrupt-store"));
                return false;
            }
            st.reset();
            std::string moved_error;
            auto moved = move_store_aside(path, moved_error);
            if (moved.empty()) {
                error = why + "; " + moved_error;
                return false;
            }
            log.log(log_type::warning, why + "; moved it to " + moved + " and starting with an empty store");
        }
        return false;
    }

    // Periodic sync: checkpoint the WAL every autosave_interval (always: SQLite's
    // own automatic checkpoints are enough, but a periodic one keeps the WAL short).
    void schedule_checkpoint()
    {
        const bool periodic = cfg.sync == persistence_sync::periodic;
        if (periodic && cfg.autosave_interval.count() == 0)
            return; // SQLite's automatic checkpoints only
        auto period = periodic ? cfg.autosave_interval : std::chrono::seconds(60);
        checkpoint_timer.expires_after(period);
        checkpoint_timer.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping || !durable)
                return;
            if (worker)
                worker->request_checkpoint();
            else if (durable->checkpoint())
                log.log(log_type::warning, "persistence checkpoint failed: " + durable->last_error());
            schedule_checkpoint();
        });
    }

    bool load_access(std::string& error)
    {
        auto fresh = std::make_shared<config_access_control>();
        if (!fresh->load(cfg, error))
            return false;
        std::lock_guard lock(mu);
        access->swap(*fresh);
        return true;
    }

    bool open_listener(listener& l, std::string& error)
    {
        auto& lc = l.config;
        if (transport::uses_tls(lc.scheme)) {
            transport::tls_options t;
            t.cert_file = lc.certfile;
            t.key_file = lc.keyfile;
            t.ca_file = lc.cafile;
            t.ca_path = lc.capath;
            t.require_client_certificate = lc.require_certificate;
            std::string why;
            l.tls = transport::make_server_tls_context(t, why);
            if (!l.tls) {
                error = lc.origin + ": " + why;
                return false;
            }
        }
        std::vector<tcp::endpoint> endpoints;
        boost::system::error_code ec;
        if (lc.bind_address.empty()) {
            endpoints.emplace_back(tcp::v6(), lc.port); // dual stack where the system allows
        } else {
            tcp::resolver resolver(io);
            auto results = resolver.resolve(lc.bind_address, std::to_string(lc.port),
                tcp::resolver::passive | tcp::resolver::numeric_service, ec);
            if (ec) {
                error = lc.origin + ": cannot resolve bind address '" + lc.bind_address + "': " + ec.message();
                return false;
            }
            for (auto& r : results)
                endpoints.push_back(r.endpoint());
        }
        for (auto ep : endpoints) {
            if (l.port != 0)
                ep.port(l.port); // the same port on every address of the listener
            auto acc = std::make_unique<tcp::acceptor>(io);
            acc->open(ep.protocol(), ec);
            if (!ec && ep.address().is_v6() && lc.bind_address.empty())
                acc->set_option(asio::ip::v6_only(false), ec);
            if (ec && lc.bind_address.empty()) {
                // No IPv6 here: fall back to IPv4 on every interface.
                ep = tcp::endpoint(tcp::v4(), ep.port());
                acc = std::make_unique<tcp::acceptor>(io);
                acc->open(ep.protocol(), ec);
            }
            if (!ec)
                acc->set_option(tcp::acceptor::reuse_address(true), ec);
            if (!ec)
                acc->bind(ep, ec);
            if (!ec)
                acc->listen(asio::socket_base::max_listen_connections, ec);
            if (ec) {
                error = lc.origin + ": cannot listen on " + format_listener(lc, ep.port()) + ": " + ec.message();
                return false;
            }
            l.port = acc->local_endpoint().port();
            l.acceptors.push_back(std::move(acc));
        }
        log.log(log_type::notice, "listening on " + format_listener(lc, l.port));
        for (auto& acc : l.acceptors)
            accept(l, *acc);
        return true;
    }

    // Connections are spread over the I/O threads in turn.
    io_thread& pick_thread()
    {
        auto& t = *threads[next_thread];
        next_thread = (next_thread + 1) % threads.size();
        return t;
    }

    void accept(listener& l, tcp::acceptor& acc)
    {
        auto& home = pick_thread();
        acc.async_accept(asio::any_io_executor(home.ctx->get_executor()),
            [this, &l, &acc, &home](boost::system::error_code ec, tcp::socket socket) {
                if (stopping)
                    return;
                if (ec) {
                    if (ec != asio::error::operation_aborted)
                        accept(l, acc);
                    return;
                }
                bool admitted = false;
                {
                    std::lock_guard lock(mu);
                    bool over_global = cfg.max_connections >= 0
                        && connections.size() >= static_cast<std::size_t>(cfg.max_connections);
                    bool over_listener = l.config.max_connections && l.connections >= *l.config.max_connections;
                    admitted = !over_global && !over_listener;
                    if (admitted)
                        ++l.connections;
                }
                if (admitted) {
                    handshake(l, home, std::move(socket));
                } else {
                    boost::system::error_code ignore;
                    socket.close(ignore);
                }
                accept(l, acc);
            });
    }

    // On the connection's own thread from here on.
    void handshake(listener& l, io_thread& home, tcp::socket socket)
    {
        auto index = l.index;
        if (l.config.scheme == transport::scheme::tcp) {
            // At once when accepted on its own thread: a burst of connections
            // then never has many sockets waiting in Asio's reactor state,
            // whose pool keeps the memory once grown.
            if (home.ctx->get_executor().running_in_this_thread())
                start_plain(index, home, std::move(socket));
            else
                asio::post(*home.ctx, [this, index, &home, socket = std::move(socket)]() mutable {
                    start_plain(index, home, std::move(socket));
                });
            return;
        }
        transport::async_accept(std::move(socket), l.config.scheme, l.tls,
            [this, index, &home](boost::system::error_code ec, std::unique_ptr<transport::stream> s) {
                if (ec || stopping)
                    return not_admitted(index, "handshake failed", ec ? ec.message() : std::string{});
                connection_info info;
                info.remote_address = s->remote_endpoint();
                info.tls_common_name = s->peer_common_name();
                auto conn = std::make_shared<connection>(&home);
                conn->stream = std::move(s);
                admit(std::move(conn), index, std::move(info));
            });
    }

    // An accepted socket that will not reach the engine: its listener's count
    // goes back (and `why`, if any, is logged).
    void not_admitted(std::size_t index, const char* what, const std::string& why)
    {
        auto& lst = listeners[index];
        {
            std::lock_guard lock(mu);
            if (lst.connections > 0)
                --lst.connections;
        }
        if (!why.empty())
            log.log(log_type::information, std::string(what) + " on " + format_listener(lst.config, lst.port) + ": " + why);
    }

    // On the connection's thread: the engine opens it and its CONNECT deadline starts.
    void admit(std::shared_ptr<connection> conn, std::size_t index, connection_info info)
    {
        auto& lst = listeners[index];
        log.log(log_type::notice, "New connection from " + info.remote_address + " on " + format_listener(lst.config, lst.port) + ".");
        info.listener_index = index;
        info.use_identity_as_username = lst.config.use_identity_as_username;
        conn->listener_index = static_cast<std::uint32_t>(index);
        {
            std::lock_guard lock(mu);
            conn->id = eng.open(std::move(info), clock::now());
            connections.emplace(conn->id, conn);
        }
        conn->start();
    }

    // On the connection's thread: it has connect_timeout to send its CONNECT.
    void await_connect(connection& c)
    {
        auto& t = *c.home;
        t.awaiting_connect.emplace_back(clock::now() + connect_timeout, c.weak_from_this());
        if (t.awaiting_connect.size() == 1)
            arm_connect_sweep(t);
    }

    void arm_connect_sweep(io_thread& t)
    {
        if (!t.connect_sweep)
            t.connect_sweep = std::make_unique<asio::steady_timer>(*t.ctx);
        t.connect_sweep->expires_at(t.awaiting_connect.front().first);
        t.connect_sweep->async_wait([this, &t](boost::system::error_code ec) {
            if (ec)
                return; // cancelled: the server is stopping or gone
            if (!stopping)
                sweep_connects(t);
        });
    }

    void sweep_connects(io_thread& t)
    {
        auto now = clock::now();
        while (!t.awaiting_connect.empty() && t.awaiting_connect.front().first <= now) {
            auto c = t.awaiting_connect.front().second.lock();
            t.awaiting_connect.pop_front();
            if (c && !c->closed && !c->connect_seen) {
                log.log(log_type::notice, "client at " + c->peer() + " sent no CONNECT in time; closing");
                c->close_now();
            }
        }
        if (!t.awaiting_connect.empty())
            arm_connect_sweep(t);
    }

    // Plain TCP, on the connection's thread: the socket leaves Asio and is
    // watched by the thread's poller (see tcp_poller.hpp).
    void start_plain(std::size_t index, io_thread& home, tcp::socket socket)
    {
        if (stopping)
            return not_admitted(index, "connection failed", {});
        boost::system::error_code ec;
        socket.set_option(tcp::no_delay(true), ec);
        connection_info info;
        auto endpoint = socket.remote_endpoint(ec);
        if (!ec)
            info.remote_address = transport::format_endpoint(endpoint);
        int fd = socket.release(ec);
        if (ec)
            return not_admitted(index, "connection failed", ec.message());
        int flags = ::fcntl(fd, F_GETFL, 0);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
            ec.assign(errno, boost::system::system_category());
            ::close(fd);
            return not_admitted(index, "connection failed", ec.message());
        }
        auto conn = std::make_shared<connection>(&home);
        conn->fd = fd;
        if (!register_raw(*conn, ec))
            return not_admitted(index, "connection failed", ec.message()); // the connection closes the socket
        admit(std::move(conn), index, std::move(info));
    }

    // Every second the engine's tick (wills, expiry, keep alive); in between, at
    // the engine's next keep-alive deadline, only its timers.
    void schedule_tick()
    {
        std::optional<clock::time_point> timer;
        {
            std::lock_guard lock(mu);
            timer = eng.next_timer();
        }
        auto at = next_full_tick;
        if (timer && *timer < at)
            at = std::max(*timer, clock::now());
        tick_timer.expires_at(at);
        tick_timer.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping)
                return;
            ready_list ready;
            {
                std::lock_guard lock(mu);
                auto now = clock::now();
                if (now >= next_full_tick) {
                    eng.tick(now);
                    next_full_tick = now + std::chrono::seconds(1);
                } else {
                    eng.fire_timers(now);
                }
                after_input_locked(ready);
            }
            flush_all(ready);
            schedule_tick();
        });
    }

    void schedule_sys()
    {
        if (cfg.sys_interval.count() == 0)
            return;
        publish_sys();
        sys_timer.expires_after(cfg.sys_interval);
        sys_timer.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping)
                return;
            schedule_sys();
        });
    }

    void publish_sys()
    {
        ready_list ready;
        {
            std::lock_guard lock(mu);
            publish_sys_locked();
            after_input_locked(ready);
        }
        flush_all(ready);
    }

    void publish_sys_locked()
    {
        auto now = clock::now();
        auto& m = eng.metrics();
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
        auto pub = [&](const char* topic, std::string value) {
            mqtt::publish p;
            p.topic = buffer(std::string("$SYS/broker/") + topic);
            p.payload = buffer(std::move(value));
            p.retain = true;
            eng.publish_internal(std::move(p), now);
        };
        pub("version", eng.options().version);
        pub("uptime", std::to_string(uptime) + " seconds");
        pub("clients/connected", std::to_string(m.clients_connected));
        pub("clients/total", std::to_string(eng.session_count()));
        pub("clients/maximum", std::to_string(m.clients_maximum));
        pub("messages/received", std::to_string(m.messages_received));
        pub("messages/sent", std::to_string(m.messages_sent));
        pub("publish/messages/dropped", std::to_string(m.publish_dropped));
        pub("publish/messages/redelivered", std::to_string(m.redeliveries));
        pub("publish/messages/qos2_duplicates_suppressed", std::to_string(m.qos2_duplicates_suppressed));
        pub("bytes/received", std::to_string(m.bytes_received));
        pub("bytes/sent", std::to_string(m.bytes_sent));
        pub("retained messages/count", std::to_string(eng.retained_count()));
        pub("subscriptions/count", std::to_string(eng.subscription_count()));
    }

    std::string prometheus()
    {
        std::lock_guard lock(mu);
        auto& m = eng.metrics();
        std::string out;
        auto metric = [&](const char* name, const char* type, const char* help, std::uint64_t v) {
            out += "# HELP mqtt_broker_";
            out += name;
            out += " ";
            out += help;
            out += "\n# TYPE mqtt_broker_";
            out += name;
            out += " ";
            out += type;
            out += "\nmqtt_broker_";
            out += name;
            out += " ";
            out += std::to_string(v);
            out += "\n";
        };
        metric("messages_received_total", "counter", "PUBLISH packets received from clients.", m.messages_received);
        metric("messages_sent_total", "counter", "PUBLISH packets sent to clients.", m.messages_sent);
        metric("redeliveries_total", "counter", "PUBLISH packets resent with DUP set.", m.redeliveries);
        metric("publish_dropped_total", "counter", "Deliveries dropped, all reasons.", m.publish_dropped);
        metric("dropped_queue_full_total", "counter", "Deliveries dropped because a client queue was full.", m.dropped_queue_full);
        metric("dropped_too_large_total", "counter", "Deliveries larger than the client's Maximum Packet Size.", m.dropped_too_large);
        metric("dropped_expired_total", "counter", "Deliveries whose Message Expiry Interval passed while queued.", m.dropped_expired);
        metric("dropped_not_authorized_total", "counter", "Publishes and deliveries refused by the ACL.", m.dropped_not_authorized);
        metric("qos2_duplicates_suppressed_total", "counter", "Duplicate QoS 2 PUBLISH packets not delivered again.", m.qos2_duplicates_suppressed);
        metric("protocol_errors_total", "counter", "Connections closed for a protocol error.", m.protocol_errors);
        metric("connections_total", "counter", "Connections accepted.", m.connections_total);
        metric("clients_connected", "gauge", "Clients connected now.", m.clients_connected);
        metric("sessions", "gauge", "Sessions, connected or not.", eng.session_count());
        metric("subscriptions", "gauge", "Subscriptions.", eng.subscription_count());
        metric("retained_messages", "gauge", "Retained messages.", eng.retained_count());
        metric("bytes_received_total", "counter", "Bytes received.", m.bytes_received);
        metric("bytes_sent_total", "counter", "Bytes sent.", m.bytes_sent);
        return out;
    }

    bool open_metrics(std::string& error)
    {
        if (!cfg.metrics_port)
            return true;
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(cfg.metrics_bind_address, ec);
        if (ec) {
            error = "metrics_bind_address '" + cfg.metrics_bind_address + "': " + ec.message();
            return false;
        }
        metrics_acceptor = std::make_unique<tcp::acceptor>(io);
        tcp::endpoint ep(addr, *cfg.metrics_port);
        metrics_acceptor->open(ep.protocol(), ec);
        if (!ec)
            metrics_acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec)
            metrics_acceptor->bind(ep, ec);
        if (!ec)
            metrics_acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            error = "metrics listener " + cfg.metrics_bind_address + ":" + std::to_string(*cfg.metrics_port) + ": "
                + ec.message();
            return false;
        }
        log.log(log_type::notice, "metrics (Prometheus text) on http://" + cfg.metrics_bind_address + ":"
                + std::to_string(metrics_acceptor->local_endpoint().port()) + "/metrics");
        accept_metrics();
        return true;
    }

    // A minimal HTTP/1.x responder: whatever the request, the metrics text.
    void accept_metrics()
    {
        metrics_acceptor->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (ec || stopping)
                return;
            auto sock = std::make_shared<tcp::socket>(std::move(socket));
            auto request = std::make_shared<std::string>();
            auto chunk = std::make_shared<std::array<char, 1024>>();
            read_http(sock, request, chunk);
            accept_metrics();
        });
    }

    void read_http(std::shared_ptr<tcp::socket> sock, std::shared_ptr<std::string> request,
        std::shared_ptr<std::array<char, 1024>> chunk)
    {
        sock->async_read_some(asio::buffer(*chunk), [this, sock, request, chunk](boost::system::error_code ec, std::size_t n) {
            if (ec)
                return;
            request->append(chunk->data(), n);
            if (request->find("\r\n\r\n") == std::string::npos && request->size() < max_http_request) {
                read_http(sock, request, chunk);
                return;
            }
            auto body = prometheus();
            auto response = std::make_shared<std::string>("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                                                          "Content-Length: "
                + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
            asio::async_write(*sock, asio::buffer(*response), [sock, response](boost::system::error_code, std::size_t) {
                boost::system::error_code ignore;
                sock->shutdown(tcp::socket::shutdown_both, ignore);
                sock->close(ignore);
            });
        });
    }
};

server::server(boost::asio::io_context& io, broker_config config, server_options options)
    : impl_(std::make_unique<impl>(io, std::move(config), options))
{
}

server::~server() = default;

server::impl::~impl()
{
    // The other threads first: their connections' sockets must go before
    // their io_contexts. A thread still busy after the grace period (a TLS
    // handshake that never ends, say) is stopped.
    for (std::size_t i = 1; i < threads.size(); ++i)
        threads[i]->guard.reset();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (std::size_t i = 1; i < threads.size(); ++i) {
        auto& t = *threads[i];
        while (!t.finished && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        t.ctx->stop();
        if (t.thread.joinable())
            t.thread.join();
    }
    // No more readiness events: their connections are about to go.
    for (auto& t : threads)
        if (t->poller)
            t->poller->close();
    connections.clear();
    for (std::size_t i = 1; i < threads.size(); ++i)
        threads[i]->owned.reset(); // destroys what handlers still hold
}

bool server::start(std::string& error)
{
    auto& d = *impl_;
    for (auto& note : d.cfg.notes)
        d.log.log(log_type::notice, note);
    if (!d.open_store(error))
        return false;
    if (!d.load_access(error))
        return false;
    d.listeners.clear();
    d.listeners.reserve(d.cfg.listeners.size());
    for (std::size_t i = 0; i < d.cfg.listeners.size(); ++i) {
        d.listeners.push_back({d.cfg.listeners[i], i, {}, {}, 0, 0});
        d.listeners.back().port = d.cfg.listeners[i].port;
    }
    for (auto& l : d.listeners)
        if (!d.open_listener(l, error))
            return false;
    if (!d.open_metrics(error))
        return false;
    d.start_threads();
    d.log.log(log_type::notice, d.eng.options().version + " running (" + std::to_string(d.threads.size())
            + (d.threads.size() == 1 ? " I/O thread)" : " I/O threads)"));
    d.schedule_tick();
    d.schedule_sys();
    return true;
}

void server::stop()
{
    auto& d = *impl_;
    if (d.stopping)
        return;
    d.stopping = true;
    d.log.log(log_type::notice, "shutting down");
    for (auto& l : d.listeners)
        for (auto& acc : l.acceptors) {
            boost::system::error_code ignore;
            acc->close(ignore);
        }
    if (d.metrics_acceptor) {
        boost::system::error_code ignore;
        d.metrics_acceptor->close(ignore);
    }
    d.tick_timer.cancel();
    d.sys_timer.cancel();
    d.checkpoint_timer.cancel();
    impl::ready_list ready;
    {
        std::lock_guard lock(d.mu);
        d.eng.shutdown(clock::now());
        d.pump_locked(ready);
    }
    impl::flush_all(ready);
    // The CONNECT deadlines go (each thread's timer, on its thread).
    for (auto& t : d.threads)
        asio::post(*t->ctx, [t = t.get()] {
            if (t->connect_sweep)
                t->connect_sweep->cancel();
        });
    // The other threads end once their connections have written their last bytes.
    for (std::size_t i = 1; i < d.threads.size(); ++i)
        d.threads[i]->guard.reset();
    // The last groups are committed (and checkpointed) by the store thread; io.run()
    // ends once their output is written. Without it they were committed by pump().
    d.commit_retry_timer.cancel();
    if (d.durable && !d.worker && !d.commit_failing)
        d.durable->checkpoint();
    std::lock_guard lock(d.mu);
    auto& m = d.eng.metrics();
    d.log.log(log_type::notice, "delivery counters: received " + std::to_string(m.messages_received) + ", sent "
            + std::to_string(m.messages_sent) + ", redelivered " + std::to_string(m.redeliveries) + ", dropped "
            + std::to_string(m.publish_dropped) + " (queue full " + std::to_string(m.dropped_queue_full)
            + ", too large " + std::to_string(m.dropped_too_large) + ", expired " + std::to_string(m.dropped_expired)
            + ", not authorized " + std::to_string(m.dropped_not_authorized) + "), QoS 2 duplicates suppressed "
            + std::to_string(m.qos2_duplicates_suppressed));
}

bool server::reload(std::string& error)
{
    auto& d = *impl_;
    if (!d.load_access(error))
        return false;
    for (auto& l : d.listeners) {
        if (!transport::uses_tls(l.config.scheme))
            continue;
        transport::tls_options t;
        t.cert_file = l.config.certfile;
        t.key_file = l.config.keyfile;
        t.ca_file = l.config.cafile;
        t.ca_path = l.config.capath;
        t.require_client_certificate = l.config.require_certificate;
        std::string why;
        auto fresh = transport::make_server_tls_context(t, why);
        if (!fresh) {
            error = l.config.origin + ": " + why;
            return false;
        }
        l.tls = std::move(fresh);
    }
    d.log.log(log_type::notice, "reloaded password, ACL and certificate files");
    return true;
}

std::vector<std::uint16_t> server::bound_ports() const
{
    std::vector<std::uint16_t> ports;
    for (auto& l : impl_->listeners)
        ports.push_back(l.port);
    return ports;
}

engine& server::broker_engine() noexcept { return impl_->eng; }

std::string server::prometheus_text() const { return impl_->prometheus(); }

} // namespace mqtt::broker

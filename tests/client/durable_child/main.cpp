// durable-child: a client on the SQLite store, killed and restarted by the crash
// tests (tests/client/durable_crash_test.cpp). Prints one line per event, flushed.
//   durable-child publish PORT STORE ID FIRST COUNT
//       publishes FIRST .. FIRST+COUNT-1 (odd: QoS 1 to durable/q1, even: QoS 2 to
//       durable/q2) with publish_completion::stored; "stored N" as each is in the
//       store, "all-stored" at the end; then waits to be killed.
//   durable-child drain PORT STORE ID
//       resumes the stored session; "drained" once the store holds no message.
//   durable-child receive PORT STORE ID
//       "connected", then "got PAYLOAD" for each message delivered.
//   durable-child bench PORT none|memory|rows|snapshot|rows-full FILE COUNT WINDOW
//       publishes COUNT QoS 1 messages, WINDOW at a time, completing at the
//       acknowledgment; prints "msgs/s N saves S".
//   durable-child bench-offline 0 KIND FILE COUNT WINDOW
//       the same, never connected, with publish_completion::stored: how fast the
//       offline queue fills (each message completes once stored).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "mqtt/client/client.hpp"
#include "mqtt/client/sqlite_session_store.hpp"

namespace {

using namespace std::chrono_literals;

void say(const std::string& line)
{
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// The SQLite store, and how many messages it holds (for "drained").
class watched_store final : public mqtt::session_store {
public:
    explicit watched_store(std::string path) : inner(std::move(path)) {}
    mqtt::result<mqtt::session_state> load() override
    {
        auto r = inner.load();
        if (r)
            outstanding = r->outgoing.size();
        return r;
    }
    std::error_code save(const mqtt::session_state& s) override
    {
        auto ec = inner.save(s);
        if (!ec)
            outstanding = s.outgoing.size();
        return ec;
    }
    mqtt::sqlite_session_store inner;
    std::atomic<std::size_t> outstanding{0};
};

struct publisher {
    mqtt::client& c;
    long next;
    long end;
    int pending = 0;

    void pump()
    {
        while (pending < 64 && next < end) {
            const long n = next++;
            ++pending;
            auto q = n % 2 ? mqtt::qos::at_least_once : mqtt::qos::exactly_once;
            std::string topic = n % 2 ? "durable/q1" : "durable/q2";
            c.async_publish(topic, std::to_string(n), q, [this, n](std::error_code ec, mqtt::publish_result) {
                --pending;
                if (!ec)
                    say("stored " + std::to_string(n));
                else
                    say("failed " + std::to_string(n) + " " + ec.message());
                if (pending == 0 && next == end)
                    say("all-stored");
                pump();
            });
        }
    }
};

int bench(int argc, char** argv)
{
    if (argc < 7)
        return 2;
    const std::string kind = argv[3];
    const long count = std::atol(argv[5]);
    const int window = std::atoi(argv[6]);
    std::shared_ptr<mqtt::session_store> store;
    std::function<std::size_t()> saves = [] { return std::size_t{0}; };
    if (kind == "memory") {
        auto m = std::make_shared<mqtt::memory_session_store>();
        saves = [m] { return m->save_count(); };
        store = m;
    } else if (kind != "none") {
        mqtt::sqlite_store_options so;
        so.snapshot = kind == "snapshot";
        if (kind == "rows-full")
            so.sync = mqtt::sqlite_store_options::sync_mode::full;
        auto s = std::make_shared<mqtt::sqlite_session_store>(argv[4], so);
        if (s->open()) {
            std::fprintf(stderr, "store: %s\n", s->last_error().c_str());
            return 3;
        }
        saves = [s] { return s->save_count(); };
        store = s;
    }
    boost::asio::io_context ioc;
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    o.connect.client_id = "durable-bench";
    o.store = store;
    const bool offline = std::string(argv[1]) == "bench-offline";
    if (offline)
        o.complete_publish = mqtt::publish_completion::stored;
    mqtt::client c(ioc.get_executor(), o);
    long sent = 0, done = 0;
    std::chrono::steady_clock::time_point start;
    std::function<void()> more = [&] {
        while (sent < count && sent - done < window) {
            ++sent;
            c.async_publish("bench/t", std::string(64, 'x'), mqtt::qos::at_least_once, [&](std::error_code ec, mqtt::publish_result) {
                if (ec) {
                    std::fprintf(stderr, "publish: %s\n", ec.message().c_str());
                    std::exit(4);
                }
                if (++done == count) {
                    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    std::printf("%s msgs/s %.0f saves %zu\n", argv[3], static_cast<double>(count) / secs, saves());
                    std::fflush(stdout);
                    if (offline)
                        std::_Exit(0); // leaves the store as a crash would
                    c.async_disconnect([&](std::error_code) { ioc.stop(); });
                    return;
                }
                more();
            });
        }
    };
    if (offline) {
        start = std::chrono::steady_clock::now();
        boost::asio::post(c.get_executor(), more);
        ioc.run();
        return 0;
    }
    c.async_connect([&](std::error_code ec, mqtt::connack) {
        if (ec) {
            std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
            std::exit(4);
        }
        start = std::chrono::steady_clock::now();
        more();
    });
    ioc.run();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc > 1 && std::string(argv[1]).rfind("bench", 0) == 0)
        return bench(argc, argv);
    if (argc < 5) {
        std::fprintf(stderr, "usage: durable-child publish|drain|receive PORT STORE ID [FIRST COUNT]\n");
        return 2;
    }
    const std::string mode = argv[1];
    auto store = std::make_shared<watched_store>(argv[3]);
    if (auto ec = store->inner.open()) {
        std::fprintf(stderr, "store: %s\n", store->inner.last_error().c_str());
        return 3;
    }
    boost::asio::io_context ioc;
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    o.connect.client_id = argv[4];
    o.connect.clean_start = false;
    o.connect.session_expiry = 3600;
    o.connect.keep_alive = 30;
    o.reconnect.initial_delay = 20ms;
    o.reconnect.max_delay = 200ms;
    o.store = store;
    o.complete_publish = mqtt::publish_completion::stored;
    o.on_store_error = [](std::error_code ec) { say("store-error " + ec.message()); };
    mqtt::client c(ioc.get_executor(), o);
    c.set_message_handler([](mqtt::publish m) { say("got " + m.payload.str()); });
    c.async_connect([](std::error_code ec, mqtt::connack) { say(ec ? "connect-failed " + ec.message() : "connected"); });

    publisher pub{c, 0, 0};
    boost::asio::steady_timer poll(ioc);
    std::function<void()> watch = [&] {
        poll.expires_after(10ms);
        poll.async_wait([&](boost::system::error_code) {
            if (store->outstanding == 0 && c.is_connected()) {
                say("drained");
                c.async_disconnect([&](std::error_code) { ioc.stop(); });
                return;
            }
            watch();
        });
    };
    if (mode == "publish" && argc >= 7) {
        pub.next = std::atol(argv[5]);
        pub.end = pub.next + std::atol(argv[6]);
        boost::asio::post(c.get_executor(), [&] { pub.pump(); });
    } else if (mode == "drain") {
        watch();
    } else if (mode != "receive") {
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        return 2;
    }
    ioc.run();
    return 0;
}

// Crash tests of the SQLite store: a client process (durable-child) is killed with
// SIGKILL and started again on the same store file.
//  - Publishing, against Mosquitto: every message the child reported stored
//    reaches a subscriber, QoS 1 at least once, QoS 2 exactly once.
//  - Receiving, against the fake broker: a QoS 2 message whose PUBREC went out
//    before the kill is not delivered again after the restart.
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fake_broker.hpp"
#include "process.hpp"

using namespace mqtt;
using namespace mqtt::test;

namespace {

std::vector<long> stored_ids(const std::string& out)
{
    std::vector<long> ids;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("stored ", 0) == 0 && !in.eof()) // a complete line
            ids.push_back(std::stol(line.substr(7)));
    return ids;
}

#ifdef MOSQUITTO_PATH
// Mosquitto on one free loopback port, for one test.
struct local_mosquitto {
    interop::temp_dir dir{"mqtt-durable"};
    std::uint16_t port = 0;
    std::unique_ptr<interop::process> proc;
    std::string error;

    local_mosquitto()
    {
        const auto* pw = ::getpwuid(::getuid());
        for (int attempt = 0; attempt < 3 && !proc; ++attempt) {
            port = interop::free_port();
            std::ostringstream conf;
            conf << "user " << (pw ? pw->pw_name : "root") << "\nlog_dest file " << dir.file("mosquitto.log")
                 << "\nmax_queued_messages 100000\nmax_inflight_messages 0\n"
                 << "listener " << port << " 127.0.0.1\nallow_anonymous true\n";
            interop::write_file(dir.file("mosquitto.conf"), conf.str());
            auto p = std::make_unique<interop::process>(std::vector<std::string>{MOSQUITTO_PATH, "-c", dir.file("mosquitto.conf")});
            bool up = false;
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (p->started() && !up && p->running() && std::chrono::steady_clock::now() < deadline)
                up = interop::wait_port(port, 100ms);
            if (up)
                proc = std::move(p);
            else
                error = p->start_error() + p->err() + interop::read_file(dir.file("mosquitto.log"));
        }
    }
};

// Counts what arrives on durable/#, on its own thread.
struct counting_subscriber {
    net::io_context ioc;
    std::optional<client> c;
    std::mutex mutex;
    std::map<long, int> q1, q2;
    std::thread runner;

    bool start(std::uint16_t port)
    {
        client_options o;
        o.endpoint.host = "127.0.0.1";
        o.endpoint.port = port;
        o.connect.client_id = "durable-counter";
        o.reconnect.initial_delay = 10ms;
        c.emplace(ioc.get_executor(), o);
        c->set_message_handler([this](mqtt::publish m) {
            std::lock_guard lock(mutex);
            auto id = std::stol(m.payload.str());
            ++(m.qos == qos::exactly_once ? q2 : q1)[id];
        });
        std::promise<bool> subscribed;
        c->async_connect([](std::error_code, connack) {});
        c->async_subscribe("durable/#", qos::exactly_once, [&](std::error_code ec, subscribe_result r) {
            subscribed.set_value(!ec && r.codes.size() == 1 && r.codes[0] == reason_code::granted_qos_2);
        });
        runner = std::thread([this] { ioc.run(); });
        auto f = subscribed.get_future();
        return f.wait_for(10s) == std::future_status::ready && f.get();
    }
    ~counting_subscriber()
    {
        if (c)
            c->stop();
        c.reset();
        if (runner.joinable()) {
            ioc.stop();
            runner.join();
        }
    }
    bool has_all(const std::set<long>& ids)
    {
        std::lock_guard lock(mutex);
        for (auto id : ids)
            if (!(id % 2 ? q1 : q2).count(id))
                return false;
        return true;
    }
};
#endif

} // namespace

TEST_CASE("Durable crash: stored publishes survive SIGKILL, QoS 1 at least once, QoS 2 exactly once", "[client][store][durable][system]")
{
#ifndef MOSQUITTO_PATH
    WARN("mosquitto not installed: skipped");
#else
    local_mosquitto broker;
    INFO(broker.error);
    REQUIRE(broker.proc);
    counting_subscriber sub;
    REQUIRE(sub.start(broker.port));
    interop::temp_dir dir("mqtt-durable");
    const auto store = dir.file("client.db");
    const auto port = std::to_string(broker.port);

    std::set<long> stored;
    const long per_run = 800;
    const int kills = 3;
    long first = 0;
    for (int run = 0; run < kills; ++run) {
        interop::process child({DURABLE_CHILD_PATH, "publish", port, store, "durable-pub", std::to_string(first), std::to_string(per_run)});
        REQUIRE(child.started());
        // Killed while publishes are being stored and acknowledged.
        const long kill_after = first + per_run / 2 + run * 97;
        INFO("run " << run << " stderr: " << child.err());
        REQUIRE(child.wait_for_output("stored " + std::to_string(kill_after) + "\n", 30s));
        child.signal(SIGKILL);
        REQUIRE(child.wait(5s));
        for (auto id : stored_ids(child.out()))
            stored.insert(id);
        CHECK(child.out().find("store-error") == std::string::npos);
        first += per_run;
    }
    {
        // Killed again while resuming (resent messages in flight).
        interop::process resuming({DURABLE_CHILD_PATH, "drain", port, store, "durable-pub"});
        INFO("resuming stderr: " << resuming.err());
        REQUIRE(resuming.wait_for_output("connected", 30s));
        resuming.signal(SIGKILL);
        REQUIRE(resuming.wait(5s));
    }
    {
        interop::process drain({DURABLE_CHILD_PATH, "drain", port, store, "durable-pub"});
        INFO("drain stdout: " << drain.out() << " stderr: " << drain.err());
        REQUIRE(drain.wait_for_output("drained", 30s));
        CHECK(drain.wait(10s) == 0);
    }
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!sub.has_all(stored) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(300ms); // room for a late duplicate

    std::lock_guard lock(sub.mutex);
    std::size_t lost = 0, q1_duplicates = 0, q2_duplicates = 0, q1_received = 0, q2_received = 0;
    for (auto id : stored)
        lost += !(id % 2 ? sub.q1 : sub.q2).count(id);
    for (auto& [id, n] : sub.q1) {
        q1_received += static_cast<std::size_t>(n);
        q1_duplicates += static_cast<std::size_t>(n - 1);
    }
    for (auto& [id, n] : sub.q2) {
        q2_received += static_cast<std::size_t>(n);
        q2_duplicates += static_cast<std::size_t>(n - 1);
    }
    std::printf("durable crash: %d kills, %ld published, %zu reported stored, received QoS 1 %zu (%zu duplicates), "
                "QoS 2 %zu (%zu duplicates), lost %zu\n",
        kills + 1, first, stored.size(), q1_received, q1_duplicates, q2_received, q2_duplicates, lost);
    CHECK(stored.size() >= static_cast<std::size_t>(kills * per_run / 2));
    CHECK(lost == 0);
    CHECK(q2_duplicates == 0);
    for (auto& [id, n] : sub.q2)
        CHECK(id % 2 == 0);
#endif
}

TEST_CASE("Durable crash: a QoS 2 message PUBREC'd before SIGKILL is not delivered again", "[client][store][durable][system][MQTT-4.3.3-9]")
{
    harness h;
    interop::temp_dir dir("mqtt-durable");
    const auto store = dir.file("receiver.db");
    const auto port = std::to_string(h.broker.port());
    auto message = [](std::uint16_t id, bool dup) {
        mqtt::publish p;
        p.topic = buffer("durable/in");
        p.payload = buffer("m" + std::to_string(id));
        p.qos = qos::exactly_once;
        p.packet_id = id;
        p.dup = dup;
        return p;
    };

    bool pubrec_seen = false;
    {
        interop::process child({DURABLE_CHILD_PATH, "receive", port, store, "durable-rx"});
        REQUIRE(child.started());
        h.spawn([&]() -> awaitable<void> {
            auto conn = co_await h.broker.accept_session();
            co_await conn.send(message(42, false));
            auto rec = co_await conn.expect<pubrec>();
            CHECK(rec.packet_id == 42);
            pubrec_seen = true;
            // No PUBREL: the client dies first.
            CHECK_CLOSED(conn);
        });
        h.run_until([&] { return pubrec_seen; });
        CHECK(child.wait_for_output("got m42", 5s));
        child.signal(SIGKILL);
        REQUIRE(child.wait(5s));
        h.finish();
    }

    bool done = false;
    interop::process child({DURABLE_CHILD_PATH, "receive", port, store, "durable-rx"});
    REQUIRE(child.started());
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session(connack{true, reason_code::success, {}});
        // The broker resends the PUBLISH it holds (DUP), then releases it.
        co_await conn.send(message(42, true));
        auto rec = co_await conn.expect<pubrec>();
        CHECK(rec.packet_id == 42);
        co_await conn.send(pubrel{42, reason_code::success, {}});
        auto comp = co_await conn.expect<pubcomp>();
        CHECK(comp.packet_id == 42);
        CHECK(comp.code == reason_code::success);
        // A new message with the same id is a new message again.
        co_await conn.send(message(42, false));
        (void)co_await conn.expect<pubrec>();
        co_await conn.send(pubrel{42, reason_code::success, {}});
        (void)co_await conn.expect<pubcomp>();
        done = true;
        CHECK_CLOSED(conn);
    });
    h.run_until([&] { return done; });
    REQUIRE(child.wait_for_output("got m42", 5s)); // the second message 42
    child.signal(SIGKILL);
    child.wait(5s);
    h.finish();
    const auto out = child.out();
    INFO(out);
    std::size_t deliveries = 0;
    for (auto at = out.find("got m42"); at != std::string::npos; at = out.find("got m42", at + 1))
        ++deliveries;
    CHECK(deliveries == 1);
}

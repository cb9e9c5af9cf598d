#pragma once
// Drives the broker engine with fake clients that speak real bytes.
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mqtt/broker/engine.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace mqtt::broker::test {

using namespace std::chrono_literals;

inline constexpr auto v5 = protocol_version::v5;
inline constexpr auto v311 = protocol_version::v3_1_1;

// The payloads of the messages, in order.
inline std::vector<std::string> payloads(const std::vector<mqtt::publish>& pubs)
{
    std::vector<std::string> r;
    for (auto& p : pubs)
        r.push_back(p.payload.str());
    return r;
}

struct fake_client {
    engine& e;
    connection_id id;
    protocol_version version;
    stream_decoder decoder;
    std::vector<packet> inbox;
    bool closed = false;
    bool gone = false;

    fake_client(engine& eng, protocol_version v, connection_info info, clock::time_point now)
        : e(eng), id(eng.open(std::move(info), now)), version(v), decoder(max_packet_size, v)
    {
    }

    void send(const packet& p, clock::time_point now)
    {
        std::string bytes;
        auto ec = encode(p, version, bytes);
        if (ec)
            throw std::runtime_error("test encode failed: " + ec.message());
        e.received(id, bytes, now);
    }

    // Pulls what the engine wrote to this connection.
    void collect()
    {
        auto* out = e.output(id);
        if (!out)
            return;
        std::string bytes;
        out->batch.for_each_segment([&](const char* p, std::size_t n) { bytes.append(p, n); });
        out->batch.clear();
        decoder.feed(bytes);
        while (auto next = decoder.next()) {
            if (!*next)
                throw std::runtime_error("engine wrote bytes that do not decode: " + next->error().message());
            inbox.push_back(std::move(next->value()));
        }
        if (out->close)
            closed = true;
    }

    // What settle() has collected so far.
    std::vector<packet> take()
    {
        auto r = std::move(inbox);
        inbox.clear();
        return r;
    }

    // Takes the packets of one type; the others stay in the inbox, in order.
    template <class T>
    std::vector<T> take_of()
    {
        std::vector<T> r;
        std::vector<packet> rest;
        for (auto& p : inbox) {
            if (auto* x = std::get_if<T>(&p))
                r.push_back(std::move(*x));
            else
                rest.push_back(std::move(p));
        }
        inbox = std::move(rest);
        return r;
    }

    // The transport goes away (as the server reports it).
    void drop(clock::time_point now)
    {
        if (!gone) {
            gone = true;
            e.closed(id, now);
        }
    }
};

struct broker_fixture {
    engine e;
    clock::time_point now = clock::time_point{} + std::chrono::hours(2);
    wall_clock::time_point wall = wall_clock::time_point{} + std::chrono::hours(24 * 20000); // 2024-10-04
    std::vector<std::unique_ptr<fake_client>> clients;

    explicit broker_fixture(engine_options o = {}, std::shared_ptr<access_control> ac = nullptr) : e(std::move(o), std::move(ac)) {}

    // Both clocks move (tests of persistence need the wall clock to follow).
    void advance(std::chrono::seconds d)
    {
        now += d;
        wall += d;
    }

    // With a store: commits the changes so far (the server does this once per loop turn).
    void commit()
    {
        if (auto ec = e.commit(now, wall))
            throw std::runtime_error("commit failed: " + ec.message());
    }

    fake_client& open(protocol_version v, connection_info info = {})
    {
        clients.push_back(std::make_unique<fake_client>(e, v, std::move(info), now));
        return *clients.back();
    }

    // Opens a connection and completes CONNECT; returns the client and its CONNACK.
    fake_client& connect(protocol_version v, std::string client_id, bool clean = true, properties props = {},
        std::optional<will> w = std::nullopt, connack* ack_out = nullptr)
    {
        auto& c = open(v);
        mqtt::connect pkt;
        pkt.version = v;
        pkt.client_id = std::move(client_id);
        pkt.clean_start = clean;
        pkt.keep_alive = 0;
        pkt.props = std::move(props);
        pkt.will = std::move(w);
        c.send(pkt, now);
        settle();
        auto acks = c.take_of<connack>();
        if (acks.size() != 1)
            throw std::runtime_error("expected one CONNACK");
        if (ack_out)
            *ack_out = acks[0];
        return c;
    }

    // Delivers the engine's output the way the server does: only for the
    // connections it lists as having something to do.
    void settle()
    {
        for (;;) {
            if (e.output_held())
                commit();
            if (!e.has_output())
                break;
            e.drain([&](connection_id id, connection_output&) {
                for (auto& c : clients)
                    if (c->id == id)
                        c->collect();
            });
        }
    }

    void subscribe(fake_client& c, std::string filter, subscribe_options o, properties props = {}, std::uint16_t id = 1)
    {
        c.send(mqtt::subscribe{id, {{std::move(filter), o}}, std::move(props)}, now);
        settle();
        auto acks = c.take_of<suback>();
        if (acks.size() != 1)
            throw std::runtime_error("expected one SUBACK");
    }

    static mqtt::publish msg(std::string topic, std::string payload, mqtt::qos q, std::uint16_t id = 0, bool retain = false)
    {
        mqtt::publish p;
        p.topic = buffer(std::move(topic));
        p.payload = buffer(std::move(payload));
        p.qos = q;
        p.packet_id = q == qos::at_most_once ? 0 : id;
        p.retain = retain;
        return p;
    }
};

// CONNECT properties with a Session Expiry Interval.
inline properties expiry(std::uint32_t seconds)
{
    properties p;
    p.add(property_id::session_expiry_interval, seconds);
    return p;
}

// What a refused CONNECT gets: exactly one packet, a CONNACK with `code`, and then
// the connection is closed. Returns that CONNACK for further checks.
inline const connack& require_refused(const fake_client& c, const std::vector<packet>& got, reason_code code)
{
    REQUIRE(got.size() == 1);
    REQUIRE(std::holds_alternative<connack>(got[0]));
    const auto& ack = std::get<connack>(got[0]);
    CHECK(ack.code == code);
    CHECK(c.closed);
    return ack;
}

// A fresh directory under the system temp directory, removed with everything in it.
struct temp_dir {
    std::filesystem::path path;
    temp_dir()
    {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / ("mqtt-store-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir()
    {
        std::error_code ignore;
        std::filesystem::remove_all(path, ignore);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// An engine on a store. Destroying it without shutdown() is a crash: only what
// was committed is in the store for the next one.
struct persistent_fixture : broker_fixture {
    persistent_fixture(store& st, wall_clock::time_point wall_now, clock::time_point steady_now, engine_options o = {})
        : broker_fixture(std::move(o))
    {
        wall = wall_now;
        now = steady_now;
        std::string error;
        if (e.attach_store(&st, now, wall, error))
            throw std::runtime_error("attach_store: " + error);
    }
};

} // namespace mqtt::broker::test

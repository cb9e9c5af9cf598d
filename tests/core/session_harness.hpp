#pragma once
// Test helpers for the session core: a manual clock, action inspection, and a
// client/server pair joined by an in-memory "network" that can lose packets and
// cut the connection.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/session.hpp"

namespace mqtt::test {

using namespace std::chrono_literals;

inline clock::time_point t0() { return clock::time_point{} + std::chrono::hours(1); }

// Takes the session's actions, leaving its queue empty.
template <class Session>
std::vector<action> take(Session& s)
{
    std::vector<action> out;
    out.swap(s.actions());
    return out;
}

template <class T>
std::vector<T> only(const std::vector<action>& actions)
{
    std::vector<T> out;
    for (auto& a : actions)
        if (auto* p = std::get_if<T>(&a))
            out.push_back(*p);
    return out;
}

inline std::vector<packet> sent(const std::vector<action>& actions)
{
    std::vector<packet> out;
    for (auto& a : actions)
        if (auto* p = std::get_if<send_packet>(&a))
            out.push_back(p->pkt);
    return out;
}

template <class T>
std::vector<T> sent_of(const std::vector<action>& actions)
{
    std::vector<T> out;
    for (auto& p : sent(actions))
        if (auto* x = std::get_if<T>(&p))
            out.push_back(*x);
    return out;
}

inline bool closed(const std::vector<action>& actions) { return !only<close_connection>(actions).empty(); }

inline mqtt::publish make_publish(std::string topic, std::string payload, mqtt::qos q, bool retain = false)
{
    mqtt::publish p;
    p.topic = buffer(std::move(topic));
    p.payload = buffer(std::move(payload));
    p.qos = q;
    p.retain = retain;
    return p;
}

inline mqtt::connect make_connect(protocol_version v, bool clean = true, std::uint16_t keep_alive = 0)
{
    mqtt::connect c;
    c.version = v;
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    c.client_id = "test-client";
    return c;
}

// Connects a client session: CONNECT out, CONNACK in. Returns the actions of the CONNACK.
inline std::vector<action> connect_client(client_session& c, protocol_version v, bool session_present = false,
    properties connack_props = {}, bool clean = true, std::uint16_t keep_alive = 0, clock::time_point now = t0())
{
    c.connect(make_connect(v, clean && !session_present, keep_alive), now);
    take(c);
    c.receive(packet(connack{session_present, reason_code::success, std::move(connack_props)}), now);
    return take(c);
}

// Brings a server session up: CONNECT in, accept.
inline std::vector<action> connect_server(server_session& s, protocol_version v, bool session_present = false,
    properties connack_props = {}, mqtt::connect c = {}, clock::time_point now = t0())
{
    if (c.client_id.empty())
        c = make_connect(v, !session_present);
    c.version = v;
    s.receive(packet(c), now);
    take(s);
    s.accept(connack{session_present, reason_code::success, std::move(connack_props)}, now);
    return take(s);
}

// A client and a server session joined by a network that passes packets as
// encoded bytes (so the codec and the stream decoder are exercised too).
struct session_pair {
    client_session client;
    server_session server;
    protocol_version version;
    clock::time_point now = t0();
    bool up = false;
    std::vector<mqtt::publish> server_got;     // delivered to the server application
    std::vector<mqtt::publish> client_got;     // delivered to the client application
    std::vector<publish_done> client_done;     // completed client publish requests
    std::vector<publish_done> server_done;
    // Called for every packet about to cross; return false to lose it (and cut the connection).
    std::function<bool(bool from_client, const packet&)> network_ok = [](bool, const packet&) { return true; };

    explicit session_pair(protocol_version v, session_options copts = {}, session_options sopts = {})
        : client(copts), server(sopts), version(v)
    {
    }

    void connect(bool clean = false)
    {
        cut();
        drain(true); // what was in flight on the old connection is gone
        drain(false);
        client.connect(make_connect(version, clean, 0), now);
        up = true;
        run();
    }

    // The network connection breaks; both sides notice.
    void cut()
    {
        if (!up)
            return;
        up = false;
        client.connection_lost(now);
        server.connection_lost(now);
    }

    // Moves packets back and forth until both sides are quiet.
    void run()
    {
        for (int rounds = 0; rounds < 10000; ++rounds) {
            bool moved = false;
            moved |= drain(true);
            moved |= drain(false);
            if (!moved)
                return;
        }
    }

private:
    bool drain(bool from_client)
    {
        auto actions = from_client ? take(client) : take(server);
        bool moved = false;
        for (auto& a : actions) {
            if (auto* s = std::get_if<send_packet>(&a)) {
                if (!up)
                    continue;
                if (!network_ok(from_client, s->pkt)) {
                    cut();
                    continue;
                }
                std::string bytes;
                auto ec = encode(s->pkt, version, bytes);
                if (ec)
                    throw std::runtime_error("encode failed: " + ec.message());
                if (from_client)
                    server.receive(std::string_view(bytes), now);
                else
                    client.receive(std::string_view(bytes), now);
                moved = true;
            } else if (auto* d = std::get_if<deliver_message>(&a)) {
                (from_client ? client_got : server_got).push_back(d->msg);
            } else if (auto* done = std::get_if<publish_done>(&a)) {
                (from_client ? client_done : server_done).push_back(*done);
            } else if (auto* c = std::get_if<connect_received>(&a)) {
                (void)c;
                // The broker's part: resume when the client asked to.
                server.accept(connack{!c->pkt.clean_start && had_session_, reason_code::success, {}}, now);
                had_session_ = true;
                moved = true;
            } else if (std::get_if<close_connection>(&a)) {
                cut();
            }
        }
        return moved;
    }
    bool had_session_ = false;
};

} // namespace mqtt::test

// libFuzzer target: the broker engine (sans-I/O) driven by up to four clients
// that send either well-formed packets picked by the input (so that the fuzzer
// reaches sessions, routing, retained messages, wills and takeovers quickly) or
// raw bytes, with connections opened, dropped and timed out at any moment.
//
// Oracle: the engine never crashes, never writes to a connection after asking to
// close it, and everything it writes decodes as packets a server may send, in the
// version of that connection, with valid packet identifiers.
//
// Input: [config][step]...   config bit 0: 5.0 (else 3.1.1) for odd clients
//                                     bit 1: max_inflight 2, max_queued 4
//   step: control byte c: client = c & 3, kind = (c >> 2) % 16, arg = next byte.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/broker/engine.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace {

using namespace std::chrono_literals;
using namespace mqtt;
using mqtt::broker::connection_id;

[[noreturn]] void fail(const char* why)
{
    std::fprintf(stderr, "invariant violated: %s\n", why);
    __builtin_trap();
}

constexpr std::array<std::string_view, 4> client_ids = {"a", "b", "a", ""};
constexpr std::array<std::string_view, 5> topics = {"t", "t/x", "s/1/temp", "$SYS/x", "w"};
constexpr std::array<std::string_view, 7> filters = {"t/#", "+/x", "#", "$share/g/t", "$share/g/#", "s/+/temp", "w"};

class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
    bool empty() const { return p_ == end_; }
    std::uint8_t byte() { return p_ == end_ ? 0 : *p_++; }
    std::string_view bytes(std::size_t n)
    {
        n = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

struct peer {
    connection_id id = 0;
    protocol_version version = protocol_version::v5;
    bool open = false;
    bool closing = false; // the engine asked to close
    bool sent_connect = false;
    bool unknown_version = false; // raw bytes came first: they may be a CONNECT of either version
    std::optional<stream_decoder> decoder;
    std::vector<std::uint16_t> to_ack_qos1, to_rec_qos2, to_comp; // ids the broker used toward us
    std::uint16_t next_id = 1;
};

class driver {
public:
    explicit driver(std::uint8_t config)
        : engine_(make_options(config)), v5_odd_((config & 1) != 0)
    {
    }

    void step(reader& in)
    {
        std::uint8_t c = in.byte();
        auto& p = peers_[c & 3];
        std::uint8_t arg = in.byte();
        switch ((c >> 2) % 16) {
        case 0: open(p, c & 3); break;
        case 1:
            send(p, make_connect(c & 3, arg));
            p.sent_connect = true;
            break;
        case 2: send(p, make_publish(p, arg)); break;
        case 3: send(p, make_subscribe(p, arg)); break;
        case 4: send(p, mqtt::unsubscribe{p.next_id++, {std::string(filters[arg % filters.size()])}, {}}); break;
        case 5: answer(p, arg); break;
        case 6: send(p, pingreq{}); break;
        case 7: send(p, mqtt::disconnect{(arg & 1) ? reason_code::disconnect_with_will_message : reason_code::success, {}}); break;
        case 8: raw(p, in.bytes(arg % 32)); break;
        case 9: drop(p); break;
        case 10:
            if (p.open) engine_.timer_fired(p.id, timer_id::keep_alive, now_);
            break;
        case 11:
            now_ += std::chrono::seconds(arg);
            engine_.tick(now_);
            break;
        case 12: send(p, mqtt::pubrel{static_cast<std::uint16_t>(arg % 4 + 1), reason_code::success, {}}); break;
        case 13: send(p, mqtt::puback{static_cast<std::uint16_t>(arg % 4 + 1), reason_code::success, {}}); break;
        case 14: engine_.publish_internal(make_publish(p, arg), now_); break;
        case 15:
            if (arg == 0xFF) engine_.shutdown(now_);
            break;
        }
        settle();
    }

    void finish()
    {
        for (auto& p : peers_)
            drop(p);
        settle();
    }

private:
    static broker::engine_options make_options(std::uint8_t config)
    {
        broker::engine_options o;
        if (config & 2) {
            o.max_inflight = 2;
            o.max_queued_messages = 4;
        }
        o.persistent_client_expiration = std::chrono::seconds(600);
        return o;
    }

    void open(peer& p, std::size_t index)
    {
        if (p.open)
            return;
        p = peer{};
        p.version = (index & 1) && v5_odd_ ? protocol_version::v5 : protocol_version::v3_1_1;
        if (index == 0)
            p.version = protocol_version::v5;
        p.id = engine_.open({"127.0.0.1:1", 0, "", false, std::nullopt}, now_);
        p.decoder.emplace(max_packet_size, p.version);
        p.open = true;
    }

    mqtt::connect make_connect(std::size_t index, std::uint8_t arg) const
    {
        mqtt::connect c;
        c.version = peers_[index].version;
        c.client_id = std::string(client_ids[index]);
        c.clean_start = (arg & 1) != 0;
        c.keep_alive = static_cast<std::uint16_t>((arg >> 1) & 3);
        if (c.version == protocol_version::v5 && (arg & 8))
            c.props.add(property_id::session_expiry_interval, std::uint32_t{(arg >> 4) & 0x7u} * 10u);
        if (arg & 0x80) {
            mqtt::will w;
            w.topic = buffer(std::string(topics[arg % topics.size()] == "$SYS/x" ? "w" : topics[arg % topics.size()]));
            w.payload = buffer(std::string("will"));
            w.qos = static_cast<mqtt::qos>((arg >> 5) % 3);
            w.retain = (arg & 0x40) != 0;
            if (c.version == protocol_version::v5 && (arg & 0x10))
                w.props.add(property_id::will_delay_interval, std::uint32_t{5});
            c.will = std::move(w);
        }
        return c;
    }

    mqtt::publish make_publish(peer& p, std::uint8_t arg)
    {
        mqtt::publish m;
        m.topic = buffer(std::string(topics[arg % topics.size()]));
        m.payload = buffer(std::string(arg & 0x40 ? "" : "payload"));
        m.qos = static_cast<mqtt::qos>((arg >> 3) % 3);
        m.retain = (arg & 0x20) != 0;
        m.dup = (arg & 0x80) != 0;
        if (m.qos != qos::at_most_once)
            m.packet_id = (arg & 0x80) ? static_cast<std::uint16_t>(1 + arg % 3) : p.next_id++;
        if (p.next_id == 0)
            p.next_id = 1;
        if (p.version == protocol_version::v5 && (arg & 0x04))
            m.props.add(property_id::message_expiry_interval, std::uint32_t{3});
        return m;
    }

    mqtt::subscribe make_subscribe(peer& p, std::uint8_t arg)
    {
        mqtt::subscribe s;
        s.packet_id = p.next_id++;
        if (p.next_id == 0)
            p.next_id = 1;
        subscribe_options o;
        o.qos = static_cast<mqtt::qos>(arg % 3);
        if (p.version == protocol_version::v5) {
            o.no_local = (arg & 0x80) != 0;
            o.retain_as_published = (arg & 0x40) != 0;
            o.retain_handling = static_cast<retain_handling>((arg >> 4) % 3);
            if (arg & 0x08)
                s.props.add(property_id::subscription_identifier, std::uint32_t{arg} + 1u);
        }
        s.subscriptions.push_back({std::string(filters[(arg >> 2) % filters.size()]), o});
        return s;
    }

    // Answers the oldest thing the broker sent us that wants an answer.
    void answer(peer& p, std::uint8_t arg)
    {
        if (!p.to_ack_qos1.empty() && (arg & 1)) {
            auto id = p.to_ack_qos1.front();
            p.to_ack_qos1.erase(p.to_ack_qos1.begin());
            send(p, mqtt::puback{id, reason_code::success, {}});
        } else if (!p.to_rec_qos2.empty() && (arg & 2)) {
            auto id = p.to_rec_qos2.front();
            p.to_rec_qos2.erase(p.to_rec_qos2.begin());
            send(p, mqtt::pubrec{id, reason_code::success, {}});
        } else if (!p.to_comp.empty()) {
            auto id = p.to_comp.front();
            p.to_comp.erase(p.to_comp.begin());
            send(p, mqtt::pubcomp{id, reason_code::success, {}});
        }
    }

    void send(peer& p, const packet& pkt)
    {
        if (!p.open)
            return;
        std::string bytes;
        if (encode(pkt, p.version, bytes))
            return; // not encodable in this version: skip
        engine_.received(p.id, bytes, now_);
    }

    void raw(peer& p, std::string_view bytes)
    {
        if (!p.open)
            return;
        if (!p.sent_connect)
            p.unknown_version = true;
        engine_.received(p.id, bytes, now_);
    }

    void drop(peer& p)
    {
        if (!p.open)
            return;
        p.open = false;
        engine_.closed(p.id, now_);
    }

    // Takes output the way the server does, checking every byte written.
    void settle()
    {
        for (int rounds = 0; engine_.has_output(); ++rounds) {
            if (rounds > 1000)
                fail("engine keeps producing output without input");
            engine_.drain([&](connection_id id, broker::connection_output& out) {
                peer* p = nullptr;
                for (auto& q : peers_)
                    if (q.open && q.id == id)
                        p = &q;
                if (!p) {
                    out.batch.clear();
                    return;
                }
                std::string bytes;
                out.batch.for_each_segment([&](const char* d, std::size_t n) { bytes.append(d, n); });
                out.batch.clear();
                if (!bytes.empty() && p->closing)
                    fail("bytes written after the engine asked to close");
                check(*p, bytes);
                if (out.close) {
                    p->closing = true;
                    drop(*p);
                }
            });
        }
    }

    void check(peer& p, std::string_view bytes)
    {
        if (p.unknown_version)
            return;
        p.decoder->feed(bytes);
        while (auto next = p.decoder->next()) {
            if (!*next)
                fail("engine wrote bytes that do not decode");
            const packet& pkt = next->value();
            if (!may_send(role::server, type_of(pkt)))
                fail("engine wrote a packet only a client may send");
            if (auto* m = std::get_if<mqtt::publish>(&pkt)) {
                if (m->qos != qos::at_most_once && m->packet_id == 0)
                    fail("QoS > 0 PUBLISH without a packet identifier");
                if (m->qos == qos::at_least_once)
                    p.to_ack_qos1.push_back(m->packet_id);
                else if (m->qos == qos::exactly_once)
                    p.to_rec_qos2.push_back(m->packet_id);
            } else if (auto* rel = std::get_if<mqtt::pubrel>(&pkt)) {
                p.to_comp.push_back(rel->packet_id);
            }
        }
    }

    broker::engine engine_;
    bool v5_odd_;
    clock::time_point now_ = clock::time_point{} + 1h;
    std::array<peer, 4> peers_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    reader in(data, size);
    driver d(in.byte());
    for (std::size_t steps = 0; steps < 400 && !in.empty(); ++steps)
        d.step(in);
    d.finish();
    return 0;
}

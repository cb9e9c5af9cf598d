// libFuzzer target: the sans-I/O session core of either role driven by arbitrary
// network bytes interleaved with application requests, timers and reconnects, as
// a real driver would issue them. Invariants are checked after every call.
//
// Input: [config][step]...
//   config bit 0: role (0 client, 1 server)      bit 4: 3.1.1 retransmit interval
//          bit 1: version (0 3.1.1, 1 5.0)       bit 5: 8 packet ids, no resend on session loss
//          bit 2: manual_ack                     bit 6: at most 4 queued messages
//          bit 3: auto_topic_alias               bit 7: tight 5.0 limits (receive maximum 2, ...)
//   step: one control byte c, kind = c % 12, arg = c / 12 (0..21):
//     0 receive the next (byte + 1) bytes     6 fire an armed timer (arg & 1) / advance time
//     1 receive the next (arg + 1) bytes      7 connection lost / reconnect
//     2 publish                               8 peer answers something the session sent
//     3 subscribe / answer a SUBSCRIBE        9 peer sends a PUBLISH (or CONNECT first)
//     4 unsubscribe / answer an UNSUBSCRIBE  10 disconnect request
//     5 acknowledge a delivered message      11 peer sends PINGREQ / PINGRESP / DISCONNECT
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/session.hpp"

namespace {

using namespace std::chrono_literals;

// Says which invariant broke (libFuzzer shows stderr with the crash), then traps.
[[noreturn]] void fail(const char* why)
{
    std::fprintf(stderr, "invariant violated: %s\n", why);
    __builtin_trap();
}

constexpr std::size_t max_steps = 256;

// SESSION_FUZZ_TRACE=1 prints the steps and actions: for reading a crash input.
const bool trace = std::getenv("SESSION_FUZZ_TRACE") != nullptr;

constexpr const char* action_names[] = {"send_packet", "deliver_message", "publish_done", "subscribe_done",
    "unsubscribe_done", "connected", "connection_refused", "connect_received", "subscribe_received",
    "unsubscribe_received", "disconnect_received", "auth_received", "set_timer", "cancel_timer", "close_connection"};
static_assert(std::size(action_names) == std::variant_size_v<mqtt::action>);

constexpr std::array<std::string_view, 4> topics = {"a", "a/b", "sensors/1/temp", "$SYS/uptime"};
constexpr std::array<std::string_view, 6> filters = {"a/#", "+/b", "sensors/+/temp", "#", "$share/g/a", "a/#/b"};

class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool empty() const noexcept { return pos_ >= size_; }
    std::uint8_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
    std::string_view bytes(std::size_t n) noexcept
    {
        n = std::min(n, size_ - pos_);
        std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

struct config {
    mqtt::role role;
    mqtt::protocol_version version;
    mqtt::session_options options;
    bool tight_limits;

    explicit config(std::uint8_t c)
        : role(c & 0x01 ? mqtt::role::server : mqtt::role::client),
          version(c & 0x02 ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1),
          tight_limits((c & 0x80) != 0)
    {
        options.manual_ack = (c & 0x04) != 0;
        options.auto_topic_alias = (c & 0x08) != 0;
        options.retransmit_interval = (c & 0x10) ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
        options.maximum_packet_id = (c & 0x20) ? 8 : 65535;
        options.resend_on_session_lost = (c & 0x20) == 0;
        options.max_queued_messages = (c & 0x40) ? 4 : 0;
    }
};

// Something the session sent that its peer would answer.
struct expectation {
    mqtt::packet_type type; // of the packet the session sent
    std::uint16_t packet_id = 0;
    std::size_t count = 0; // SUBSCRIBE / UNSUBSCRIBE filters, PUBLISH QoS
};

template <mqtt::role R>
class driver {
public:
    driver(const config& cfg) : cfg_(cfg), session_(cfg.options) {}

    void run(reader& in)
    {
        if constexpr (R == mqtt::role::client) {
            session_.connect(client_connect(true), now_);
            drain();
        }
        link_up_ = true;
        for (std::size_t step = 0; step < max_steps && !in.empty(); ++step) {
            const std::uint8_t c = in.byte();
            now_ += 1ms;
            if (trace)
                std::fprintf(stderr, "step %zu: kind %u arg %u\n", step, c % 12u, c / 12u);
            this->step(static_cast<unsigned>(c % 12), static_cast<unsigned>(c / 12), in);
        }
    }

private:
    void step(unsigned kind, unsigned arg, reader& in)
    {
        switch (kind) {
        case 0: receive(in.bytes(std::size_t{in.byte()} + 1)); break;
        case 1: receive(in.bytes(arg + 1)); break;
        case 2: publish(arg); break;
        case 3: subscribe(arg); break;
        case 4: unsubscribe(arg); break;
        case 5: acknowledge(arg); break;
        case 6: timer(arg); break;
        case 7: reconnect(arg); break;
        case 8: peer_answer(arg); break;
        case 9: peer_publish(arg); break;
        case 10:
            session_.disconnect(mqtt::disconnect{}, now_);
            drain();
            break;
        default: peer_control(arg); break;
        }
    }

    // ---- the network side

    void receive(std::string_view bytes)
    {
        // A driver drops whatever arrives on a socket it closed; the client core
        // must ignore such bytes anyway, so it is given them to prove it.
        if (!link_up_ || (closed_ && R == mqtt::role::server))
            return;
        session_.receive(bytes, now_);
        drain();
    }

    void send_peer(const mqtt::packet& p)
    {
        std::string bytes;
        if (mqtt::encode(p, cfg_.version, bytes))
            return; // e.g. an alias the fuzzer made up beyond the limit: not a session bug
        receive(bytes);
    }

    mqtt::connect client_connect(bool clean_start) const
    {
        mqtt::connect con;
        con.version = cfg_.version;
        con.clean_start = clean_start;
        con.keep_alive = 10;
        con.client_id = R == mqtt::role::client ? "fuzz-client" : "fuzz-peer";
        if (cfg_.version == mqtt::protocol_version::v5) {
            con.props.add(mqtt::property_id::session_expiry_interval, std::uint32_t{600});
            if (cfg_.tight_limits) {
                con.props.add(mqtt::property_id::receive_maximum, std::uint32_t{2});
                con.props.add(mqtt::property_id::topic_alias_maximum, std::uint32_t{3});
                con.props.add(mqtt::property_id::maximum_packet_size, std::uint32_t{512});
            }
        }
        return con;
    }

    mqtt::connack peer_connack(bool session_present) const
    {
        mqtt::connack ack;
        ack.session_present = session_present;
        if (cfg_.version == mqtt::protocol_version::v5 && cfg_.tight_limits) {
            ack.props.add(mqtt::property_id::receive_maximum, std::uint32_t{2});
            ack.props.add(mqtt::property_id::topic_alias_maximum, std::uint32_t{3});
            ack.props.add(mqtt::property_id::maximum_packet_size, std::uint32_t{512});
        }
        return ack;
    }

    mqtt::reason_code peer_code(unsigned arg, mqtt::reason_code fallback) const
    {
        if (cfg_.version == mqtt::protocol_version::v5 && (arg & 0x10))
            return mqtt::reason_code::implementation_specific_error;
        return fallback;
    }

    void peer_answer(unsigned arg)
    {
        if constexpr (R == mqtt::role::server) {
            if (!peer_connect_sent_)
                return peer_connect();
        }
        if (expected_.empty())
            return;
        const auto index = arg % expected_.size();
        const expectation e = expected_[index];
        expected_.erase(expected_.begin() + static_cast<std::ptrdiff_t>(index));
        const auto ok = mqtt::reason_code::success;
        switch (e.type) {
        case mqtt::packet_type::connect:
            send_peer(peer_connack(connections_ > 1 && (arg & 1)));
            break;
        case mqtt::packet_type::publish:
            if (e.packet_id == 0)
                break;
            // The matching acknowledgment, or now and then the wrong one.
            if ((e.count == 2) != ((arg & 0x08) != 0))
                send_peer(mqtt::pubrec{e.packet_id, peer_code(arg, ok), {}});
            else
                send_peer(mqtt::puback{e.packet_id, peer_code(arg, ok), {}});
            break;
        case mqtt::packet_type::pubrec:
            send_peer(mqtt::pubrel{e.packet_id, ok, {}});
            break;
        case mqtt::packet_type::pubrel:
            send_peer(mqtt::pubcomp{e.packet_id, ok, {}});
            break;
        case mqtt::packet_type::subscribe: {
            mqtt::suback ack;
            ack.packet_id = e.packet_id;
            ack.codes.assign(e.count + ((arg & 0x04) ? 1 : 0), peer_code(arg, mqtt::reason_code::granted_qos_1));
            send_peer(ack);
            break;
        }
        case mqtt::packet_type::unsubscribe: {
            mqtt::unsuback ack;
            ack.packet_id = e.packet_id;
            if (cfg_.version == mqtt::protocol_version::v5)
                ack.codes.assign(e.count, peer_code(arg, ok));
            send_peer(ack);
            break;
        }
        case mqtt::packet_type::pingreq:
            send_peer(mqtt::pingresp{});
            break;
        default:
            break;
        }
    }

    void peer_connect()
    {
        peer_connect_sent_ = true;
        send_peer(client_connect(connections_ == 0));
    }

    void peer_publish(unsigned arg)
    {
        if constexpr (R == mqtt::role::server) {
            if (!peer_connect_sent_)
                return peer_connect();
        }
        mqtt::publish pub;
        pub.topic = mqtt::buffer::copy(topics[arg % topics.size()]);
        pub.payload = mqtt::buffer::copy(std::string(arg, 'x'));
        pub.qos = static_cast<mqtt::qos>(arg % 3);
        pub.retain = (arg & 0x04) != 0;
        if (pub.qos != mqtt::qos::at_most_once) {
            if (arg & 0x08) {
                pub.dup = true; // the same id again: a resend
            } else {
                peer_id_ = static_cast<std::uint16_t>(peer_id_ % 65535 + 1);
            }
            pub.packet_id = peer_id_;
        }
        if (cfg_.version == mqtt::protocol_version::v5 && (arg & 0x10)) {
            pub.props.add(mqtt::property_id::topic_alias, std::uint32_t{1});
            if (arg & 0x01)
                pub.topic = mqtt::buffer();
        }
        send_peer(pub);
    }

    void peer_control(unsigned arg)
    {
        if constexpr (R == mqtt::role::server) {
            if (!peer_connect_sent_)
                return peer_connect();
            if (arg % 3 == 0)
                return send_peer(mqtt::pingreq{});
        } else {
            if (arg % 3 == 0)
                return send_peer(mqtt::pingresp{});
        }
        if (arg % 3 == 1) {
            mqtt::disconnect d;
            d.code = peer_code(arg, mqtt::reason_code::normal_disconnection);
            return send_peer(d);
        }
        if (cfg_.version == mqtt::protocol_version::v5)
            send_peer(mqtt::auth{mqtt::reason_code::continue_authentication, {}});
    }

    // ---- the application side

    void publish(unsigned arg)
    {
        mqtt::publish pub;
        pub.topic = mqtt::buffer::copy(topics[(arg / 3) % topics.size()]);
        pub.payload = mqtt::buffer::copy(std::string(arg * 3, 'p'));
        pub.qos = static_cast<mqtt::qos>(arg % 3);
        pub.retain = (arg & 0x08) != 0;
        if (cfg_.version == mqtt::protocol_version::v5 && (arg & 0x10))
            pub.props.add(mqtt::property_id::message_expiry_interval, std::uint32_t{2});
        session_.publish(std::move(pub), (arg & 0x04) ? 0 : ++tag_, now_);
        drain();
    }

    void subscribe(unsigned arg)
    {
        if constexpr (R == mqtt::role::client) {
            mqtt::subscribe sub;
            const auto n = 1 + arg % 3;
            for (unsigned i = 0; i < n; ++i) {
                mqtt::subscription s;
                s.filter = std::string(filters[(arg + i) % filters.size()]);
                s.options.qos = static_cast<mqtt::qos>((arg + i) % 3);
                sub.subscriptions.push_back(std::move(s));
            }
            session_.subscribe(std::move(sub), ++tag_, now_);
        } else {
            if (subscribes_.empty())
                return;
            mqtt::suback ack;
            ack.packet_id = subscribes_.front().packet_id;
            for (const auto& s : subscribes_.front().subscriptions)
                ack.codes.push_back((arg & 1) ? mqtt::reason_code::unspecified_error
                                              : static_cast<mqtt::reason_code>(s.options.qos));
            subscribes_.pop_front();
            session_.send(std::move(ack), now_);
        }
        drain();
    }

    void unsubscribe(unsigned arg)
    {
        if constexpr (R == mqtt::role::client) {
            mqtt::unsubscribe unsub;
            unsub.filters.push_back(std::string(filters[arg % filters.size()]));
            if (arg & 1)
                unsub.filters.push_back(std::string(filters[(arg + 1) % filters.size()]));
            session_.unsubscribe(std::move(unsub), ++tag_, now_);
        } else {
            if (unsubscribes_.empty())
                return;
            mqtt::unsuback ack;
            ack.packet_id = unsubscribes_.front().packet_id;
            if (cfg_.version == mqtt::protocol_version::v5)
                ack.codes.assign(unsubscribes_.front().filters.size(), mqtt::reason_code::success);
            unsubscribes_.pop_front();
            session_.send(std::move(ack), now_);
        }
        drain();
    }

    void acknowledge(unsigned arg)
    {
        std::uint16_t id = static_cast<std::uint16_t>(arg + 1); // perhaps unknown: must be ignored
        if (!delivered_.empty() && (arg & 0x10) == 0) {
            const auto index = arg % delivered_.size();
            id = delivered_[index];
            delivered_.erase(delivered_.begin() + static_cast<std::ptrdiff_t>(index));
        }
        const auto code = (arg & 0x08) ? mqtt::reason_code::unspecified_error : mqtt::reason_code::success;
        session_.acknowledge(id, code, now_);
        drain();
    }

    void timer(unsigned arg)
    {
        auto& at = timers_[arg & 1];
        if (!at) {
            now_ += std::chrono::seconds(arg);
            return;
        }
        now_ = std::max(now_, *at);
        at.reset(); // one-shot until the session arms it again
        session_.timer_fired(arg & 1 ? mqtt::timer_id::retransmit : mqtt::timer_id::keep_alive, now_);
        drain();
    }

    void reconnect(unsigned arg)
    {
        if (link_up_) {
            closed_ = true; // the connection is gone: nothing may be sent or delivered
            session_.connection_lost(now_);
            drain();
            link_up_ = false;
            if (arg & 1)
                return; // stay offline for a while: requests queue up
        }
        // A new connection: whatever the old one expected is gone.
        closed_ = false;
        link_up_ = true;
        expected_.clear();
        subscribes_.clear();
        unsubscribes_.clear();
        delivered_.clear();
        peer_connect_sent_ = false;
        if constexpr (R == mqtt::role::client) {
            session_.connect(client_connect((arg & 2) != 0), now_);
            drain();
        }
    }

    // ---- the actions and the invariants

    // Performs the queued actions; a server answers a CONNECT right after the batch
    // that reported it, as a broker does once it has checked the client's identity.
    void drain()
    {
        while (true) {
            std::vector<mqtt::action> batch;
            batch.swap(session_.actions());
            for (auto& a : batch)
                check(a);
            if (session_.inflight_count() > session_.peer_receive_maximum())
                fail("inflight_count() > peer_receive_maximum()");
            if constexpr (R == mqtt::role::server) {
                if (pending_accept_ && !closed_) {
                    const auto ack = *pending_accept_;
                    pending_accept_.reset();
                    session_.accept(ack, now_);
                    continue;
                }
            }
            pending_accept_.reset();
            return;
        }
    }

    void check(mqtt::action& a)
    {
        if (trace) {
            std::fprintf(stderr, "  %s", action_names[a.index()]);
            if (auto* s = std::get_if<mqtt::send_packet>(&a)) {
                std::fprintf(stderr, " %s", std::string(mqtt::to_string(mqtt::type_of(s->pkt))).c_str());
                if (auto* d = std::get_if<mqtt::disconnect>(&s->pkt))
                    std::fprintf(stderr, " reason 0x%02x", static_cast<unsigned>(d->code));
                if (auto* c = std::get_if<mqtt::connack>(&s->pkt))
                    std::fprintf(stderr, " reason 0x%02x", static_cast<unsigned>(c->code));
            }
            std::fprintf(stderr, "\n");
        }
        if (closed_) {
            // After close_connection only the bookkeeping of the ended connection.
            const bool allowed = std::holds_alternative<mqtt::set_timer>(a)
                || std::holds_alternative<mqtt::cancel_timer>(a) || std::holds_alternative<mqtt::publish_done>(a)
                || std::holds_alternative<mqtt::subscribe_done>(a)
                || std::holds_alternative<mqtt::unsubscribe_done>(a);
            if (!allowed)
                fail("an action other than timers/cancellation/*_done after close_connection or connection_lost");
        }
        std::visit([this](auto& x) { this->on(x); }, a);
    }

    void on(mqtt::send_packet& s)
    {
        const auto type = mqtt::type_of(s.pkt);
        if (!mqtt::may_send(R, type))
            fail("send_packet of a packet type this role may not send");
        // A server forgets the version when the connection closes, which may be
        // later in the same batch: fall back to the one its CONNECT carried.
        const auto version = session_.version().value_or(connect_version_);
        std::string bytes;
        const auto ec = mqtt::encode(s.pkt, version, bytes);
        if (ec && trace)
            std::fprintf(stderr, "  encode failed: %s\n", ec.message().c_str());
        if (ec)
            fail("send_packet of a packet that does not encode");
        if (type != mqtt::packet_type::connect && bytes.size() > session_.peer_maximum_packet_size())
            fail("send_packet larger than the peer's Maximum Packet Size");

        std::visit(
            [this](const auto& p) {
                using P = std::decay_t<decltype(p)>;
                if constexpr (std::is_same_v<P, mqtt::connect>) {
                    ++connections_;
                    expected_.push_back({mqtt::packet_type::connect});
                } else if constexpr (std::is_same_v<P, mqtt::publish>) {
                    if (p.qos != mqtt::qos::at_most_once)
                        expected_.push_back({mqtt::packet_type::publish, p.packet_id, static_cast<std::size_t>(p.qos)});
                } else if constexpr (std::is_same_v<P, mqtt::pubrec> || std::is_same_v<P, mqtt::pubrel>) {
                    expected_.push_back({P::type, p.packet_id});
                } else if constexpr (std::is_same_v<P, mqtt::subscribe>) {
                    expected_.push_back({mqtt::packet_type::subscribe, p.packet_id, p.subscriptions.size()});
                } else if constexpr (std::is_same_v<P, mqtt::unsubscribe>) {
                    expected_.push_back({mqtt::packet_type::unsubscribe, p.packet_id, p.filters.size()});
                } else if constexpr (std::is_same_v<P, mqtt::pingreq>) {
                    expected_.push_back({mqtt::packet_type::pingreq});
                } else if constexpr (std::is_same_v<P, mqtt::connack>) {
                    if (!mqtt::is_error(p.code))
                        ++connections_;
                }
            },
            s.pkt);
        if (expected_.size() > 64)
            expected_.pop_front();
    }

    void on(mqtt::deliver_message& d)
    {
        if (d.msg.qos != mqtt::qos::at_most_once && cfg_.options.manual_ack && delivered_.size() < 64)
            delivered_.push_back(d.msg.packet_id);
    }

    void on(mqtt::connect_received& c)
    {
        if constexpr (R == mqtt::role::server) {
            mqtt::connack ack = peer_connack(!c.pkt.clean_start);
            if (c.pkt.client_id.empty() && !c.pkt.clean_start) {
                ack = mqtt::connack{};
                ack.code = mqtt::reason_code::client_identifier_not_valid;
            }
            pending_accept_ = ack;
            connect_version_ = c.pkt.version;
        } else {
            fail("connect_received in the client role");
        }
    }

    void on(mqtt::subscribe_received& s)
    {
        if (R == mqtt::role::client)
            fail("subscribe_received in the client role");
        if (subscribes_.size() < 16)
            subscribes_.push_back(std::move(s.pkt));
    }

    void on(mqtt::unsubscribe_received& u)
    {
        if (R == mqtt::role::client)
            fail("unsubscribe_received in the client role");
        if (unsubscribes_.size() < 16)
            unsubscribes_.push_back(std::move(u.pkt));
    }

    void on(mqtt::set_timer& t) { timers_[t.id == mqtt::timer_id::retransmit ? 1 : 0] = t.at; }
    void on(mqtt::cancel_timer& t) { timers_[t.id == mqtt::timer_id::retransmit ? 1 : 0].reset(); }
    void on(mqtt::close_connection&) { closed_ = true; }

    template <class A>
    void on(A&)
    {
    }

    config cfg_;
    mqtt::basic_session<R> session_;
    mqtt::clock::time_point now_ = mqtt::clock::time_point{} + std::chrono::hours(1);
    std::array<std::optional<mqtt::clock::time_point>, 2> timers_{};
    bool link_up_ = false;
    bool closed_ = false;
    bool peer_connect_sent_ = false;
    unsigned connections_ = 0;
    std::uint64_t tag_ = 0;
    std::uint16_t peer_id_ = 0;
    std::deque<expectation> expected_;
    std::vector<std::uint16_t> delivered_;
    std::deque<mqtt::subscribe> subscribes_;
    std::deque<mqtt::unsubscribe> unsubscribes_;
    std::optional<mqtt::connack> pending_accept_;
    mqtt::protocol_version connect_version_ = mqtt::protocol_version::v3_1_1;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const config cfg(data[0]);
    reader in(data + 1, size - 1);
    if (cfg.role == mqtt::role::client) {
        driver<mqtt::role::client> d(cfg);
        d.run(in);
    } else {
        driver<mqtt::role::server> d(cfg);
        d.run(in);
    }
    return 0;
}

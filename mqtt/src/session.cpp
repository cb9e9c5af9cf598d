// The QoS state machines of both roles (spec 4.3, 4.4, 4.6, 4.9), flow control,
// topic aliases and keep alive. See session.hpp for the model.
#include "mqtt/session.hpp"

#include <limits>

#include <algorithm>

#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"

namespace mqtt::detail {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::uint8_t qos_value(mqtt::qos q) noexcept { return static_cast<std::uint8_t>(q); }

template <class T>
T integer_property(const properties& props, property_id id, T fallback)
{
    auto v = props.get_integer(id);
    return v ? static_cast<T>(*v) : fallback;
}

} // namespace

session_core::session_core(role r, std::shared_ptr<const session_options> opts)
    : opts_(opts ? std::move(opts) : std::make_shared<const session_options>()),
      decoder_(max_packet_size, r == role::client ? std::optional<protocol_version>() : std::nullopt),
      cursor_(out_.end()),
      role_(r)
{
}

namespace {

// Nodes of finished messages kept per session for the next ones.
constexpr std::size_t max_spare_nodes = 16;

// Inserts into a node-based container with a node kept by erase_keeping() when
// there is one (`fill` sets its value), else allocates one for `value`.
template <class Container, class Spares, class Fill, class Value>
void insert_reusing(Container& c, Spares& spares, Fill&& fill, Value&& value)
{
    if (spares.empty()) {
        c.insert(std::forward<Value>(value));
        return;
    }
    auto node = std::move(spares.back());
    spares.pop_back();
    fill(node);
    c.insert(std::move(node));
}

// Erases `key`, keeping its node for the next insert (a few are kept); true if it was there.
template <class Container, class Spares, class Key>
bool erase_keeping(Container& c, Spares& spares, const Key& key)
{
    auto node = c.extract(key);
    if (!node)
        return false;
    if (spares.size() < max_spare_nodes)
        spares.push_back(std::move(node));
    return true;
}

} // namespace

session_core::tables& session_core::tb()
{
    if (!tables_)
        tables_ = std::make_unique<tables>(opts_->maximum_packet_id);
    return *tables_;
}

namespace {

// The owners of a message whose topic and payload came in different allocations.
struct two_owners {
    std::shared_ptr<const void> topic;
    std::shared_ptr<const void> payload;
};

bool same_owner(const std::shared_ptr<const void>& a, const std::shared_ptr<const void>& b) noexcept
{
    return !a.owner_before(b) && !b.owner_before(a);
}

} // namespace

session_core::waiting_item::waiting_item(mqtt::publish&& msg, std::uint64_t tag_, clock::time_point now)
    : topic(msg.topic.data()),
      payload(msg.payload.data()),
      payload_size(static_cast<std::uint32_t>(msg.payload.size())),
      topic_size(static_cast<std::uint16_t>(msg.topic.size())),
      qos(msg.qos),
      retain(msg.retain),
      props(std::move(msg.props)),
      tag(tag_),
      enqueued_at(now)
{
    // One owner for both views: a decoded message and a broker's kept copy have
    // one already; an application's topic and payload may need a pair.
    if (!msg.payload.owner() || same_owner(msg.topic.owner(), msg.payload.owner()))
        owner = msg.topic.release_owner();
    else if (!msg.topic.owner())
        owner = msg.payload.release_owner();
    else
        owner = std::make_shared<const two_owners>(two_owners{msg.topic.release_owner(), msg.payload.release_owner()});
}

mqtt::publish session_core::waiting_item::take()
{
    mqtt::publish msg;
    msg.topic = buffer(owner, std::string_view(topic, topic_size));
    msg.payload = buffer(std::move(owner), std::string_view(payload, payload_size));
    msg.qos = qos;
    msg.retain = retain;
    msg.props = std::move(props);
    return msg;
}

// ---------------------------------------------------------------- lifecycle

void session_core::start_connect(const connect& pkt, clock::time_point now)
{
    if (phase_ != phase::idle)
        close({});
    version_ = pkt.version;
    clean_start_sent_ = pkt.clean_start;
    receive_max_ = integer_property<std::uint16_t>(pkt.props, property_id::receive_maximum, 65535);
    max_packet_ = integer_property<std::uint32_t>(pkt.props, property_id::maximum_packet_size, max_packet_size);
    alias_max_ = integer_property<std::uint16_t>(pkt.props, property_id::topic_alias_maximum, 0);
    if (pkt.version != protocol_version::v5) {
        receive_max_ = 65535;
        max_packet_ = max_packet_size;
        alias_max_ = 0;
    }
    decoder_ = stream_decoder(max_packet_, pkt.version);
    peer_receive_max_ = 65535;
    peer_max_packet_ = max_packet_size;
    peer_alias_max_ = 0;
    keep_alive_ = seconds(pkt.keep_alive);
    phase_ = phase::awaiting_connack;
    last_received_ = now;
    send(pkt, now);
}

void session_core::accept(const connack& ack, clock::time_point now)
{
    if (phase_ != phase::awaiting_accept)
        return;
    if (is_error(ack.code)) {
        connack refusal = ack;
        refusal.session_present = false; // [MQTT-3.2.2-6] / [MQTT-3.2.2-4]
        send(refusal, now);
        close(make_error_code(ack.code));
        return;
    }
    if (*version_ == protocol_version::v5) {
        receive_max_ = integer_property<std::uint16_t>(ack.props, property_id::receive_maximum, 65535);
        max_packet_ = integer_property<std::uint32_t>(ack.props, property_id::maximum_packet_size, max_packet_size);
        alias_max_ = integer_property<std::uint16_t>(ack.props, property_id::topic_alias_maximum, 0);
        max_qos_ = integer_property<std::uint8_t>(ack.props, property_id::maximum_qos, 2);
        retain_available_ = integer_property<std::uint8_t>(ack.props, property_id::retain_available, 1) != 0;
        if (auto ka = ack.props.get_integer(property_id::server_keep_alive))
            keep_alive_ = seconds(*ka);
        decoder_.set_maximum_packet_size(max_packet_);
    } else {
        max_qos_ = opts_->maximum_qos;
        retain_available_ = opts_->retain_available;
        if (opts_->maximum_packet_size) {
            max_packet_ = opts_->maximum_packet_size;
            decoder_.set_maximum_packet_size(max_packet_);
        }
    }
    if (!send(ack, now)) {
        // Even without its diagnostics the CONNACK is larger than the client's
        // Maximum Packet Size: no session can start without one [MQTT-3.1.2-24].
        close(make_error_code(reason_code::packet_too_large));
        return;
    }
    session_started(ack.session_present, now);
    // Packets the client sent right after CONNECT are processed only now [MQTT-3.1.4-5].
    auto held = std::move(held_);
    held_.clear();
    for (auto& p : held) {
        if (phase_ != phase::connected)
            break;
        handle(p, now);
    }
    if (held_error_ != reason_code::success && phase_ == phase::connected)
        protocol_violation(held_error_, now);
}

void session_core::receive(std::string_view bytes, clock::time_point now)
{
    feed(bytes);
    process(now, std::numeric_limits<std::size_t>::max());
}

void session_core::feed(std::string_view bytes)
{
    if (role_ == role::client && phase_ == phase::idle)
        return; // nothing is expected on a closed connection
    decoder_.feed(bytes);
}

bool session_core::process(clock::time_point now, std::size_t max_packets)
{
    if (role_ == role::client && phase_ == phase::idle)
        return false;
    if (held_error_ != reason_code::success)
        return false; // nothing decodes past the error; accept() reports it
    for (std::size_t handled = 0;; ++handled) {
        if (handled == max_packets)
            return decoder_.buffered() != 0; // whole packets may be waiting
        auto next = decoder_.next();
        if (!next)
            return false;
        if (!*next) {
            auto code = to_reason_code(next->error());
            if (role_ == role::server && phase_ == phase::idle && code == reason_code::unsupported_protocol_version) {
                // Answer in the 3.1.1 form every client version understands [MQTT-3.1.2-2].
                version_ = protocol_version::v3_1_1;
                send(connack{false, reason_code::unsupported_protocol_version, {}}, now);
                close(make_error_code(code));
                return false;
            }
            if (role_ == role::server && phase_ == phase::awaiting_accept) {
                held_error_ = code; // the CONNECT may still be refused [MQTT-3.1.4-6]
                return false;
            }
            protocol_violation(code, now);
            return false;
        }
        auto closes_before = closes_;
        handle(next->value(), now);
        if (closes_ != closes_before)
            return false; // the rest belongs to a connection that is gone
    }
}

void session_core::receive(packet pkt, clock::time_point now)
{
    if (role_ == role::client && phase_ == phase::idle)
        return;
    handle(pkt, now);
}

void session_core::connection_lost(clock::time_point)
{
    if (phase_ == phase::idle && held_.empty())
        return;
    actions_.emplace_back(cancel_timer{timer_id::keep_alive});
    actions_.emplace_back(cancel_timer{timer_id::retransmit});
    reset_connection();
}

void session_core::close(std::error_code reason)
{
    ++closes_;
    actions_.emplace_back(cancel_timer{timer_id::keep_alive});
    actions_.emplace_back(cancel_timer{timer_id::retransmit});
    actions_.emplace_back(close_connection{reason});
    reset_connection();
}

// Nothing has been sent on the coming connection yet: everything waits again.
void session_core::mark_all_unsent()
{
    inflight_out_ = 0;
    queued_count_ = 0;
    queued_bytes_ = 0;
    for (auto& item : out_) {
        item.sent_this_connection = false;
        ++queued_count_;
        queued_bytes_ += item.msg.payload.size();
    }
    if (has_waiting()) {
        for (auto& w : *tables_->waiting) {
            ++queued_count_;
            queued_bytes_ += w.payload_size;
        }
    }
    cursor_ = out_.begin();
}

void session_core::reset_connection()
{
    phase_ = phase::idle;
    held_.clear();
    held_error_ = reason_code::success;
    if (tables_) {
        auto& t = *tables_;
        for (auto& [id, req] : t.requests) {
            t.ids.release(id);
            if (req.is_subscribe)
                actions_.emplace_back(subscribe_done{req.tag, make_error_code(errc::connection_lost), {}});
            else
                actions_.emplace_back(unsubscribe_done{req.tag, make_error_code(errc::connection_lost), {}});
        }
        t.requests.clear();
        t.qos1_unacked.clear(); // the peer resends them with DUP set
        t.in_aliases.clear();   // aliases live only as long as the connection [MQTT-3.3.2-7]
        t.out_aliases.clear();
        t.out_alias_topics.clear();
        if (t.waiting && t.waiting->empty())
            t.waiting.reset(); // allocated again when a message has to wait
    }
    mark_all_unsent();
    ping_sent_.reset();
    retransmit_armed_ = false;
    // version_ stays: sends queued before the close are still encoded with it. A
    // server's decoder learns the next connection's version from its CONNECT.
    decoder_ = stream_decoder(max_packet_, role_ == role::client ? version_ : std::nullopt);
}

void session_core::session_started(bool session_present, clock::time_point now)
{
    phase_ = phase::connected;
    last_received_ = now;
    last_sent_ = now;
    if (!session_present) {
        // The peer has no state for us: nothing can be released or resumed.
        if (tables_)
            tables_->qos2_in.clear();
        for (auto it = out_.begin(); it != out_.end();) {
            auto current = it++;
            if (current->stage == outgoing_stage::awaiting_comp) {
                // PUBREC was received: the peer took ownership of the message.
                finish(current, {}, reason_code::success, {});
            } else if (current->stage == outgoing_stage::awaiting_ack) {
                if (opts_->resend_on_session_lost) {
                    current->stage = outgoing_stage::queued;
                    current->ever_sent = false; // a new message for the new session
                    current->retransmits = 0;
                } else {
                    finish(current, make_error_code(errc::session_lost), reason_code::unspecified_error, {});
                }
            }
        }
    }
    arm_keep_alive(now);
    pump(now);
}

// ---------------------------------------------------------------- receiving

void session_core::handle(packet& pkt, clock::time_point now)
{
    last_received_ = now;
    ping_sent_.reset();
    const auto type = type_of(pkt);

    if (may_send(role_, type) && type != packet_type::publish && !(type >= packet_type::puback && type <= packet_type::pubcomp)
        && type != packet_type::disconnect && type != packet_type::auth) {
        // A packet only our own role may send (e.g. SUBACK to a server).
        protocol_violation(reason_code::protocol_error, now);
        return;
    }

    if (role_ == role::server) {
        if (phase_ == phase::idle) {
            if (type != packet_type::connect) {
                protocol_violation(reason_code::protocol_error, now); // [MQTT-3.1.0-1]
                return;
            }
            on_connect(std::get<mqtt::connect>(pkt), now);
            return;
        }
        if (type == packet_type::connect) {
            protocol_violation(reason_code::protocol_error, now); // [MQTT-3.1.0-2]
            return;
        }
        if (phase_ == phase::awaiting_accept && type != packet_type::auth && type != packet_type::disconnect) {
            if (held_.size() >= 1024) {
                protocol_violation(reason_code::receive_maximum_exceeded, now);
                return;
            }
            held_.push_back(std::move(pkt));
            return;
        }
    } else if (phase_ == phase::awaiting_connack && type != packet_type::connack && type != packet_type::auth
        && type != packet_type::disconnect) {
        protocol_violation(reason_code::protocol_error, now); // the first packet from a server is CONNACK
        return;
    }

    switch (type) {
    case packet_type::connack:
        on_connack(std::get<connack>(pkt), now);
        break;
    case packet_type::publish:
        on_publish(std::get<mqtt::publish>(pkt), now);
        break;
    case packet_type::puback:
        on_puback(std::get<puback>(pkt), now);
        break;
    case packet_type::pubrec:
        on_pubrec(std::get<pubrec>(pkt), now);
        break;
    case packet_type::pubrel:
        on_pubrel(std::get<pubrel>(pkt), now);
        break;
    case packet_type::pubcomp:
        on_pubcomp(std::get<pubcomp>(pkt), now);
        break;
    case packet_type::subscribe:
        actions_.emplace_back(subscribe_received{std::move(std::get<mqtt::subscribe>(pkt))});
        break;
    case packet_type::unsubscribe:
        actions_.emplace_back(unsubscribe_received{std::move(std::get<mqtt::unsubscribe>(pkt))});
        break;
    case packet_type::suback:
        on_sub_ack(std::get<suback>(pkt), true, now);
        break;
    case packet_type::unsuback:
        on_sub_ack(std::get<unsuback>(pkt), false, now);
        break;
    case packet_type::pingreq:
        send(pingresp{}, now); // [MQTT-3.12.4-1]
        break;
    case packet_type::pingresp:
        break;
    case packet_type::disconnect: {
        auto& d = std::get<mqtt::disconnect>(pkt);
        if (role_ == role::server && connect_expiry_zero_ && version_ == protocol_version::v5
            && integer_property<std::uint32_t>(d.props, property_id::session_expiry_interval, 0) != 0) {
            // Not a valid DISCONNECT: the Will stays due (3.14.2.2.2).
            protocol_violation(reason_code::protocol_error, now);
            break;
        }
        auto reason = is_error(d.code) ? make_error_code(d.code) : std::error_code();
        actions_.emplace_back(disconnect_received{std::move(d)});
        close(reason);
        break;
    }
    case packet_type::auth:
        if (version_ != protocol_version::v5) {
            protocol_violation(reason_code::protocol_error, now);
            break;
        }
        actions_.emplace_back(auth_received{std::move(std::get<auth>(pkt))});
        break;
    case packet_type::connect:
        break; // handled above
    }
}

void session_core::on_connect(mqtt::connect& pkt, clock::time_point now)
{
    version_ = pkt.version;
    decoder_.set_version(pkt.version);
    keep_alive_ = seconds(pkt.keep_alive);
    peer_receive_max_ = 65535;
    peer_max_packet_ = max_packet_size;
    peer_alias_max_ = 0;
    receive_max_ = 65535;
    max_packet_ = max_packet_size;
    alias_max_ = 0;
    max_qos_ = 2;
    retain_available_ = true;
    problem_info_ = true;
    if (pkt.version == protocol_version::v5) {
        problem_info_ = integer_property<std::uint8_t>(pkt.props, property_id::request_problem_information, 1) != 0;
        peer_receive_max_ = integer_property<std::uint16_t>(pkt.props, property_id::receive_maximum, 65535);
        peer_max_packet_ = integer_property<std::uint32_t>(pkt.props, property_id::maximum_packet_size, max_packet_size);
        peer_alias_max_ = integer_property<std::uint16_t>(pkt.props, property_id::topic_alias_maximum, 0);
    }
    connect_expiry_zero_ = integer_property<std::uint32_t>(pkt.props, property_id::session_expiry_interval, 0) == 0;
    last_received_ = now;
    phase_ = phase::awaiting_accept;
    actions_.emplace_back(connect_received{std::move(pkt)});
}

void session_core::on_connack(connack& pkt, clock::time_point now)
{
    if (phase_ != phase::awaiting_connack) {
        protocol_violation(reason_code::protocol_error, now);
        return;
    }
    if (is_error(pkt.code)) {
        auto code = pkt.code;
        actions_.emplace_back(connection_refused{std::move(pkt)});
        close(make_error_code(code));
        return;
    }
    if (pkt.session_present && clean_start_sent_) {
        // A server cannot have kept a session we asked it to discard [MQTT-3.2.2-2] (5.0) / [MQTT-3.2.2-1] (3.1.1).
        protocol_violation(reason_code::protocol_error, now);
        return;
    }
    if (*version_ == protocol_version::v5) {
        peer_receive_max_ = integer_property<std::uint16_t>(pkt.props, property_id::receive_maximum, 65535);
        peer_max_packet_ = integer_property<std::uint32_t>(pkt.props, property_id::maximum_packet_size, max_packet_size);
        peer_alias_max_ = integer_property<std::uint16_t>(pkt.props, property_id::topic_alias_maximum, 0);
        if (auto ka = pkt.props.get_integer(property_id::server_keep_alive))
            keep_alive_ = seconds(*ka); // [MQTT-3.2.2-21]
    }
    actions_.emplace_back(connected{pkt});
    session_started(pkt.session_present, now);
}

std::size_t session_core::incoming_unacknowledged() const noexcept
{
    return tables_ ? tables_->qos1_unacked.size() + tables_->qos2_in.size() : 0;
}

void session_core::on_publish(mqtt::publish& pkt, clock::time_point now)
{
    if (*version_ == protocol_version::v5) {
        if (auto alias = pkt.props.get_integer(property_id::topic_alias)) {
            if (*alias == 0 || *alias > alias_max_) {
                protocol_violation(reason_code::topic_alias_invalid, now); // [MQTT-3.3.2-9] / [MQTT-3.3.2-10]
                return;
            }
            auto key = static_cast<std::uint16_t>(*alias);
            if (!pkt.topic.empty()) {
                // A copy: the topic is a view into the whole read it came in,
                // which the table would otherwise keep alive with the connection.
                tb().in_aliases[key] = buffer::copy(pkt.topic);
            } else {
                auto found = tb().in_aliases.find(key);
                if (found == tb().in_aliases.end()) {
                    protocol_violation(reason_code::protocol_error, now);
                    return;
                }
                pkt.topic = found->second;
            }
            pkt.props.remove(property_id::topic_alias); // connection-scoped: not part of the message
        } else if (pkt.topic.empty()) {
            protocol_violation(reason_code::protocol_error, now);
            return;
        }
    }
    // 5.0: what the CONNACK granted; 3.1.1: the server's options (it closes).
    if (role_ == role::server) {
        if (qos_value(pkt.qos) > max_qos_) {
            protocol_violation(reason_code::qos_not_supported, now); // [MQTT-3.2.2-11]
            return;
        }
        if (pkt.retain && !retain_available_) {
            protocol_violation(reason_code::retain_not_supported, now); // [MQTT-3.2.2-14]
            return;
        }
    }

    const auto id = pkt.packet_id;
    switch (pkt.qos) {
    case qos::at_most_once:
        actions_.emplace_back(deliver_message{std::move(pkt)});
        return;
    case qos::at_least_once:
        if (opts_->manual_ack) {
            if (tb().qos1_unacked.count(id))
                return; // still with the application; its acknowledgment answers both
            if (incoming_unacknowledged() >= receive_max_) {
                protocol_violation(reason_code::receive_maximum_exceeded, now); // [MQTT-3.3.4-9]
                return;
            }
            auto& t = tb();
            insert_reusing(t.qos1_unacked, t.spare_unacked_nodes, [&](auto& node) { node.value() = id; }, id);
            actions_.emplace_back(deliver_message{std::move(pkt)});
        } else {
            actions_.emplace_back(deliver_message{std::move(pkt)});
            send(puback{id, reason_code::success, {}}, now); // [MQTT-4.3.2-2]
        }
        return;
    case qos::exactly_once: {
        auto found = tb().qos2_in.find(id);
        if (found != tb().qos2_in.end()) {
            // A duplicate, however many times it comes: never delivered again
            // [MQTT-4.3.3-9] / [MQTT-4.3.3-10]; PUBREC again once we have sent one.
            if (found->second)
                send(pubrec{id, reason_code::success, {}}, now);
            return;
        }
        if (incoming_unacknowledged() >= receive_max_) {
            protocol_violation(reason_code::receive_maximum_exceeded, now);
            return;
        }
        tb().qos2_in.emplace(id, !opts_->manual_ack);
        actions_.emplace_back(deliver_message{std::move(pkt)});
        if (!opts_->manual_ack)
            send(pubrec{id, reason_code::success, {}}, now);
        return;
    }
    }
}

void session_core::acknowledge(std::uint16_t packet_id, reason_code code, clock::time_point now, properties props)
{
    if (version_ != protocol_version::v5) {
        code = reason_code::success;
        props.clear();
    }
    auto& t = tb();
    if (erase_keeping(t.qos1_unacked, t.spare_unacked_nodes, packet_id)) {
        if (phase_ == phase::connected)
            send(puback{packet_id, code, std::move(props)}, now);
        return;
    }
    auto found = tb().qos2_in.find(packet_id);
    if (found == tb().qos2_in.end() || found->second)
        return;
    if (is_error(code)) {
        tb().qos2_in.erase(found); // the exchange ends with this PUBREC [MQTT-4.3.3-?]
    } else {
        found->second = true;
    }
    if (phase_ == phase::connected)
        send(pubrec{packet_id, code, std::move(props)}, now);
}

void session_core::on_pubrel(const pubrel& pkt, clock::time_point now)
{
    if (tb().qos2_in.erase(pkt.packet_id)) {
        send(pubcomp{pkt.packet_id, reason_code::success, {}}, now); // [MQTT-4.3.3-11]
        return;
    }
    // Already released (a resent PUBREL): still completes the sender's flow.
    auto code = version_ == protocol_version::v5 ? reason_code::packet_identifier_not_found : reason_code::success;
    send(pubcomp{pkt.packet_id, code, {}}, now);
}

void session_core::on_puback(const puback& pkt, clock::time_point now)
{
    auto found = tb().out_by_id.find(pkt.packet_id);
    if (found == tb().out_by_id.end())
        return;
    auto it = found->second;
    if (it->msg.qos != qos::at_least_once || it->stage != outgoing_stage::awaiting_ack)
        return;
    finish(it, is_error(pkt.code) ? make_error_code(pkt.code) : std::error_code(), pkt.code, pkt.props);
    pump(now);
}

void session_core::on_pubrec(const pubrec& pkt, clock::time_point now)
{
    auto found = tb().out_by_id.find(pkt.packet_id);
    if (found == tb().out_by_id.end() || found->second->msg.qos != qos::exactly_once) {
        auto code = version_ == protocol_version::v5 ? reason_code::packet_identifier_not_found : reason_code::success;
        send(pubrel{pkt.packet_id, code, {}}, now);
        return;
    }
    auto it = found->second;
    if (it->stage == outgoing_stage::queued)
        return;
    if (it->stage == outgoing_stage::awaiting_ack) {
        if (is_error(pkt.code)) {
            // A failure PUBREC ends the exchange and frees the window slot.
            finish(it, make_error_code(pkt.code), pkt.code, pkt.props);
            pump(now);
            return;
        }
        it->stage = outgoing_stage::awaiting_comp;
        it->msg.payload = buffer(); // never resent after PUBREL [MQTT-4.3.3-5]
        it->retransmits = 0;
    }
    it->last_sent_at = now;
    send(pubrel{pkt.packet_id, reason_code::success, {}}, now); // [MQTT-4.3.3-4]
}

void session_core::on_pubcomp(const pubcomp& pkt, clock::time_point now)
{
    auto found = tb().out_by_id.find(pkt.packet_id);
    if (found == tb().out_by_id.end() || found->second->stage != outgoing_stage::awaiting_comp)
        return;
    finish(found->second, {}, pkt.code, pkt.props);
    pump(now);
}

template <class Ack>
void session_core::on_sub_ack(Ack& pkt, bool is_subscribe, clock::time_point now)
{
    auto found = tb().requests.find(pkt.packet_id);
    if (found == tb().requests.end() || found->second.is_subscribe != is_subscribe) {
        protocol_violation(reason_code::protocol_error, now);
        return;
    }
    bool count_ok = pkt.codes.size() == found->second.count || (!is_subscribe && version_ != protocol_version::v5);
    if (!count_ok) {
        protocol_violation(reason_code::protocol_error, now); // [MQTT-3.8.4-6] / [MQTT-3.10.4-5]
        return;
    }
    auto tag = found->second.tag;
    tb().ids.release(pkt.packet_id);
    tb().requests.erase(found);
    if constexpr (std::is_same_v<Ack, mqtt::suback>)
        actions_.emplace_back(subscribe_done{tag, {}, std::move(pkt)});
    else
        actions_.emplace_back(unsubscribe_done{tag, {}, std::move(pkt)});
}

// ---------------------------------------------------------------- sending

bool session_core::send(packet pkt, clock::time_point now)
{
    if (!version_)
        return false;
    auto drop_diagnostics = [&] {
        std::visit(
            [](auto& p) {
                if constexpr (requires { p.props; }) {
                    p.props.remove(property_id::reason_string);
                    p.props.remove(property_id::user_property);
                }
            },
            pkt);
    };
    const bool is_publish = std::holds_alternative<mqtt::publish>(pkt);
    if (!problem_info_ && !is_publish && !std::holds_alternative<connack>(pkt) && !std::holds_alternative<mqtt::disconnect>(pkt)) {
        // The client asked for no Reason String or User Property beyond these [MQTT-3.1.2-29].
        drop_diagnostics();
    }
    if (peer_max_packet_ < max_packet_size && !is_publish) {
        // Too large for the peer: drop what the spec lets us drop [MQTT-3.1.2-25]
        // (CONNACK [MQTT-3.2.2-19] [MQTT-3.2.2-20], PUBACK [MQTT-3.4.2-2] [MQTT-3.4.2-3],
        // PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH alike).
        auto size = encoded_size(pkt, *version_);
        if (size && *size > peer_max_packet_) {
            drop_diagnostics();
            size = encoded_size(pkt, *version_);
        }
        // Still too large (a Maximum Packet Size of a few bytes: a CONNACK takes 5):
        // not sent at all [MQTT-3.1.2-24] [MQTT-3.2.2-15].
        if (size && *size > peer_max_packet_)
            return false;
    }
    last_sent_ = now;
    actions_.emplace_back(send_packet{std::move(pkt)});
    return true;
}

void session_core::publish(mqtt::publish msg, std::uint64_t tag, clock::time_point now)
{
    auto fail = [&](std::error_code ec, reason_code code) {
        if (tag != 0)
            actions_.emplace_back(publish_done{tag, ec, code, {}});
    };
    if (qos_value(msg.qos) > 2 || !topic_valid(msg.topic)) {
        fail(make_error_code(reason_code::topic_name_invalid), reason_code::topic_name_invalid);
        return;
    }
    msg.dup = false;
    msg.packet_id = 0;
    if (!msg.props.empty()) {
        msg.props.remove(property_id::topic_alias); // aliases are ours to assign per connection
        if (role_ == role::client)
            msg.props.remove(property_id::subscription_identifier); // [MQTT-3.3.4-6]
    }

    // The bounds apply to what has to wait, not to what goes out at once.
    bool goes_out_now = phase_ == phase::connected && cursor_ == out_.end() && !has_waiting()
        && (msg.qos == qos::at_most_once || !window_full());
    if (!goes_out_now
        && ((opts_->max_queued_messages && queued_count_ >= opts_->max_queued_messages)
            || (opts_->max_queued_bytes && queued_bytes_ + msg.payload.size() > opts_->max_queued_bytes))) {
        fail(make_error_code(errc::queue_full), reason_code::quota_exceeded);
        return;
    }
    if (goes_out_now && msg.qos == qos::at_most_once) {
        // Nothing waits ahead of it and QoS 0 keeps no state: straight out,
        // without a place in the outgoing list.
        auto ec = send_publish(std::move(msg), false, now, now);
        if (tag != 0)
            actions_.emplace_back(publish_done{tag, ec, failure_code(ec), {}});
        return;
    }
    ++queued_count_;
    queued_bytes_ += msg.payload.size();
    if (phase_ == phase::connected && !has_waiting()) {
        // Sent now, or soon (behind the window): a list node at once, which is
        // cheaper for a flowing stream than an entry converted later.
        append_out(std::move(msg), tag, now);
    } else {
        // No connection (or others wait already): a compact entry behind everything
        // in out_, which an offline client's queue of thousands is made of.
        auto& t = tb();
        if (!t.waiting)
            t.waiting = std::make_unique<waiting_list>();
        t.waiting->emplace_back(std::move(msg), tag, now);
    }
    pump(now); // also sends what adopt_session() left waiting
}

bool session_core::window_full() const noexcept
{
    return inflight_out_ >= peer_receive_max_ || (opts_->max_inflight && inflight_out_ >= opts_->max_inflight);
}

// A message at the end of out_, in a kept node when there is one; it becomes the
// cursor when nothing else waits.
void session_core::append_out(mqtt::publish msg, std::uint64_t tag, clock::time_point enqueued_at)
{
    auto& spare = tb().spare_items;
    if (!spare.empty()) {
        out_.splice(out_.end(), spare, spare.begin());
        out_.back() = out_item{std::move(msg), outgoing_stage::queued, tag, false, false, 0, enqueued_at, {}};
    } else {
        out_.push_back(out_item{std::move(msg), outgoing_stage::queued, tag, false, false, 0, enqueued_at, {}});
    }
    if (cursor_ == out_.end())
        cursor_ = std::prev(out_.end());
}

bool session_core::topic_valid(const buffer& topic)
{
    if (role_ != role::client) // no cache in a broker's many small cores
        return !validate_topic_name(topic);
    auto& checked = tb().checked_topic;
    if (checked.owner() && checked.data() == topic.data() && checked.size() == topic.size())
        return true; // the very bytes that passed last time
    if (validate_topic_name(topic))
        return false;
    checked = topic;
    return true;
}

void session_core::pump(clock::time_point now)
{
    if (phase_ != phase::connected)
        return;
    for (;;) {
        if (cursor_ == out_.end()) {
            // The next never-sent message, once it can go (else it stays compact).
            if (!has_waiting())
                break;
            auto& next = tables_->waiting->front();
            if (next.qos != qos::at_most_once && window_full())
                break;
            append_out(next.take(), next.tag, next.enqueued_at);
            tables_->waiting->pop_front();
        }
        auto it = cursor_;
        if (it->msg.qos != qos::at_most_once) {
            if (window_full())
                break; // [MQTT-4.9.0-2]: wait for the window
            if (it->msg.packet_id == 0) {
                auto id = tb().ids.allocate();
                if (!id)
                    break; // every id is in flight; an acknowledgment frees one
                it->msg.packet_id = *id;
                auto& t = tb();
                insert_reusing(t.out_by_id, t.spare_id_nodes,
                    [&](auto& node) {
                        node.key() = *id;
                        node.mapped() = it;
                    },
                    std::pair{*id, it});
            }
        }
        ++cursor_;
        transmit(it, now);
    }
}

void session_core::transmit(out_list::iterator it, clock::time_point now)
{
    auto& item = *it;
    auto mark_sent = [&] {
        --queued_count_;
        queued_bytes_ -= item.msg.payload.size();
        item.sent_this_connection = true;
    };
    if (item.stage == outgoing_stage::awaiting_comp) {
        // After PUBREL the PUBLISH is never sent again; resend PUBREL [MQTT-4.4.0-1].
        mark_sent();
        item.last_sent_at = now;
        ++inflight_out_;
        send(pubrel{item.msg.packet_id, reason_code::success, {}}, now);
        arm_retransmit();
        return;
    }

    if (auto ec = send_publish(item.msg, item.ever_sent, item.enqueued_at, now)) {
        finish(it, ec, failure_code(ec), {});
        return;
    }
    mark_sent();
    item.ever_sent = true;
    item.last_sent_at = now;
    if (item.msg.qos == qos::at_most_once) {
        finish(it, {}, reason_code::success, {});
        return;
    }
    item.stage = outgoing_stage::awaiting_ack;
    ++inflight_out_;
    arm_retransmit();
}

reason_code session_core::failure_code(std::error_code ec) noexcept
{
    if (!ec)
        return reason_code::success;
    return ec == make_error_code(reason_code::packet_too_large) ? reason_code::packet_too_large
                                                                : reason_code::unspecified_error;
}

// One PUBLISH of a message (first send or resend): the expiry time left, DUP,
// a topic alias, the peer's size limit. An error when it is not sent.
std::error_code session_core::send_publish(mqtt::publish out, bool resend, clock::time_point enqueued_at,
    clock::time_point now)
{
    if (*version_ == protocol_version::v5 && !resend && !out.props.empty()) {
        if (auto expiry = out.props.get_integer(property_id::message_expiry_interval)) {
            auto waited = std::chrono::duration_cast<seconds>(now - enqueued_at).count();
            if (waited >= static_cast<long long>(*expiry))
                return make_error_code(errc::message_expired); // expired before onward delivery started [MQTT-3.3.2-5]
            // The receiver sees the time that is left [MQTT-3.3.2-6].
            out.props.set(property_id::message_expiry_interval, static_cast<std::uint32_t>(*expiry - static_cast<std::uint32_t>(waited)));
        }
    }
    // Resent PUBLISH packets carry DUP=1 [MQTT-4.4.0-2] (5.0) / [MQTT-3.3.1-1].
    out.dup = resend && out.qos != qos::at_most_once;
    if (*version_ == protocol_version::v5 && peer_alias_max_ > 0 && opts_->auto_topic_alias) {
        auto found = tb().out_aliases.find(out.topic.view());
        if (found != tb().out_aliases.end()) {
            out.props.set(property_id::topic_alias, found->second);
            out.topic = buffer();
        } else if (tb().out_aliases.size() < peer_alias_max_) {
            auto alias = static_cast<std::uint16_t>(tb().out_aliases.size() + 1);
            // A copy: the topic may be a view into a whole read, which the alias
            // table would otherwise keep alive as long as the connection.
            tb().out_alias_topics.push_back(buffer::copy(out.topic));
            tb().out_aliases.emplace(tb().out_alias_topics.back().view(), alias);
            out.props.set(property_id::topic_alias, alias);
        }
    }
    if (peer_max_packet_ < max_packet_size) {
        auto size = encoded_size(out, *version_);
        if (!size || *size > peer_max_packet_)
            return make_error_code(reason_code::packet_too_large); // larger than the peer accepts [MQTT-3.1.2-24] (5.0)
    }
    send(std::move(out), now);
    return {};
}

void session_core::finish(out_list::iterator it, std::error_code ec, reason_code code, properties props)
{
    if (it->msg.qos != qos::at_most_once && it->msg.packet_id != 0) {
        auto& t = tb();
        erase_keeping(t.out_by_id, t.spare_id_nodes, it->msg.packet_id);
        t.ids.release(it->msg.packet_id);
    }
    if (it->sent_this_connection) {
        if (it->msg.qos != qos::at_most_once)
            --inflight_out_;
    } else {
        --queued_count_;
        queued_bytes_ -= it->msg.payload.size();
    }
    if (it == cursor_)
        ++cursor_;
    if (it->tag != 0)
        actions_.emplace_back(publish_done{it->tag, ec, code, std::move(props)});
    if (tables_ && tables_->spare_items.size() < max_spare_nodes) {
        *it = out_item{}; // the message's buffers go now, the node stays for the next
        tables_->spare_items.splice(tables_->spare_items.end(), out_, it);
    } else {
        out_.erase(it);
    }
}

void session_core::subscribe(mqtt::subscribe pkt, std::uint64_t tag, clock::time_point now)
{
    auto fail = [&](std::error_code ec) { actions_.emplace_back(subscribe_done{tag, ec, {}}); };
    if (phase_ != phase::connected)
        return fail(make_error_code(errc::not_connected));
    if (pkt.subscriptions.empty())
        return fail(make_error_code(errc::invalid_argument)); // [MQTT-3.8.3-3]
    for (auto& s : pkt.subscriptions)
        if (validate_topic_filter(s.filter))
            return fail(make_error_code(reason_code::topic_filter_invalid));
    auto id = tb().ids.allocate();
    if (!id)
        return fail(make_error_code(errc::packet_id_exhausted));
    pkt.packet_id = *id;
    tb().requests[*id] = pending_request{true, tag, pkt.subscriptions.size()};
    send(std::move(pkt), now);
}

void session_core::unsubscribe(mqtt::unsubscribe pkt, std::uint64_t tag, clock::time_point now)
{
    auto fail = [&](std::error_code ec) { actions_.emplace_back(unsubscribe_done{tag, ec, {}}); };
    if (phase_ != phase::connected)
        return fail(make_error_code(errc::not_connected));
    if (pkt.filters.empty())
        return fail(make_error_code(errc::invalid_argument)); // [MQTT-3.10.3-2]
    for (auto& f : pkt.filters)
        if (validate_topic_filter(f))
            return fail(make_error_code(reason_code::topic_filter_invalid));
    auto id = tb().ids.allocate();
    if (!id)
        return fail(make_error_code(errc::packet_id_exhausted));
    pkt.packet_id = *id;
    tb().requests[*id] = pending_request{false, tag, pkt.filters.size()};
    send(std::move(pkt), now);
}

void session_core::disconnect(mqtt::disconnect pkt, clock::time_point now)
{
    if (phase_ == phase::idle)
        return;
    // A 3.1.1 server has no DISCONNECT to send; it just closes.
    if (role_ == role::client || version_ == protocol_version::v5)
        send(std::move(pkt), now);
    close({});
}

void session_core::send_control(packet pkt, clock::time_point now)
{
    if (phase_ != phase::connected && !(phase_ == phase::awaiting_accept && std::holds_alternative<auth>(pkt))
        && !(phase_ == phase::awaiting_connack && std::holds_alternative<auth>(pkt)))
        return;
    send(std::move(pkt), now);
}

void session_core::protocol_violation(reason_code code, clock::time_point now)
{
    // Some decoder verdicts (e.g. 0x84 for a CONNECT a client should never get) are
    // not valid in DISCONNECT: tell the peer it broke the protocol instead.
    auto answer = (role_ == role::server && (phase_ == phase::idle || phase_ == phase::awaiting_accept))
        ? packet_type::connack
        : packet_type::disconnect;
    if (!reason_code_allowed(answer, code))
        code = reason_code::protocol_error;
    auto v = role_ == role::server && phase_ == phase::idle ? decoder_.version() : version_;
    if (v)
        version_ = v;
    if (v == protocol_version::v5) {
        if (role_ == role::server && phase_ == phase::idle)
            send(connack{false, code, {}}, now); // an error in CONNECT [MQTT-4.13.1-1]
        else if (phase_ != phase::idle && phase_ != phase::awaiting_accept)
            send(mqtt::disconnect{code, {}}, now); // [MQTT-4.13.2-1]
        else if (phase_ == phase::awaiting_accept)
            send(connack{false, code, {}}, now);
    }
    close(make_error_code(code));
}

// ---------------------------------------------------------------- timers

void session_core::arm_keep_alive(clock::time_point)
{
    if (keep_alive_.count() == 0 || phase_ != phase::connected)
        return;
    clock::time_point at;
    if (role_ == role::server) {
        at = last_received_ + keep_alive_ * 3 / 2; // [MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24] (3.1.1)
    } else if (ping_sent_) {
        at = std::max(last_received_ + keep_alive_ * 3 / 2, *ping_sent_ + keep_alive_ / 2);
    } else {
        at = std::min(last_sent_, last_received_) + keep_alive_;
    }
    actions_.emplace_back(set_timer{timer_id::keep_alive, at});
}

void session_core::arm_retransmit()
{
    if (retransmit_armed_ || opts_->retransmit_interval.count() == 0 || version_ != protocol_version::v3_1_1)
        return;
    clock::time_point earliest = clock::time_point::max();
    for (auto& item : out_)
        if (item.sent_this_connection && item.retransmits < opts_->max_retransmits)
            earliest = std::min(earliest, item.last_sent_at);
    if (earliest == clock::time_point::max())
        return;
    retransmit_armed_ = true;
    actions_.emplace_back(set_timer{timer_id::retransmit, earliest + opts_->retransmit_interval});
}

void session_core::timer_fired(timer_id id, clock::time_point now)
{
    if (phase_ != phase::connected)
        return;
    if (id == timer_id::retransmit) {
        retransmit_armed_ = false;
        for (auto& item : out_) {
            if (!item.sent_this_connection || item.retransmits >= opts_->max_retransmits
                || now - item.last_sent_at < opts_->retransmit_interval)
                continue;
            ++item.retransmits;
            item.last_sent_at = now;
            if (item.stage == outgoing_stage::awaiting_comp) {
                send(pubrel{item.msg.packet_id, reason_code::success, {}}, now);
            } else {
                auto again = item.msg;
                again.dup = true;
                send(std::move(again), now);
            }
        }
        arm_retransmit();
        return;
    }

    if (role_ == role::server) {
        if (now >= last_received_ + keep_alive_ * 3 / 2) {
            protocol_violation(reason_code::keep_alive_timeout, now);
            return;
        }
    } else if (ping_sent_) {
        if (now >= std::max(last_received_ + keep_alive_ * 3 / 2, *ping_sent_ + keep_alive_ / 2)) {
            close(make_error_code(errc::timeout));
            return;
        }
    } else if (now >= std::min(last_sent_, last_received_) + keep_alive_) {
        send(pingreq{}, now); // [MQTT-3.1.2-23] (3.1.1) / [MQTT-3.1.2-20] (5.0)
        ping_sent_ = now;
    }
    arm_keep_alive(now);
}

// ---------------------------------------------------------------- state

session_state session_core::state() const
{
    session_state s;
    for (auto& item : out_) {
        if (item.msg.qos == qos::at_most_once)
            continue; // at most once: not part of the session state
        auto stage = item.stage;
        if (stage == outgoing_stage::awaiting_ack && !item.ever_sent)
            stage = outgoing_stage::queued;
        outgoing_message m{item.msg, stage};
        m.msg.dup = item.ever_sent && stage == outgoing_stage::awaiting_ack;
        s.outgoing.push_back(std::move(m));
    }
    if (has_waiting()) {
        for (auto& w : *tables_->waiting) {
            if (w.qos == qos::at_most_once)
                continue;
            auto copy = w;
            s.outgoing.push_back(outgoing_message{copy.take(), outgoing_stage::queued});
        }
    }
    if (tables_)
        for (auto& [id, pubrec_sent] : tables_->qos2_in)
            if (pubrec_sent)
                s.qos2_received.push_back(id);
    return s;
}

void session_core::restore(session_state s)
{
    out_.clear();
    if (tables_) {
        tables_->out_by_id.clear();
        tables_->ids.clear();
        tables_->qos2_in.clear();
        tables_->waiting.reset();
    }
    for (auto& m : s.outgoing) {
        if (m.msg.qos == qos::at_most_once)
            continue;
        out_item item;
        item.msg = std::move(m.msg);
        item.stage = m.stage;
        item.ever_sent = m.stage != outgoing_stage::queued;
        if (item.msg.packet_id != 0 && !tb().ids.register_id(item.msg.packet_id)) {
            if (item.stage != outgoing_stage::queued)
                continue; // two in-flight messages with one id cannot both be resumed
            item.msg.packet_id = 0;
        }
        out_.push_back(std::move(item));
        if (out_.back().msg.packet_id != 0)
            tb().out_by_id[out_.back().msg.packet_id] = std::prev(out_.end());
    }
    for (auto id : s.qos2_received)
        tb().qos2_in[id] = true;
    mark_all_unsent();
}

void session_core::adopt_session(session_core& from)
{
    if (&from == this)
        return;
    clear(make_error_code(errc::cancelled));
    from.connection_lost(clock::time_point{});
    from.actions_.clear();
    // splice keeps the iterators in out_by_id valid; they now point into out_.
    out_.splice(out_.end(), from.out_);
    if (from.tables_) {
        auto& f = *from.tables_;
        auto& t = tb();
        t.out_by_id = std::move(f.out_by_id);
        f.out_by_id.clear();
        t.ids = std::move(f.ids);
        f.ids.clear();
        t.qos2_in = std::move(f.qos2_in);
        f.qos2_in.clear();
        t.waiting = std::move(f.waiting); // clear() left ours empty
    } else if (tables_) {
        tables_->out_by_id.clear();
        tables_->ids.clear();
        tables_->qos2_in.clear();
        tables_->waiting.reset();
    }
    mark_all_unsent();
    from.cursor_ = from.out_.end();
    from.inflight_out_ = from.queued_count_ = 0;
    from.queued_bytes_ = 0;
    // Sent on the next pump: accept() or the next request.
}

void session_core::clear(std::error_code why)
{
    while (!out_.empty())
        finish(out_.begin(), why, reason_code::unspecified_error, {});
    if (tables_ && tables_->waiting) {
        for (auto& w : *tables_->waiting) {
            --queued_count_;
            queued_bytes_ -= w.payload_size;
            if (w.tag != 0)
                actions_.emplace_back(publish_done{w.tag, why, reason_code::unspecified_error, {}});
        }
        tables_->waiting.reset();
    }
    if (tables_) {
        // A QoS 2 id whose PUBREC went out stays: the session may resume (Clean
        // Start 0), and the broker then resends that PUBLISH if the PUBREC was lost,
        // which must not be delivered twice [MQTT-4.3.3-10]. A session that did not
        // survive drops them at its CONNACK (session_started). An id still waiting
        // for acknowledge() goes: that message was not acknowledged, so it may come
        // again and be delivered again.
        std::erase_if(tables_->qos2_in, [](const auto& entry) { return !entry.second; });
        tables_->qos1_unacked.clear();
    }
    cursor_ = out_.end();
}

} // namespace mqtt::detail

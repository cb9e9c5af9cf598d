#include "generator.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>

namespace loadgen {
namespace {

// Deliveries are counted per in-flight message in a ring per publisher; the
// window never exceeds it.
constexpr std::size_t ring_size = 16384;

// Payload layout: publisher index, sequence number, send time (ns), then padding.
struct stamp {
    std::uint32_t pub;
    std::uint64_t seq;
    std::uint64_t time;
};

void put_stamp(std::string& payload, const stamp& s)
{
    std::memcpy(payload.data(), &s.pub, 4);
    std::memcpy(payload.data() + 4, &s.seq, 8);
    std::memcpy(payload.data() + 12, &s.time, 8);
}

bool get_stamp(std::string_view payload, stamp& s)
{
    if (payload.size() < 20)
        return false;
    std::memcpy(&s.pub, payload.data(), 4);
    std::memcpy(&s.seq, payload.data() + 4, 8);
    std::memcpy(&s.time, payload.data() + 12, 8);
    return true;
}

double percentile_us(const std::vector<std::uint64_t>& sorted, double q)
{
    if (sorted.empty())
        return 0;
    auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]) / 1000.0;
}

template <class Ack>
Ack ack(std::uint16_t id)
{
    Ack a;
    a.packet_id = id;
    return a;
}

bool wait_for_line()
{
    std::string line;
    return static_cast<bool>(std::getline(std::cin, line));
}

} // namespace

std::uint64_t now_ns() noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

double cpu_seconds() noexcept
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

generator::generator(const options& o) : o_(o), payload_(o.size, 'x') {}

peer& generator::add_peer(bool is_pub, int index)
{
    peers_.push_back(std::make_unique<peer>(o_.version));
    peer& p = *peers_.back();
    p.is_pub = is_pub;
    p.index = index;
    return p;
}

bool generator::open(peer& p, const std::string& client_id, bool clean)
{
    p.fd = connect_tcp(o_.host, o_.port);
    if (p.fd < 0) {
        std::fprintf(stderr, "mqtt-loadgen: connect %s:%u: %s\n", o_.host.c_str(), o_.port, std::strerror(errno));
        return false;
    }
    p.closed = false;
    p.want_write = p.dirty = false;
    p.connacked = p.subacked = false;
    p.out.clear();
    p.out_off = 0;
    p.decoder.reset();
    if (!poller_.add(p))
        return false;
    mqtt::connect c;
    c.version = o_.version;
    c.clean_start = clean;
    c.keep_alive = 600; // no PINGREQ needed during a run
    c.client_id = client_id;
    p.send(c);
    poller_.mark_dirty(p);
    return true;
}

void generator::on_readable(connection& c)
{
    auto& p = static_cast<peer&>(c);
    bool alive = true;
    for (long n = 1; alive && n > 0 && !p.closed;) {
        n = read_some(p);
        alive = n >= 0;
        while (auto r = p.decoder.next()) {
            if (!*r) {
                std::fprintf(stderr, "mqtt-loadgen: decode error: %s\n", r->error().message().c_str());
                alive = false;
                break;
            }
            handle(p, r->value());
        }
    }
    if (!alive && !p.closed) {
        p.close();
        ++closed_unexpectedly_;
    }
}

void generator::handle(peer& p, mqtt::packet& pkt)
{
    if (auto* m = std::get_if<mqtt::publish>(&pkt)) {
        on_delivery(p, *m);
        if (m->qos == mqtt::qos::at_least_once)
            p.send(ack<mqtt::puback>(m->packet_id));
        else if (m->qos == mqtt::qos::exactly_once)
            p.send(ack<mqtt::pubrec>(m->packet_id));
        if (m->qos != mqtt::qos::at_most_once)
            poller_.mark_dirty(p);
        return;
    }
    auto release = [&](std::uint16_t id) {
        if (id < p.id_in_use.size() && p.id_in_use[id]) {
            p.id_in_use[id] = false;
            --p.unacked;
            ++r_.acked;
            last_progress_ = now_ns();
        }
    };
    if (auto* a = std::get_if<mqtt::puback>(&pkt)) {
        if (mqtt::is_error(a->code))
            ++r_.errors;
        release(a->packet_id);
    } else if (auto* rec = std::get_if<mqtt::pubrec>(&pkt)) {
        if (mqtt::is_error(rec->code)) {
            ++r_.errors;
            release(rec->packet_id);
        } else {
            p.send(ack<mqtt::pubrel>(rec->packet_id));
            poller_.mark_dirty(p);
        }
    } else if (auto* rel = std::get_if<mqtt::pubrel>(&pkt)) {
        p.send(ack<mqtt::pubcomp>(rel->packet_id));
        poller_.mark_dirty(p);
    } else if (auto* comp = std::get_if<mqtt::pubcomp>(&pkt)) {
        release(comp->packet_id);
    } else if (auto* ack = std::get_if<mqtt::connack>(&pkt)) {
        if (ack->code != mqtt::reason_code::success) {
            std::fprintf(stderr, "mqtt-loadgen: CONNACK refused (0x%02x)\n", static_cast<unsigned>(ack->code));
            p.refused = true;
            return;
        }
        p.connacked = true;
        std::size_t limit = 20; // Mosquitto's max_inflight_messages: 3.1.1 has no Receive Maximum
        if (o_.version == mqtt::protocol_version::v5)
            limit = ack->props.get_integer(mqtt::property_id::receive_maximum).value_or(65535);
        p.ack_limit = o_.ack_window != 0 ? std::min(o_.ack_window, limit) : limit;
    } else if (auto* sa = std::get_if<mqtt::suback>(&pkt)) {
        p.subacked = true;
        for (auto code : sa->codes)
            if (mqtt::is_error(code))
                p.refused = true;
    }
}

void generator::on_delivery(peer& sub, const mqtt::publish& m)
{
    stamp s{};
    if (!get_stamp(m.payload.view(), s) || s.pub >= pubs_.size() || sub.next_seq.empty()) {
        ++r_.errors;
        return;
    }
    std::uint64_t now = now_ns();
    last_progress_ = now;
    auto& expected = sub.next_seq[s.pub];
    if (s.seq < expected) {
        ++r_.dups;
        return;
    }
    if (s.seq > expected)
        r_.gaps += s.seq - expected;
    expected = s.seq + 1;
    ++r_.deliveries;
    if (record_latency_ && sub.index == 0 && r_.latency_ns.size() < 8'000'000 && now >= s.time)
        r_.latency_ns.push_back(now - s.time);
    peer& pub = *pubs_[s.pub];
    auto& count = pub.ring[s.seq % ring_size];
    if (++count == subs_.size()) {
        count = 0;
        ++pub.completed;
        ++total_completed_;
    }
}

bool generator::publish_one(peer& p, std::uint64_t timestamp)
{
    std::uint16_t id = 0;
    if (o_.qos > 0) {
        if (p.unacked >= p.ack_limit)
            return false;
        do {
            id = static_cast<std::uint16_t>(p.next_id == 65535 ? 1 : p.next_id + 1);
            p.next_id = id;
        } while (p.id_in_use[id]);
        p.id_in_use[id] = true;
        ++p.unacked;
    }
    auto& slot = p.ring[p.seq % ring_size];
    if (slot != 0) { // an older message there was lost: give up on it
        slot = 0;
        ++p.completed;
        ++total_completed_;
    }
    put_stamp(payload_, stamp{static_cast<std::uint32_t>(p.index), p.seq, timestamp});
    mqtt::publish m;
    m.topic = p.topic;
    m.payload = mqtt::buffer({}, payload_);
    m.qos = static_cast<mqtt::qos>(o_.qos);
    m.packet_id = id;
    p.send(m);
    poller_.mark_dirty(p);
    ++p.seq;
    ++total_sent_;
    ++r_.sent;
    if (subs_.empty()) { // nobody to deliver to: in flight only until written
        ++p.completed;
        ++total_completed_;
    }
    return true;
}

void generator::produce(std::uint64_t now)
{
    // A publisher whose socket is full gets no more until it drains.
    constexpr std::size_t max_buffered = 256 * 1024;
    std::uint64_t target = UINT64_MAX; // messages that may have been sent by now
    if (o_.rate > 0)
        target = scheduled_ = static_cast<std::uint64_t>(static_cast<double>(now - t0_) * o_.rate / 1e9) + 1;
    if (o_.count > 0)
        target = std::min(target, o_.count);
    std::size_t blocked = 0;
    while (total_sent_ < target && in_flight() < window_ && blocked < pubs_.size()) {
        peer& p = *pubs_[next_pub_];
        next_pub_ = (next_pub_ + 1) % pubs_.size();
        // Open loop at a fixed rate: the timestamp is when the message was due,
        // so a stalled sender shows up in the latency (no coordinated omission).
        std::uint64_t ts = o_.rate > 0 ? t0_ + static_cast<std::uint64_t>(static_cast<double>(total_sent_) * 1e9 / o_.rate) : now_ns();
        if (p.closed || p.pending() > max_buffered || !publish_one(p, ts))
            ++blocked;
        else
            blocked = 0;
    }
}

void generator::pump_once(long timeout_ns)
{
    poller_.flush();
    poller_.wait(timeout_ns, [this](connection& c) { on_readable(c); });
    poller_.flush();
}

template <class Pred>
bool generator::pump_until(Pred pred, double seconds)
{
    std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    while (!pred()) {
        if (closed_unexpectedly_ > 0 || now_ns() > deadline)
            return false;
        pump_once(50'000'000);
    }
    return true;
}

void generator::disconnect_all()
{
    for (auto& p : peers_) {
        if (!p->closed) {
            p->send(mqtt::disconnect{});
            poller_.mark_dirty(*p);
        }
    }
    poller_.flush();
    for (auto& p : peers_)
        p->close();
}

int generator::run_flow()
{
    std::string topic_base = o_.prefix + "/";
    for (int i = 0; i < o_.subs; ++i) {
        peer& s = add_peer(false, i);
        s.next_seq.assign(static_cast<std::size_t>(o_.pubs), 0);
        subs_.push_back(&s);
        if (!open(s, o_.id_prefix + "s" + std::to_string(i), true))
            return 1;
        mqtt::subscribe sub;
        sub.packet_id = 1;
        sub.subscriptions.push_back({topic_base + "+", mqtt::subscribe_options{static_cast<mqtt::qos>(o_.qos)}});
        s.send(sub);
    }
    for (int i = 0; i < o_.pubs; ++i) {
        peer& p = add_peer(true, i);
        p.topic = mqtt::buffer(topic_base + std::to_string(i));
        p.ring.assign(ring_size, 0);
        p.id_in_use.assign(65536, false);
        pubs_.push_back(&p);
    }
    auto subscribed = [this] {
        return std::all_of(subs_.begin(), subs_.end(), [](peer* s) { return s->subacked || s->refused; });
    };
    if (!pump_until(subscribed, 20)) {
        std::fputs("mqtt-loadgen: subscribers did not get their SUBACK\n", stderr);
        return 1;
    }
    for (peer* p : pubs_)
        if (!open(*p, o_.id_prefix + "p" + std::to_string(p->index), true))
            return 1;
    auto connected = [this] {
        return std::all_of(pubs_.begin(), pubs_.end(), [](peer* p) { return p->connacked || p->refused; });
    };
    if (!pump_until(connected, 20) || std::any_of(peers_.begin(), peers_.end(), [](auto& p) { return p->refused; })) {
        std::fputs("mqtt-loadgen: could not connect or subscribe every client\n", stderr);
        return 1;
    }

    window_ = o_.rate > 0 ? ring_size - 1 : std::min(o_.window, ring_size - 1);
    double cpu0 = cpu_seconds();
    t0_ = last_progress_ = now_ns();
    std::uint64_t end = t0_ + static_cast<std::uint64_t>(o_.duration * 1e9);
    auto drain_ns = static_cast<std::uint64_t>(o_.drain * 1e9);
    long period_ns = o_.rate > 0 ? std::max(20'000L, static_cast<long>(1e9 / o_.rate)) : 0;
    // Publishing phase: until the duration (or the count) is reached.
    for (;;) {
        std::uint64_t now = now_ns();
        bool done = o_.count > 0 ? total_sent_ >= o_.count : now >= end;
        if (done || closed_unexpectedly_ > 0)
            break;
        produce(now);
        if (in_flight() > 0 && now - last_progress_ > drain_ns) { // lost messages hold the window
            for (peer* p : pubs_)
                std::fill(p->ring.begin(), p->ring.end(), std::uint16_t{0});
            total_completed_ = total_sent_;
            ++r_.stalls;
            last_progress_ = now;
        }
        pump_once(o_.rate > 0 ? period_ns : 100'000'000);
    }
    // Drain: wait for what is in flight until nothing moved for --drain seconds.
    std::uint64_t expected = r_.sent * subs_.size();
    auto pending_acks = [this] {
        std::size_t n = 0;
        for (peer* p : pubs_)
            n += p->unacked;
        return n;
    };
    last_progress_ = now_ns();
    while ((r_.deliveries < expected || pending_acks() > 0) && closed_unexpectedly_ == 0
        && now_ns() - last_progress_ < drain_ns)
        pump_once(10'000'000);
    std::uint64_t t_end = std::max(last_progress_, t0_ + 1);
    r_.cpu = cpu_seconds() - cpu0;
    r_.elapsed = static_cast<double>(t_end - t0_) / 1e9;
    disconnect_all();

    std::sort(r_.latency_ns.begin(), r_.latency_ns.end());
    std::uint64_t lost = expected > r_.deliveries ? expected - r_.deliveries : 0;
    std::printf("RESULT mode=flow qos=%d pubs=%d subs=%d size=%zu window=%zu rate=%.0f sent=%llu acked=%llu "
                "deliveries=%llu expected=%llu lost=%llu dup=%llu stalls=%llu errors=%llu closed=%d "
                "elapsed_s=%.4f msgs_per_s=%.1f deliveries_per_s=%.1f "
                "lat_p50_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f lat_max_us=%.1f samples=%zu "
                "cpu_s=%.4f cpu_us_per_msg=%.3f ack_limit=%zu\n",
        o_.qos, o_.pubs, o_.subs, o_.size, window_, o_.rate, static_cast<unsigned long long>(r_.sent),
        static_cast<unsigned long long>(r_.acked), static_cast<unsigned long long>(r_.deliveries),
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(r_.dups), static_cast<unsigned long long>(r_.stalls),
        static_cast<unsigned long long>(r_.errors), closed_unexpectedly_, r_.elapsed,
        static_cast<double>(r_.sent) / r_.elapsed, static_cast<double>(r_.deliveries) / r_.elapsed,
        percentile_us(r_.latency_ns, 0.50), percentile_us(r_.latency_ns, 0.99), percentile_us(r_.latency_ns, 0.999),
        r_.latency_ns.empty() ? 0.0 : static_cast<double>(r_.latency_ns.back()) / 1000.0, r_.latency_ns.size(), r_.cpu,
        r_.sent > 0 ? r_.cpu * 1e6 / static_cast<double>(r_.sent) : 0.0, pubs_.front()->ack_limit);
    std::fflush(stdout);
    return (closed_unexpectedly_ > 0 || r_.errors > 0) ? 1 : 0;
}

int generator::run_idle()
{
    constexpr int batch = 200;
    int failed = 0;
    std::size_t done = 0;
    for (int i = 0; i < o_.clients; i += batch) {
        std::size_t first = peers_.size();
        for (int j = i; j < std::min(o_.clients, i + batch); ++j) {
            peer& p = add_peer(false, j);
            if (!open(p, o_.id_prefix + "i" + std::to_string(j), true)) {
                ++failed;
                p.closed = true;
            }
        }
        auto batch_done = [&] {
            for (std::size_t k = first; k < peers_.size(); ++k)
                if (!peers_[k]->closed && !peers_[k]->connacked && !peers_[k]->refused)
                    return false;
            return true;
        };
        pump_until(batch_done, 30);
        for (std::size_t k = first; k < peers_.size(); ++k)
            done += peers_[k]->connacked ? 1u : 0u;
        if (failed > 0)
            break;
    }
    std::printf("PHASE connected clients=%zu failed=%d\n", done, o_.clients - static_cast<int>(done));
    std::fflush(stdout);
    wait_for_line();
    disconnect_all();
    std::printf("RESULT mode=idle clients=%zu\n", done);
    return done == static_cast<std::size_t>(o_.clients) ? 0 : 1;
}

int generator::run_queue()
{
    // 3.1.1 Clean Session 0 keeps the session without an expiry property.
    o_.version = mqtt::protocol_version::v3_1_1;
    o_.qos = 1;
    std::string sub_id = o_.id_prefix + "q";
    peer& sub = add_peer(false, 0);
    sub.next_seq.assign(1, 0);
    subs_.push_back(&sub);
    peer& pub = add_peer(true, 0);
    pub.topic = mqtt::buffer(o_.prefix + "/0");
    pub.ring.assign(ring_size, 0);
    pub.id_in_use.assign(65536, false);
    pubs_.push_back(&pub);
    record_latency_ = false;

    if (!open(sub, sub_id, true) || !pump_until([&] { return sub.connacked; }, 10))
        return 1;
    sub.send(mqtt::disconnect{}); // wipe any earlier session, then start a persistent one
    poller_.mark_dirty(sub);
    poller_.flush();
    sub.close();
    if (!open(sub, sub_id, false))
        return 1;
    mqtt::subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({o_.prefix + "/+", mqtt::subscribe_options{mqtt::qos::at_least_once}});
    sub.send(s);
    if (!pump_until([&] { return sub.subacked; }, 10))
        return 1;
    sub.send(mqtt::disconnect{});
    poller_.mark_dirty(sub);
    poller_.flush();
    sub.close();
    std::puts("PHASE empty");
    std::fflush(stdout);
    wait_for_line();

    if (!open(pub, o_.id_prefix + "p0", true) || !pump_until([&] { return pub.connacked; }, 10))
        return 1;
    window_ = ring_size - 1;
    while (r_.sent < o_.count) {
        while (r_.sent < o_.count && publish_one(pub, 0)) {
            // a message for nobody online: count it complete at once
            total_completed_ = total_sent_;
        }
        if (!pump_until([&] { return pub.unacked < pub.ack_limit; }, 10))
            return 1;
    }
    if (!pump_until([&] { return pub.unacked == 0; }, 10))
        return 1;
    std::printf("PHASE queued messages=%llu\n", static_cast<unsigned long long>(r_.sent));
    std::fflush(stdout);
    wait_for_line();

    if (!open(sub, sub_id, false))
        return 1;
    last_progress_ = now_ns();
    auto drain_ns = static_cast<std::uint64_t>(o_.drain * 1e9);
    while (r_.deliveries < o_.count && closed_unexpectedly_ == 0 && now_ns() - last_progress_ < drain_ns)
        pump_once(10'000'000);
    disconnect_all();
    std::printf("RESULT mode=queue sent=%llu deliveries=%llu dup=%llu\n", static_cast<unsigned long long>(r_.sent),
        static_cast<unsigned long long>(r_.deliveries), static_cast<unsigned long long>(r_.dups));
    return 0;
}

} // namespace loadgen

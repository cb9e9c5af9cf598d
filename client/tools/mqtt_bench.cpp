// mqtt-bench: a load generator on the client library. N publishers and M
// subscribers; each payload carries the publisher id, a sequence number and the
// send time, so subscribers count losses and duplicates and measure latency.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cli.hpp"
#include "tool_runtime.hpp"

namespace {

using namespace mqtt;
using namespace mqtt::cli;
namespace net = boost::asio;
using steady = std::chrono::steady_clock;

constexpr std::string_view tool = "mqtt-bench";
constexpr std::size_t header_size = 4 + 8 + 8; // publisher id, sequence, send time (ns)

struct bench_config {
    connection_settings conn;
    unsigned publishers = 1;
    unsigned subscribers = 1;
    std::vector<qos> qos_levels{qos::at_most_once};
    std::size_t payload_size = 64;
    double rate = 0; // messages/s per publisher; 0 = as fast as the window allows
    std::string topic = "mqtt-bench/%i";
    double duration = 5;
    long long count = 0; // per publisher; 0 = use duration
    std::size_t window = 0; // 0: 256, but 20 for QoS 1/2 over MQTT 3.1.1
    double drain = 2;
    unsigned threads = 1;
};

std::string_view usage()
{
    return R"(Usage: mqtt-bench [options]
Runs N publishers and M subscribers against a broker and reports throughput,
losses, duplicates and latency for each QoS.

Load:
  --pub N                 publishers (default 1)
  --sub M                 subscribers, each subscribed to every publisher (default 1)
  -q, --qos LIST          QoS levels to run one after the other, e.g. 0,1,2 (default 0)
  -s, --size BYTES        payload size, at least 20 (default 64)
  --rate R                messages/s per publisher (default: as fast as the window allows)
  --window W              publishes outstanding per publisher (default 256; 20 for QoS 1/2
                          over MQTT 3.1.1, which has no Receive Maximum: brokers such as
                          Mosquitto allow 20 in flight and misbehave beyond)
  -t, --topic PATTERN     topic per publisher, %i = publisher index (default mqtt-bench/%i)
  --duration SEC          publish for SEC seconds (default 5)
  --count N               or publish N messages per publisher
  --drain SEC             after publishing, wait for the last messages until none came
                          for SEC seconds (default 2); what is missing then is lost
  --threads T             run the clients on T threads (default 1)
  --help                  this text
)";
}

bool parse(int argc, char** argv, bench_config& cfg, std::string& error, bool& help)
{
    arg_reader args(argc, argv);
    long long n = 0;
    std::string v;
    auto seconds = [&](const std::string& flag, double& out) {
        if (!args.value(flag, v, error))
            return false;
        char* end = nullptr;
        out = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || out < 0 || out > 86400) {
            error = flag + ": expected seconds";
            return false;
        }
        return true;
    };
    while (!args.done()) {
        auto flag = args.next();
        switch (parse_connection_flag(flag, args, cfg.conn, error)) {
        case parse_status::handled:
            continue;
        case parse_status::failed:
            return false;
        case parse_status::not_mine:
            break;
        }
        if (flag == "--help") {
            help = true;
            return true;
        } else if (flag == "--pub") {
            if (!args.int_value(flag, 0, 10000, n, error))
                return false;
            cfg.publishers = static_cast<unsigned>(n);
        } else if (flag == "--sub") {
            if (!args.int_value(flag, 0, 10000, n, error))
                return false;
            cfg.subscribers = static_cast<unsigned>(n);
        } else if (flag == "-q" || flag == "--qos") {
            if (!args.value(flag, v, error))
                return false;
            cfg.qos_levels.clear();
            std::size_t start = 0;
            while (start <= v.size()) {
                auto comma = v.find(',', start);
                auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                qos q{};
                if (!parse_qos(item, q)) {
                    error = "-q: expected a list of 0, 1, 2";
                    return false;
                }
                cfg.qos_levels.push_back(q);
                if (comma == std::string::npos)
                    break;
                start = comma + 1;
            }
        } else if (flag == "-s" || flag == "--size") {
            if (!args.int_value(flag, static_cast<long long>(header_size), 256LL * 1024 * 1024, n, error))
                return false;
            cfg.payload_size = static_cast<std::size_t>(n);
        } else if (flag == "--rate") {
            if (!args.value(flag, v, error))
                return false;
            char* end = nullptr;
            cfg.rate = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || cfg.rate < 0 || cfg.rate > 1e9) {
                error = "--rate: expected messages per second";
                return false;
            }
        } else if (flag == "--window") {
            if (!args.int_value(flag, 1, 1'000'000, n, error))
                return false;
            cfg.window = static_cast<std::size_t>(n);
        } else if (flag == "-t" || flag == "--topic") {
            if (!args.value(flag, cfg.topic, error))
                return false;
        } else if (flag == "--duration") {
            if (!seconds(flag, cfg.duration))
                return false;
        } else if (flag == "--count") {
            if (!args.int_value(flag, 1, 1'000'000'000'000LL, cfg.count, error))
                return false;
        } else if (flag == "--drain") {
            if (!seconds(flag, cfg.drain))
                return false;
        } else if (flag == "--threads") {
            if (!args.int_value(flag, 1, 256, n, error))
                return false;
            cfg.threads = static_cast<unsigned>(n);
        } else {
            error = "unknown option '" + flag + "' (see --help)";
            return false;
        }
    }
    if (cfg.publishers == 0) {
        error = "--pub must be at least 1";
        return false;
    }
    return true;
}

std::size_t effective_window(const bench_config& cfg, qos q)
{
    if (cfg.window != 0)
        return cfg.window;
    if (q != qos::at_most_once && cfg.conn.version == protocol_version::v3_1_1)
        return 20;
    return 256;
}

std::string topic_for(const std::string& pattern, const std::string& index)
{
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'i') {
            out += index;
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

std::uint64_t now_ns()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count());
}

// ---------------------------------------------------------------- publishers

struct publisher : std::enable_shared_from_this<publisher> {
    publisher(net::io_context& ioc, client_options o, std::uint32_t index, std::string t, const bench_config& c, qos level)
        : cli(ioc.get_executor(), std::move(o)), id(index), topic(std::move(t)), cfg(c), q(level),
          window(effective_window(c, level)), timer(cli.get_executor())
    {
    }

    client cli;
    std::uint32_t id;
    std::string topic;
    const bench_config& cfg;
    qos q;
    std::size_t window;
    net::steady_timer timer;
    std::uint64_t next_seq = 0;
    std::size_t outstanding = 0;
    steady::time_point start{}, stop_at{};
    bool stopping = false;
    bool timer_armed = false;
    std::atomic<std::uint64_t> acked{0}, failed{0};
    std::atomic<bool> finished{false};

    void begin(steady::time_point t0)
    {
        net::post(cli.get_executor(), [self = shared_from_this(), t0] {
            self->start = t0;
            self->stop_at = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(self->cfg.duration));
            self->pump();
        });
    }

    bool done_sending() const
    {
        if (cfg.count > 0)
            return static_cast<long long>(next_seq) >= cfg.count;
        return stopping;
    }

    void pump()
    {
        auto now = steady::now();
        if (cfg.count == 0 && now >= stop_at)
            stopping = true;
        while (!done_sending() && outstanding < window) {
            if (cfg.rate > 0) {
                auto due = start + std::chrono::duration_cast<steady::duration>(
                                       std::chrono::duration<double>(static_cast<double>(next_seq) / cfg.rate));
                if (due > now) {
                    arm(due);
                    break;
                }
            }
            send_one();
        }
        if (cfg.count == 0 && !stopping)
            arm(stop_at); // wake up to notice the end even when nothing completes
        if (done_sending() && outstanding == 0)
            finished = true;
    }

    void arm(steady::time_point at)
    {
        if (timer_armed && timer.expiry() <= at)
            return;
        timer_armed = true;
        timer.expires_at(at);
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            self->timer_armed = false;
            if (!ec)
                self->pump();
        });
    }

    void send_one()
    {
        std::string payload(cfg.payload_size, '\0');
        auto seq = next_seq++;
        auto ts = now_ns();
        std::memcpy(payload.data(), &id, 4);
        std::memcpy(payload.data() + 4, &seq, 8);
        std::memcpy(payload.data() + 12, &ts, 8);
        ++outstanding;
        cli.async_publish(client::make_message(topic, std::move(payload), q),
            [self = shared_from_this()](std::error_code ec, publish_result) {
                --self->outstanding;
                (ec ? self->failed : self->acked)++;
                self->pump();
            });
    }
};

// ---------------------------------------------------------------- subscribers

struct subscriber {
    subscriber(net::io_context& ioc, client_options o, std::size_t pubs) : cli(ioc.get_executor(), std::move(o)), seen(pubs) {}

    client cli;
    std::vector<std::vector<bool>> seen; // per publisher: sequence numbers received
    std::vector<std::uint32_t> latency_us;
    std::atomic<std::uint64_t> received{0}, unique{0}, duplicates{0}, malformed{0};
    std::atomic<std::int64_t> last_ns{0};

    void on_message(const mqtt::publish& m)
    {
        if (m.payload.size() < header_size) {
            ++malformed;
            return;
        }
        std::uint32_t pid = 0;
        std::uint64_t seq = 0, ts = 0;
        std::memcpy(&pid, m.payload.data(), 4);
        std::memcpy(&seq, m.payload.data() + 4, 8);
        std::memcpy(&ts, m.payload.data() + 12, 8);
        auto now = now_ns();
        ++received;
        last_ns = static_cast<std::int64_t>(now);
        if (pid >= seen.size() || seq > (1ull << 34)) {
            ++malformed;
            return;
        }
        auto& bits = seen[pid];
        if (bits.size() <= seq)
            bits.resize(std::max<std::size_t>(bits.size() * 2, static_cast<std::size_t>(seq) + 1));
        if (bits[seq]) {
            ++duplicates;
            return;
        }
        bits[seq] = true;
        ++unique;
        if (now >= ts && latency_us.size() < 50'000'000)
            latency_us.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>((now - ts) / 1000, 0xFFFFFFFFu)));
    }
};

// ---------------------------------------------------------------- one phase

struct phase_result {
    bool ok = true;
};

double percentile(std::vector<std::uint32_t>& v, double p)
{
    if (v.empty())
        return 0;
    auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k] / 1000.0;
}

// Runs the io_context (on cfg.threads threads) until `done` or `limit`.
bool run_until(net::io_context& ioc, unsigned threads, const std::function<bool()>& done, steady::duration limit)
{
    auto deadline = steady::now() + limit;
    std::atomic<bool> stop{false};
    std::vector<std::thread> extra;
    for (unsigned i = 1; i < threads; ++i)
        extra.emplace_back([&] {
            while (!stop)
                ioc.run_for(std::chrono::milliseconds(20));
        });
    bool reached = false;
    while (steady::now() < deadline) {
        if (done()) {
            reached = true;
            break;
        }
        ioc.run_for(std::chrono::milliseconds(10));
        if (ioc.stopped())
            ioc.restart();
    }
    stop = true;
    for (auto& t : extra)
        t.join();
    if (ioc.stopped())
        ioc.restart();
    return reached;
}

bool run_phase(const bench_config& cfg, const client_options& base, qos q, std::size_t phase_index)
{
    net::io_context ioc;
    const auto pid = std::to_string(::getpid());
    const auto phase_tag = "q" + std::to_string(static_cast<int>(q)) + "-" + std::to_string(phase_index);
    std::string pattern = cfg.topic + "/" + phase_tag;

    std::vector<std::unique_ptr<subscriber>> subs;
    std::atomic<unsigned> subscribed{0}, connect_failures{0};
    for (unsigned j = 0; j < cfg.subscribers; ++j) {
        auto o = base;
        o.connect.client_id = "bench-sub-" + pid + "-" + phase_tag + "-" + std::to_string(j);
        o.connect.receive_maximum = 65535;
        subs.push_back(std::make_unique<subscriber>(ioc, o, cfg.publishers));
        auto* s = subs.back().get();
        s->cli.set_message_handler([s](mqtt::publish m) { s->on_message(m); });
        s->cli.async_connect([s, &subscribed, &connect_failures, &cfg, &pattern, q](std::error_code ec, connack) {
            if (ec) {
                print_error(tool, connect_error_text(ec));
                ++connect_failures;
                return;
            }
            s->cli.async_subscribe(topic_for(pattern, "+"), q, [&subscribed, &connect_failures](std::error_code e, subscribe_result r) {
                if (e || r.codes.empty() || is_error(r.codes[0])) {
                    print_error(tool, "subscribe failed");
                    ++connect_failures;
                    return;
                }
                ++subscribed;
            });
        });
    }
    std::vector<std::shared_ptr<publisher>> pubs;
    std::atomic<unsigned> pubs_connected{0};
    for (unsigned i = 0; i < cfg.publishers; ++i) {
        auto o = base;
        o.connect.client_id = "bench-pub-" + pid + "-" + phase_tag + "-" + std::to_string(i);
        o.session.max_queued_messages = 0;
        pubs.push_back(std::make_shared<publisher>(ioc, o, i, topic_for(pattern, std::to_string(i)), cfg, q));
        pubs.back()->cli.async_connect([&pubs_connected, &connect_failures](std::error_code ec, connack) {
            if (ec) {
                print_error(tool, connect_error_text(ec));
                ++connect_failures;
                return;
            }
            ++pubs_connected;
        });
    }
    auto all_ready = [&] {
        return connect_failures > 0 || (subscribed == cfg.subscribers && pubs_connected == cfg.publishers);
    };
    if (!run_until(ioc, cfg.threads, all_ready, std::chrono::seconds(30)) || connect_failures > 0) {
        if (connect_failures == 0)
            print_error(tool, "timed out connecting");
        for (auto& s : subs)
            s->cli.stop();
        for (auto& p : pubs)
            p->cli.stop();
        ioc.poll();
        return false;
    }

    const auto t0 = steady::now();
    for (auto& p : pubs)
        p->begin(t0);
    auto publishing_done = [&] {
        return std::all_of(pubs.begin(), pubs.end(), [](auto& p) { return p->finished.load(); });
    };
    auto publish_limit = cfg.count > 0 ? std::chrono::hours(24) : std::chrono::duration_cast<steady::duration>(
                                                                        std::chrono::duration<double>(cfg.duration + 60));
    run_until(ioc, cfg.threads, publishing_done, publish_limit);
    const auto t_published = steady::now();

    std::uint64_t acked = 0, failed = 0;
    for (auto& p : pubs) {
        acked += p->acked;
        failed += p->failed;
    }
    // Subscribers should get every acknowledged message; QoS 0 may lose some.
    auto all_received = [&] {
        return std::all_of(subs.begin(), subs.end(), [&](auto& s) { return s->unique.load() >= acked; });
    };
    // Drain: wait while messages keep arriving; stop when all are in, or after
    // --drain seconds without progress (what is missing then is lost).
    const auto idle_limit = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(cfg.drain));
    auto received_total = [&] {
        std::uint64_t n = 0;
        for (auto& s : subs)
            n += s->received;
        return n;
    };
    auto last_count = received_total();
    auto last_progress = steady::now();
    const auto drain_cap = steady::now() + std::chrono::minutes(10);
    while (!all_received() && steady::now() - last_progress < idle_limit && steady::now() < drain_cap) {
        run_until(ioc, cfg.threads, all_received, std::chrono::milliseconds(200));
        auto n = received_total();
        if (n != last_count) {
            last_count = n;
            last_progress = steady::now();
        }
    }

    for (auto& s : subs)
        s->cli.async_disconnect([](std::error_code) {});
    for (auto& p : pubs)
        p->cli.async_disconnect([](std::error_code) {});
    run_until(ioc, 1, [] { return false; }, std::chrono::milliseconds(200));

    std::uint64_t received = 0, unique = 0, dups = 0, malformed = 0;
    std::int64_t last = 0;
    std::vector<std::uint32_t> lat;
    for (auto& s : subs) {
        received += s->received;
        unique += s->unique;
        dups += s->duplicates;
        malformed += s->malformed;
        last = std::max<std::int64_t>(last, s->last_ns);
        lat.insert(lat.end(), s->latency_us.begin(), s->latency_us.end());
    }
    const double pub_seconds = std::chrono::duration<double>(t_published - t0).count();
    const auto t0_ns = static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count());
    const double recv_seconds = last > t0_ns ? static_cast<double>(last - t0_ns) / 1e9 : pub_seconds;
    const std::uint64_t expected = acked * cfg.subscribers;
    const std::uint64_t lost = expected > unique ? expected - unique : 0;

    char amount[64], pace[64];
    if (cfg.count > 0)
        std::snprintf(amount, sizeof amount, "%lld msgs/publisher", cfg.count);
    else
        std::snprintf(amount, sizeof amount, "%.1f s", cfg.duration);
    if (cfg.rate > 0)
        std::snprintf(pace, sizeof pace, "%.0f msgs/s/publisher", cfg.rate);
    else
        std::snprintf(pace, sizeof pace, "max rate, window %zu", effective_window(cfg, q));
    std::printf("QoS %d: %u publisher(s) -> %u subscriber(s), %zu-byte payload, %s, %s\n", static_cast<int>(q),
        cfg.publishers, cfg.subscribers, cfg.payload_size, amount, pace);
    std::printf("  sent:     %" PRIu64 " msgs in %.2f s = %.0f msgs/s (failed %" PRIu64 ")\n", acked, pub_seconds,
        pub_seconds > 0 ? static_cast<double>(acked) / pub_seconds : 0.0, failed);
    std::printf("  received: %" PRIu64 " msgs in %.2f s = %.0f msgs/s\n", received, recv_seconds,
        recv_seconds > 0 ? static_cast<double>(received) / recv_seconds : 0.0);
    std::printf("  lost:     %" PRIu64 "   duplicated: %" PRIu64 "%s\n", lost, dups,
        malformed ? ("   malformed: " + std::to_string(malformed)).c_str() : "");
    std::printf("  latency:  p50 %.3f ms   p99 %.3f ms   p99.9 %.3f ms\n", percentile(lat, 50), percentile(lat, 99),
        percentile(lat, 99.9));
    std::fflush(stdout);
    return failed == 0;
}

} // namespace

int main(int argc, char** argv)
{
    bench_config cfg;
    client_options base;
    if (auto done = start_tool(tool, argc, argv, &parse, &usage, cfg, base))
        return *done;
    base.reconnect.enabled = false;
    bool ok = true;
    for (std::size_t i = 0; i < cfg.qos_levels.size(); ++i)
        ok = run_phase(cfg, base, cfg.qos_levels[i], i) && ok;
    return ok ? 0 : 1;
}

// mqtt-fault-proxy: a fault-injecting TCP proxy on 127.0.0.1 for testing MQTT
// clients and brokers under network faults (see docs/fault-tests.md).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fault_proxy.hpp"

namespace {

const char* usage =
    "usage: mqtt-fault-proxy --upstream HOST:PORT [options]\n"
    "  --listen PORT          port on 127.0.0.1 (default 0: any free port, printed at start)\n"
    "  --upstream HOST:PORT   where connections are forwarded (loopback hosts only)\n"
    "  --seed N               seed of every random decision (default: time-based, printed)\n"
    "  --cut-prob P           probability of a cut inside each chunk read (0..1)\n"
    "  --cut-after N|MIN:MAX  cut each connection after this many bytes in one direction\n"
    "  --cut-on-ack P         probability of a cut after each PUBLISH(QoS>0)/PUBACK/PUBREC/PUBREL/PUBCOMP\n"
    "  --max-delay MS         delay each chunk by up to MS milliseconds\n"
    "  --split N              write each chunk in 1..N random pieces\n"
    "  --stats SECONDS        print statistics every SECONDS (default 0: only at exit)\n";

bool number(const char* text, double& out)
{
    char* end = nullptr;
    out = std::strtod(text, &end);
    return end && *end == '\0' && end != text;
}

bool loopback(const std::string& host)
{
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void print(const mqtt::fault::proxy_stats& s)
{
    std::printf("connections %llu cuts %llu bytes-to-upstream %llu bytes-to-client %llu\n",
        static_cast<unsigned long long>(s.connections), static_cast<unsigned long long>(s.cuts),
        static_cast<unsigned long long>(s.bytes_to_upstream), static_cast<unsigned long long>(s.bytes_to_client));
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv)
{
    mqtt::fault::proxy_options o;
    o.seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    double stats_every = 0;
    bool have_upstream = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "mqtt-fault-proxy: %s needs a value\n%s", arg.c_str(), usage);
            return 2;
        }
        std::string value = argv[++i];
        double d = 0;
        bool ok = true;
        if (arg == "--listen") {
            ok = number(value.c_str(), d) && d >= 0 && d <= 65535;
            o.listen_port = static_cast<std::uint16_t>(d);
        } else if (arg == "--upstream") {
            auto colon = value.rfind(':');
            ok = colon != std::string::npos && number(value.c_str() + colon + 1, d) && d > 0 && d <= 65535;
            if (ok) {
                o.upstream_host = value.substr(0, colon);
                if (o.upstream_host.size() > 2 && o.upstream_host.front() == '[')
                    o.upstream_host = o.upstream_host.substr(1, o.upstream_host.size() - 2);
                o.upstream_port = static_cast<std::uint16_t>(d);
                have_upstream = true;
                if (!loopback(o.upstream_host)) {
                    std::fprintf(stderr, "mqtt-fault-proxy: upstream must be a loopback address\n");
                    return 2;
                }
            }
        } else if (arg == "--seed") {
            ok = value.find_first_not_of("0123456789") == std::string::npos && !value.empty() && value.size() < 20;
            if (ok)
                o.seed = std::stoull(value);
        } else if (arg == "--cut-prob") {
            ok = number(value.c_str(), o.cut_probability) && o.cut_probability >= 0 && o.cut_probability <= 1;
        } else if (arg == "--cut-after") {
            ok = mqtt::fault::parse_range(value, o.cut_after_min, o.cut_after_max) && o.cut_after_max > 0;
        } else if (arg == "--cut-on-ack") {
            ok = number(value.c_str(), o.cut_on_ack_probability) && o.cut_on_ack_probability >= 0 && o.cut_on_ack_probability <= 1;
        } else if (arg == "--max-delay") {
            ok = number(value.c_str(), d) && d >= 0 && d <= 60000;
            o.max_delay = std::chrono::milliseconds(static_cast<long>(d));
        } else if (arg == "--split") {
            ok = number(value.c_str(), d) && d >= 1 && d <= 1000;
            o.max_split = static_cast<unsigned>(d);
        } else if (arg == "--stats") {
            ok = number(value.c_str(), stats_every) && stats_every >= 0;
        } else {
            std::fprintf(stderr, "mqtt-fault-proxy: unknown option %s\n%s", arg.c_str(), usage);
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "mqtt-fault-proxy: invalid value '%s' for %s\n", value.c_str(), arg.c_str());
            return 2;
        }
    }
    if (!have_upstream) {
        std::fprintf(stderr, "mqtt-fault-proxy: --upstream is required\n%s", usage);
        return 2;
    }
    boost::asio::io_context io(1);
    mqtt::fault::proxy proxy(io.get_executor(), o);
    if (auto ec = proxy.start()) {
        std::fprintf(stderr, "mqtt-fault-proxy: cannot listen: %s\n", ec.message().c_str());
        return 1;
    }
    std::printf("listening on 127.0.0.1:%u, upstream %s:%u, seed %llu\n", proxy.port(), o.upstream_host.c_str(),
        o.upstream_port, static_cast<unsigned long long>(o.seed));
    std::fflush(stdout);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    boost::asio::steady_timer ticker(io);
    std::function<void()> tick = [&] {
        ticker.expires_after(std::chrono::milliseconds(static_cast<long>(stats_every * 1000)));
        ticker.async_wait([&](boost::system::error_code ec) {
            if (ec)
                return;
            print(proxy.stats());
            tick();
        });
    };
    if (stats_every > 0)
        tick();
    signals.async_wait([&](boost::system::error_code, int) {
        ticker.cancel();
        proxy.stop();
    });
    io.run();
    print(proxy.stats());
    return 0;
}

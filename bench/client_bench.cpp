// Publishes -n messages with mqtt::client, keeping -w publishes outstanding, and
// reports the rate and the CPU time spent; same workload as mosquitto-client-bench.
#include <unistd.h>

#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "bench_args.hpp"
#include "mqtt/client/client.hpp"

int main(int argc, char** argv)
{
    client_bench_args a;
    if (!parse_client_bench_args(argc, argv, a)) {
        std::fputs("usage: mqtt-client-bench [-h HOST] [-p PORT] [-q QOS] [-n COUNT] [-s BYTES] [-w WINDOW] [-V 5|311]\n",
            stderr);
        return 2;
    }
    boost::asio::io_context ioc;
    mqtt::client_options options;
    options.endpoint.host = a.host;
    options.endpoint.port = static_cast<std::uint16_t>(a.port);
    options.connect.version = a.version == 5 ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1;
    options.connect.client_id = "mqtt-bench-client-" + std::to_string(::getpid());
    options.reconnect.enabled = false;
    mqtt::client c(ioc.get_executor(), options);

    const std::string payload(static_cast<std::size_t>(a.size), 'x');
    const auto q = static_cast<mqtt::qos>(a.qos);
    long published = 0, completed = 0, errors = 0;
    bool connected = false, pumping = false;
    double t0 = 0, cpu0 = 0, elapsed = 0, cpu = 0;

    // Keeps `window` publishes outstanding; re-entered from completions.
    std::function<void()> pump = [&] {
        if (pumping)
            return;
        pumping = true;
        while (published < a.count && published - completed < a.window) {
            ++published;
            c.async_publish(a.topic, payload, q, [&](std::error_code ec, mqtt::publish_result) {
                ++completed;
                if (ec)
                    ++errors;
                if (completed == a.count) {
                    elapsed = bench_now() - t0;
                    cpu = bench_cpu() - cpu0;
                    c.async_disconnect([&](std::error_code) { c.stop(); });
                } else {
                    pump();
                }
            });
        }
        pumping = false;
    };
    c.async_connect([&](std::error_code ec, mqtt::connack) {
        if (ec) {
            std::fprintf(stderr, "mqtt-client-bench: connect: %s\n", ec.message().c_str());
            c.stop();
            return;
        }
        connected = true;
        t0 = bench_now();
        cpu0 = bench_cpu();
        pump();
    });
    ioc.run();
    if (!connected)
        return 1;
    print_client_bench_result("mqtt::client", a, completed, errors, elapsed, cpu);
    return completed == a.count && errors == 0 ? 0 : 1;
}

// Publishes -n messages with mqtt::client, keeping -w publishes outstanding, and
// reports the rate and the CPU time spent; same workload as mosquitto-client-bench.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

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
    // As an application publishing readings would: the topic built once and
    // shared, each payload copied from the caller's bytes (libmosquitto copies
    // it too).
    const mqtt::buffer topic(a.topic);
    long published = 0, completed = 0, errors = 0;
    bool connected = false, pumping = false;
    double t0 = 0, cpu0 = 0, elapsed = 0, cpu = 0;

    // Gives up after 120 s, as mosquitto-client-bench does.
    boost::asio::steady_timer deadline(ioc, std::chrono::seconds(120));
    auto finish = [&] {
        elapsed = bench_now() - t0;
        cpu = bench_cpu() - cpu0;
        deadline.cancel();
    };
    // Keeps `window` publishes outstanding; re-entered from completions. The
    // first error ends the run: a client that lost its connection for good would
    // hold further publishes in its offline queue.
    std::function<void()> pump = [&] {
        if (pumping)
            return;
        pumping = true;
        while (errors == 0 && published < a.count && published - completed < a.window) {
            ++published;
            mqtt::publish msg;
            msg.topic = topic;
            msg.payload = mqtt::buffer::copy(payload);
            msg.qos = q;
            c.async_publish(std::move(msg), [&](std::error_code ec, mqtt::publish_result) {
                ++completed;
                if (ec && errors++ == 0) {
                    std::fprintf(stderr, "mqtt-client-bench: publish: %s\n", ec.message().c_str());
                    finish();
                    c.stop();
                } else if (completed == a.count) {
                    finish();
                    c.async_disconnect([&](std::error_code) { c.stop(); });
                } else if (errors == 0) {
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
        deadline.async_wait([&](boost::system::error_code e) {
            if (e)
                return;
            std::fputs("mqtt-client-bench: not done within 120 s\n", stderr);
            ++errors;
            finish();
            c.stop();
        });
        pump();
    });
    ioc.run();
    if (!connected)
        return 1;
    print_client_bench_result("mqtt::client", a, completed, errors, elapsed, cpu);
    return completed == a.count && errors == 0 ? 0 : 1;
}

// Publishes -n messages with libmosquitto, keeping -w publishes outstanding, and
// reports the rate and the CPU time spent: the reference for mqtt-client-bench.
// Single thread (mosquitto_loop), as mqtt-client-bench uses one io_context thread.
#include <mosquitto.h>
#include <unistd.h>

#include <string>

#include "bench_args.hpp"

namespace {

struct state {
    bool connected = false;
    bool failed = false;
    long completed = 0;
};

void on_connect(mosquitto*, void* obj, int rc)
{
    auto* s = static_cast<state*>(obj);
    s->connected = rc == 0;
    s->failed = rc != 0;
}

void on_publish(mosquitto*, void* obj, int)
{
    ++static_cast<state*>(obj)->completed;
}

} // namespace

int main(int argc, char** argv)
{
    client_bench_args a;
    if (!parse_client_bench_args(argc, argv, a)) {
        std::fputs("usage: mosquitto-client-bench [-h HOST] [-p PORT] [-q QOS] [-n COUNT] [-s BYTES] [-w WINDOW] [-V 5|311]\n",
            stderr);
        return 2;
    }
    mosquitto_lib_init();
    state s;
    std::string id = "mosq-bench-" + std::to_string(::getpid());
    mosquitto* m = mosquitto_new(id.c_str(), true, &s);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, a.version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    if (mosquitto_connect(m, a.host.c_str(), a.port, 60) != MOSQ_ERR_SUCCESS) {
        std::fputs("mosquitto-client-bench: connect failed\n", stderr);
        return 1;
    }
    double deadline = bench_now() + 10;
    while (!s.connected && !s.failed && bench_now() < deadline)
        mosquitto_loop(m, 100, 1);
    if (!s.connected) {
        std::fputs("mosquitto-client-bench: no CONNACK\n", stderr);
        return 1;
    }
    std::string payload(static_cast<std::size_t>(a.size), 'x');
    long published = 0, errors = 0;
    double t0 = bench_now(), cpu0 = bench_cpu();
    deadline = t0 + 120;
    while (s.completed < a.count && bench_now() < deadline) {
        while (published < a.count && published - s.completed < a.window) {
            if (mosquitto_publish(m, nullptr, a.topic.c_str(), static_cast<int>(payload.size()), payload.data(), a.qos,
                    false) != MOSQ_ERR_SUCCESS)
                ++errors;
            ++published;
        }
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) {
            ++errors;
            break;
        }
    }
    double elapsed = bench_now() - t0, cpu = bench_cpu() - cpu0;
    mosquitto_disconnect(m);
    mosquitto_loop(m, 100, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    print_client_bench_result("libmosquitto", a, s.completed, errors, elapsed, cpu);
    return s.completed == a.count && errors == 0 ? 0 : 1;
}

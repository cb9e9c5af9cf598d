// mqtt-loadgen: a lean MQTT load generator (one thread, epoll, our codec).
// See docs/benchmarks.md.
#include <csignal>

#include "generator.hpp"
#include "options.hpp"

int main(int argc, char** argv)
{
    loadgen::options o;
    int code = 0;
    if (!loadgen::parse_options(argc, argv, o, code))
        return code;
    std::signal(SIGPIPE, SIG_IGN);
    loadgen::generator g(o);
    switch (o.mode) {
    case loadgen::mode::idle:
        return g.run_idle();
    case loadgen::mode::queue:
        return g.run_queue();
    case loadgen::mode::flow:
        break;
    }
    return g.run_flow();
}

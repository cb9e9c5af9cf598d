#include "options.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace loadgen {
namespace {

const char* usage =
    "mqtt-loadgen [-h HOST] [-p PORT] [-V 5|311] [--pub N] [--sub M] [-q 0|1|2] [-s BYTES]\n"
    "             [--window W] [--ack-window A] [--duration SEC | --count N] [--rate R] [--drain SEC]\n"
    "             [--prefix TOPIC] [--id-prefix ID]\n"
    "mqtt-loadgen --idle --clients N [-h HOST] [-p PORT]\n"
    "mqtt-loadgen --queue --count N [-s BYTES] [-h HOST] [-p PORT]\n"
    "Prints one line 'RESULT key=value ...' (flow), or 'PHASE name' lines and waits for a line\n"
    "on stdin after each (idle, queue), so a runner can sample the broker in between.\n";

template <class T>
bool number(std::string_view s, T& out)
{
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool real(const char* s, double& out)
{
    char* end = nullptr;
    out = std::strtod(s, &end);
    return end != s && *end == '\0' && out >= 0;
}

} // namespace

bool parse_options(int argc, char** argv, options& o, int& exit_code)
{
    exit_code = 2;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        bool ok = true;
        if (a == "--help") {
            std::fputs(usage, stdout);
            exit_code = 0;
            return false;
        } else if (a == "--idle") {
            o.mode = mode::idle;
        } else if (a == "--queue") {
            o.mode = mode::queue;
        } else if ((v = value()) == nullptr) {
            ok = false;
        } else if (a == "-h") {
            o.host = v;
        } else if (a == "-p") {
            ok = number(v, o.port);
        } else if (a == "-V") {
            std::string_view s = v;
            ok = s == "5" || s == "311";
            o.version = s == "5" ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1;
        } else if (a == "--pub") {
            ok = number(v, o.pubs) && o.pubs >= 1;
        } else if (a == "--sub") {
            ok = number(v, o.subs) && o.subs >= 0 && o.subs < 65535;
        } else if (a == "-q") {
            ok = number(v, o.qos) && o.qos >= 0 && o.qos <= 2;
        } else if (a == "-s") {
            ok = number(v, o.size) && o.size >= 20;
        } else if (a == "--window") {
            ok = number(v, o.window) && o.window >= 1 && o.window <= 16384;
        } else if (a == "--ack-window") {
            ok = number(v, o.ack_window) && o.ack_window <= 65535;
        } else if (a == "--duration") {
            ok = real(v, o.duration);
        } else if (a == "--count") {
            ok = number(v, o.count);
        } else if (a == "--rate") {
            ok = real(v, o.rate);
        } else if (a == "--drain") {
            ok = real(v, o.drain);
        } else if (a == "--clients") {
            ok = number(v, o.clients) && o.clients >= 1;
        } else if (a == "--prefix") {
            o.prefix = v;
        } else if (a == "--id-prefix") {
            o.id_prefix = v;
        } else {
            std::fprintf(stderr, "mqtt-loadgen: unknown option %s\n%s", argv[i], usage);
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "mqtt-loadgen: bad or missing value for %s\n", argv[i]);
            return false;
        }
    }
    if (o.id_prefix.empty())
        o.id_prefix = "lg-" + std::to_string(::getpid()) + "-";
    if (o.mode == mode::idle && o.clients == 0) {
        std::fputs("mqtt-loadgen: --idle needs --clients N\n", stderr);
        return false;
    }
    if (o.mode == mode::queue && o.count == 0) {
        std::fputs("mqtt-loadgen: --queue needs --count N\n", stderr);
        return false;
    }
    exit_code = 0;
    return true;
}

} // namespace loadgen

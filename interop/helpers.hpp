#pragma once
// Small helpers shared by the interop tests.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mosquitto.hpp"
#include "process.hpp"
#include "sync_client.hpp"

namespace interop {

inline std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline std::string version_arg(mqtt::protocol_version v)
{
    return v == mqtt::protocol_version::v5 ? "mqttv5" : "mqttv311";
}

inline std::string version_name(mqtt::protocol_version v)
{
    return v == mqtt::protocol_version::v5 ? "5.0" : "3.1.1";
}

// Lines of `text` that start with `prefix` (the prefix removed).
inline std::vector<std::string> lines_with(const std::string& text, const std::string& prefix)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        auto line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (line.compare(0, prefix.size(), prefix) == 0)
            out.push_back(line.substr(prefix.size()));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return out;
}

// mosquitto_sub running with -d, returned once its SUBACK arrived. Messages are
// printed as "MSG <format>".
inline std::unique_ptr<process> mosquitto_sub(const mosquitto& b, const std::string& listener,
    const std::vector<std::string>& args, const std::string& format = "%q %r %t %p")
{
    // stdbuf: mosquitto_sub buffers its output when it is not a terminal.
    auto argv = cat(cat({STDBUF_PATH, "-o0", programs::mosquitto_sub()}, b.tool_args(listener)), args);
    argv.insert(argv.end(), {"-d", "-F", "MSG " + format});
    auto p = std::make_unique<process>(argv);
    REQUIRE(p->started());
    bool ready = p->wait_for_output("received SUBACK", 10s);
    INFO("mosquitto_sub stdout: " << p->out() << "\nstderr: " << p->err() << "\nbroker log:\n" << (ready ? "" : b.log()));
    REQUIRE(ready);
    return p;
}

// mqtt-sub running with -d, returned once it is subscribed.
inline std::unique_ptr<process> mqtt_sub(const mosquitto& b, const std::string& listener, const std::vector<std::string>& args)
{
    auto argv = cat(cat({programs::mqtt_sub()}, b.tool_args(listener)), args);
    argv.push_back("-d");
    auto p = std::make_unique<process>(argv);
    REQUIRE(p->started());
    bool ready = p->wait_for_output("subscribed to", 10s, true);
    INFO("mqtt-sub stderr: " << p->err() << "\nbroker log:\n" << (ready ? "" : b.log()));
    REQUIRE(ready);
    return p;
}

// Waits for a subscriber process to end on its own (-C); returns its exit code.
inline int finish(process& p, std::chrono::milliseconds limit = 15s)
{
    auto code = p.wait(limit);
    if (!code) {
        UNSCOPED_INFO("process did not exit; stdout: " << p.out() << " stderr: " << p.err());
        return p.stop(1s) == 0 ? -1 : -2;
    }
    return *code;
}

#define REQUIRE_BROKER(b)              \
    do {                               \
        INFO("mosquitto: " << (b).error()); \
        REQUIRE((b).ok());             \
    } while (false)

} // namespace interop

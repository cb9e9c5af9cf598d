#pragma once
// Helpers of the tests against our own mqtt-broker (broker_*_test.cpp): the
// mosquitto_sub / mqtt-sub starters of helpers.hpp for our_broker, and running the
// Paho scripts of interop/paho.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "broker_process.hpp"
#include "helpers.hpp"

namespace interop {

#define REQUIRE_OUR_BROKER(b)                       \
    do {                                            \
        INFO("mqtt-broker: " << (b).error());      \
        REQUIRE((b).ok());                          \
    } while (false)

// mosquitto_sub running with -d, returned once its SUBACK arrived. Messages are
// printed as "MSG <format>".
inline std::unique_ptr<process> mosquitto_sub(const our_broker& b, const std::string& listener,
    const std::vector<std::string>& args, const std::string& format = "%q %r %t %p")
{
    auto argv = cat(cat({STDBUF_PATH, "-o0", programs::mosquitto_sub()}, b.tool_args(listener)), args);
    argv.insert(argv.end(), {"-d", "-F", "MSG " + format});
    auto p = std::make_unique<process>(argv);
    REQUIRE(p->started());
    bool ready = p->wait_for_output("received SUBACK", 10s);
    INFO("mosquitto_sub stdout: " << p->out() << "\nstderr: " << p->err() << "\nbroker log:\n" << (ready ? "" : b.log()));
    REQUIRE(ready);
    return p;
}

inline command_result mosquitto_pub(const our_broker& b, const std::string& listener, const std::vector<std::string>& args)
{
    return run(cat(cat({programs::mosquitto_pub()}, b.tool_args(listener)), args));
}

// Python with paho-mqtt importable (checked once).
inline bool have_paho()
{
    static const bool ok = run({our_programs::python(), "-c", "import paho.mqtt.client"}, 20s).code == 0;
    return ok;
}

// Catch2 2 has no SKIP: warn and leave the test (it passes) when Paho is missing.
#define SKIP_WITHOUT_PAHO()                                                                      \
    do {                                                                                         \
        if (!::interop::have_paho()) {                                                           \
            WARN("skipped: " << ::interop::our_programs::python() << " cannot import paho.mqtt"); \
            return;                                                                              \
        }                                                                                        \
    } while (false)

// Paho connection arguments for a listener ("tcp", "auth", "tls", "ws", "wss").
inline std::vector<std::string> paho_args(const our_broker& b, const std::string& listener)
{
    const auto& p = b.ports();
    const std::string ca = pki().ca_cert;
    if (listener == "auth")
        return {"--port", std::to_string(p.auth), "--user", test_user, "--password", test_password};
    if (listener == "tls")
        return {"--port", std::to_string(p.tls), "--ca", ca};
    if (listener == "ws")
        return {"--port", std::to_string(p.ws), "--transport", "websockets"};
    if (listener == "wss")
        return {"--port", std::to_string(p.wss), "--transport", "websockets", "--ca", ca};
    return {"--port", std::to_string(p.tcp)};
}

// Runs interop/paho/<script> (bounded); the script prints OK or FAIL: why.
inline command_result paho(const std::string& script, const std::vector<std::string>& args)
{
    return run(cat({our_programs::python(), our_programs::paho_script(script)}, args), 60s);
}

#define CHECK_PAHO_OK(b, r)                                                                        \
    do {                                                                                           \
        const auto& r_ = (r);                                                                      \
        INFO("paho stdout: " << r_.out << "\nstderr: " << r_.err << "\nbroker log tail:\n"         \
                             << ::interop::tail((b).log(), 3000));                                 \
        CHECK(r_.code == 0);                                                                       \
        CHECK(r_.out.find("OK") != std::string::npos);                                             \
    } while (false)

inline std::string tail(const std::string& s, std::size_t n)
{
    return s.size() <= n ? s : s.substr(s.size() - n);
}

inline std::string paho_version(mqtt::protocol_version v)
{
    return v == mqtt::protocol_version::v5 ? "5" : "3";
}

} // namespace interop

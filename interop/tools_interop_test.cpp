// mqtt-pub and mqtt-sub driving the same scenarios from the shell.
#include <csignal>

#include "helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

const char* versions[] = {"mqttv311", "mqttv5"};
const char* levels[] = {"0", "1", "2"};

command_result mqtt_pub(const mosquitto& b, const std::string& listener, const std::vector<std::string>& args)
{
    return run(cat(cat({programs::mqtt_pub()}, b.tool_args(listener)), args));
}

} // namespace

TEST_CASE("mqtt-pub -> mosquitto_sub: QoS 0/1/2, 3.1.1 and 5.0", "[interop][tools]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions)
        for (auto q : levels) {
            INFO(v << " QoS " << q);
            auto topic = std::string("tools/pub/") + v + "/" + q;
            auto sub = mosquitto_sub(b, "tcp", {"-V", v, "-q", q, "-t", topic, "-C", "2"});
            auto r = mqtt_pub(b, "tcp", {"-V", v, "-q", q, "-t", topic, "-m", "hello", "--repeat", "2"});
            INFO(r.err);
            CHECK(r.code == 0);
            CHECK(r.err.empty());
            CHECK(finish(*sub) == 0);
            CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>(2, std::string(q) + " 0 " + topic + " hello"));
        }
}

TEST_CASE("mosquitto_pub -> mqtt-sub: QoS 0/1/2, 3.1.1 and 5.0", "[interop][tools]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions)
        for (auto q : levels) {
            INFO(v << " QoS " << q);
            auto topic = std::string("tools/sub/") + v + "/" + q;
            auto sub = mqtt_sub(b, "tcp", {"-V", v, "-q", q, "-t", topic, "-C", "2", "-v"});
            for (auto payload : {"first", "second"}) {
                auto r = run(cat({programs::mosquitto_pub()}, cat(b.tool_args("tcp"), {"-V", v, "-q", q, "-t", topic, "-m", payload})));
                REQUIRE(r.code == 0);
            }
            CHECK(finish(*sub) == 0);
            CHECK(sub->out() == topic + " first\n" + topic + " second\n");
        }
}

TEST_CASE("mqtt-pub -> mqtt-sub over TLS, mutual TLS, WebSocket and secure WebSocket", "[interop][tools][tls][ws]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (std::string listener : {"tcp", "auth", "tls", "mtls", "ws", "wss"}) {
        INFO(listener);
        auto topic = "tools/transport/" + listener;
        auto sub = mqtt_sub(b, listener, {"-V", "5", "-q", "2", "-t", topic, "-C", "1", "-F", "%q %t %p"});
        auto r = mqtt_pub(b, listener, {"-V", "5", "-q", "2", "-t", topic, "-m", "via-" + listener});
        INFO(r.err);
        CHECK(r.code == 0);
        CHECK(finish(*sub) == 0);
        CHECK(sub->out() == "2 " + topic + " via-" + listener + "\n");
    }
}

TEST_CASE("mqtt-pub -r retains, and a later mqtt-sub sees the retain flag", "[interop][tools][retain]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    REQUIRE(mqtt_pub(b, "tcp", {"-t", "tools/retained", "-m", "kept", "-r", "-q", "1"}).code == 0);
    auto r = run(cat(cat({programs::mqtt_sub()}, b.tool_args("tcp")), {"-t", "tools/retained", "-C", "1", "-F", "%r %p"}));
    CHECK(r.code == 0);
    CHECK(r.out == "1 kept\n");
    // -R skips it (stale); --retained-only stops at the first live message.
    auto ro = run(cat(cat({programs::mqtt_sub()}, b.tool_args("tcp")), {"-t", "tools/retained", "--retained-only"}), 10s);
    CHECK(ro.code == 0);
}

TEST_CASE("mqtt-sub killed abruptly: its will is published, and mqtt-pub 5.0 properties reach mosquitto_sub", "[interop][tools][will][properties]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    auto watcher = mosquitto_sub(b, "tcp", {"-V", "mqttv5", "-t", "tools/will", "-C", "1"}, "%t %p|%C");
    auto victim = mqtt_sub(b, "tcp", {"-V", "5", "-t", "tools/nothing", "--will-topic", "tools/will", "--will-payload",
        "vanished", "--will-qos", "1", "-D", "will", "content-type", "text/plain"});
    victim->signal(SIGKILL);
    CHECK(finish(*watcher) == 0);
    CHECK(lines_with(watcher->out(), "MSG ") == std::vector<std::string>{"tools/will vanished|text/plain"});

    auto props = mosquitto_sub(b, "tcp", {"-V", "mqttv5", "-t", "tools/props", "-C", "1"}, "%p|%C|%R|%D|%P");
    auto r = mqtt_pub(b, "tcp", {"-V", "mqttv5", "-t", "tools/props", "-m", "body", "-q", "1", "-D", "publish",
        "user-property", "a", "b", "-D", "publish", "content-type", "text/x", "-D", "publish", "response-topic", "rt",
        "-D", "publish", "correlation-data", "cd", "-D", "publish", "message-expiry-interval", "100"});
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(finish(*props) == 0);
    CHECK(lines_with(props->out(), "MSG ") == std::vector<std::string>{"body|text/x|rt|cd|a:b"});
}

TEST_CASE("mqtt-sub -c keeps a session: QoS 1 messages sent while it is away arrive", "[interop][tools][session]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    for (auto v : versions) {
        INFO(v);
        auto id = std::string("tools-persist-") + v;
        auto topic = std::string("tools/persist/") + v;
        auto first = run(cat(cat({programs::mqtt_sub()}, b.tool_args("tcp")), {"-V", v, "-c", "-i", id, "-q", "1", "-t", topic, "-E"}));
        REQUIRE(first.code == 0);
        for (auto m : {"a", "b", "c"})
            REQUIRE(mqtt_pub(b, "tcp", {"-V", v, "-q", "1", "-t", topic, "-m", m}).code == 0);
        auto back = run(cat(cat({programs::mqtt_sub()}, b.tool_args("tcp")), {"-V", v, "-c", "-i", id, "-q", "1", "-t", topic, "-C", "3"}));
        CHECK(back.code == 0);
        CHECK(back.out == "a\nb\nc\n");
    }
}

TEST_CASE("Tools report errors in one line and exit non-zero", "[interop][tools][errors]")
{
    mosquitto b;
    REQUIRE_BROKER(b);
    auto count_lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
    // Wrong password: refused, not retried.
    auto bad = run({programs::mqtt_pub(), "-h", "127.0.0.1", "-p", std::to_string(b.ports().auth), "-u", test_user, "-P",
        "wrong", "-t", "t", "-m", "x"});
    CHECK(bad.code != 0);
    CHECK(count_lines(bad.err) == 1);
    CHECK(bad.err.find("refused") != std::string::npos);
    // No credentials on the password listener.
    auto anon = run({programs::mqtt_sub(), "-h", "127.0.0.1", "-p", std::to_string(b.ports().auth), "-t", "t", "-V", "5"});
    CHECK(anon.code != 0);
    CHECK(count_lines(anon.err) == 1);
    // TLS to a listener whose certificate does not match the name: rejected.
    auto mismatch = run({programs::mqtt_pub(), "-L", "mqtts://127.0.0.1:" + std::to_string(b.ports().tls), "--cafile",
        pki().ca_cert, "-t", "t", "-m", "x"});
    CHECK(mismatch.code == 0); // 127.0.0.1 is in the certificate
    auto wrong_ca = run({programs::mqtt_pub(), "-h", "localhost", "-p", std::to_string(b.ports().tls), "--cafile",
        pki().client_cert, "-t", "t", "-m", "x"});
    CHECK(wrong_ca.code != 0);
    CHECK(count_lines(wrong_ca.err) == 1);
    // Nothing listening.
    auto closed = run({programs::mqtt_pub(), "-h", "127.0.0.1", "-p", std::to_string(free_port()), "-t", "t", "-m", "x"});
    CHECK(closed.code != 0);
    CHECK(count_lines(closed.err) == 1);
}

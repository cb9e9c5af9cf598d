// mqtt-pub / mqtt-sub / mqtt-bench as processes: usage errors, and the exact
// packets their flags produce, checked by the in-process fake broker.
#include <algorithm>

#include "fake_broker.hpp"
#include "process.hpp"

#if defined(MQTT_PUB_PATH) && defined(MQTT_SUB_PATH)

using namespace mqtt;
using namespace mqtt::test;

namespace {

const std::string pub = MQTT_PUB_PATH;
const std::string sub = MQTT_SUB_PATH;
const std::string bench = MQTT_BENCH_PATH;

long lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// Runs the fake broker until the tool exits.
int run_tool(harness& h, interop::process& p)
{
    REQUIRE(p.started());
    h.run_until([&] { return !p.running(); }, 20s);
    auto code = p.wait(0ms);
    REQUIRE(code.has_value());
    return *code;
}

std::vector<std::string> at(harness& h, std::vector<std::string> args)
{
    args.insert(args.begin() + 1, {"-h", "127.0.0.1", "-p", std::to_string(h.broker.port())});
    return args;
}

} // namespace

TEST_CASE("Tools: --help documents the flags and exits 0", "[system][tools]")
{
    for (auto& tool : {pub, sub, bench}) {
        auto r = interop::run({tool, "--help"});
        CHECK(r.code == 0);
        CHECK(r.out.find("Usage:") != std::string::npos);
        CHECK(r.out.find("--cafile") != std::string::npos);
        CHECK(r.err.empty());
    }
    auto p = interop::run({pub, "--help"});
    for (auto flag : {"-t", "-m", "-f", "-l", "-n", "-s", "-q", "-r", "-i", "-I", "-k", "-u", "-P", "-V", "-D", "-x", "-c",
             "--will-topic", "--will-payload", "--will-qos", "--will-retain", "--insecure", "--cert", "--key", "--capath", "-L"})
        CHECK(p.out.find(flag) != std::string::npos);
    auto s = interop::run({sub, "--help"});
    for (auto flag : {"-C", "-W", "-v", "-N", "-R", "-E", "-F"})
        CHECK(s.out.find(flag) != std::string::npos);
}

TEST_CASE("Tools: usage errors are one line on stderr and a non-zero exit", "[system][tools]")
{
    std::vector<std::vector<std::string>> bad = {
        {pub, "--bogus"},
        {pub, "-t", "a/b"},                          // no message
        {pub, "-m", "x"},                            // no topic
        {pub, "-t", "a/+", "-m", "x"},               // wildcard in a topic name
        {pub, "-t", "a", "-m", "x", "-q", "3"},
        {pub, "-t", "a", "-m", "x", "-x", "60"},     // session expiry needs 5.0
        {pub, "-t", "a", "-m", "x", "-V", "mqttv31"},
        {pub, "-t", "a", "-m", "x", "-D", "publish", "no-such-property", "1"},
        {pub, "-t", "a", "-m", "x", "-V", "5", "-D", "subscribe", "content-type", "x"},
        {pub, "-t", "a", "-m", "x", "-p"},            // missing value
        {pub, "-t", "a", "-m", "x", "-p", "70000"},
        {pub, "-t", "a", "-m", "x", "--will-payload", "w"},
        {pub, "-t", "a", "-m", "x", "-f", "/nonexistent/file"},
        {pub, "-t", "a", "-m", "x", "-C", "1"},       // a mqtt-sub option
        {sub, "-t", "a/#/b"},
        {sub},
        {sub, "-t", "a", "--nl"},                     // 5.0 only
        {sub, "-t", "a", "-m", "x"},
        {bench, "--pub", "0"},
        {bench, "-q", "0,3"},
    };
    for (auto& args : bad) {
        auto r = interop::run(args);
        INFO((args.size() > 1 ? args[1] : args[0]));
        INFO("stderr: " << r.err);
        CHECK(r.code != 0);
        CHECK(lines(r.err) == 1);
        CHECK(r.out.empty());
    }
}

TEST_CASE("mqtt-pub: flags become the CONNECT and PUBLISH fields (5.0)", "[system][tools][v5]")
{
    harness h;
    mqtt::connect c;
    mqtt::publish p;
    mqtt::disconnect d;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session({}, &c);
        p = co_await conn.expect<mqtt::publish>();
        co_await conn.send(pubrec{p.packet_id, reason_code::success, {}});
        auto rel = co_await conn.expect<pubrel>();
        co_await conn.send(pubcomp{rel.packet_id, reason_code::success, {}});
        d = co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    interop::process tool(at(h, {pub, "-V", "mqttv5", "-i", "tool-1", "-k", "33", "-u", "bob", "-P", "secret", "-c", "-x",
        "120", "-t", "tools/x", "-m", "payload", "-q", "2", "-r", "--will-topic", "tools/will", "--will-payload", "bye",
        "--will-qos", "1", "--will-retain", "-D", "will", "will-delay-interval", "7", "-D", "connect", "user-property",
        "site", "lab", "-D", "connect", "receive-maximum", "10", "-D", "publish", "content-type", "text/plain", "-D",
        "publish", "user-property", "k", "v", "-D", "publish", "correlation-data", "c1", "-D", "publish",
        "response-topic", "tools/reply", "-D", "publish", "message-expiry-interval", "60", "-D", "disconnect",
        "user-property", "why", "done"}));
    CHECK(run_tool(h, tool) == 0);
    h.finish();
    INFO(tool.err());
    CHECK(tool.err().empty());
    CHECK(c.version == protocol_version::v5);
    CHECK(c.client_id == "tool-1");
    CHECK(c.keep_alive == 33);
    CHECK(c.username == std::optional<std::string>("bob"));
    CHECK(c.password == std::optional<std::string>("secret"));
    CHECK_FALSE(c.clean_start);
    CHECK(c.props.get_integer(property_id::session_expiry_interval) == 120u);
    CHECK(c.props.get_integer(property_id::receive_maximum) == 10u);
    REQUIRE(c.props.user_properties().size() == 1);
    REQUIRE(c.will.has_value());
    CHECK(c.will->topic == "tools/will");
    CHECK(c.will->payload == "bye");
    CHECK(c.will->qos == qos::at_least_once);
    CHECK(c.will->retain);
    CHECK(c.will->props.get_integer(property_id::will_delay_interval) == 7u);
    CHECK(p.topic == "tools/x");
    CHECK(p.payload == "payload");
    CHECK(p.qos == qos::exactly_once);
    CHECK(p.retain);
    CHECK(p.props.get_string(property_id::content_type) == "text/plain");
    CHECK(p.props.get_string(property_id::correlation_data) == "c1");
    CHECK(p.props.get_string(property_id::response_topic) == "tools/reply");
    CHECK(p.props.get_integer(property_id::message_expiry_interval) == 60u);
    REQUIRE(p.props.user_properties().size() == 1);
    REQUIRE(d.props.user_properties().size() == 1);
    CHECK(d.props.user_properties()[0].value == "done");
}

TEST_CASE("mqtt-pub -l publishes each stdin line, -n an empty payload (3.1.1)", "[system][tools][v311]")
{
    harness h;
    std::vector<std::string> payloads;
    mqtt::connect c;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session({}, &c);
        for (int i = 0; i < 3; ++i) {
            auto p = co_await conn.expect<mqtt::publish>();
            payloads.push_back(p.payload.str());
            co_await conn.send(puback{p.packet_id, reason_code::success, {}});
        }
        (void)co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    interop::process tool(at(h, {pub, "-t", "lines", "-l", "-q", "1", "-I", "pre-"}), "one\ntwo\nthree\n");
    CHECK(run_tool(h, tool) == 0);
    h.finish();
    CHECK(c.version == protocol_version::v3_1_1);
    CHECK(c.client_id.rfind("pre-", 0) == 0);
    CHECK(c.clean_start);
    CHECK(payloads == std::vector<std::string>{"one", "two", "three"});

    harness h2;
    mqtt::publish empty;
    h2.spawn([&]() -> awaitable<void> {
        auto conn = co_await h2.broker.accept_session();
        empty = co_await conn.expect<mqtt::publish>();
        (void)co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    interop::process tool2(at(h2, {pub, "-t", "nothing", "-n"}));
    CHECK(run_tool(h2, tool2) == 0);
    h2.finish();
    CHECK(empty.payload.empty());
    CHECK(empty.topic == "nothing");
}

TEST_CASE("mqtt-pub: a refused CONNECT is one line on stderr and exit 1", "[system][tools]")
{
    harness h;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept();
        (void)co_await conn.expect<mqtt::connect>();
        co_await conn.send(connack{false, reason_code::not_authorized, {}});
        CHECK_CLOSED(conn);
    });
    interop::process tool(at(h, {pub, "-V", "5", "-t", "t", "-m", "x"}));
    CHECK(run_tool(h, tool) == 1);
    h.finish();
    CHECK(lines(tool.err()) == 1);
    CHECK(tool.err().find("refused") != std::string::npos);
    CHECK(tool.err().find("Not authorized") != std::string::npos);
}

TEST_CASE("mqtt-sub: subscription options, -v output, -C count, then DISCONNECT", "[system][tools][v5]")
{
    harness h;
    mqtt::subscribe s;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        s = co_await conn.expect<mqtt::subscribe>();
        suback ack{s.packet_id, {reason_code::granted_qos_1, reason_code::granted_qos_1}, {}};
        co_await conn.send(ack);
        mqtt::publish m;
        m.topic = buffer("a/1");
        m.payload = buffer("first");
        m.qos = qos::at_least_once;
        m.packet_id = 1;
        co_await conn.send(m);
        (void)co_await conn.expect<puback>();
        m.topic = buffer("b/2");
        m.payload = buffer("second");
        m.packet_id = 2;
        m.retain = true;
        co_await conn.send(m);
        (void)co_await conn.expect<puback>();
        (void)co_await conn.expect<mqtt::disconnect>();
        CHECK_CLOSED(conn);
    });
    interop::process tool(at(h, {sub, "-V", "5", "-t", "a/#", "-t", "b/+", "-q", "1", "--nl", "--rap", "--retain-handling",
        "2", "-v", "-C", "2"}));
    CHECK(run_tool(h, tool) == 0);
    h.finish();
    CHECK(tool.out() == "a/1 first\nb/2 second\n");
    REQUIRE(s.subscriptions.size() == 2);
    CHECK(s.subscriptions[0].filter == "a/#");
    CHECK(s.subscriptions[1].filter == "b/+");
    for (auto& f : s.subscriptions) {
        CHECK(f.options.qos == qos::at_least_once);
        CHECK(f.options.no_local);
        CHECK(f.options.retain_as_published);
        CHECK(f.options.retain_handling == retain_handling::do_not_send);
    }
}

TEST_CASE("mqtt-sub: every subscription refused is an error", "[system][tools]")
{
    harness h;
    h.spawn([&]() -> awaitable<void> {
        auto conn = co_await h.broker.accept_session();
        auto s = co_await conn.expect<mqtt::subscribe>();
        suback ack{s.packet_id, {reason_code::not_authorized}, {}};
        co_await conn.send(ack);
        (void)co_await conn.receive(); // DISCONNECT or close
    });
    interop::process tool(at(h, {sub, "-V", "5", "-t", "secret/#"}));
    CHECK(run_tool(h, tool) == 1);
    h.finish();
    CHECK(tool.err().find("denied") != std::string::npos);
}

#endif

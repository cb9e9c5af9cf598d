// Our mqtt-broker as a program: the README flow (no configuration, -p), IPv6,
// password files of both tools, SIGHUP reload, mosquitto clients under an ACL.
#include <algorithm>
#include <cctype>
#include <thread>

#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

TEST_CASE("README flow: mqtt-broker -p PORT without a configuration, mosquitto_pub and mosquitto_sub", "[interop][broker][system]")
{
    std::unique_ptr<process> broker;
    std::uint16_t port = 0;
    for (int attempt = 0; attempt < 5 && !broker; ++attempt) {
        port = free_port();
        REQUIRE(port != 0);
        broker = std::make_unique<process>(std::vector<std::string>{our_programs::broker(), "-p", std::to_string(port)});
        REQUIRE(broker->started());
        bool up = false;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!up && broker->running() && std::chrono::steady_clock::now() < deadline)
            up = wait_port(port, 100ms);
        if (!up) {
            UNSCOPED_INFO("attempt " << attempt << ": " << broker->err());
            broker.reset();
        }
    }
    REQUIRE(broker);
    const std::vector<std::string> at{"-h", "127.0.0.1", "-p", std::to_string(port)};
    auto sub = std::make_unique<process>(cat(cat({STDBUF_PATH, "-o0", programs::mosquitto_sub()}, at),
        {"-t", "demo/#", "-q", "1", "-v", "-C", "1", "-d"}));
    REQUIRE(sub->wait_for_output("received SUBACK", 10s));
    auto pub = run(cat(cat({programs::mosquitto_pub()}, at), {"-t", "demo/hello", "-m", "world", "-q", "1"}));
    INFO(pub.err << broker->err());
    CHECK(pub.code == 0);
    CHECK(finish(*sub) == 0);
    CHECK(lines_with(sub->out(), "demo/") == std::vector<std::string>{"hello world"});
    // Local only: -p listens on 127.0.0.1, not on [::1].
    if (have_ipv6_loopback())
        CHECK_FALSE(wait_port_v6(port, 200ms));
    // SIGTERM stops it cleanly.
    CHECK(broker->stop(5s) == 0);
}

TEST_CASE("IPv6: a listener on ::1 serves our client and mosquitto_pub/sub", "[interop][broker][system][ipv6]")
{
    if (!have_ipv6_loopback()) {
        WARN("skipped: no IPv6 loopback (::1) on this machine");
        return;
    }
    our_broker b(our_broker_options{{}, false, true, {}});
    REQUIRE_OUR_BROKER(b);
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v));
        auto topic = "broker/ipv6/" + version_arg(v);
        auto sub = mosquitto_sub(b, "ipv6", {"-V", version_arg(v), "-q", "1", "-t", topic, "-C", "2"});
        sync_client c(b.options("ipv6", v));
        auto [ec, ack] = c.connect();
        INFO(ec.message());
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(std::get<0>(c.publish(topic, "from-client", qos::at_least_once)));
        CHECK_FALSE(c.disconnect());
        REQUIRE(mosquitto_pub(b, "ipv6", {"-V", version_arg(v), "-q", "1", "-t", topic, "-m", "from-tool"}).code == 0);
        CHECK(finish(*sub) == 0);
        CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"1 0 " + topic + " from-client", "1 0 " + topic + " from-tool"});
    }
}

TEST_CASE("Password files made by mqtt-passwd and by mosquitto_passwd both work", "[interop][broker][system][auth]")
{
    for (bool made_by_mosquitto : {false, true}) {
        INFO((made_by_mosquitto ? "mosquitto_passwd" : "mqtt-passwd"));
        our_broker b(our_broker_options{{}, made_by_mosquitto, false, {}});
        REQUIRE_OUR_BROKER(b);
        for (const char* v : {"mqttv311", "mqttv5"}) {
            INFO(v);
            auto sub = mosquitto_sub(b, "auth", {"-V", v, "-t", "auth/t", "-C", "1"});
            auto ok = mosquitto_pub(b, "auth", {"-V", v, "-t", "auth/t", "-m", "in"});
            INFO(ok.err);
            CHECK(ok.code == 0);
            CHECK(finish(*sub) == 0);
            auto bad = run({programs::mosquitto_pub(), "-h", "127.0.0.1", "-p", std::to_string(b.ports().auth), "-V", v,
                "-u", test_user, "-P", "wrong", "-t", "auth/t", "-m", "x"});
            CHECK(bad.code != 0);
            auto err = bad.err;
            std::transform(err.begin(), err.end(), err.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            CHECK(err.find("bad user name or password") != std::string::npos); // 4 / 0x86
        }
    }
}

TEST_CASE("SIGHUP reloads the password file and keeps connections up", "[interop][broker][system][reload]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    sync_client old_conn(b.options("auth"));
    REQUIRE_FALSE(std::get<0>(old_conn.connect()));
    REQUIRE_FALSE(std::get<0>(old_conn.subscribe("reload/#", qos::at_least_once)));

    auto changed = run({our_programs::passwd(), "-b", b.password_file(), test_user, "new-secret"});
    INFO(changed.err);
    REQUIRE(changed.code == 0);
    b.reload();

    // The reload is asynchronous: poll (bounded) until the new password is accepted.
    auto with = [&](const char* password) {
        auto o = b.options("auth");
        o.connect.password = password;
        return o;
    };
    std::error_code ec = make_error_code(reason_code::bad_user_name_or_password);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (ec && std::chrono::steady_clock::now() < deadline) {
        sync_client probe(with("new-secret"));
        ec = std::get<0>(probe.connect());
        if (!ec)
            CHECK_FALSE(probe.disconnect());
        else
            std::this_thread::sleep_for(100ms);
    }
    INFO("broker log:\n" << tail(b.log(), 3000));
    REQUIRE_FALSE(ec);
    sync_client stale(with(test_password));
    CHECK(std::get<0>(stale.connect()) == make_error_code(reason_code::bad_user_name_or_password));

    // The connection made before the reload still works.
    sync_client pub(with("new-secret"));
    REQUIRE_FALSE(std::get<0>(pub.connect()));
    REQUIRE_FALSE(std::get<0>(pub.publish("reload/after", "still connected", qos::at_least_once)));
    REQUIRE(old_conn.wait_messages(1, 10s));
    CHECK(old_conn.messages().front().payload == "still connected");
    auto ev = old_conn.events();
    CHECK(std::none_of(ev.begin(), ev.end(), [](auto& e) { return e.kind == connection_event_kind::disconnected; }));
    CHECK(b.running());
}

TEST_CASE("mosquitto_pub/sub under an ACL file: denied reads are not delivered, denied writes are dropped", "[interop][broker][system][acl]")
{
    // Anonymous clients may not touch acl/open/secret; alice may write it.
    our_broker b(our_broker_options{"topic readwrite acl/open/#\ntopic deny acl/open/secret\ntopic read acl/ro/#\n"
                                    "user alice\ntopic write acl/open/secret\n",
        false, false, {}});
    REQUIRE_OUR_BROKER(b);
    for (const char* v : {"mqttv311", "mqttv5"}) {
        INFO(v);
        auto sub = mosquitto_sub(b, "tcp", {"-V", v, "-q", "1", "-t", "acl/open/#", "-t", "acl/ro/#", "-C", "1"}, "%t %p");
        // Write denied (read-only topic): dropped (3.1.1), PUBACK 0x87 (5.0).
        auto denied = mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", "acl/ro/x", "-m", "no"});
        if (std::string(v) == "mqttv5")
            CHECK(denied.err.find("Publish 1 failed: Not authorized") != std::string::npos);
        // Read denied: alice's message is not delivered to the anonymous subscriber.
        auto secret = mosquitto_pub(b, "auth", {"-V", v, "-q", "1", "-t", "acl/open/secret", "-m", "hidden"});
        INFO(secret.err);
        REQUIRE(secret.code == 0);
        CHECK(secret.err.empty());
        REQUIRE(mosquitto_pub(b, "tcp", {"-V", v, "-q", "1", "-t", "acl/open/ok", "-m", "shown"}).code == 0);
        CHECK(finish(*sub) == 0);
        CHECK(lines_with(sub->out(), "MSG ") == std::vector<std::string>{"acl/open/ok shown"});
        // A subscription to a topic with no read rule is refused in SUBACK.
        auto refused = run(cat(cat({programs::mosquitto_sub()}, b.tool_args("tcp")), {"-V", v, "-t", "other/x", "-C", "1", "-W", "5"}));
        CHECK(refused.err.find("All subscription requests were denied") != std::string::npos);
    }
}

TEST_CASE("SIGHUP with a broken password file keeps the files in use", "[interop][broker][system][reload]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    write_file(b.password_file(), "alice-without-a-hash\n");
    b.reload();
    bool reported = false;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!reported && std::chrono::steady_clock::now() < deadline) {
        reported = b.err().find("reload failed") != std::string::npos;
        if (!reported)
            std::this_thread::sleep_for(50ms);
    }
    INFO("stderr: " << b.err());
    CHECK(reported);
    CHECK(b.running());
    sync_client c(b.options("auth"));
    CHECK_FALSE(std::get<0>(c.connect()));
}

// Our mqtt-broker with per_listener_settings true and a different acl_file on each
// listener (as Mosquitto allows): SUBSCRIBE refused on one listener and granted on
// the other (0x80 for 3.1.1, 0x87 for 5.0 on the wire), deliveries the listener's
// ACL refuses never reach its clients, an offline session keeps the ACL of its last
// listener, a listener without a file uses the global one, and SIGHUP reloads all.
#include <csignal>
#include <thread>

#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

// open: everything under lacl/; strict: read lacl/ except lacl/secret/, write
// lacl/public/ only; the third listener names no file and gets the global one.
constexpr const char* open_acl = "topic readwrite lacl/#\n";
constexpr const char* strict_acl = "topic read lacl/#\ntopic deny lacl/secret/#\ntopic write lacl/public/#\n";
constexpr const char* global_acl = "topic readwrite lacl/global/#\n";

class listener_acl_broker {
public:
    std::uint16_t open = 0, strict = 0, fallback = 0;

    listener_acl_broker() : dir_("mqtt-listener-acl")
    {
        write_file(file("open.acl"), open_acl);
        write_file(file("strict.acl"), strict_acl);
        write_file(file("global.acl"), global_acl);
        // A port found free may be taken before the broker binds it: retry.
        for (int attempt = 0; attempt < 5 && !ok(); ++attempt)
            start();
    }

    bool ok() const noexcept { return up_; }
    std::string file(const std::string& name) const { return dir_.file(name); }
    std::string log() const { return read_file(file("broker.log")); }
    std::string err() const { return proc_ ? proc_->err() : std::string(); }
    bool running() { return proc_ && proc_->running(); }
    void reload() { proc_->signal(SIGHUP); }

    mqtt::client_options options(std::uint16_t port, protocol_version v, const std::string& id = {}) const
    {
        mqtt::client_options o;
        o.endpoint.host = "127.0.0.1";
        o.endpoint.port = port;
        o.connect.version = v;
        o.connect.client_id = id;
        o.connect.keep_alive = 30;
        o.connect.connect_timeout = 10s;
        o.reconnect.enabled = false;
        return o;
    }

    std::vector<std::string> tool_args(std::uint16_t port) const { return {"-h", "127.0.0.1", "-p", std::to_string(port)}; }

private:
    void start()
    {
        open = free_port();
        strict = free_port();
        fallback = free_port();
        if (open == 0 || strict == 0 || fallback == 0 || open == strict || strict == fallback || open == fallback)
            return;
        auto listener = [](std::uint16_t port) {
            return "\nlistener " + std::to_string(port) + " 127.0.0.1\nallow_anonymous true\n";
        };
        write_file(file("broker.conf"),
            "per_listener_settings true\nlog_dest file " + file("broker.log") + "\nlog_type all\n"
            "acl_file " + file("global.acl") + "\n"
            + listener(open) + "acl_file " + file("open.acl") + "\n"
            + listener(strict) + "acl_file " + file("strict.acl") + "\n"
            + listener(fallback));
        if (proc_)
            proc_->stop(2s);
        proc_ = std::make_unique<process>(std::vector<std::string>{our_programs::broker(), "-c", file("broker.conf")});
        if (!proc_->started())
            return;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        for (auto port : {open, strict, fallback}) {
            bool listening = false;
            while (!listening && proc_->running() && std::chrono::steady_clock::now() < deadline)
                listening = wait_port(port, 100ms);
            if (!listening) {
                UNSCOPED_INFO("mqtt-broker did not listen on " << port << ": " << proc_->err());
                return;
            }
        }
        up_ = true;
    }

    temp_dir dir_;
    std::unique_ptr<process> proc_;
    bool up_ = false;
};

#define REQUIRE_LISTENER_ACL_BROKER(b)                    \
    do {                                                  \
        INFO("mqtt-broker stderr: " << (b).err());        \
        REQUIRE((b).ok());                                \
    } while (false)

// mosquitto_sub -d on a port, returned once its SUBACK arrived.
std::unique_ptr<process> sub_on(const listener_acl_broker& b, std::uint16_t port, const std::vector<std::string>& args)
{
    auto argv = cat(cat({STDBUF_PATH, "-o0", programs::mosquitto_sub()}, b.tool_args(port)), args);
    argv.insert(argv.end(), {"-d", "-F", "MSG %t %p"});
    auto p = std::make_unique<process>(argv);
    REQUIRE(p->started());
    const bool ready = p->wait_for_output("received SUBACK", 10s);
    INFO("mosquitto_sub stdout: " << p->out() << "\nstderr: " << p->err());
    REQUIRE(ready);
    return p;
}

command_result pub_on(const listener_acl_broker& b, std::uint16_t port, const std::vector<std::string>& args)
{
    return run(cat(cat({programs::mosquitto_pub()}, b.tool_args(port)), args));
}

std::vector<reason_code> subscribe_codes(sync_client& c, const std::string& filter)
{
    auto [ec, result] = c.subscribe(filter, qos::at_least_once);
    INFO(filter << ": " << ec.message());
    REQUIRE_FALSE(ec);
    return result.codes;
}

std::vector<std::string> topics(sync_client& c)
{
    std::vector<std::string> out;
    for (auto& m : c.messages())
        out.emplace_back(m.topic.view());
    return out;
}

const std::vector<reason_code> granted{reason_code::granted_qos_1};

} // namespace

TEST_CASE("Per-listener acl_file: mosquitto_sub sees SUBACK 0x80 (3.1.1) / 0x87 (5.0) on one listener and a grant on "
          "the other, and denied messages never reach it",
    "[interop][broker][acl][listener]")
{
    listener_acl_broker b;
    REQUIRE_LISTENER_ACL_BROKER(b);
    for (const std::string v : {"mqttv311", "mqttv5"}) {
        INFO("protocol " << v << "\nbroker log:\n" << tail(b.log(), 3000));
        const std::string refused = v == "mqttv5" ? "135" : "128";
        // -C 2: public/x and public/end; a leaked secret message would be one of them.
        auto strict = sub_on(b, b.strict, {"-V", v, "-q", "1", "-t", "lacl/secret/#", "-t", "lacl/#", "-C", "2"});
        auto open = sub_on(b, b.open, {"-V", v, "-q", "1", "-t", "lacl/secret/#", "-t", "lacl/#", "-C", "3"});
        CHECK(strict->out().find("Subscribed (mid: 1): " + refused + ", 1") != std::string::npos);
        CHECK(open->out().find("Subscribed (mid: 1): 1, 1") != std::string::npos);
        for (const char* topic : {"lacl/public/x", "lacl/secret/x", "lacl/public/end"}) {
            auto r = pub_on(b, b.open, {"-V", v, "-q", "1", "-t", topic, "-m", "m"});
            INFO(r.err);
            REQUIRE(r.code == 0);
        }
        CHECK(finish(*strict) == 0);
        CHECK(finish(*open) == 0);
        CHECK(lines_with(strict->out(), "MSG ") == std::vector<std::string>{"lacl/public/x m", "lacl/public/end m"});
        CHECK(lines_with(open->out(), "MSG ")
            == std::vector<std::string>{"lacl/public/x m", "lacl/secret/x m", "lacl/public/end m"});
        // The strict listener may not publish outside lacl/public/ (5.0 says so in PUBACK).
        auto denied = pub_on(b, b.strict, {"-V", v, "-q", "1", "-t", "lacl/secret/y", "-m", "no"});
        if (v == "mqttv5")
            CHECK(denied.err.find("Not authorized") != std::string::npos);
    }
}

TEST_CASE("Per-listener acl_file with our client: reason codes, a listener without a file uses the global one",
    "[interop][broker][acl][listener]")
{
    listener_acl_broker b;
    REQUIRE_LISTENER_ACL_BROKER(b);
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v) << "\nbroker log:\n" << tail(b.log(), 3000));
        const auto refused = std::vector<reason_code>{v == protocol_version::v5 ? reason_code::not_authorized
                                                                                 : reason_code::unspecified_error};
        sync_client open(b.options(b.open, v));
        sync_client strict(b.options(b.strict, v));
        sync_client fallback(b.options(b.fallback, v));
        for (auto* c : {&open, &strict, &fallback})
            REQUIRE_FALSE(std::get<0>(c->connect()));
        CHECK(subscribe_codes(open, "lacl/secret/#") == granted);
        CHECK(subscribe_codes(strict, "lacl/secret/#") == refused);
        CHECK(subscribe_codes(fallback, "lacl/secret/#") == refused);
        CHECK(subscribe_codes(fallback, "lacl/global/#") == granted);
        CHECK(subscribe_codes(strict, "lacl/#") == granted);

        REQUIRE_FALSE(std::get<0>(open.publish("lacl/secret/a", "s", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(open.publish("lacl/global/a", "g", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(open.publish("lacl/public/a", "p", qos::at_least_once)));
        REQUIRE(strict.wait_messages(2, 10s));
        REQUIRE(fallback.wait_messages(1, 10s));
        REQUIRE(open.wait_messages(1, 10s));
        // The last message went through the same route after the others: nothing more comes.
        CHECK(topics(strict) == std::vector<std::string>{"lacl/global/a", "lacl/public/a"});
        CHECK(topics(fallback) == std::vector<std::string>{"lacl/global/a"});
        CHECK(topics(open) == std::vector<std::string>{"lacl/secret/a"});
        // Publishing under the global file only: the fallback listener may, the strict one may not.
        auto [ec, r] = strict.publish("lacl/global/b", "x", qos::at_least_once);
        if (v == protocol_version::v5)
            CHECK(r.code == reason_code::not_authorized);
        REQUIRE_FALSE(std::get<0>(fallback.publish("lacl/global/c", "y", qos::at_least_once)));
        REQUIRE(fallback.wait_messages(2, 10s));
        CHECK(topics(fallback) == std::vector<std::string>{"lacl/global/a", "lacl/global/c"});
        for (auto* c : {&open, &strict, &fallback})
            CHECK_FALSE(c->disconnect());
    }
}

TEST_CASE("Per-listener acl_file: an offline session is filtered by the ACL of the listener it was last connected to",
    "[interop][broker][acl][listener]")
{
    listener_acl_broker b;
    REQUIRE_LISTENER_ACL_BROKER(b);
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v) << "\nbroker log:\n" << tail(b.log(), 3000));
        const std::string id = "lacl-offline-" + version_arg(v);
        auto persistent = [&](std::uint16_t port) {
            auto o = b.options(port, v, id);
            o.connect.clean_start = false; // a fresh id: no session to resume the first time
            o.connect.session_expiry = 3600;
            return o;
        };
        {
            sync_client c(persistent(b.open));
            REQUIRE_FALSE(std::get<0>(c.connect()));
            CHECK(subscribe_codes(c, "lacl/#") == granted);
            CHECK_FALSE(c.disconnect());
        }
        {
            sync_client c(persistent(b.strict)); // last seen here
            REQUIRE_FALSE(std::get<0>(c.connect()));
            CHECK_FALSE(c.disconnect());
        }
        sync_client pub(b.options(b.open, v));
        REQUIRE_FALSE(std::get<0>(pub.connect()));
        REQUIRE_FALSE(std::get<0>(pub.publish("lacl/secret/q", "s", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(pub.publish("lacl/public/q", "p", qos::at_least_once)));
        sync_client back(persistent(b.open));
        REQUIRE_FALSE(std::get<0>(back.connect()));
        REQUIRE(back.wait_messages(1, 10s));
        // Sent after the queued ones: once it is here, anything queued has been delivered.
        REQUIRE_FALSE(std::get<0>(pub.publish("lacl/public/end", "e", qos::at_least_once)));
        REQUIRE(back.wait_messages(2, 10s));
        CHECK(topics(back) == std::vector<std::string>{"lacl/public/q", "lacl/public/end"});
        CHECK_FALSE(back.disconnect());
        CHECK_FALSE(pub.disconnect());
    }
}

TEST_CASE("SIGHUP reloads the ACL file of every listener", "[interop][broker][acl][listener][reload]")
{
    listener_acl_broker b;
    REQUIRE_LISTENER_ACL_BROKER(b);
    sync_client open(b.options(b.open, protocol_version::v5));
    sync_client strict(b.options(b.strict, protocol_version::v5));
    sync_client fallback(b.options(b.fallback, protocol_version::v5));
    for (auto* c : {&open, &strict, &fallback})
        REQUIRE_FALSE(std::get<0>(c->connect()));
    const std::vector<reason_code> refused{reason_code::not_authorized};
    REQUIRE(subscribe_codes(strict, "lacl/secret/#") == refused);
    REQUIRE(subscribe_codes(open, "lacl/x") == granted);
    REQUIRE(subscribe_codes(fallback, "lacl/reloaded/#") == refused);

    write_file(b.file("open.acl"), "topic readwrite other/#\n");
    write_file(b.file("strict.acl"), "topic readwrite lacl/secret/#\n");
    write_file(b.file("global.acl"), "topic readwrite lacl/reloaded/#\n");
    b.reload();
    std::vector<reason_code> codes;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (codes != granted && std::chrono::steady_clock::now() < deadline) {
        codes = subscribe_codes(strict, "lacl/secret/#");
        if (codes != granted)
            std::this_thread::sleep_for(100ms);
    }
    INFO("broker log:\n" << tail(b.log(), 2000) << "\nstderr: " << b.err());
    CHECK(codes == granted);
    CHECK(subscribe_codes(open, "lacl/x") == refused);
    CHECK(subscribe_codes(open, "other/x") == granted);
    CHECK(subscribe_codes(fallback, "lacl/reloaded/#") == granted);
    CHECK(b.running());
}

TEST_CASE("A listener's acl_file that cannot be read stops start-up with its name", "[interop][broker][acl][listener]")
{
    temp_dir dir("mqtt-listener-acl-bad");
    write_file(dir.file("ok.acl"), "topic read public/#\n");
    const auto a = free_port(), c = free_port();
    REQUIRE(a != 0);
    REQUIRE(c != 0);
    write_file(dir.file("broker.conf"),
        "per_listener_settings true\n"
        "listener " + std::to_string(a) + " 127.0.0.1\nallow_anonymous true\nacl_file " + dir.file("ok.acl") + "\n"
        "listener " + std::to_string(c) + " 127.0.0.1\nallow_anonymous true\nacl_file " + dir.file("missing.acl") + "\n");
    auto r = run({our_programs::broker(), "-c", dir.file("broker.conf")}, 10s);
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 1);
    CHECK(r.err.find("missing.acl") != std::string::npos);
}

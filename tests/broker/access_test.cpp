// Access control from the configuration with per-listener ACL files
// (per_listener_settings true): which ACL applies to a client, the fallback to the
// global acl_file, sessions that are offline or loaded from the store, reloads,
// and the engine's SUBACK codes and deliveries on two listeners.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "engine_harness.hpp"
#include "mqtt/broker/access.hpp"
#include "mqtt/broker/config.hpp"

using namespace mqtt;
using namespace mqtt::broker;
using namespace mqtt::broker::test;

namespace {

// Listener 0: everything; listener 1: public/# only; listener 2: none of its own,
// so the global file (public/# and global/#).
struct three_listeners {
    temp_dir dir;
    broker_config cfg;
    std::shared_ptr<config_access_control> access = std::make_shared<config_access_control>();

    explicit three_listeners(bool per_listener = true)
    {
        write("open.acl", "topic readwrite #\n");
        write("strict.acl", "topic readwrite public/#\n");
        write("global.acl", "topic readwrite public/#\ntopic readwrite global/#\n");
        const std::string text = std::string(per_listener ? "per_listener_settings true\n" : "")
            + "acl_file " + dir.file("global.acl") + "\n"
            + "listener 1883 127.0.0.1\nallow_anonymous true\n"
            + (per_listener ? "acl_file " + dir.file("open.acl") + "\n" : "")
            + "listener 1884 127.0.0.1\nallow_anonymous true\n"
            + (per_listener ? "acl_file " + dir.file("strict.acl") + "\n" : "")
            + "listener 1885 127.0.0.1\nallow_anonymous true\n";
        std::string error;
        const bool ok = parse_config_string(text, "t.conf", cfg, error) && access->load(cfg, error);
        INFO(error);
        REQUIRE(ok);
        REQUIRE(cfg.listeners.size() == 3);
    }

    void write(const std::string& name, const std::string& text) const { std::ofstream(dir.file(name)) << text; }
};

client_identity on(std::optional<std::size_t> listener)
{
    return client_identity{"c", std::nullopt, listener};
}

fake_client& connect_on(broker_fixture& f, std::size_t listener, protocol_version v, const std::string& id,
    bool clean = true)
{
    connection_info info;
    info.listener_index = listener;
    auto& c = f.open(v, info);
    mqtt::connect pkt;
    pkt.version = v;
    pkt.client_id = id;
    pkt.clean_start = clean;
    pkt.keep_alive = 0;
    if (v == protocol_version::v5 && !clean)
        pkt.props.add(property_id::session_expiry_interval, 3600u);
    c.send(pkt, f.now);
    f.settle();
    auto acks = c.take_of<connack>();
    REQUIRE(acks.size() == 1);
    REQUIRE(acks[0].code == reason_code::success);
    return c;
}

std::vector<reason_code> subscribe_codes(broker_fixture& f, fake_client& c, std::vector<std::string> filters)
{
    mqtt::subscribe pkt;
    pkt.packet_id = 7;
    for (auto& filter : filters)
        pkt.subscriptions.push_back({std::move(filter), {qos::at_least_once}});
    c.send(pkt, f.now);
    f.settle();
    auto acks = c.take_of<suback>();
    REQUIRE(acks.size() == 1);
    return acks[0].codes;
}

void send_publish(broker_fixture& f, fake_client& c, const std::string& topic, std::uint16_t id)
{
    c.send(broker_fixture::msg(topic, "payload of " + topic, qos::at_least_once, id), f.now);
    f.settle();
}

// The topics of the PUBLISH packets the client got, each acknowledged (QoS 1).
std::vector<std::string> topics_received(broker_fixture& f, fake_client& c)
{
    std::vector<std::string> topics;
    for (auto& p : c.take_of<mqtt::publish>()) {
        topics.emplace_back(p.topic.view());
        if (p.qos == qos::at_least_once)
            c.send(puback{p.packet_id, reason_code::success, {}}, f.now);
    }
    f.settle();
    return topics;
}

} // namespace

TEST_CASE("per-listener acl_file: each listener's clients get that listener's rules, others the global file",
    "[broker][acl][access]")
{
    three_listeners t;
    auto& a = *t.access;
    CHECK(a.can_subscribe(on(0), "secret/#"));
    CHECK_FALSE(a.can_subscribe(on(1), "secret/#"));
    CHECK_FALSE(a.can_subscribe(on(2), "secret/#"));
    CHECK(a.can_subscribe(on(1), "public/#"));

    CHECK(a.can_publish(on(0), "global/x"));
    CHECK_FALSE(a.can_publish(on(1), "global/x"));
    CHECK(a.can_publish(on(2), "global/x")); // no acl_file of its own: the global one

    CHECK(a.can_receive(on(0), "secret/x"));
    CHECK_FALSE(a.can_receive(on(1), "secret/x"));
    CHECK_FALSE(a.can_receive(on(2), "secret/x"));
}

TEST_CASE("an identity without a known listener gets only what every listener's ACL allows", "[broker][acl][access]")
{
    three_listeners t;
    auto& a = *t.access;
    for (auto unknown : {std::optional<std::size_t>{}, std::optional<std::size_t>{7}}) {
        INFO("listener " << (unknown ? std::to_string(*unknown) : "unset"));
        CHECK(a.can_receive(on(unknown), "public/x"));
        CHECK_FALSE(a.can_receive(on(unknown), "global/x")); // listener 1 refuses it
        CHECK_FALSE(a.can_receive(on(unknown), "secret/x"));
        CHECK(a.can_subscribe(on(unknown), "public/#"));
        CHECK_FALSE(a.can_publish(on(unknown), "secret/x"));
    }

    // A listener without any ACL allows everything; then the other one decides.
    temp_dir dir;
    std::ofstream(dir.file("strict.acl")) << "topic read public/#\n";
    broker_config cfg;
    std::string error;
    REQUIRE(parse_config_string("per_listener_settings true\nlistener 1883\nallow_anonymous true\n"
                                "listener 1884\nallow_anonymous true\nacl_file " + dir.file("strict.acl") + "\n",
        "t.conf", cfg, error));
    config_access_control b;
    REQUIRE(b.load(cfg, error));
    CHECK(b.can_receive(on(0), "secret/x"));
    CHECK_FALSE(b.can_receive(on(1), "secret/x"));
    CHECK_FALSE(b.can_receive(on(std::nullopt), "secret/x"));
    CHECK(b.can_receive(on(std::nullopt), "public/x"));
}

TEST_CASE("without per_listener_settings acl_file is global wherever it is written", "[broker][acl][access]")
{
    three_listeners t(false);
    for (auto l : {std::optional<std::size_t>{0}, std::optional<std::size_t>{1}, std::optional<std::size_t>{2},
             std::optional<std::size_t>{}}) {
        CHECK(t.access->can_publish(on(l), "global/x"));
        CHECK_FALSE(t.access->can_publish(on(l), "secret/x"));
    }

    // No acl_file anywhere: everything is allowed, listener known or not.
    broker_config cfg;
    std::string error;
    REQUIRE(parse_config_string("listener 1883\nallow_anonymous true\n", "t.conf", cfg, error));
    config_access_control none;
    REQUIRE(none.load(cfg, error));
    CHECK(none.can_subscribe(on(0), "#"));
    CHECK(none.can_receive(on(std::nullopt), "anything"));
}

TEST_CASE("a per-listener ACL file that cannot be read stops the load with its name", "[broker][acl][access]")
{
    temp_dir dir;
    std::ofstream(dir.file("bad.acl")) << "topic read ok/#\nbogus line\n";
    broker_config cfg;
    std::string error;
    REQUIRE(parse_config_string("per_listener_settings true\nlistener 1883\nacl_file " + dir.file("missing.acl") +
                                    "\nlistener 1884\nacl_file " + dir.file("bad.acl") + "\n",
        "t.conf", cfg, error));
    config_access_control a;
    CHECK_FALSE(a.load(cfg, error));
    CHECK(error.find("missing.acl") != std::string::npos);

    cfg.listeners[0].acl_file = dir.file("bad.acl");
    CHECK_FALSE(a.load(cfg, error));
    CHECK(error.starts_with(dir.file("bad.acl") + ":2: "));
}

TEST_CASE("a reload reads every listener's ACL file again", "[broker][acl][access][reload]")
{
    three_listeners t;
    t.write("open.acl", "topic readwrite only/#\n");
    t.write("strict.acl", "topic readwrite secret/#\n");
    t.write("global.acl", "topic readwrite elsewhere/#\n");
    CHECK(t.access->can_publish(on(0), "x")); // still the rules loaded at start
    // As the server reloads: a fresh copy, swapped in when it loaded.
    config_access_control fresh;
    std::string error;
    const bool ok = fresh.load(t.cfg, error);
    INFO(error);
    REQUIRE(ok);
    t.access->swap(fresh);
    CHECK_FALSE(t.access->can_publish(on(0), "x"));
    CHECK(t.access->can_publish(on(0), "only/x"));
    CHECK(t.access->can_publish(on(1), "secret/x"));
    CHECK_FALSE(t.access->can_publish(on(1), "public/x"));
    CHECK(t.access->can_publish(on(2), "elsewhere/x"));
    CHECK_FALSE(t.access->can_publish(on(std::nullopt), "secret/x"));
}

TEST_CASE("engine with per-listener ACLs: SUBSCRIBE refused on one listener, granted on the other and no denied delivery",
    "[broker][acl][access]")
{
    three_listeners t;
    broker_fixture f({}, t.access);
    auto v = GENERATE(protocol_version::v3_1_1, protocol_version::v5);
    INFO("MQTT " << (v == protocol_version::v5 ? "5.0" : "3.1.1"));
    // 3.1.1 has one failure code, 0x80; 5.0 says 0x87 Not authorized.
    const auto refused = v == protocol_version::v5 ? reason_code::not_authorized : reason_code::unspecified_error;

    auto& open = connect_on(f, 0, v, "open");
    auto& strict = connect_on(f, 1, v, "strict");
    CHECK(subscribe_codes(f, open, {"secret/#", "public/#"})
        == std::vector<reason_code>{reason_code::granted_qos_1, reason_code::granted_qos_1});
    CHECK(subscribe_codes(f, strict, {"secret/#", "public/#"})
        == std::vector<reason_code>{refused, reason_code::granted_qos_1});
    // A wider filter is refused too, and deliveries under it are filtered one by one.
    CHECK(subscribe_codes(f, strict, {"#"}) == std::vector<reason_code>{refused});

    auto& pub = connect_on(f, 0, v, "pub");
    send_publish(f, pub, "secret/a", 1);
    send_publish(f, pub, "public/a", 2);
    CHECK(topics_received(f, open) == std::vector<std::string>{"secret/a", "public/a"});
    CHECK(topics_received(f, strict) == std::vector<std::string>{"public/a"});

    // The strict listener's client may not publish there either (5.0: PUBACK 0x87).
    const auto before = f.e.metrics().dropped_not_authorized;
    send_publish(f, strict, "secret/b", 3);
    CHECK(f.e.metrics().dropped_not_authorized == before + 1);
    CHECK(topics_received(f, open).empty());
}

TEST_CASE("engine with per-listener ACLs: an offline session is checked with the listener of its last connection",
    "[broker][acl][access]")
{
    three_listeners t;
    broker_fixture f({}, t.access);
    auto v = GENERATE(protocol_version::v3_1_1, protocol_version::v5);
    INFO("MQTT " << (v == protocol_version::v5 ? "5.0" : "3.1.1"));
    auto& pub = connect_on(f, 0, v, "pub");

    // Subscribed to everything on the open listener, then last seen on the strict one.
    auto& first = connect_on(f, 0, v, "s", false);
    REQUIRE(subscribe_codes(f, first, {"#"}) == std::vector<reason_code>{reason_code::granted_qos_1});
    first.drop(f.now);
    f.settle();
    connect_on(f, 1, v, "s", false).drop(f.now);
    f.settle();
    send_publish(f, pub, "secret/a", 1);
    send_publish(f, pub, "public/a", 2);
    auto& back = connect_on(f, 0, v, "s", false);
    CHECK(topics_received(f, back) == std::vector<std::string>{"public/a"});

    // Last seen on the open listener: everything was kept for it.
    back.drop(f.now);
    f.settle();
    send_publish(f, pub, "secret/b", 3);
    send_publish(f, pub, "public/b", 4);
    CHECK(topics_received(f, connect_on(f, 1, v, "s", false)) == std::vector<std::string>{"secret/b", "public/b"});
}

TEST_CASE("engine with per-listener ACLs: a session loaded from the store gets only what every listener allows "
          "until it reconnects",
    "[broker][acl][access][persistence]")
{
    three_listeners t;
    memory_store st;
    auto attach = [&](broker_fixture& f) {
        std::string error;
        const auto ec = f.e.attach_store(&st, f.now, f.wall, error);
        INFO(error);
        REQUIRE_FALSE(static_cast<bool>(ec));
    };
    {
        broker_fixture f({}, t.access);
        attach(f);
        auto& s = connect_on(f, 0, protocol_version::v5, "s", false);
        REQUIRE(subscribe_codes(f, s, {"#"}) == std::vector<reason_code>{reason_code::granted_qos_1});
        s.drop(f.now);
        f.settle();
    } // the engine goes; the store keeps the session, not the listener
    broker_fixture f({}, t.access);
    attach(f);
    REQUIRE(f.e.find_session("s"));
    auto& pub = connect_on(f, 0, protocol_version::v5, "pub");
    send_publish(f, pub, "secret/a", 1);
    send_publish(f, pub, "global/a", 2); // the strict listener refuses it
    send_publish(f, pub, "public/a", 3);
    auto& s = connect_on(f, 0, protocol_version::v5, "s", false);
    CHECK(topics_received(f, s) == std::vector<std::string>{"public/a"});
    // Reconnected: its listener decides again.
    send_publish(f, pub, "secret/b", 4);
    CHECK(topics_received(f, s) == std::vector<std::string>{"secret/b"});
}

// Our client library (mqtt::client) against our mqtt-broker.
#include <algorithm>

#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

const protocol_version versions[] = {protocol_version::v3_1_1, protocol_version::v5};
const qos levels[] = {qos::at_most_once, qos::at_least_once, qos::exactly_once};

std::string qs(qos q) { return std::to_string(static_cast<int>(q)); }

bool any_event(sync_client& c, connection_event_kind kind)
{
    auto ev = c.events();
    return std::any_of(ev.begin(), ev.end(), [&](auto& e) { return e.kind == kind; });
}

// Rules for clients without a user name (all of these tests are anonymous).
// Anonymous clients may not touch acl/open/secret; alice may write it.
const char* acl_rules = "topic readwrite acl/open/#\n"
                        "topic deny acl/open/secret\n"
                        "topic read acl/ro/#\n"
                        "topic write acl/wo/#\n"
                        "user alice\n"
                        "topic write acl/open/secret\n";

} // namespace

TEST_CASE("Our client and our broker: QoS 0/1/2, 3.1.1 and 5.0, over TCP, TLS, mutual TLS, WebSocket and WSS [MQTT-6.0.0-4]", "[interop][broker][client][tls][ws][MQTT-6.0.0-4]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    for (std::string listener : {"tcp", "auth", "tls", "mtls", "ws", "wss"}) {
        for (auto v : versions) {
            INFO(listener << " MQTT " << version_name(v));
            auto topic = "broker/client/" + listener + "/" + version_arg(v);
            sync_client sub(b.options(listener, v));
            auto [ec, ack] = sub.connect();
            INFO(ec.message() << "\nbroker log:\n" << tail(b.log(), 3000));
            REQUIRE_FALSE(ec);
            auto [sec, granted] = sub.subscribe(topic + "/#", qos::exactly_once);
            REQUIRE_FALSE(sec);
            REQUIRE(granted.codes == std::vector<reason_code>{reason_code::granted_qos_2});
            sync_client pub(b.options(listener, v));
            REQUIRE_FALSE(std::get<0>(pub.connect()));
            for (auto q : levels) {
                auto [pec, res] = pub.publish(topic + "/" + qs(q), "via-" + listener, q);
                CHECK_FALSE(pec);
                CHECK_FALSE(is_error(res.code));
            }
            REQUIRE(sub.wait_messages(3, 10s));
            auto msgs = sub.messages();
            REQUIRE(msgs.size() == 3);
            for (std::size_t i = 0; i < msgs.size(); ++i) {
                CHECK(msgs[i].topic == topic + "/" + qs(levels[i]));
                CHECK(msgs[i].qos == levels[i]);
                CHECK(msgs[i].payload == "via-" + listener);
            }
            CHECK_FALSE(pub.disconnect());
            CHECK_FALSE(sub.disconnect());
        }
    }
}

TEST_CASE("Our broker: a second connection with the same client id takes the session over", "[interop][broker][client][takeover]")
{
    auto takeover = [](protocol_version v) {
        our_broker b;
        REQUIRE_OUR_BROKER(b);
        auto o = b.options("tcp", v);
        o.connect.client_id = "takeover-" + version_arg(v);
        sync_client first(o);
        REQUIRE_FALSE(std::get<0>(first.connect()));
        sync_client second(o);
        REQUIRE_FALSE(std::get<0>(second.connect()));
        REQUIRE(first.wait_event(connection_event_kind::disconnected, 1, 10s));
        auto ev = first.events();
        auto it = std::find_if(ev.begin(), ev.end(), [](auto& e) { return e.kind == connection_event_kind::disconnected; });
        REQUIRE(it != ev.end());
        if (v == protocol_version::v5) {
            REQUIRE(it->server_reason.has_value());
            CHECK(*it->server_reason == reason_code::session_taken_over); // 0x8E
        } else {
            CHECK_FALSE(it->server_reason.has_value()); // 3.1.1 has no server DISCONNECT
        }
        // The new connection works.
        REQUIRE_FALSE(std::get<0>(second.subscribe("broker/takeover", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(second.publish("broker/takeover", "still here", qos::at_least_once)));
        REQUIRE(second.wait_messages(1, 10s));
        CHECK_FALSE(any_event(second, connection_event_kind::disconnected));
        CHECK_FALSE(second.disconnect());
    };
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.4-2]") { takeover(protocol_version::v3_1_1); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.4-3]") { takeover(protocol_version::v5); }
}

TEST_CASE("Our broker: bad credentials get CONNACK 0x86 (5.0) / 4 (3.1.1), none get 0x87 / 5", "[interop][broker][client][auth]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        {
            sync_client good(b.options("auth", v));
            REQUIRE_FALSE(std::get<0>(good.connect()));
            CHECK_FALSE(good.disconnect());
        }
        auto o = b.options("auth", v);
        o.connect.password = "not-it";
        sync_client bad(o);
        auto [ec, ack] = bad.connect();
        // 3.1.1 return code 4 is reported as its 5.0 equivalent 0x86.
        CHECK(ec == make_error_code(reason_code::bad_user_name_or_password));
        CHECK(any_event(bad, connection_event_kind::refused));
        o.connect.username.reset();
        o.connect.password.reset();
        sync_client anonymous(o);
        CHECK(std::get<0>(anonymous.connect()) == make_error_code(reason_code::not_authorized));
    }
}

TEST_CASE("Our broker: ACL file refuses SUBSCRIBE and PUBLISH and filters deliveries", "[interop][broker][client][acl]")
{
    auto acl = [](protocol_version v) {
        our_broker b(our_broker_options{acl_rules, false, false, {}});
        REQUIRE_OUR_BROKER(b);
        const bool v5 = v == protocol_version::v5;
        sync_client c(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(c.connect()));
        // Write-only filter: refused in SUBACK (0x87 in 5.0, 0x80 in 3.1.1); readable ones granted.
        auto [sec, res] = c.subscribe("acl/wo/x", qos::at_least_once);
        INFO(sec.message());
        CHECK(res.codes == std::vector<reason_code>{v5 ? reason_code::not_authorized : reason_code::unspecified_error});
        REQUIRE(std::get<1>(c.subscribe("acl/ro/#", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::granted_qos_1});
        REQUIRE(std::get<1>(c.subscribe("acl/open/#", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::granted_qos_1});

        // Read-only topic: a QoS 1 PUBLISH is refused with PUBACK 0x87 (5.0), or acknowledged
        // and dropped (3.1.1, which has no way to say no).
        auto [pec, pres] = c.publish("acl/ro/x", "must not pass", qos::at_least_once);
        if (v5)
            CHECK(pec == make_error_code(reason_code::not_authorized));
        else
            CHECK_FALSE(pec);
        // Denied for reading: alice's message is not delivered, while its sibling is.
        sync_client alice(b.options("auth", v));
        REQUIRE_FALSE(std::get<0>(alice.connect()));
        REQUIRE_FALSE(std::get<0>(alice.publish("acl/open/secret", "hidden", qos::at_least_once)));
        CHECK_FALSE(alice.disconnect());
        // The anonymous client may not write it either.
        auto [dec, dres] = c.publish("acl/open/secret", "denied", qos::at_least_once);
        if (v5)
            CHECK(dec == make_error_code(reason_code::not_authorized));
        else
            CHECK_FALSE(dec);
        REQUIRE_FALSE(std::get<0>(c.publish("acl/open/fine", "shown", qos::at_least_once)));
        // A writer on the write-only topic is fine; nobody can read it here.
        REQUIRE_FALSE(std::get<0>(c.publish("acl/wo/x", "into the void", qos::at_least_once)));
        REQUIRE(c.wait_messages(1, 10s));
        REQUIRE_FALSE(std::get<0>(c.publish("acl/open/last", "marker", qos::at_least_once)));
        REQUIRE(c.wait_messages(2, 10s));
        auto msgs = c.messages();
        std::vector<std::string> got;
        for (auto& m : msgs)
            got.push_back(m.topic.str() + "=" + m.payload.str());
        CHECK(got == std::vector<std::string>{"acl/open/fine=shown", "acl/open/last=marker"});
        CHECK_FALSE(any_event(c, connection_event_kind::disconnected));
        CHECK_FALSE(c.disconnect());
    };
    SECTION("MQTT 3.1.1 [v311][MQTT-3.8.4-5][MQTT-3.3.5-2]") { acl(protocol_version::v3_1_1); }
    SECTION("MQTT 5.0 [v5][MQTT-3.8.4-7]") { acl(protocol_version::v5); }
}

TEST_CASE("Our broker: ACL patterns with %c and %u, and identities that would widen them", "[interop][broker][client][acl]")
{
    our_broker b(our_broker_options{"pattern readwrite devices/%c/#\npattern read users/%u/#\n", false, false, {}});
    REQUIRE_OUR_BROKER(b);
    auto codes = [](sync_client& c, const std::string& filter) { return std::get<1>(c.subscribe(filter, qos::at_least_once)).codes; };
    const std::vector<reason_code> granted{reason_code::granted_qos_1}, refused{reason_code::not_authorized};
    auto o = b.options("tcp");
    o.connect.client_id = "dev1";
    sync_client dev(o);
    REQUIRE_FALSE(std::get<0>(dev.connect()));
    CHECK(codes(dev, "devices/dev1/#") == granted);
    CHECK(codes(dev, "devices/dev2/#") == refused);
    CHECK(codes(dev, "devices/+/x") == refused);
    CHECK(codes(dev, "users/dev1/x") == refused); // %u does not apply without a user name
    // A client id with '/' must not reach other clients' topics through %c.
    o.connect.client_id = "dev2/x";
    sync_client sneaky(o);
    REQUIRE_FALSE(std::get<0>(sneaky.connect()));
    CHECK(codes(sneaky, "devices/dev2/x/#") == refused);
    CHECK(codes(sneaky, "devices/dev2/#") == refused);
    auto a = b.options("auth");
    a.connect.client_id = "alice-client";
    sync_client alice(a);
    REQUIRE_FALSE(std::get<0>(alice.connect()));
    CHECK(codes(alice, "users/alice/#") == granted);
    CHECK(codes(alice, "users/bob/#") == refused);
    CHECK(codes(alice, "devices/alice-client/t") == granted);
}

TEST_CASE("Our broker: the ACL applies to wills and to retained messages", "[interop][broker][client][acl][will][retain]")
{
    // Anonymous clients: open/# only. alice: may read closed/# and write secret/#; anonymous
    // clients may read secret/# except secret/hidden.
    our_broker b(our_broker_options{"topic readwrite open/#\ntopic read secret/#\ntopic deny secret/hidden\n"
                                    "user alice\ntopic read closed/#\ntopic write secret/#\n",
        false, false, {}});
    REQUIRE_OUR_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        sync_client alice(b.options("auth", v));
        REQUIRE_FALSE(std::get<0>(alice.connect()));
        REQUIRE(std::get<1>(alice.subscribe("closed/#", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::granted_qos_1});
        sync_client watcher(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(watcher.connect()));
        REQUIRE_FALSE(std::get<0>(watcher.subscribe("open/#", qos::at_least_once)));
        // A will on a topic its client may not write is not published; one it may write is.
        for (const char* topic : {"closed/will", "open/will"}) {
            auto o = b.options("tcp", v);
            will w;
            w.topic = buffer(std::string(topic));
            w.payload = buffer(std::string("gone"));
            w.qos = qos::at_least_once;
            o.connect.will = w;
            sync_client victim(o);
            REQUIRE_FALSE(std::get<0>(victim.connect()));
            victim.stop(); // no DISCONNECT
        }
        REQUIRE(watcher.wait_messages(1, 10s));
        CHECK(watcher.messages().front().topic == "open/will");
        // Retained messages are checked for read on delivery too.
        REQUIRE_FALSE(std::get<0>(alice.publish("secret/hidden", "h", qos::at_least_once, true)));
        REQUIRE_FALSE(std::get<0>(alice.publish("secret/shown", "s", qos::at_least_once, true)));
        sync_client late(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(late.connect()));
        REQUIRE_FALSE(std::get<0>(late.subscribe("secret/#", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(late.subscribe("open/marker", qos::at_least_once)));
        REQUIRE_FALSE(std::get<0>(late.publish("open/marker", "m", qos::at_least_once)));
        REQUIRE(late.wait_messages(2, 10s));
        std::vector<std::string> got;
        for (auto& m : late.messages())
            got.push_back(m.topic.str());
        CHECK(got == std::vector<std::string>{"secret/shown", "open/marker"});
        CHECK(alice.messages().empty()); // the closed/will was not published
        REQUIRE_FALSE(std::get<0>(alice.publish("secret/hidden", "", qos::at_least_once, true)));
        REQUIRE_FALSE(std::get<0>(alice.publish("secret/shown", "", qos::at_least_once, true)));
    }
}

TEST_CASE("Our broker: message_size_limit drops larger payloads (3.1.1: positive PUBACK) [MQTT-3.3.5-2]", "[interop][broker][client][v311][MQTT-3.3.5-2]")
{
    our_broker b(our_broker_options{{}, false, false, "message_size_limit 16\n"});
    REQUIRE_OUR_BROKER(b);
    sync_client c(b.options("tcp", protocol_version::v3_1_1));
    REQUIRE_FALSE(std::get<0>(c.connect()));
    REQUIRE_FALSE(std::get<0>(c.subscribe("size/#", qos::at_least_once)));
    CHECK_FALSE(std::get<0>(c.publish("size/big", std::string(17, 'x'), qos::at_least_once)));
    REQUIRE_FALSE(std::get<0>(c.publish("size/small", std::string(16, 'x'), qos::at_least_once)));
    REQUIRE(c.wait_messages(1, 10s));
    auto msgs = c.messages();
    REQUIRE_FALSE(msgs.empty());
    CHECK(msgs.front().topic == "size/small");
}

// A 5.0 QoS 1 PUBLISH over message_size_limit is refused with a PUBACK reason code
// (0x83; 0x95 is not allowed in PUBACK), never left unanswered.
TEST_CASE("Our broker: message_size_limit refuses a larger 5.0 QoS 1 payload with a PUBACK reason code", "[interop][broker][client][v5]")
{
    our_broker b(our_broker_options{{}, false, false, "message_size_limit 16\n"});
    REQUIRE_OUR_BROKER(b);
    sync_client c(b.options("tcp", protocol_version::v5));
    REQUIRE_FALSE(std::get<0>(c.connect()));
    auto f = c.raw().async_publish(client::make_message("size/big", std::string(17, 'x'), qos::at_least_once), boost::asio::use_future);
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    auto [ec, res] = f.get();
    INFO(ec.message());
    CHECK(ec == make_error_code(reason_code::implementation_specific_error)); // refused
}

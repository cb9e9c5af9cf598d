// Broker features seen from our client: $SYS, max_qos, certificate identities
// under an ACL, ACL reload, overlapping subscriptions, keep alive on the wire.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "broker_helpers.hpp"

using namespace interop;
using namespace mqtt;

namespace {

const protocol_version versions[] = {protocol_version::v3_1_1, protocol_version::v5};

std::vector<std::string> topics_of(sync_client& c)
{
    std::vector<std::string> out;
    for (auto& m : c.messages())
        out.push_back(m.topic.str());
    return out;
}

bool any_of_disconnected(sync_client& c)
{
    auto ev = c.events();
    return std::any_of(ev.begin(), ev.end(), [](auto& e) { return e.kind == connection_event_kind::disconnected; });
}

} // namespace

TEST_CASE("$SYS topics are published and not matched by filters starting with a wildcard [MQTT-4.7.2-1]", "[interop][broker][client][sys][MQTT-4.7.2-1]")
{
    our_broker b(our_broker_options{{}, false, false, "sys_interval 1\n"});
    REQUIRE_OUR_BROKER(b);
    sync_client wild(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(wild.connect()));
    REQUIRE_FALSE(std::get<0>(wild.subscribe("#", qos::at_most_once)));
    REQUIRE_FALSE(std::get<0>(wild.subscribe("+/broker/#", qos::at_most_once)));
    sync_client sys(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(sys.connect()));
    REQUIRE_FALSE(std::get<0>(sys.subscribe("$SYS/#", qos::at_most_once)));
    REQUIRE(sys.wait_messages(1, 10s));
    CHECK(sys.messages().front().topic.str().rfind("$SYS/broker/", 0) == 0);
    // Wait for the next $SYS round too, then a marker on an ordinary topic.
    auto seen = sys.messages().size();
    REQUIRE(sys.wait_messages(seen + 1, 10s));
    REQUIRE_FALSE(std::get<0>(sys.publish("plain/marker", "m", qos::at_least_once)));
    REQUIRE(wild.wait_messages(1, 10s));
    CHECK(topics_of(wild) == std::vector<std::string>{"plain/marker"});
}

TEST_CASE("max_qos 1: announced as Maximum QoS, QoS 2 subscriptions still accepted [MQTT-3.2.2-9][MQTT-3.2.2-10]", "[interop][broker][client][v5][MQTT-3.2.2-9][MQTT-3.2.2-10]")
{
    our_broker b(our_broker_options{{}, false, false, "max_qos 1\n"});
    REQUIRE_OUR_BROKER(b);
    sync_client c(b.options("tcp"));
    auto [ec, ack] = c.connect();
    REQUIRE_FALSE(ec);
    CHECK(ack.props.get_integer(property_id::maximum_qos) == 1u);
    auto [sec, res] = c.subscribe("maxqos/t", qos::exactly_once);
    REQUIRE_FALSE(sec);
    REQUIRE(res.codes.size() == 1);
    CHECK_FALSE(is_error(res.codes[0]));
    REQUIRE_FALSE(std::get<0>(c.publish("maxqos/t", "x", qos::at_least_once)));
    REQUIRE(c.wait_messages(1, 10s));
    CHECK(c.messages().front().qos == qos::at_least_once);
}

TEST_CASE("Client certificate CN as user name (use_identity_as_username) under an ACL user section", "[interop][broker][client][tls][acl]")
{
    our_broker b(our_broker_options{"topic read public/#\nuser interop-client\ntopic readwrite cert/#\n", false, false, {}});
    REQUIRE_OUR_BROKER(b);
    for (auto v : versions) {
        INFO("MQTT " << version_name(v));
        sync_client c(b.options("mtls", v));
        REQUIRE_FALSE(std::get<0>(c.connect()));
        CHECK(std::get<1>(c.subscribe("cert/#", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::granted_qos_1});
        // The anonymous section does not apply to the certificate user.
        auto refused = std::get<1>(c.subscribe("public/x", qos::at_least_once)).codes;
        REQUIRE(refused.size() == 1);
        CHECK(is_error(refused[0]));
        REQUIRE_FALSE(std::get<0>(c.publish("cert/mine", "by-cn", qos::at_least_once)));
        REQUIRE(c.wait_messages(1, 10s));
        CHECK(c.messages().front().payload == "by-cn");
        CHECK_FALSE(c.disconnect());
        // An anonymous client gets the anonymous rules only.
        sync_client anon(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(anon.connect()));
        auto codes = std::get<1>(anon.subscribe("cert/#", qos::at_least_once)).codes;
        REQUIRE(codes.size() == 1);
        CHECK(is_error(codes[0]));
        CHECK_FALSE(anon.disconnect());
    }
}

TEST_CASE("SIGHUP reloads the ACL file: a connected client gets the new rules", "[interop][broker][client][acl][reload]")
{
    our_broker b(our_broker_options{"topic readwrite before/#\n", false, false, {}});
    REQUIRE_OUR_BROKER(b);
    sync_client c(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(c.connect()));
    CHECK(std::get<1>(c.subscribe("after/x", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::not_authorized});
    write_file(b.acl_file(), "topic readwrite after/#\n");
    b.reload();
    std::vector<reason_code> codes;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        codes = std::get<1>(c.subscribe("after/x", qos::at_least_once)).codes;
        if (codes == std::vector<reason_code>{reason_code::granted_qos_1})
            break;
        std::this_thread::sleep_for(100ms);
    }
    INFO("broker log:\n" << tail(b.log(), 2000));
    CHECK(codes == std::vector<reason_code>{reason_code::granted_qos_1});
    // The old rule is gone.
    CHECK(std::get<1>(c.subscribe("before/x", qos::at_least_once)).codes == std::vector<reason_code>{reason_code::not_authorized});
    CHECK_FALSE(any_of_disconnected(c));
}

TEST_CASE("Overlapping subscriptions: the message is delivered at the highest granted QoS", "[interop][broker][client]")
{
    auto overlap = [](protocol_version v) {
        our_broker b;
        REQUIRE_OUR_BROKER(b);
        sync_client c(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(c.connect()));
        REQUIRE_FALSE(std::get<0>(c.subscribe("ov/#", qos::at_most_once)));
        REQUIRE_FALSE(std::get<0>(c.subscribe("ov/x", qos::exactly_once)));
        sync_client p(b.options("tcp", v));
        REQUIRE_FALSE(std::get<0>(p.connect()));
        REQUIRE_FALSE(std::get<0>(p.publish("ov/x", "both", qos::exactly_once)));
        REQUIRE(c.wait_messages(1, 10s));
        auto msgs = c.messages();
        CHECK(std::any_of(msgs.begin(), msgs.end(), [](auto& m) { return m.qos == qos::exactly_once; }));
    };
    SECTION("MQTT 3.1.1 [v311][MQTT-3.3.5-1]") { overlap(protocol_version::v3_1_1); }
    SECTION("MQTT 5.0 [v5][MQTT-3.3.4-2]") { overlap(protocol_version::v5); }
}

TEST_CASE("Keep alive: a silent client is disconnected after one and a half keep alive periods", "[interop][broker][keepalive]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto check_version = [&](const char* v) {
        auto r = run({our_programs::python(), our_programs::paho_script("raw_keepalive.py"), "--port",
            std::to_string(b.ports().tcp), "--version", v}, 30s);
        CHECK_PAHO_OK(b, r);
    };
    SECTION("MQTT 3.1.1 [v311][MQTT-3.1.2-24]") { check_version("3"); }
    SECTION("MQTT 5.0 [v5][MQTT-3.1.2-22]") { check_version("5"); }
}

TEST_CASE("Session resumption on the wire: unacknowledged PUBLISH re-sent with DUP 1 and the same id, then PUBREL, QoS 2 not duplicated", "[interop][broker][session]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto check_version = [&](const char* v) {
        auto r = run({our_programs::python(), our_programs::paho_script("raw_redelivery.py"), "--port",
            std::to_string(b.ports().tcp), "--version", v, "--prefix", std::string("redelivery") + v}, 30s);
        CHECK_PAHO_OK(b, r);
    };
    SECTION("MQTT 3.1.1 [v311][MQTT-4.4.0-1][MQTT-3.3.1-1][MQTT-4.3.3-2]") { check_version("3"); }
    SECTION("MQTT 5.0 [v5][MQTT-4.4.0-1][MQTT-3.3.1-1][MQTT-4.3.3-10]") { check_version("5"); }
}

TEST_CASE("WebSocket on the wire: sub-protocol mqtt, packets not aligned with frames, text frame closes [MQTT-6.0.0-1][MQTT-6.0.0-2][MQTT-6.0.0-4]", "[interop][broker][ws][MQTT-6.0.0-1][MQTT-6.0.0-2][MQTT-6.0.0-4]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto r = run({our_programs::python(), our_programs::paho_script("raw_websocket.py"), "--port", std::to_string(b.ports().ws)}, 30s);
    CHECK_PAHO_OK(b, r);
}

TEST_CASE("5.0 with max_qos 1 and retain_available false: wills refused in CONNACK, PUBLISH refused with DISCONNECT [MQTT-3.2.2-12][MQTT-3.2.2-13]", "[interop][broker][v5][MQTT-3.2.2-12][MQTT-3.2.2-13][MQTT-3.2.2-6]")
{
    our_broker b(our_broker_options{{}, false, false, "max_qos 1\nretain_available false\n"});
    REQUIRE_OUR_BROKER(b);
    auto r = run({our_programs::python(), our_programs::paho_script("raw_limits.py"), "--port", std::to_string(b.ports().tcp)}, 30s);
    CHECK_PAHO_OK(b, r);
}

TEST_CASE("5.0 client limits on the wire: Receive Maximum 1, Maximum Packet Size [MQTT-3.3.4-9][MQTT-3.1.2-24][MQTT-3.1.2-25]", "[interop][broker][v5][MQTT-3.3.4-9][MQTT-3.1.2-24][MQTT-3.1.2-25]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    auto r = run({our_programs::python(), our_programs::paho_script("raw_flow.py"), "--port", std::to_string(b.ports().tcp)}, 30s);
    CHECK_PAHO_OK(b, r);
}

namespace {

// A blocking loopback TCP socket whose reads give up after `timeout`.
int raw_connect(std::uint16_t port, std::chrono::seconds timeout)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    return fd;
}

std::string raw_read(int fd, std::size_t n)
{
    std::string out;
    char buf[64];
    while (out.size() < n) {
        auto got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
        if (got <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

} // namespace

TEST_CASE("A connection that sends no CONNECT is closed after the connect timeout, one that sent it stays", "[interop][broker][connect]")
{
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    int silent = raw_connect(b.ports().tcp, 30s);
    int talker = raw_connect(b.ports().tcp, 30s);
    // 3.1.1 CONNECT, client id "k", Keep Alive 60 s; then CONNACK accepted.
    const std::string connect("\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01k", 15);
    REQUIRE(::send(talker, connect.data(), connect.size(), 0) == static_cast<ssize_t>(connect.size()));
    CHECK(raw_read(talker, 4) == std::string("\x20\x02\x00\x00", 4));

    // The broker waits 10 s for a CONNECT; the read ends with the broker's close
    // (0 bytes), not with this socket's 30 s receive timeout.
    char byte;
    errno = 0;
    auto got = ::recv(silent, &byte, 1, 0);
    CHECK(got == 0);
    CHECK(errno == 0);

    // The other connection is still served.
    REQUIRE(::send(talker, "\xc0\x00", 2, 0) == 2);
    CHECK(raw_read(talker, 2) == std::string("\xd0\x00", 2));
    ::close(silent);
    ::close(talker);
}

TEST_CASE("Messages larger than the socket buffers arrive whole and once, at QoS 0, 1 and 2", "[interop][broker][client][large]")
{
    // 12 MB does not fit in loopback's socket buffers: the broker's writes to
    // the subscriber stop part-way and continue when the socket has room.
    our_broker b;
    REQUIRE_OUR_BROKER(b);
    sync_client sub(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(sub.connect()));
    REQUIRE_FALSE(std::get<0>(sub.subscribe("large/#", qos::exactly_once)));
    sync_client pub(b.options("tcp"));
    REQUIRE_FALSE(std::get<0>(pub.connect()));
    std::vector<std::string> payloads;
    for (char fill : {'a', 'b', 'c'}) {
        std::string p(12 * 1024 * 1024, fill);
        for (std::size_t i = 0; i < p.size(); i += 4096)
            p[i] = static_cast<char>('0' + (i / 4096) % 10); // not one repeated byte
        payloads.push_back(std::move(p));
    }
    const qos levels[] = {qos::at_most_once, qos::at_least_once, qos::exactly_once};
    for (std::size_t i = 0; i < 3; ++i)
        REQUIRE_FALSE(std::get<0>(pub.publish("large/" + std::to_string(i), payloads[i], levels[i])));
    REQUIRE(sub.wait_messages(3, 60s));
    std::this_thread::sleep_for(200ms); // a duplicate would arrive right behind
    auto got = sub.messages();
    REQUIRE(got.size() == 3);
    for (auto& m : got) {
        auto topic = m.topic.str();
        INFO(topic);
        REQUIRE(topic.rfind("large/", 0) == 0);
        auto i = static_cast<std::size_t>(topic.back() - '0');
        REQUIRE(i < 3);
        CHECK(m.payload.size() == payloads[i].size());
        bool same = m.payload.view() == payloads[i];
        CHECK(same);
    }
}

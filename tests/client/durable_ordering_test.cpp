// The client saves its session state before the packets that depend on it leave:
// a QoS 1/2 PUBLISH, the PUBREL after a PUBREC, the PUBREC of an incoming QoS 2
// message. The broker here is a plain socket the test reads by hand: whatever the
// client wrote and the test has not read yet is visible (FIONREAD) to the store
// while it saves, so a save that comes after the write is caught every time.
#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "mqtt/client/client.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

using namespace mqtt;
using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Records, for each save, the state and how many bytes the broker had not read yet.
class watching_store final : public session_store {
public:
    tcp::socket* broker = nullptr;
    std::vector<std::pair<session_state, std::size_t>> saves;

    result<session_state> load() override { return session_state{}; }
    std::error_code save(const session_state& s) override
    {
        boost::system::error_code ec;
        saves.emplace_back(s, broker ? broker->available(ec) : 0);
        return {};
    }
    std::size_t late_saves() const
    {
        std::size_t n = 0;
        for (auto& [s, unread] : saves)
            n += unread != 0;
        return n;
    }
};

struct raw_broker {
    net::io_context& ioc;
    tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
    tcp::socket socket{ioc};
    stream_decoder decoder{max_packet_size, protocol_version::v5};

    // Runs the client's io_context until `done` (bounded).
    template <class F>
    bool run_until(F done)
    {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        bool ok = false; // done() is called once per round: it may consume
        while (!(ok = done()) && std::chrono::steady_clock::now() < deadline) {
            if (ioc.stopped())
                ioc.restart();
            ioc.run_one_for(5ms);
        }
        return ok;
    }

    // Lets queued handlers run (after stop()).
    void settle()
    {
        for (int i = 0; i < 20; ++i) {
            if (ioc.stopped())
                ioc.restart();
            ioc.run_one_for(1ms);
        }
    }

    bool accept()
    {
        acceptor.non_blocking(true);
        return run_until([&] {
            boost::system::error_code ec;
            acceptor.accept(socket, ec);
            return !ec;
        });
    }

    // The next packet the client sent (running the client meanwhile).
    std::optional<packet> next()
    {
        std::optional<packet> got;
        run_until([&] {
            if (auto p = decoder.next()) {
                if (p->has_value())
                    got = std::move(p->value());
                return true;
            }
            if (socket.available() > 0) {
                std::array<char, 4096> buf{};
                auto n = socket.read_some(net::buffer(buf));
                decoder.feed(std::string_view(buf.data(), n));
            }
            return false;
        });
        return got;
    }

    void send(const packet& p)
    {
        std::string out;
        REQUIRE_FALSE(encode(p, protocol_version::v5, out));
        net::write(socket, net::buffer(out));
    }
};

client_options options(std::uint16_t port, const std::shared_ptr<session_store>& store)
{
    client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = port;
    o.connect.client_id = "ordering";
    o.connect.keep_alive = 0;
    o.reconnect.enabled = false;
    o.store = store;
    return o;
}

// A PUBLISH the broker sends the client, on topic "in".
mqtt::publish incoming(std::string payload, qos q, std::uint16_t id)
{
    mqtt::publish p;
    p.topic = buffer("in");
    p.payload = buffer(std::move(payload));
    p.qos = q;
    p.packet_id = id;
    return p;
}

template <class P>
P expect(raw_broker& b)
{
    auto p = b.next();
    REQUIRE(p);
    INFO("received " << to_string(type_of(*p)));
    REQUIRE(std::holds_alternative<P>(*p));
    return std::get<P>(std::move(*p));
}

// A client with a watching store on the raw broker; connect() completes CONNECT /
// CONNACK, and from then on the store sees what the broker has not read yet.
struct ordering_fixture {
    net::io_context ioc;
    raw_broker b{ioc};
    std::shared_ptr<watching_store> store = std::make_shared<watching_store>();
    client c{ioc.get_executor(), options(b.acceptor.local_endpoint().port(), store)};

    void connect()
    {
        bool connected = false;
        c.async_connect([&](std::error_code ec, connack) { connected = !ec; });
        REQUIRE(b.accept());
        store->broker = &b.socket;
        (void)expect<mqtt::connect>(b);
        b.send(connack{});
        REQUIRE(b.run_until([&] { return connected; }));
    }

    void stop()
    {
        c.stop();
        b.settle();
    }
};

} // namespace

TEST_CASE_METHOD(ordering_fixture, "Durable ordering: a QoS 1/2 PUBLISH and its PUBREL leave only after the state is saved", "[client][store][ordering]")
{
    connect();

    c.async_publish("t/1", "one", qos::at_least_once, [](std::error_code, publish_result) {});
    c.async_publish("t/2", "two", qos::exactly_once, [](std::error_code, publish_result) {});
    auto p1 = expect<mqtt::publish>(b);
    // Checked the moment the first PUBLISH arrives: the save came before it.
    REQUIRE_FALSE(store->saves.empty());
    CHECK(store->saves.back().first.outgoing.size() == 2);
    auto p2 = expect<mqtt::publish>(b);
    CHECK(store->late_saves() == 0);
    REQUIRE_FALSE(store->saves.empty());
    // Both PUBLISH packets went out after one save holding both of them.
    CHECK(store->saves.back().first.outgoing.size() == 2);

    b.send(pubrec{p2.packet_id, reason_code::success, {}});
    (void)expect<pubrel>(b);
    CHECK(store->late_saves() == 0);
    auto saved = store->saves.back().first;
    REQUIRE(saved.outgoing.size() == 2);
    CHECK(saved.outgoing[1].stage == outgoing_stage::awaiting_comp);

    b.send(puback{p1.packet_id, reason_code::success, {}});
    b.send(pubcomp{p2.packet_id, reason_code::success, {}});
    REQUIRE(b.run_until([&] { return store->saves.back().first.outgoing.empty(); }));
    CHECK(store->late_saves() == 0);
    stop();
}

TEST_CASE_METHOD(ordering_fixture, "Durable ordering: a received QoS 2 id is saved before its PUBREC leaves", "[client][store][ordering][MQTT-4.3.3-9]")
{
    int delivered = 0;
    c.set_message_handler([&](mqtt::publish) { ++delivered; });
    connect();

    b.send(incoming("exactly once", qos::exactly_once, 42));
    auto rec = expect<pubrec>(b);
    CHECK(rec.packet_id == 42);
    CHECK(store->late_saves() == 0);
    REQUIRE_FALSE(store->saves.empty());
    CHECK(store->saves.back().first.qos2_received == std::vector<std::uint16_t>{42});
    CHECK(delivered == 1);

    b.send(pubrel{42, reason_code::success, {}});
    (void)expect<pubcomp>(b);
    CHECK(store->late_saves() == 0);
    CHECK(store->saves.back().first.qos2_received.empty());
    stop();
}

TEST_CASE_METHOD(ordering_fixture, "Durable ordering: a burst of publishes shares one save", "[client][store][ordering]")
{
    connect();
    const auto before = store->saves.size();
    for (int i = 0; i < 100; ++i)
        c.async_publish("t", std::to_string(i), qos::at_least_once, [](std::error_code, publish_result) {});
    (void)expect<mqtt::publish>(b);
    CHECK(store->saves.size() - before == 1); // already saved when the first one arrives
    for (int i = 1; i < 100; ++i)
        (void)expect<mqtt::publish>(b);
    CHECK(store->saves.size() - before == 1);
    CHECK(store->saves.back().first.outgoing.size() == 100);
    CHECK(store->late_saves() == 0);
    stop();
}

TEST_CASE_METHOD(ordering_fixture,
    "Durable ordering: a received QoS 2 message reaches the application after its id is saved and before its "
    "PUBREC leaves, and the messages behind it keep their order",
    "[client][store][ordering][MQTT-4.3.3-9][MQTT-4.3.3-10]")
{
    // What the application saw at each delivery: the id, whether the last save held
    // the QoS 2 id, and how many bytes the client had written that the broker has not
    // read (an acknowledgment already sent).
    struct seen {
        std::uint16_t id;
        bool id_saved;
        std::size_t unread;
    };
    std::vector<seen> deliveries;
    c.set_message_handler([&](mqtt::publish m) {
        const bool saved = !store->saves.empty()
            && std::ranges::count(store->saves.back().first.qos2_received, std::uint16_t{42}) == 1;
        deliveries.push_back({m.packet_id, saved, b.socket.available()});
    });
    connect();

    // One write: QoS 2, then QoS 1 and QoS 0 on the same topic.
    const auto two = incoming("2", qos::exactly_once, 42);
    const auto one = incoming("1", qos::at_least_once, 43);
    const auto zero = incoming("0", qos::at_most_once, 0);
    std::string bytes;
    for (auto* p : {&two, &one, &zero})
        REQUIRE_FALSE(encode(*p, protocol_version::v5, bytes));
    net::write(b.socket, net::buffer(bytes));

    auto rec = expect<pubrec>(b);
    CHECK(rec.packet_id == 42);
    auto ack = expect<puback>(b);
    CHECK(ack.packet_id == 43);
    REQUIRE(deliveries.size() == 3);
    CHECK(deliveries[0].id == 42);
    CHECK(deliveries[0].id_saved);     // a crash now: the broker sends it again, refused as known
    CHECK(deliveries[0].unread == 0);  // no PUBREC yet: a crash before it loses nothing
    CHECK(deliveries[1].id == 43);     // in the order received
    CHECK(deliveries[1].unread == 0);  // delivered before its PUBACK left
    CHECK(deliveries[2].id == 0);
    CHECK(store->late_saves() == 0);

    b.send(pubrel{42, reason_code::success, {}});
    (void)expect<pubcomp>(b);
    stop();
}

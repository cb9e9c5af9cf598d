// mqtt-fault-client: a publisher or subscriber in its own process, for the
// scenarios that SIGKILL a client. Every line it prints is written straight to
// the file descriptor, so what it printed survives the kill.
//
//   mqtt-fault-client pub PORT CLIENT_ID PUBLISHER FROM TO VERSION [STORE]
//     publishes the alternating QoS 1 / QoS 2 sequence from index FROM to TO-1
//     (payloads as ledger.hpp); prints "SENT i" before each publish, "ACK i" or
//     "FAIL i" when it completes; exits after the last one.
//   mqtt-fault-client sub PORT CLIENT_ID VERSION [STORE]
//     subscribes to every fault topic (unless its session is present) and prints
//     "MSG <payload>" per message until SIGTERM.
// STORE: a file for the client's durable session store, when the library has one
// (first line printed: "STORE durable" or "STORE none").
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ledger.hpp"
#include "mqtt/client/client.hpp"
#if __has_include("mqtt/client/sqlite_session_store.hpp")
#include "mqtt/client/sqlite_session_store.hpp"
#define MQTT_FAULT_DURABLE_STORE 1
#endif

namespace {

using namespace std::chrono_literals;

void say(const std::string& line)
{
    auto text = line + "\n";
    std::size_t at = 0;
    while (at < text.size()) {
        auto n = ::write(1, text.data() + at, text.size() - at);
        if (n <= 0)
            return;
        at += static_cast<std::size_t>(n);
    }
}

mqtt::client_options options(std::uint16_t port, const std::string& id, mqtt::protocol_version v, const char* store)
{
    mqtt::client_options o;
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = port;
    o.connect.version = v;
    o.connect.client_id = id;
    o.connect.clean_start = false;
    if (v == mqtt::protocol_version::v5)
        o.connect.session_expiry = 3600;
    o.connect.connect_timeout = 3s;
    o.reconnect.initial_delay = 5ms;
    o.reconnect.max_delay = 100ms;
#ifdef MQTT_FAULT_DURABLE_STORE
    if (store) {
        o.store = std::make_shared<mqtt::sqlite_session_store>(store);
        say("STORE durable");
    } else {
        say("STORE none");
    }
#else
    (void)store;
    say("STORE none");
#endif
    return o;
}

struct publisher {
    mqtt::client& client;
    int index;
    std::uint32_t next, to;
    boost::asio::io_context& ioc;
    std::uint32_t first = 0, settled = 0;

    void publish_next()
    {
        if (next >= to)
            return;
        auto i = next++;
        fault::message_key k{index, 1 + static_cast<int>(i % 2), i / 2};
        say("SENT " + std::to_string(i));
        client.async_publish(fault::topic_for(k.publisher, k.qos), fault::make_payload(k),
            k.qos == 1 ? mqtt::qos::at_least_once : mqtt::qos::exactly_once, [this, i](std::error_code ec, mqtt::publish_result) {
                say((ec ? "FAIL " : "ACK ") + std::to_string(i));
                ++settled;
                // A paced stream (~400 messages/s), so that the kills fall inside it.
                auto timer = std::make_shared<boost::asio::steady_timer>(ioc, 5ms);
                timer->async_wait([this, timer](boost::system::error_code) { publish_next(); });
                if (next >= to && all_settled())
                    client.async_disconnect([this](std::error_code) { ioc.stop(); });
            });
    }
    bool all_settled() const { return settled == to - first; }
};

} // namespace

int main(int argc, char** argv)
{
    if (argc < 5) {
        std::fprintf(stderr, "usage: see the comment at the top of fault_client.cpp\n");
        return 2;
    }
    std::string mode = argv[1];
    auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    std::string id = argv[3];
    boost::asio::io_context ioc(1);
    boost::asio::signal_set stop_signals(ioc, SIGINT, SIGTERM);
    if (mode == "pub" && argc >= 8) {
        auto v = std::string(argv[7]) == "5" ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1;
        mqtt::client c(ioc.get_executor(), options(port, id, v, argc > 8 ? argv[8] : nullptr));
        publisher p{c, std::atoi(argv[4]), static_cast<std::uint32_t>(std::atol(argv[5])),
            static_cast<std::uint32_t>(std::atol(argv[6])), ioc};
        p.first = p.next;
        c.async_connect([](std::error_code ec, mqtt::connack) {
            if (ec)
                say("CONNECT-ERROR " + ec.message());
        });
        if (p.next >= p.to)
            return 0;
        for (int i = 0; i < 2; ++i)
            p.publish_next();
        stop_signals.async_wait([&](boost::system::error_code, int) { ioc.stop(); });
        ioc.run();
        say("DONE");
        return 0;
    }
    if (mode == "sub") {
        auto v = std::string(argv[4]) == "5" ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1;
        mqtt::client c(ioc.get_executor(), options(port, id, v, argc > 5 ? argv[5] : nullptr));
        c.set_message_handler([](mqtt::publish m) { say("MSG " + m.payload.str()); });
        c.async_connect([&](std::error_code ec, mqtt::connack ack) {
            if (ec) {
                say("CONNECT-ERROR " + ec.message());
                return;
            }
            if (ack.session_present) {
                say("SUBSCRIBED");
                return;
            }
            std::vector<mqtt::subscription> filters;
            filters.push_back({"fault/+/q1", mqtt::subscribe_options{mqtt::qos::at_least_once}});
            filters.push_back({"fault/+/q2", mqtt::subscribe_options{mqtt::qos::exactly_once}});
            c.async_subscribe(std::move(filters), mqtt::properties{}, [](std::error_code e, mqtt::subscribe_result) {
                say(e ? "SUBSCRIBE-ERROR " + e.message() : std::string("SUBSCRIBED"));
            });
        });
        stop_signals.async_wait([&](boost::system::error_code, int) { c.stop(); ioc.stop(); });
        ioc.run();
        return 0;
    }
    std::fprintf(stderr, "mqtt-fault-client: bad arguments\n");
    return 2;
}

// mqtt-broker: the MQTT 3.1.1 / 5.0 broker executable.
#include <cstdio>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "mqtt/broker/config.hpp"
#include "mqtt/broker/server.hpp"

int main(int argc, char** argv)
{
    auto cmd = mqtt::broker::apply_command_line(argc, argv);
    if (cmd.action == mqtt::broker::command_line_action::exit_ok) {
        std::fputs(cmd.message.c_str(), stdout);
        return 0;
    }
    if (cmd.action == mqtt::broker::command_line_action::exit_error) {
        std::fprintf(stderr, "mqtt-broker: %s\n", cmd.message.c_str());
        return 1;
    }
    boost::asio::io_context io(1);
    mqtt::broker::server server(io, std::move(cmd.config));
    std::string error;
    if (!server.start(error)) {
        std::fprintf(stderr, "mqtt-broker: %s\n", error.c_str());
        return 1;
    }
    boost::asio::signal_set reload_signal(io, SIGHUP);
    boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
    stop_signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) {
            server.stop();
            reload_signal.cancel(); // nothing else may keep io.run() going
        }
    });
    std::function<void()> wait_reload = [&] {
        reload_signal.async_wait([&](boost::system::error_code ec, int) {
            if (ec)
                return;
            std::string why;
            if (!server.reload(why))
                std::fprintf(stderr, "mqtt-broker: reload failed, keeping the old files: %s\n", why.c_str());
            wait_reload();
        });
    };
    wait_reload();
    // After stop() the remaining work is the last writes to clients; then we are done.
    io.run();
    return 0;
}

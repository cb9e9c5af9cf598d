// mqtt-broker: the MQTT 3.1.1 / 5.0 broker executable.
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "mqtt/broker/config.hpp"
#include "mqtt/broker/server.hpp"

namespace {

constexpr std::string_view move_corrupt_flag = "--move-corrupt-store";
constexpr std::string_view threads_flag = "--threads";
constexpr const char* own_flags_help =
    "\n"
    "     --move-corrupt-store  when the persistence store cannot be read, rename it\n"
    "                         to <file>.corrupt-<timestamp> and start with an empty\n"
    "                         store (see docs/persistence.md)\n"
    "     --threads N         I/O threads serving connections (default: the\n"
    "                         configuration's `threads`, else one per core with\n"
    "                         more than two cores, else one)\n";

// 1..256, else nullopt.
std::optional<unsigned> parse_threads(const char* text)
{
    if (!text)
        return std::nullopt;
    unsigned n = 0;
    auto [end, ec] = std::from_chars(text, text + std::strlen(text), n);
    if (ec != std::errc() || *end != '\0' || n == 0 || n > 256)
        return std::nullopt;
    return n;
}

} // namespace

int main(int argc, char** argv)
{
    // Our own flags are taken out before the Mosquitto-style arguments are parsed.
    mqtt::broker::server_options options;
    std::vector<const char*> args;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && argv[i] && move_corrupt_flag == argv[i]) {
            options.move_corrupt_store = true;
        } else if (i > 0 && argv[i] && threads_flag == argv[i]) {
            auto n = parse_threads(i + 1 < argc ? argv[i + 1] : nullptr);
            if (!n) {
                std::fprintf(stderr, "mqtt-broker: --threads needs a number from 1 to 256\n");
                return 1;
            }
            options.threads = *n;
            ++i;
        } else {
            args.push_back(argv[i]);
        }
    }
    auto cmd = mqtt::broker::apply_command_line(static_cast<int>(args.size()), args.data());
    if (cmd.action == mqtt::broker::command_line_action::exit_ok) {
        std::fputs(cmd.message.c_str(), stdout);
        std::fputs(own_flags_help, stdout);
        return 0;
    }
    if (cmd.action == mqtt::broker::command_line_action::exit_error) {
        std::fprintf(stderr, "mqtt-broker: %s\n", cmd.message.c_str());
        return 1;
    }
    boost::asio::io_context io(1);
    mqtt::broker::server server(io, std::move(cmd.config), options);
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

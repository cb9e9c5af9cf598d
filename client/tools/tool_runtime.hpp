#pragma once
// What mqtt-pub and mqtt-sub share at run time: error output, the -d event log,
// the "fail if the first connection fails" rule, the -W timeout and signals.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cli.hpp"

namespace mqtt::cli {

// Exit code of a -W timeout (as mosquitto_sub).
inline constexpr int exit_timeout = 27;

inline void print_error(std::string_view tool, const std::string& message)
{
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(tool.size()), tool.data(), message.c_str());
}

// Watches connection events: logs them with -d, and stops the client when the very
// first connection attempt fails (a command-line tool reports that and exits;
// once connected, the library reconnects on its own).
class connection_watch {
public:
    connection_watch(std::string_view tool, client& c, bool debug) : tool_(tool), client_(c), debug_(debug) {}

    void install()
    {
        client_.set_event_handler([this](const connection_event& e) { on_event(e); });
    }

    // The error of the first failed attempt, if the client was stopped because of it.
    std::error_code first_error() const { return first_error_; }

private:
    void on_event(const connection_event& e)
    {
        if (debug_) {
            std::string line = std::string(to_string(e.kind));
            if (e.kind == connection_event_kind::connected)
                line += e.session_present ? " (session present)" : " (new session)";
            if (e.reason)
                line += ": " + describe(e.reason);
            if (e.kind == connection_event_kind::reconnecting)
                line += ", next attempt in " + std::to_string(e.delay.count()) + " ms";
            print_error(tool_, line);
        }
        if (e.kind == connection_event_kind::connected)
            connected_ = true;
        if (!connected_ && e.kind == connection_event_kind::reconnecting) {
            first_error_ = e.reason;
            client_.stop();
        }
    }

    std::string_view tool_;
    client& client_;
    bool debug_;
    bool connected_ = false;
    std::error_code first_error_;
};

// How every tool starts: parse the command line, answer --help, build the client
// options. Returns the exit code when the tool should stop here.
template <class Config>
std::optional<int> start_tool(std::string_view tool, int argc, char** argv,
    bool (*parse)(int, char**, Config&, std::string&, bool&), std::string_view (*usage)(), Config& cfg,
    client_options& options)
{
    std::string error;
    bool help = false;
    if (!parse(argc, argv, cfg, error, help)) {
        print_error(tool, error);
        return 1;
    }
    if (help) {
        std::cout << usage() << '\n' << connection_help();
        return 0;
    }
    if (!make_client_options(cfg.conn, tool, options, error)) {
        print_error(tool, error);
        return 1;
    }
    return std::nullopt;
}

inline std::string connect_error_text(const std::error_code& ec)
{
    if (ec.category() == reason_category())
        return "Connection refused: " + describe(ec);
    return "Connection error: " + describe(ec);
}

} // namespace mqtt::cli

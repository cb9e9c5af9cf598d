// mqtt-pub: publish messages from the command line (mosquitto_pub compatible flags).
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cli.hpp"
#include "mqtt/topic.hpp"
#include "tool_runtime.hpp"

namespace {

using namespace mqtt;
using namespace mqtt::cli;
namespace net = boost::asio;
using net::awaitable;

constexpr std::string_view tool = "mqtt-pub";

enum class source { none, message, file, stdin_whole, stdin_lines, null };

struct pub_config {
    connection_settings conn;
    std::string topic;
    source from = source::none;
    std::string message;
    std::string file;
    qos q = qos::at_most_once;
    bool retain = false;
    long long repeat = 1;
    long long repeat_delay_ms = 0;
    long long timeout = 0;
};

std::string_view usage()
{
    return R"(Usage: mqtt-pub {-t TOPIC | -L URL} {-m MESSAGE | -f FILE | -s | -l | -n} [options]
Publishes one message (or one per line with -l) and exits once each is acknowledged.

Message:
  -t, --topic TOPIC        topic to publish to
  -m, --message TEXT       the payload
  -f, --file FILE          the payload is the file's contents
  -s, --stdin-file         the payload is everything read from stdin
  -l, --stdin-line         publish each line read from stdin as a message
  -n, --null-message       an empty payload
  -q, --qos QOS            0, 1 or 2 (default 0)
  -r, --retain             set the retain flag
  --repeat N               publish the message N times
  --repeat-delay SEC       wait SEC seconds (fractions allowed) between repeats
  -W, --timeout SEC        give up after SEC seconds (exit code 27)
  --help                   this text
)";
}

bool parse(int argc, char** argv, pub_config& cfg, std::string& error, bool& help)
{
    arg_reader args(argc, argv);
    auto set_source = [&](source s) {
        if (cfg.from != source::none) {
            error = "only one of -m, -f, -s, -l, -n may be given";
            return false;
        }
        cfg.from = s;
        return true;
    };
    long long n = 0;
    std::string v;
    while (!args.done()) {
        auto flag = args.next();
        switch (parse_connection_flag(flag, args, cfg.conn, error)) {
        case parse_status::handled:
            continue;
        case parse_status::failed:
            return false;
        case parse_status::not_mine:
            break;
        }
        if (flag == "--help") {
            help = true;
            return true;
        } else if (flag == "-t" || flag == "--topic") {
            if (!args.value(flag, cfg.topic, error))
                return false;
        } else if (flag == "-m" || flag == "--message") {
            if (!set_source(source::message) || !args.value(flag, cfg.message, error))
                return false;
        } else if (flag == "-f" || flag == "--file") {
            if (!set_source(source::file) || !args.value(flag, cfg.file, error))
                return false;
        } else if (flag == "-s" || flag == "--stdin-file") {
            if (!set_source(source::stdin_whole))
                return false;
        } else if (flag == "-l" || flag == "--stdin-line") {
            if (!set_source(source::stdin_lines))
                return false;
        } else if (flag == "-n" || flag == "--null-message") {
            if (!set_source(source::null))
                return false;
        } else if (flag == "-q" || flag == "--qos") {
            if (!args.value(flag, v, error))
                return false;
            if (!parse_qos(v, cfg.q)) {
                error = "-q: expected 0, 1 or 2";
                return false;
            }
        } else if (flag == "-r" || flag == "--retain") {
            cfg.retain = true;
        } else if (flag == "--repeat") {
            if (!args.int_value(flag, 1, 1'000'000'000, cfg.repeat, error))
                return false;
        } else if (flag == "--repeat-delay") {
            if (!args.value(flag, v, error))
                return false;
            char* end = nullptr;
            double seconds = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || seconds < 0 || seconds > 86400) {
                error = "--repeat-delay: expected seconds";
                return false;
            }
            cfg.repeat_delay_ms = static_cast<long long>(seconds * 1000);
        } else if (flag == "-W" || flag == "--timeout") {
            if (!args.int_value(flag, 1, 86400 * 365, n, error))
                return false;
            cfg.timeout = n;
        } else if (flag == "-C" || flag == "-v" || flag == "-N" || flag == "-R" || flag == "-E") {
            error = "option " + flag + " is for mqtt-sub";
            return false;
        } else {
            error = "unknown option '" + flag + "' (see --help)";
            return false;
        }
    }
    if (cfg.topic.empty())
        cfg.topic = cfg.conn.url_topic;
    if (cfg.topic.empty()) {
        error = "no topic given (-t TOPIC or -L URL/topic)";
        return false;
    }
    if (validate_topic_name(cfg.topic)) {
        error = "'" + cfg.topic + "' is not a valid topic name";
        return false;
    }
    if (cfg.from == source::none) {
        error = "no message given (-m, -f, -s, -l or -n)";
        return false;
    }
    return true;
}

bool read_payload(const pub_config& cfg, std::string& out, std::string& error)
{
    switch (cfg.from) {
    case source::message:
        out = cfg.message;
        return true;
    case source::null:
        out.clear();
        return true;
    case source::file: {
        std::ifstream in(cfg.file, std::ios::binary);
        if (!in) {
            error = "cannot open '" + cfg.file + "'";
            return false;
        }
        out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return true;
    }
    case source::stdin_whole:
        out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        return true;
    default:
        return true;
    }
}

struct run_state {
    int exit_code = 0;
    bool finished = false;
};

// -l: a thread reads stdin (it may block at a terminal) and hands each line to the
// client; the client is safe to call from any thread.
struct line_feed {
    std::size_t outstanding = 0; // on the strand
    bool eof = false;
    std::error_code first_error;
};

awaitable<void> run(client& c, const pub_config& cfg, std::string payload, run_state& st, connection_watch& watch)
{
    auto [ec, ack] = co_await c.async_connect(net::as_tuple(net::use_awaitable));
    if (ec) {
        auto why = watch.first_error() ? watch.first_error() : ec;
        print_error(tool, connect_error_text(why));
        st.exit_code = 1;
        st.finished = true;
        co_return;
    }
    auto ex = co_await net::this_coro::executor;
    const bool debug = cfg.conn.debug;
    auto publish_one = [&](std::string body) {
        return c.async_publish(mqtt::client::make_message(cfg.topic, std::move(body), cfg.q, cfg.retain, cfg.conn.props.publish),
            net::use_awaitable);
    };
    if (cfg.from == source::stdin_lines) {
        auto feed = std::make_shared<line_feed>();
        net::steady_timer wake(ex, net::steady_timer::time_point::max());
        std::thread reader([&c, &cfg, feed, &wake, strand = c.get_executor(), debug] {
            std::string line;
            while (std::getline(std::cin, line)) {
                net::post(strand, [feed] { ++feed->outstanding; });
                c.async_publish(mqtt::client::make_message(cfg.topic, line, cfg.q, cfg.retain, cfg.conn.props.publish),
                    [feed, &wake, debug](std::error_code e, publish_result r) {
                        --feed->outstanding;
                        if (e && !feed->first_error)
                            feed->first_error = e;
                        if (debug)
                            print_error(tool, "published: " + (e ? describe(e) : describe(make_error_code(r.code))));
                        wake.cancel();
                    });
            }
            net::post(strand, [feed, &wake] {
                feed->eof = true;
                wake.cancel();
            });
        });
        while (!(feed->eof && feed->outstanding == 0) && !feed->first_error)
            co_await wake.async_wait(net::as_tuple(net::use_awaitable));
        reader.detach(); // at EOF it has ended; on error it may still wait on a terminal
        if (feed->first_error) {
            print_error(tool, "publish failed: " + describe(feed->first_error));
            st.exit_code = 1;
        }
    } else {
        for (long long i = 0; i < cfg.repeat; ++i) {
            auto [pec, result] = co_await publish_one(payload);
            if (pec) {
                print_error(tool, "publish failed: " + describe(pec));
                st.exit_code = 1;
                break;
            }
            if (debug)
                print_error(tool, "published: " + describe(make_error_code(result.code)));
            if (cfg.repeat_delay_ms > 0 && i + 1 < cfg.repeat) {
                net::steady_timer t(ex, std::chrono::milliseconds(cfg.repeat_delay_ms));
                co_await t.async_wait(net::as_tuple(net::use_awaitable));
            }
        }
    }
    co_await c.async_disconnect(reason_code::normal_disconnection, cfg.conn.props.disconnect, net::as_tuple(net::use_awaitable));
    st.finished = true;
}

} // namespace

int main(int argc, char** argv)
{
    pub_config cfg;
    client_options options;
    if (auto done = start_tool(tool, argc, argv, &parse, &usage, cfg, options))
        return *done;
    std::string error;
    std::string payload;
    if (!read_payload(cfg, payload, error)) {
        print_error(tool, error);
        return 1;
    }
    options.reconnect.enabled = true; // after the first connection: resume and resend
    options.reconnect.max_delay = std::chrono::seconds(5);

    net::io_context ioc;
    client c(ioc.get_executor(), options);
    connection_watch watch(tool, c, cfg.conn.debug);
    watch.install();
    run_state st;

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec)
            return;
        print_error(tool, "interrupted");
        st.exit_code = 1;
        c.stop();
        ioc.stop();
    });
    net::steady_timer deadline(ioc);
    if (cfg.timeout > 0) {
        deadline.expires_after(std::chrono::seconds(cfg.timeout));
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (ec)
                return;
            print_error(tool, "Timed out");
            st.exit_code = exit_timeout;
            c.stop();
            ioc.stop();
        });
    }
    net::co_spawn(c.get_executor(), run(c, cfg, std::move(payload), st, watch), [&](std::exception_ptr e) {
        if (e) {
            print_error(tool, "internal error");
            st.exit_code = 1;
        }
        c.stop(); // after an error the connection may still be up
        signals.cancel();
        deadline.cancel();
    });
    ioc.run();
    std::cout.flush();
    // A -l reader still blocked on stdin must not keep the process alive.
    std::fflush(stdout);
    ::_exit(st.exit_code);
}

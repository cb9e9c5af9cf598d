// mqtt-sub: subscribe and print messages (mosquitto_sub compatible flags).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cli.hpp"
#include "mqtt/topic.hpp"
#include "tool_runtime.hpp"

namespace {

using namespace mqtt;
using namespace mqtt::cli;
namespace net = boost::asio;
using net::awaitable;

constexpr std::string_view tool = "mqtt-sub";

struct sub_config {
    connection_settings conn;
    std::vector<std::string> topics;
    std::vector<std::string> unsubscribe_topics;
    qos q = qos::at_most_once;
    long long count = 0;
    long long timeout = 0;
    bool verbose = false;
    bool no_newline = false;
    bool no_retained = false;     // -R
    bool retained_only = false;
    bool exit_after_subscribe = false; // -E
    bool no_local = false;
    bool retain_as_published = false;
    retain_handling rh = retain_handling::send_on_subscribe;
    std::string format; // -F
};

std::string_view usage()
{
    return R"(Usage: mqtt-sub {-t FILTER ... | -L URL} [options]
Subscribes and prints each message's payload on its own line.

Subscription:
  -t, --topic FILTER       topic filter to subscribe to (repeatable)
  -q, --qos QOS            requested QoS 0, 1 or 2 (default 0)
  -U, --unsubscribe FILTER unsubscribe from FILTER after subscribing (repeatable)
  --nl                     no local (MQTT 5)
  --rap                    retain as published (MQTT 5)
  --retain-handling N      0 send, 1 send if new subscription, 2 do not send (MQTT 5)
  -C, --count N            exit after N messages
  -W, --timeout SEC        exit after SEC seconds (exit code 27)
  -E, --exit-after-sub     exit once the subscription is acknowledged
  -R, --no-retained        do not print retained messages (stale ones)
  --retained-only          print retained messages, exit at the first live one
Output:
  -v, --verbose            print "topic payload"
  -N, --eol                no newline after the payload
  -F, --format FORMAT      %t topic, %p payload, %x payload hex, %l length, %q qos,
                           %r retain, %m packet id, %C content type, %R response topic,
                           %D correlation data, %E message expiry, %S subscription ids,
                           %P user properties (name:value ...), %% and \n \t \\
  --help                   this text
)";
}

bool parse(int argc, char** argv, sub_config& cfg, std::string& error, bool& help)
{
    arg_reader args(argc, argv);
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
            if (!args.value(flag, v, error))
                return false;
            cfg.topics.push_back(v);
        } else if (flag == "-U" || flag == "--unsubscribe") {
            if (!args.value(flag, v, error))
                return false;
            cfg.unsubscribe_topics.push_back(v);
        } else if (flag == "-q" || flag == "--qos") {
            if (!args.value(flag, v, error))
                return false;
            if (!parse_qos(v, cfg.q)) {
                error = "-q: expected 0, 1 or 2";
                return false;
            }
        } else if (flag == "-C" || flag == "--count") {
            if (!args.int_value(flag, 1, 1'000'000'000'000LL, cfg.count, error))
                return false;
        } else if (flag == "-W" || flag == "--timeout") {
            if (!args.int_value(flag, 1, 86400 * 365, n, error))
                return false;
            cfg.timeout = n;
        } else if (flag == "-v" || flag == "--verbose") {
            cfg.verbose = true;
        } else if (flag == "-N" || flag == "--eol") {
            cfg.no_newline = true;
        } else if (flag == "-R" || flag == "--no-retained") {
            cfg.no_retained = true;
        } else if (flag == "--retained-only") {
            cfg.retained_only = true;
        } else if (flag == "-E" || flag == "--exit-after-sub") {
            cfg.exit_after_subscribe = true;
        } else if (flag == "--nl") {
            cfg.no_local = true;
        } else if (flag == "--rap") {
            cfg.retain_as_published = true;
        } else if (flag == "--retain-handling") {
            if (!args.int_value(flag, 0, 2, n, error))
                return false;
            cfg.rh = static_cast<retain_handling>(n);
        } else if (flag == "-F" || flag == "--format") {
            if (!args.value(flag, cfg.format, error))
                return false;
        } else if (flag == "-m" || flag == "-f" || flag == "-s" || flag == "-l" || flag == "-n" || flag == "-r") {
            error = "option " + flag + " is for mqtt-pub";
            return false;
        } else {
            error = "unknown option '" + flag + "' (see --help)";
            return false;
        }
    }
    if (cfg.topics.empty() && !cfg.conn.url_topic.empty())
        cfg.topics.push_back(cfg.conn.url_topic);
    if (cfg.topics.empty()) {
        error = "no topic filter given (-t FILTER or -L URL/filter)";
        return false;
    }
    for (auto& t : cfg.topics)
        if (validate_topic_filter(t)) {
            error = "'" + t + "' is not a valid topic filter";
            return false;
        }
    if ((cfg.no_local || cfg.retain_as_published || cfg.rh != retain_handling::send_on_subscribe)
        && cfg.conn.version != protocol_version::v5) {
        error = "--nl, --rap and --retain-handling need MQTT 5 (-V mqttv5)";
        return false;
    }
    return true;
}

std::string hex(std::string_view bytes)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        auto ch = static_cast<unsigned char>(c);
        out += digits[ch >> 4];
        out += digits[ch & 15];
    }
    return out;
}

std::string format_message(const std::string& format, const mqtt::publish& m)
{
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
        char ch = format[i];
        if (ch == '\\' && i + 1 < format.size()) {
            char e = format[++i];
            out += e == 'n' ? '\n' : e == 't' ? '\t' : e == '0' ? '\0' : e;
            continue;
        }
        if (ch != '%' || i + 1 >= format.size()) {
            out += ch;
            continue;
        }
        auto str = [&](property_id id) { return std::string(m.props.get_string(id).value_or("")); };
        switch (format[++i]) {
        case 't': out += m.topic.view(); break;
        case 'p': out += m.payload.view(); break;
        case 'x': out += hex(m.payload.view()); break;
        case 'l': out += std::to_string(m.payload.size()); break;
        case 'q': out += std::to_string(static_cast<int>(m.qos)); break;
        case 'r': out += m.retain ? "1" : "0"; break;
        case 'm': out += std::to_string(m.packet_id); break;
        case 'C': out += str(property_id::content_type); break;
        case 'R': out += str(property_id::response_topic); break;
        case 'D': out += str(property_id::correlation_data); break;
        case 'E':
            if (auto e = m.props.get_integer(property_id::message_expiry_interval))
                out += std::to_string(*e);
            break;
        case 'S': {
            bool first = true;
            for (auto id : m.props.subscription_identifiers()) {
                out += first ? "" : ",";
                out += std::to_string(id);
                first = false;
            }
            break;
        }
        case 'P': {
            bool first = true;
            for (auto& p : m.props.user_properties()) {
                out += first ? "" : " ";
                out += p.name + ":" + p.value;
                first = false;
            }
            break;
        }
        case '%': out += '%'; break;
        default:
            out += '%';
            out += format[i];
        }
    }
    return out;
}

void print(const sub_config& cfg, const mqtt::publish& m)
{
    std::string line;
    if (!cfg.format.empty()) {
        line = format_message(cfg.format, m);
    } else {
        if (cfg.verbose) {
            line += m.topic.view();
            line += ' ';
        }
        line += m.payload.view();
    }
    if (!cfg.no_newline)
        line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
}

awaitable<int> run(client& c, const sub_config& cfg, connection_watch& watch)
{
    auto [ec, ack] = co_await c.async_connect(net::as_tuple(net::use_awaitable));
    if (ec) {
        auto why = watch.first_error() ? watch.first_error() : ec;
        print_error(tool, connect_error_text(why));
        co_return 1;
    }
    std::vector<subscription> filters;
    for (auto& t : cfg.topics)
        filters.push_back({t, subscribe_options{cfg.q, cfg.no_local, cfg.retain_as_published, cfg.rh}});
    auto [sec, granted] = co_await c.async_subscribe(filters, cfg.conn.props.subscribe, net::as_tuple(net::use_awaitable));
    if (sec) {
        print_error(tool, "subscribe failed: " + describe(sec));
        co_return 1;
    }
    std::size_t refused = 0;
    std::string refusals;
    for (std::size_t i = 0; i < granted.codes.size() && i < filters.size(); ++i) {
        if (is_error(granted.codes[i])) {
            ++refused;
            refusals += (refusals.empty() ? "'" : ", '") + filters[i].filter + "' (" + describe(make_error_code(granted.codes[i])) + ")";
        } else if (cfg.conn.debug) {
            print_error(tool, "subscribed to '" + filters[i].filter + "' with QoS " + std::to_string(static_cast<int>(granted.codes[i])));
        }
    }
    if (refused == filters.size()) {
        print_error(tool, "All subscription requests were denied: " + refusals);
        co_return 1;
    }
    if (refused > 0)
        print_error(tool, "warning: subscription refused: " + refusals);
    if (!cfg.unsubscribe_topics.empty()) {
        auto [uec, u] = co_await c.async_unsubscribe(cfg.unsubscribe_topics, cfg.conn.props.unsubscribe, net::as_tuple(net::use_awaitable));
        if (uec) {
            print_error(tool, "unsubscribe failed: " + describe(uec));
            co_return 1;
        }
    }
    if (!cfg.exit_after_subscribe) {
        long long printed = 0;
        while (true) {
            auto [rec, msg] = co_await c.async_receive(net::as_tuple(net::use_awaitable));
            if (rec == make_error_code(errc::cancelled))
                co_return 0; // we stopped it: -W, a signal
            if (rec) {
                print_error(tool, "connection lost: " + describe(rec));
                co_return 1;
            }
            if (cfg.retained_only && !msg.retain)
                break;
            if (cfg.no_retained && msg.retain)
                continue;
            print(cfg, msg);
            if (cfg.count > 0 && ++printed >= cfg.count)
                break;
        }
    }
    co_await c.async_disconnect(reason_code::normal_disconnection, cfg.conn.props.disconnect, net::as_tuple(net::use_awaitable));
    co_return 0;
}

} // namespace

int main(int argc, char** argv)
{
    sub_config cfg;
    client_options options;
    if (auto done = start_tool(tool, argc, argv, &parse, &usage, cfg, options))
        return *done;
    options.reconnect.enabled = true; // after the first connection: resume on our own
    options.reconnect.max_delay = std::chrono::seconds(5);

    net::io_context ioc;
    client c(ioc.get_executor(), options);
    connection_watch watch(tool, c, cfg.conn.debug);
    watch.install();
    int exit_code = 0;

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec)
            return;
        c.async_disconnect(reason_code::normal_disconnection, cfg.conn.props.disconnect, [&](std::error_code) { ioc.stop(); });
    });
    net::steady_timer deadline(ioc);
    if (cfg.timeout > 0) {
        deadline.expires_after(std::chrono::seconds(cfg.timeout));
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (ec)
                return;
            print_error(tool, "Timed out");
            exit_code = exit_timeout;
            c.async_disconnect(reason_code::normal_disconnection, {}, [&](std::error_code) { ioc.stop(); });
        });
    }
    net::co_spawn(c.get_executor(), run(c, cfg, watch), [&](std::exception_ptr e, int code) {
        if (e) {
            print_error(tool, "internal error");
            code = 1;
        }
        if (exit_code == 0)
            exit_code = code;
        c.stop(); // after an error the connection may still be up
        signals.cancel();
        deadline.cancel();
    });
    ioc.run();
    std::fflush(stdout);
    return exit_code;
}

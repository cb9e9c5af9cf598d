#include "mqtt/client/options.hpp"

#include "mqtt/client/results.hpp"

namespace mqtt {

bool client_options::set_url(std::string_view url, std::string& error)
{
    transport::endpoint parsed;
    parsed.tls = endpoint.tls;
    if (!transport::parse_url(url, parsed, error))
        return false;
    parsed.tls = endpoint.tls;
    endpoint = std::move(parsed);
    return true;
}

connect make_connect_packet(const connect_options& o)
{
    connect c;
    c.version = o.version;
    c.clean_start = o.clean_start;
    c.keep_alive = o.keep_alive;
    c.client_id = o.client_id;
    c.username = o.username;
    c.password = o.password;
    c.will = o.will;
    if (o.version != protocol_version::v5) {
        if (c.will)
            c.will->props.clear(); // 3.1.1 has no Will Properties
        return c;
    }
    c.props = o.props;
    if (o.session_expiry != 0)
        c.props.set(property_id::session_expiry_interval, o.session_expiry);
    if (o.receive_maximum != 0)
        c.props.set(property_id::receive_maximum, o.receive_maximum);
    if (o.maximum_packet_size != 0)
        c.props.set(property_id::maximum_packet_size, o.maximum_packet_size);
    if (o.topic_alias_maximum != 0)
        c.props.set(property_id::topic_alias_maximum, o.topic_alias_maximum);
    if (!o.authentication_method.empty()) {
        c.props.set(property_id::authentication_method, o.authentication_method);
        if (!o.authentication_data.empty())
            c.props.set(property_id::authentication_data, o.authentication_data);
    }
    return c;
}

std::string_view to_string(connection_event_kind kind) noexcept
{
    switch (kind) {
    case connection_event_kind::connected:
        return "connected";
    case connection_event_kind::refused:
        return "refused";
    case connection_event_kind::disconnected:
        return "disconnected";
    case connection_event_kind::reconnecting:
        return "reconnecting";
    case connection_event_kind::stopped:
        return "stopped";
    }
    return "unknown";
}

} // namespace mqtt

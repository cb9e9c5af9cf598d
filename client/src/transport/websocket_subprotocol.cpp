// The WebSocket sub-protocol negotiation of the server side.
#include "websocket_subprotocol.hpp"

namespace mqtt::transport::detail {

std::string_view select_subprotocol(const http::fields& request_fields)
{
    bool mqtt = false;
    bool mqtt31 = false;
    // The offer may be spread over several header lines, each a comma-separated list.
    const auto offers = request_fields.equal_range(http::field::sec_websocket_protocol);
    for (auto it = offers.first; it != offers.second; ++it) {
        for (const auto& token : http::token_list{it->value()}) {
            if (beast::iequals(token, "mqtt")) mqtt = true;
            if (beast::iequals(token, "mqttv3.1")) mqtt31 = true;
        }
    }
    if (mqtt) return "mqtt";
    if (mqtt31) return "mqttv3.1";
    return {};
}

} // namespace mqtt::transport::detail

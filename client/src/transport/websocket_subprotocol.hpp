#pragma once
// Private: choosing the WebSocket sub-protocol a server answers with.
#include <string_view>

#include "layers.hpp"

namespace mqtt::transport::detail {

// "mqtt" when offered [MQTT-6.0.0-4], else "mqttv3.1" (pre-standard clients),
// else "" (the request is refused).
std::string_view select_subprotocol(const http::fields& request_fields);

} // namespace mqtt::transport::detail

// The error category of the failures the transport detects itself.
#include "mqtt/transport/stream.hpp"

namespace mqtt::transport {
namespace {

// boost::system::error_category's destructor is protected and non-virtual by
// design (categories are never deleted through the base).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "mqtt.transport"; }

    std::string message(int value) const override
    {
        switch (static_cast<transport_errc>(value)) {
        case transport_errc::tls_ca_failed:
            return "cannot load the trusted CA certificates (ca_file, ca_path or the system store)";
        case transport_errc::tls_certificate_failed:
            return "cannot load the TLS client certificate (cert_file)";
        case transport_errc::tls_key_failed:
            return "cannot load the TLS private key (key_file), or it does not match the certificate";
        case transport_errc::no_tls_context:
            return "a TLS listener needs a server TLS context";
        case transport_errc::websocket_subprotocol_refused:
            return "the WebSocket server did not select the 'mqtt' sub-protocol";
        case transport_errc::websocket_no_mqtt_subprotocol:
            return "the WebSocket client offered neither the 'mqtt' nor the 'mqttv3.1' sub-protocol";
        case transport_errc::websocket_not_upgrade:
            return "the HTTP request is not a WebSocket upgrade";
        case transport_errc::websocket_bad_request:
            return "malformed or oversized WebSocket upgrade request";
        case transport_errc::websocket_text_frame:
            return "received a WebSocket text frame; MQTT uses binary frames only";
        }
        return "unknown transport error";
    }
};
#pragma GCC diagnostic pop

} // namespace

const boost::system::error_category& transport_category() noexcept
{
    static const category instance;
    return instance;
}

error_code make_error_code(transport_errc e) noexcept
{
    return {static_cast<int>(e), transport_category()};
}

} // namespace mqtt::transport

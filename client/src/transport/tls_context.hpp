#pragma once
// Private: building TLS contexts and configuring client TLS streams.
#include <memory>

#include "layers.hpp"

namespace mqtt::transport {

// Immutable once built; connections share it through shared_ptr.
class server_tls_context {
public:
    server_tls_context() : context(boost::asio::ssl::context::tls_server) {}
    boost::asio::ssl::context context;
};

} // namespace mqtt::transport

namespace mqtt::transport::detail {

// TLS 1.2 or later, the trust store and the optional client certificate.
std::shared_ptr<ssl::context> make_client_tls_context(const tls_options& options, error_code& ec);

// SNI and the verification of the server (chain, then the host name).
void configure_client_tls(tls_layer& tls, const endpoint& ep, error_code& ec);

} // namespace mqtt::transport::detail

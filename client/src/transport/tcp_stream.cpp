// The plain TCP layer, and endpoint formatting shared by all layers.
#include "stream_impl_ops.hpp"

namespace mqtt::transport {

std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep)
{
    const auto address = ep.address();
    const auto port = std::to_string(ep.port());
    if (address.is_v6()) {
        const auto v6 = address.to_v6();
        if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string() + ":" + port;
        return "[" + v6.to_string() + "]:" + port;
    }
    return address.to_string() + ":" + port;
}

namespace detail {

std::string remote_of(const tcp::socket& socket)
{
    error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    return ec ? std::string{} : format_endpoint(ep);
}

template class stream_impl<tcp_layer>;

} // namespace detail
} // namespace mqtt::transport

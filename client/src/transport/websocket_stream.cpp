// The WebSocket layers, over TCP and over TLS.
#include "stream_impl_ops.hpp"

namespace mqtt::transport::detail {

template class stream_impl<ws_layer>;
template class stream_impl<wss_layer>;

} // namespace mqtt::transport::detail

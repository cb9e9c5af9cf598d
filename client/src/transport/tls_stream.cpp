// The TLS layer.
#include "stream_impl_ops.hpp"

namespace mqtt::transport::detail {

template class stream_impl<tls_layer>;

} // namespace mqtt::transport::detail

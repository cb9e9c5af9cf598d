#include "mqtt/version.hpp"

namespace mqtt {
std::string_view library_version() noexcept { return "0.1.0"; }
} // namespace mqtt

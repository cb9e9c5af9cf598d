#pragma once
#include <string_view>

namespace mqtt {
// The library version, e.g. "0.1.0".
std::string_view library_version() noexcept;
} // namespace mqtt

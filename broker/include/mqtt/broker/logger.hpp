#pragma once
// Broker log lines: "2026-11-27T18:41:07Z notice: message", to the destinations
// and for the types the configuration selects.
#include <cstdio>
#include <string>
#include <string_view>

#include "mqtt/broker/config.hpp"

namespace mqtt::broker {

class logger {
public:
    explicit logger(const broker_config& cfg);
    ~logger();
    logger(const logger&) = delete;
    logger& operator=(const logger&) = delete;

    bool enabled(log_type t) const noexcept { return (types_ & static_cast<std::uint16_t>(t)) != 0; }
    void log(log_type t, std::string_view message);

private:
    std::uint16_t types_;
    bool to_stderr_;
    bool to_stdout_;
    std::FILE* file_ = nullptr;
};

} // namespace mqtt::broker

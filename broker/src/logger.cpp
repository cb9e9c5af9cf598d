#include "mqtt/broker/logger.hpp"

#include <ctime>

namespace mqtt::broker {

namespace {

const char* name_of(log_type t)
{
    switch (t) {
    case log_type::debug: return "debug";
    case log_type::error: return "error";
    case log_type::warning: return "warning";
    case log_type::notice: return "notice";
    case log_type::information: return "info";
    case log_type::subscribe: return "subscribe";
    case log_type::unsubscribe: return "unsubscribe";
    case log_type::websockets: return "websockets";
    }
    return "log";
}

} // namespace

logger::logger(const broker_config& cfg)
    : types_(cfg.verbose ? log_types_all : cfg.log_types),
      to_stderr_(cfg.log_dest.to_stderr),
      to_stdout_(cfg.log_dest.to_stdout)
{
    if (!cfg.log_dest.file.empty())
        file_ = std::fopen(cfg.log_dest.file.c_str(), "a");
}

logger::~logger()
{
    if (file_)
        std::fclose(file_);
}

void logger::log(log_type t, std::string_view message)
{
    if (!enabled(t))
        return;
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    auto write = [&](std::FILE* f) {
        std::fprintf(f, "%s %s: %.*s\n", stamp, name_of(t), static_cast<int>(message.size()), message.data());
        std::fflush(f);
    };
    if (to_stderr_)
        write(stderr);
    if (to_stdout_)
        write(stdout);
    if (file_)
        write(file_);
}

} // namespace mqtt::broker

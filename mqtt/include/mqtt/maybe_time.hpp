#pragma once
// A point in time or none, in 8 bytes where std::optional takes 16: for fields of
// the objects a broker keeps one of per client (a session core, a session record,
// a connection), where those 8 bytes add up.
#include <chrono>

namespace mqtt {

class maybe_time {
public:
    using time_point = std::chrono::steady_clock::time_point;

    maybe_time() = default;
    maybe_time(time_point t) noexcept : t_(t) {}
    explicit operator bool() const noexcept { return t_ != none; }
    time_point operator*() const noexcept { return t_; }
    void reset() noexcept { t_ = none; }

private:
    static constexpr time_point none = time_point::min();
    time_point t_ = none;
};

} // namespace mqtt

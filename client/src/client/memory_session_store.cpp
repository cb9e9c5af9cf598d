#include "mqtt/client/session_store.hpp"

namespace mqtt {

result<session_state> memory_session_store::load()
{
    std::lock_guard lock(mutex_);
    return state_;
}

std::error_code memory_session_store::save(const session_state& state)
{
    std::lock_guard lock(mutex_);
    state_ = state;
    ++saves_;
    return {};
}

session_state memory_session_store::snapshot() const
{
    std::lock_guard lock(mutex_);
    return state_;
}

std::size_t memory_session_store::save_count() const
{
    std::lock_guard lock(mutex_);
    return saves_;
}

} // namespace mqtt

#pragma once
// Where a client keeps its session state (unacknowledged QoS 1/2 messages and
// PUBRELs, the QoS 1/2 offline queue, QoS 2 ids received) so that it outlives the
// client object. The client loads it when it first starts and saves it at most
// once per turn of its strand, before writing the packets that depend on the
// change. Stores are called from the client's strand only (load() also from its
// constructor); one store serves one client at a time. A durable implementation
// in a file: sqlite_session_store.hpp.
#include <mutex>
#include <system_error>

#include "mqtt/result.hpp"
#include "mqtt/session_state.hpp"

namespace mqtt {

class session_store {
public:
    virtual ~session_store() = default;
    // The saved state; an empty state when nothing was saved yet.
    virtual result<session_state> load() = 0;
    // Replaces the saved state. On error the client keeps running on its in-memory
    // state and saves again after the next change.
    virtual std::error_code save(const session_state& state) = 0;
};

// Keeps the state in memory: a new client given the same store resumes where the
// previous one stopped (within one process).
class memory_session_store final : public session_store {
public:
    result<session_state> load() override;
    std::error_code save(const session_state& state) override;
    // A copy of what was saved last (for tests and inspection).
    session_state snapshot() const;
    std::size_t save_count() const;

private:
    mutable std::mutex mutex_;
    session_state state_;
    std::size_t saves_ = 0;
};

} // namespace mqtt

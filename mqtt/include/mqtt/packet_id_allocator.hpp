#pragma once
// Packet identifiers from an interval set: never hands out an id still in flight,
// reports exhaustion, and accepts ids restored from a saved session.
#include <cstdint>
#include <map>
#include <optional>

namespace mqtt {

class packet_id_allocator {
public:
    // Ids are 1..maximum. A small maximum makes exhaustion testable.
    explicit packet_id_allocator(std::uint16_t maximum = 65535) noexcept;

    // A free id, or nullopt when all are in use. Ids rotate (the next search starts
    // after the last id handed out) so a freed id is not reused at once, which keeps
    // a late acknowledgment of an old exchange from matching a new one.
    std::optional<std::uint16_t> allocate();

    // Marks `id` used (a restored session). False if 0, above maximum, or in use.
    bool register_id(std::uint16_t id);
    // Frees `id`; no effect if it was not in use.
    void release(std::uint16_t id);

    bool in_use(std::uint16_t id) const noexcept;
    std::size_t used_count() const noexcept { return used_; }
    std::uint16_t maximum() const noexcept { return max_; }
    void clear() noexcept;

private:
    std::uint16_t max_;
    std::uint16_t next_ = 1;
    std::size_t used_ = 0;
    // Used ids as disjoint closed intervals: first -> last.
    std::map<std::uint16_t, std::uint16_t> intervals_;
};

} // namespace mqtt

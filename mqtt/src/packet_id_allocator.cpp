#include "mqtt/packet_id_allocator.hpp"

#include <iterator>

namespace mqtt {

namespace {

using interval_map = std::map<std::uint16_t, std::uint16_t>;

// The interval holding `id`, or end(); const or mutable as the map is.
template <class Map>
auto find_interval(Map& m, std::uint16_t id) noexcept -> decltype(m.end())
{
    auto it = m.upper_bound(id);
    if (it == m.begin()) {
        return m.end();
    }
    --it;
    return it->second >= id ? it : m.end();
}

// Marks a free `id` used, merging with the neighbouring intervals so the map
// stays a set of disjoint, non-adjacent intervals.
void insert_id(interval_map& m, std::uint16_t id)
{
    auto right = m.upper_bound(id);
    const bool joins_right = right != m.end() && static_cast<unsigned>(right->first) == id + 1U;
    if (right != m.begin()) {
        auto left = std::prev(right);
        if (static_cast<unsigned>(left->second) + 1U == id) {
            if (joins_right) {
                left->second = right->second;
                m.erase(right);
            } else {
                left->second = id;
            }
            return;
        }
    }
    if (joins_right) {
        // Re-keyed in place: no node freed and allocated again.
        auto node = m.extract(right);
        node.key() = id;
        m.insert(std::move(node));
        return;
    }
    m.emplace(id, id);
}

} // namespace

packet_id_allocator::packet_id_allocator(std::uint16_t maximum) noexcept : max_(maximum) {}

std::optional<std::uint16_t> packet_id_allocator::allocate()
{
    if (used_ >= max_) {
        return std::nullopt;
    }
    // The first free id at or after `start`, or 0 when none up to max_.
    const auto free_from = [this](std::uint16_t start) -> std::uint16_t {
        auto it = find_interval(intervals_, start);
        if (it == intervals_.end()) {
            return start;
        }
        // Intervals never touch, so the id right after one is free (if in range).
        return it->second < max_ ? static_cast<std::uint16_t>(it->second + 1U) : std::uint16_t{0};
    };
    std::uint16_t id = next_ >= 1 && next_ <= max_ ? free_from(next_) : std::uint16_t{0};
    if (id == 0) {
        id = free_from(1); // wrap around; cannot fail since not every id is used
    }
    insert_id(intervals_, id);
    ++used_;
    next_ = id < max_ ? static_cast<std::uint16_t>(id + 1U) : std::uint16_t{1};
    return id;
}

bool packet_id_allocator::register_id(std::uint16_t id)
{
    if (id == 0 || id > max_ || in_use(id)) {
        return false;
    }
    insert_id(intervals_, id);
    ++used_;
    return true;
}

void packet_id_allocator::release(std::uint16_t id)
{
    auto it = find_interval(intervals_, id);
    if (it == intervals_.end()) {
        return;
    }
    const std::uint16_t first = it->first;
    const std::uint16_t last = it->second;
    if (first == last) {
        intervals_.erase(it);
    } else if (id == first) {
        // The usual case (the oldest id in flight acknowledged): re-keyed in
        // place, without freeing and allocating a node per message.
        auto node = intervals_.extract(it);
        node.key() = static_cast<std::uint16_t>(id + 1U);
        intervals_.insert(std::move(node));
    } else if (id == last) {
        it->second = static_cast<std::uint16_t>(id - 1U);
    } else {
        it->second = static_cast<std::uint16_t>(id - 1U);
        intervals_.emplace_hint(std::next(it), static_cast<std::uint16_t>(id + 1U), last);
    }
    --used_;
}

bool packet_id_allocator::in_use(std::uint16_t id) const noexcept
{
    return find_interval(intervals_, id) != intervals_.end();
}

void packet_id_allocator::clear() noexcept
{
    intervals_.clear();
    used_ = 0;
    next_ = 1;
}

} // namespace mqtt

#pragma once
// Values waiting for the session core's completion actions, found by the tag the
// core carries back. A slot pool instead of a hash map: no allocation per entry
// once warm (publishing is the hot path). A tag holds the slot index in its low
// 32 bits and the slot's generation, never 0, in the high ones, so a stale tag
// (one whose entry was taken and the slot reused) finds nothing.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mqtt::detail {

template <class T>
class tag_table {
public:
    std::uint64_t insert(T value)
    {
        std::uint32_t index;
        if (!free_.empty()) {
            index = free_.back();
            free_.pop_back();
        } else {
            index = static_cast<std::uint32_t>(slots_.size());
            slots_.emplace_back();
        }
        auto& s = slots_[index];
        if (++s.generation == 0)
            s.generation = 1;
        s.value.emplace(std::move(value));
        ++size_;
        return (static_cast<std::uint64_t>(s.generation) << 32) | index;
    }

    T* find(std::uint64_t tag) noexcept
    {
        const auto index = static_cast<std::uint32_t>(tag);
        if (index >= slots_.size())
            return nullptr;
        auto& s = slots_[index];
        if (!s.value || s.generation != static_cast<std::uint32_t>(tag >> 32))
            return nullptr;
        return &*s.value;
    }

    bool contains(std::uint64_t tag) noexcept { return find(tag) != nullptr; }

    std::optional<T> take(std::uint64_t tag)
    {
        T* v = find(tag);
        if (!v)
            return std::nullopt;
        auto& s = slots_[static_cast<std::uint32_t>(tag)];
        std::optional<T> out(std::move(*s.value));
        s.value.reset();
        free_.push_back(static_cast<std::uint32_t>(tag));
        --size_;
        return out;
    }

    std::size_t size() const noexcept { return size_; }

private:
    struct slot {
        std::optional<T> value;
        std::uint32_t generation = 0;
    };
    std::vector<slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t size_ = 0;
};

} // namespace mqtt::detail

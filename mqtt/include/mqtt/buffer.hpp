#pragma once
// A read-only view into shared, reference-counted bytes. Decoded PUBLISH topics
// and payloads are buffers into the receive chunk, so fan-out to any number of
// subscribers shares one allocation and never copies the payload.
#include <algorithm>
#include <compare>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace mqtt {

class buffer {
public:
    buffer() = default;

    // Takes ownership of the string's bytes (one allocation for the shared holder).
    explicit buffer(std::string s)
    {
        auto holder = std::make_shared<const std::string>(std::move(s));
        view_ = *holder;
        owner_ = std::move(holder);
    }
    explicit buffer(const char* s) : buffer(std::string(s)) {}

    // A view kept alive by `owner` (which must own the bytes of `view`).
    buffer(std::shared_ptr<const void> owner, std::string_view view) noexcept
        : owner_(std::move(owner)), view_(view) {}

    // A copy of `s` in one allocation (holder and bytes together).
    static buffer copy(std::string_view s)
    {
        if (s.empty())
            return buffer(std::string()); // still owned: its data() is an identity
        auto holder = std::make_shared<char[]>(s.size());
        std::copy(s.begin(), s.end(), holder.get());
        std::string_view view(holder.get(), s.size());
        return buffer(std::move(holder), view);
    }

    std::string_view view() const noexcept { return view_; }
    operator std::string_view() const noexcept { return view_; }
    const char* data() const noexcept { return view_.data(); }
    std::size_t size() const noexcept { return view_.size(); }
    bool empty() const noexcept { return view_.empty(); }
    std::string str() const { return std::string(view_); }

    // A sub-view sharing the same owner.
    buffer substr(std::size_t pos, std::size_t n = std::string_view::npos) const
    {
        return buffer(owner_, view_.substr(pos, n));
    }

    const std::shared_ptr<const void>& owner() const noexcept { return owner_; }
    // Gives up the owner and leaves the buffer empty, for a holder that keeps
    // the bytes alive on its own (a queue entry keeping a view).
    std::shared_ptr<const void> release_owner() noexcept
    {
        view_ = {};
        return std::move(owner_);
    }

    friend bool operator==(const buffer& a, const buffer& b) noexcept { return a.view_ == b.view_; }
    friend bool operator==(const buffer& a, std::string_view b) noexcept { return a.view_ == b; }
    friend std::strong_ordering operator<=>(const buffer& a, const buffer& b) noexcept
    {
        return a.view_.compare(b.view_) <=> 0;
    }

private:
    std::shared_ptr<const void> owner_;
    std::string_view view_;
};

} // namespace mqtt

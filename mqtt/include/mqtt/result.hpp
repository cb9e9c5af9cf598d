#pragma once
// A value or an error_code: errors are values, never exceptions across the API.
#include <cassert>
#include <system_error>
#include <utility>
#include <variant>

namespace mqtt {

template <class T>
class result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    result(std::error_code ec) : v_(std::in_place_index<1>, ec) { assert(ec); }
    template <class E>
        requires std::is_error_code_enum_v<E>
    result(E e) : result(std::error_code(make_error_code(e))) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    std::error_code error() const noexcept
    {
        return v_.index() == 1 ? std::get<1>(v_) : std::error_code();
    }

private:
    std::variant<T, std::error_code> v_;
};

} // namespace mqtt

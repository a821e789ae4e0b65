#pragma once
// result<T>: a value or an error, for the data path where exceptions are not used.
// (std::expected arrives in C++23; g++ 12 does not ship it.)
//
//   result<int> parse(std::string_view s);
//   auto r = parse("42");
//   if (!r) log(r.error().text); else use(*r);

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace warren {

// E is the error type; for core it is core::error (a reply code and a text).
template <typename T, typename E>
class basic_result {
public:
    basic_result(T v) : _v(std::in_place_index<0>, std::move(v)) {}  // NOLINT
    basic_result(E e) : _v(std::in_place_index<1>, std::move(e)) {}  // NOLINT

    explicit operator bool() const { return _v.index() == 0; }
    bool ok() const { return _v.index() == 0; }
    T& value() {
        assert(ok());
        return std::get<0>(_v);
    }
    const T& value() const {
        assert(ok());
        return std::get<0>(_v);
    }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const E& error() const {
        assert(!ok());
        return std::get<1>(_v);
    }

private:
    std::variant<T, E> _v;
};

template <typename E>
class basic_result<void, E> {
public:
    basic_result() = default;
    basic_result(E e) : _e(std::move(e)) {}  // NOLINT
    explicit operator bool() const { return !_e; }
    bool ok() const { return !_e; }
    const E& error() const {
        assert(_e);
        return *_e;
    }

private:
    std::optional<E> _e;
};

}  // namespace warren

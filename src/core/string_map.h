#pragma once
// string_map<V>: std::unordered_map keyed by std::string that can be looked up with a
// std::string_view (or const char*) without building a temporary string.

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace warren::core {

struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    size_t operator()(const std::string& s) const { return std::hash<std::string_view>{}(s); }
    size_t operator()(const char* s) const { return std::hash<std::string_view>{}(s); }
};

template <typename V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

}  // namespace warren::core

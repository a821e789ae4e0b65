#pragma once
// Helpers shared by the codec tests: hex literals and a deterministic byte mutator.

#include <cstdint>
#include <string>
#include <string_view>

namespace warren::amqp::test {

inline std::string unhex(std::string_view h) {
    std::string out;
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<char>(nib(h[i]) * 16 + nib(h[i + 1])));
    return out;
}

inline std::string hex(std::string_view s) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

// xorshift: reproducible pseudo-random bytes for the mutation tests.
struct rng {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
};

}  // namespace warren::amqp::test

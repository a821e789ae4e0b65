#pragma once
// Helpers shared by the fuzz targets: taking bytes off the front of libFuzzer's input, and a
// check that aborts (so libFuzzer records a crash) when a property of the code under test fails.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace warren::fuzz {

// Reads from the front of the input; past the end every read yields 0.
class input {
public:
    input(const uint8_t* data, size_t size) : _rest(reinterpret_cast<const char*>(data), size) {}
    uint8_t byte() {
        if (_rest.empty()) return 0;
        uint8_t b = uint8_t(_rest.front());
        _rest.remove_prefix(1);
        return b;
    }
    std::string_view take(size_t n) {
        auto s = _rest.substr(0, n);
        _rest.remove_prefix(s.size());
        return s;
    }
    std::string_view rest() const { return _rest; }
    bool empty() const { return _rest.empty(); }

private:
    std::string_view _rest;
};

// Splits `data` at every occurrence of `sep` (a separator that seeds can use and the fuzzer
// can learn): "a|b" -> {"a", "b"}. At most `max` parts; the last one keeps the rest.
template <typename F>
void split(std::string_view data, std::string_view sep, size_t max, F&& f) {
    for (size_t i = 1; i < max; ++i) {
        auto p = data.find(sep);
        if (p == std::string_view::npos) break;
        f(data.substr(0, p));
        data.remove_prefix(p + sep.size());
    }
    f(data);
}

}  // namespace warren::fuzz

// A property the target checks beyond "does not crash".
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

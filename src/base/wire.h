#pragma once
// Big-endian wire primitives shared by every binary format Warren reads or writes (the AMQP
// codec, the field-table and properties codec in core, the store's records): a bounds-checked
// reader over a string_view with a sticky failure flag, and appenders for std::string.
//
//   wire::reader r(payload);
//   uint16_t cid = r.u16();
//   std::string_view key = r.shortstr_view();
//   if (!r.ok()) return error;   // any read past the end fails, and later reads return zeros
//
// Header-only and allocation-free; untrusted input never reads out of bounds.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace warren::wire {

class reader {
public:
    explicit reader(std::string_view in) : _in(in) {}

    bool ok() const { return _ok; }
    bool empty() const { return _in.empty(); }
    std::string_view rest() const { return _in; }
    void fail() {
        _ok = false;
        _in = {};
    }

    uint8_t u8() { return static_cast<uint8_t>(be(1)); }
    uint16_t u16() { return static_cast<uint16_t>(be(2)); }
    uint32_t u32() { return static_cast<uint32_t>(be(4)); }
    uint64_t u64() { return be(8); }

    std::string_view bytes(size_t n) {
        if (!need(n)) return {};
        std::string_view v = _in.substr(0, n);
        _in.remove_prefix(n);
        return v;
    }
    std::string_view shortstr_view() { return bytes(u8()); }
    std::string_view longstr_view() {
        uint32_t n = u32();
        return _ok ? bytes(n) : std::string_view{};
    }

protected:
    bool need(size_t n) {
        if (_ok && _in.size() >= n) return true;
        fail();
        return false;
    }
    uint64_t be(size_t n) {
        if (!need(n)) return 0;
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(_in[i]);
        _in.remove_prefix(n);
        return v;
    }

    std::string_view _in;
    bool _ok = true;
};

inline void put_u8(std::string& out, uint8_t v) {
    out.push_back(static_cast<char>(v));
}
inline void put_u16(std::string& out, uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 2);
}
inline void put_u32(std::string& out, uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
    put_u32(out, static_cast<uint32_t>(v >> 32));
    put_u32(out, static_cast<uint32_t>(v));
}
// A shortstr holds at most 255 octets; longer input is truncated (callers validate names first).
inline void put_shortstr(std::string& out, std::string_view s) {
    if (s.size() > 255) s = s.substr(0, 255);
    put_u8(out, static_cast<uint8_t>(s.size()));
    out.append(s);
}
inline void put_longstr(std::string& out, std::string_view s) {
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}
// Overwrites 4 bytes at `pos` (used to patch lengths written as placeholders).
inline void patch_u32(std::string& out, size_t pos, uint32_t v) {
    out[pos] = static_cast<char>(v >> 24);
    out[pos + 1] = static_cast<char>(v >> 16);
    out[pos + 2] = static_cast<char>(v >> 8);
    out[pos + 3] = static_cast<char>(v);
}

}  // namespace warren::wire

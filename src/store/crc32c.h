#pragma once
// CRC-32C (Castagnoli), the checksum of every record and header Warren writes to disk. Uses the
// SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8 table otherwise; both give the
// same values (crc32c("123456789") == 0xe3069283).
//
// Stored checksums are masked (as LevelDB does) so that a checksum computed over bytes that
// themselves contain checksums does not degenerate:
//
//   uint32_t c = crc32c::mask(crc32c::value(data, n));
//   ... later: crc32c::unmask(stored) == crc32c::value(data, n)

#include <cstddef>
#include <cstdint>

namespace warren::store::crc32c {

// Extends `crc` (the CRC of some prefix) with n more bytes.
uint32_t extend(uint32_t crc, const void* data, size_t n);
inline uint32_t value(const void* data, size_t n) {
    return extend(0, data, n);
}

namespace detail {
// The table-driven implementation, exposed so tests can compare it with the hardware one.
uint32_t extend_portable(uint32_t crc, const void* data, size_t n);
}  // namespace detail

inline constexpr uint32_t mask_delta = 0xa282ead8u;
inline uint32_t mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + mask_delta;
}
inline uint32_t unmask(uint32_t masked) {
    uint32_t rot = masked - mask_delta;
    return (rot >> 17) | (rot << 15);
}

}  // namespace warren::store::crc32c

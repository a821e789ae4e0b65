#include "tools/perf/histogram.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace warren::perf {

// Layout: values below 2^bits map to themselves (exact). A larger value with its most significant
// bit at position msb is shifted right by e = msb - (bits - 1) so that its mantissa m lies in
// [2^(bits-1), 2^bits); its index is e * 2^(bits-1) + m. Consecutive exponents tile the index
// space without gaps, and the bucket of index i spans [m << e, ((m + 1) << e) - 1].

histogram::histogram(int sub_bucket_bits) : _bits(std::clamp(sub_bucket_bits, 2, 16)) {
    const size_t half = size_t{1} << (_bits - 1);
    const size_t max_e = 64 - _bits;  // msb 63
    _counts.assign(max_e * half + (size_t{1} << _bits), 0);
}

size_t histogram::bucket_index(uint64_t value) const {
    if (value < (uint64_t{1} << _bits)) return static_cast<size_t>(value);
    const int msb = 63 - __builtin_clzll(value);
    const int e = msb - (_bits - 1);
    const uint64_t m = value >> e;
    return (static_cast<size_t>(e) << (_bits - 1)) + static_cast<size_t>(m);
}

uint64_t histogram::bucket_lowest(size_t index) const {
    if (index < (size_t{1} << _bits)) return index;
    const size_t half = size_t{1} << (_bits - 1);
    // index = e * half + m with m in [half, 2 * half): e = index / half - 1.
    const size_t e = index / half - 1;
    const uint64_t m = index - e * half;
    return m << e;
}

uint64_t histogram::bucket_highest(size_t index) const {
    if (index < (size_t{1} << _bits)) return index;
    const size_t half = size_t{1} << (_bits - 1);
    const size_t e = index / half - 1;
    const uint64_t m = index - e * half;
    return ((m + 1) << e) - 1;  // wraps to UINT64_MAX for the last bucket, as intended
}

void histogram::record(uint64_t value, uint64_t count) {
    if (count == 0) return;
    _counts[bucket_index(value)] += count;
    _count += count;
    _min = std::min(_min, value);
    _max = std::max(_max, value);
    _sum += static_cast<unsigned __int128>(value) * count;
}

void histogram::merge(const histogram& other) {
    assert(other._bits == _bits);
    if (other._count == 0) return;
    for (size_t i = 0; i < _counts.size(); ++i) _counts[i] += other._counts[i];
    _count += other._count;
    _min = std::min(_min, other._min);
    _max = std::max(_max, other._max);
    _sum += other._sum;
}

void histogram::reset() {
    std::fill(_counts.begin(), _counts.end(), 0);
    _count = 0;
    _min = UINT64_MAX;
    _max = 0;
    _sum = 0;
}

uint64_t histogram::value_at_percentile(double p) const {
    if (_count == 0) return 0;
    if (p <= 0) return _min;
    if (p >= 100) return _max;
    // Rank of the value wanted (1-based): ceil(p% of count), at least 1.
    uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(_count)));
    rank = std::clamp<uint64_t>(rank, 1, _count);
    uint64_t seen = 0;
    for (size_t i = bucket_index(_min); i < _counts.size(); ++i) {
        seen += _counts[i];
        if (seen >= rank) return std::clamp(bucket_highest(i), _min, _max);
    }
    return _max;
}

}  // namespace warren::perf

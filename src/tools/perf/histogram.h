#pragma once
// A log-linear latency histogram in the spirit of HdrHistogram: values (nanoseconds, or any
// uint64) fall into buckets whose width grows with the value, so the relative error of any
// reported percentile stays below 1 / 2^(sub_bucket_bits - 1) (0.78% with the default 8 bits)
// over the whole uint64 range, in a fixed array of counters (about 60 KB). Recording is a few
// instructions and never allocates; two histograms merge by adding counters.
//
// Owned by whoever records into it; not thread-safe (warren-perf keeps one per reporting
// interval under a mutex and merges them).
//
//   histogram h;
//   h.record(latency_ns);
//   uint64_t p99 = h.value_at_percentile(99.0);

#include <cstddef>
#include <cstdint>
#include <vector>

namespace warren::perf {

class histogram {
public:
    // sub_bucket_bits: values below 2^sub_bucket_bits are exact; above, each power of two is
    // split into 2^(sub_bucket_bits - 1) equal buckets. Valid range 2..16.
    explicit histogram(int sub_bucket_bits = 8);

    void record(uint64_t value) { record(value, 1); }
    void record(uint64_t value, uint64_t count);
    // Adds every recorded value of `other` (which must have the same sub_bucket_bits).
    void merge(const histogram& other);
    void reset();

    uint64_t count() const { return _count; }
    uint64_t min() const { return _count ? _min : 0; }
    uint64_t max() const { return _max; }
    double mean() const { return _count ? static_cast<double>(_sum) / _count : 0.0; }

    // The smallest recorded value v such that at least p percent of the values are <= v, reported
    // as the highest value its bucket can hold, clamped to [min(), max()]. 0 when empty.
    // p <= 0 gives min(), p >= 100 gives max().
    uint64_t value_at_percentile(double p) const;

    // Bucket arithmetic, public for tests.
    size_t bucket_index(uint64_t value) const;
    uint64_t bucket_lowest(size_t index) const;
    uint64_t bucket_highest(size_t index) const;
    size_t bucket_count() const { return _counts.size(); }
    int sub_bucket_bits() const { return _bits; }

private:
    int _bits;
    std::vector<uint64_t> _counts;
    uint64_t _count = 0;
    uint64_t _min = UINT64_MAX;
    uint64_t _max = 0;
    unsigned __int128 _sum = 0;
};

}  // namespace warren::perf

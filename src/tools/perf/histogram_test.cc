#include "tools/perf/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace warren::perf {
namespace {

TEST(Histogram, EmptyReportsZeros) {
    histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
    EXPECT_EQ(h.value_at_percentile(50), 0u);
    EXPECT_EQ(h.value_at_percentile(99.9), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
    histogram h(8);
    for (uint64_t v = 0; v < 256; ++v) EXPECT_EQ(h.bucket_index(v), v);
    for (uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.value_at_percentile(50), 50u);
    EXPECT_EQ(h.value_at_percentile(99), 99u);
    EXPECT_EQ(h.value_at_percentile(1), 1u);
    EXPECT_EQ(h.value_at_percentile(100), 100u);
    EXPECT_EQ(h.value_at_percentile(0), 1u);
    EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
    for (int bits : {2, 5, 8, 11}) {
        histogram h(bits);
        uint64_t expected_low = 0;
        for (size_t i = 0; i < h.bucket_count(); ++i) {
            ASSERT_EQ(h.bucket_lowest(i), expected_low) << "bits " << bits << " index " << i;
            ASSERT_GE(h.bucket_highest(i), h.bucket_lowest(i));
            ASSERT_EQ(h.bucket_index(h.bucket_lowest(i)), i);
            ASSERT_EQ(h.bucket_index(h.bucket_highest(i)), i);
            expected_low = h.bucket_highest(i) + 1;  // wraps to 0 after the last bucket
        }
        EXPECT_EQ(expected_low, 0u) << "the last bucket ends at UINT64_MAX";
    }
}

TEST(Histogram, BucketWidthBoundsRelativeError) {
    histogram h(8);
    for (size_t i = 256; i < h.bucket_count(); ++i) {
        const double low = static_cast<double>(h.bucket_lowest(i));
        const double width = static_cast<double>(h.bucket_highest(i)) - low + 1;
        ASSERT_LE(width / low, 1.0 / 128 + 1e-12) << i;
    }
}

TEST(Histogram, PercentilesMatchSortedSamplesWithinPrecision) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(12.0, 1.5);  // ~160 us median, long tail
    std::vector<uint64_t> v;
    histogram h;
    for (int i = 0; i < 200000; ++i) {
        uint64_t x = static_cast<uint64_t>(dist(rng)) + 1;
        v.push_back(x);
        h.record(x);
    }
    std::sort(v.begin(), v.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99}) {
        size_t rank = static_cast<size_t>(std::ceil(p / 100 * v.size()));
        uint64_t exact = v[rank - 1];
        uint64_t got = h.value_at_percentile(p);
        EXPECT_GE(got, exact) << p;  // highest equivalent value: never under-reports
        EXPECT_LE(static_cast<double>(got - exact), exact / 128.0 + 1) << p;
    }
    EXPECT_EQ(h.min(), v.front());
    EXPECT_EQ(h.max(), v.back());
    EXPECT_EQ(h.value_at_percentile(100), v.back());
}

TEST(Histogram, RepeatedCountsAndMean) {
    histogram h;
    h.record(1000, 99);
    h.record(1000000, 1);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_NEAR(h.value_at_percentile(99), 1000, 1000 / 128.0);
    EXPECT_EQ(h.value_at_percentile(99.5), 1000000u);  // clamped to max
    EXPECT_DOUBLE_EQ(h.mean(), (99.0 * 1000 + 1000000) / 100);
    h.record(5, 0);  // a zero count records nothing
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.min(), 1000u);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
    histogram a, b, all;
    for (uint64_t i = 0; i < 5000; ++i) {
        uint64_t x = i * i * 37 + 11;
        (i % 3 ? a : b).record(x);
        all.record(x);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    EXPECT_DOUBLE_EQ(a.mean(), all.mean());
    for (double p : {50.0, 90.0, 99.0, 99.9})
        EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
    histogram empty;
    a.merge(empty);
    EXPECT_EQ(a.count(), all.count());
}

TEST(Histogram, ResetForgetsEverything) {
    histogram h;
    h.record(123456);
    h.reset();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.max(), 0u);
    h.record(7);
    EXPECT_EQ(h.min(), 7u);
    EXPECT_EQ(h.value_at_percentile(50), 7u);
}

TEST(Histogram, HugeValuesDoNotOverflow) {
    histogram h;
    h.record(UINT64_MAX);
    h.record(UINT64_MAX - 1);
    h.record(uint64_t{1} << 63);
    EXPECT_EQ(h.max(), UINT64_MAX);
    EXPECT_EQ(h.value_at_percentile(100), UINT64_MAX);
    EXPECT_GE(h.value_at_percentile(10), uint64_t{1} << 63);
    EXPECT_GT(h.mean(), 0.0);
}

}  // namespace
}  // namespace warren::perf

#include "base/containers.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace warren {
namespace {

TEST(ShrinkWhenSparse, GivesBackCapacityOnceLessThanAQuarterFull) {
    std::vector<int> v(10000, 1);
    const size_t peak = v.capacity();
    v.resize(5000);
    shrink_when_sparse(v);
    EXPECT_EQ(v.capacity(), peak);  // half full: kept
    v.resize(2499);
    shrink_when_sparse(v);
    EXPECT_EQ(v.capacity(), 2499u);
    EXPECT_EQ(v.size(), 2499u);
    EXPECT_EQ(v.back(), 1);
}

TEST(ShrinkWhenSparse, KeepsSmallVectorsAsTheyAre) {
    std::vector<int> v;
    v.reserve(64);
    shrink_when_sparse(v);
    EXPECT_EQ(v.capacity(), 64u);
}

TEST(ShrinkWhenSparse, RehashesAMapOnceFewerThanOneElementPerEightBuckets) {
    std::unordered_map<uint64_t, int> m;
    for (uint64_t i = 0; i < 100000; ++i) m[i] = 1;
    const size_t peak = m.bucket_count();
    ASSERT_GE(peak, 100000u);
    uint64_t next = 0;  // erased from the front
    while (m.size() > peak / 8) m.erase(next++);
    shrink_when_sparse(m);
    EXPECT_EQ(m.bucket_count(), peak);  // one per eight buckets: kept
    m.erase(next++);
    shrink_when_sparse(m);
    EXPECT_LT(m.bucket_count(), peak / 4);
    EXPECT_GE(m.bucket_count(), m.size());
    EXPECT_EQ(m.at(99999), 1);
}

}  // namespace
}  // namespace warren

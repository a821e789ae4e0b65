#include "base/containers.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace warren

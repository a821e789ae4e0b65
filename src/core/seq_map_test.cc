#include "core/seq_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace warren::core {
namespace {

TEST(SeqMap, InsertFindTake) {
    seq_map<int> m;
    EXPECT_EQ(m.find(1), nullptr);
    m.insert(1, 10);
    m.insert(2, 20);
    ASSERT_NE(m.find(1), nullptr);
    EXPECT_EQ(*m.find(1), 10);
    EXPECT_EQ(m.take(1), 10);
    EXPECT_FALSE(m.take(1));
    EXPECT_EQ(m.size(), 1u);
    m.insert(2, 21);
    EXPECT_EQ(*m.find(2), 21);
    EXPECT_EQ(m.size(), 1u);
}

TEST(SeqMap, MatchesStdMapUnderRandomOperations) {
    seq_map<uint64_t> m;
    std::map<uint64_t, uint64_t> ref;
    std::mt19937_64 rng(42);
    for (int i = 0; i < 200000; ++i) {
        uint64_t k = rng() % 5000 + 1;
        switch (rng() % 3) {
            case 0:
                m.insert(k, k * 3 + i);
                ref[k] = k * 3 + i;
                break;
            case 1: {
                auto a = m.take(k);
                auto it = ref.find(k);
                ASSERT_EQ(a.has_value(), it != ref.end());
                if (a) {
                    ASSERT_EQ(*a, it->second);
                    ref.erase(it);
                }
                break;
            }
            default: {
                auto* p = m.find(k);
                auto it = ref.find(k);
                ASSERT_EQ(p != nullptr, it != ref.end());
                if (p) {
                    ASSERT_EQ(*p, it->second);
                }
            }
        }
        ASSERT_EQ(m.size(), ref.size());
    }
    size_t n = 0;
    m.for_each([&](uint64_t k, uint64_t& v) {
        ++n;
        EXPECT_EQ(ref.at(k), v);
    });
    EXPECT_EQ(n, ref.size());
}

}  // namespace
}  // namespace warren::core

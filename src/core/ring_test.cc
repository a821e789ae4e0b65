#include "core/ring.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>

namespace warren::core {
namespace {

TEST(Ring, PushPopBothEnds) {
    ring<int> r;
    EXPECT_TRUE(r.empty());
    r.push_back(2);
    r.push_back(3);
    r.push_front(1);
    r.push_front(0);
    ASSERT_EQ(r.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r[i], i);
    r.pop_front();
    EXPECT_EQ(r.front(), 1);
    EXPECT_EQ(r.back(), 3);
}

TEST(Ring, InsertInMiddle) {
    ring<int> r;
    for (int i : {0, 2, 4}) r.push_back(i);
    r.insert(1, 1);
    r.insert(3, 3);
    r.insert(5, 5);
    r.insert(0, -1);
    ASSERT_EQ(r.size(), 7u);
    for (int i = 0; i < 7; ++i) EXPECT_EQ(r[i], i - 1);
}

TEST(Ring, SlidingWindowDoesNotGrow) {
    ring<int> r;
    for (int i = 0; i < 10; ++i) r.push_back(i);
    size_t cap = r.capacity();
    for (int i = 0; i < 100000; ++i) {
        r.pop_front();
        r.push_back(i);
    }
    EXPECT_EQ(r.capacity(), cap);
}

TEST(Ring, MatchesDequeAndDestroysElements) {
    ring<std::shared_ptr<int>> r;
    std::deque<std::shared_ptr<int>> ref;
    std::mt19937 rng(7);
    auto token = std::make_shared<int>(0);
    for (int i = 0; i < 10000; ++i) {
        auto v = std::make_shared<int>(i);
        switch (rng() % 4) {
            case 0:
                r.push_back(v);
                ref.push_back(v);
                break;
            case 1:
                r.push_front(v);
                ref.push_front(v);
                break;
            case 2:
                if (!ref.empty()) {
                    r.pop_front();
                    ref.pop_front();
                }
                break;
            default: {
                size_t pos = ref.empty() ? 0 : rng() % (ref.size() + 1);
                r.insert(pos, v);
                ref.insert(ref.begin() + static_cast<long>(pos), v);
            }
        }
        ASSERT_EQ(r.size(), ref.size());
    }
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(r[i], ref[i]);
    std::weak_ptr<int> w = ref.front();
    ref.clear();
    r.reset();
    EXPECT_TRUE(w.expired());
}

}  // namespace
}  // namespace warren::core

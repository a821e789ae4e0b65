#include "core/topic.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/test_time.h"
#include "core/queue.h"

namespace warren::core {
namespace {

// Fake destinations: distinct queue* values that are never dereferenced.
queue* fake_queue(uintptr_t i) {
    return reinterpret_cast<queue*>(0x1000 + 16 * i);
}

bool matches(std::string_view pattern, std::string_view key) {
    topic_trie t;
    t.add(pattern, binding_dest{fake_queue(1), nullptr});
    route_result r;
    t.match(key, r);
    return r.queues.size() == 1;
}

struct topic_case {
    const char* pattern;
    const char* key;
    bool match;
};

TEST(TopicTrie, MatchingTable) {
    const topic_case cases[] = {
        // literals
        {"a.b.c", "a.b.c", true},
        {"a.b.c", "a.b", false},
        {"a.b", "a.b.c", false},
        {"a.b.c", "a.b.d", false},
        {"", "", true},
        {"", "a", false},
        {"a", "", false},
        // '*' is exactly one word
        {"*", "a", true},
        {"*", "", false},
        {"*", "a.b", false},
        {"a.*", "a.b", true},
        {"a.*", "a", false},
        {"a.*", "a.b.c", false},
        {"*.b.*", "a.b.c", true},
        {"*.*", "a.b", true},
        {"*.*", "a", false},
        // '#' is zero or more words
        {"#", "", true},
        {"#", "a", true},
        {"#", "a.b.c", true},
        {"a.#", "a", true},
        {"a.#", "a.b", true},
        {"a.#", "a.b.c", true},
        {"a.#", "b.a", false},
        {"#.a", "a", true},
        {"#.a", "x.y.a", true},
        {"#.a", "a.x", false},
        {"a.#.b", "a.b", true},
        {"a.#.b", "a.x.b", true},
        {"a.#.b", "a.x.y.b", true},
        {"a.#.b", "a.x.y.c", false},
        {"a.#.b", "b.a.b", false},
        {"#.#", "", true},
        {"#.#", "a.b", true},
        {"#.#.#", "a", true},
        {"a.#.#", "a", true},
        {"#.a.#", "a", true},
        {"#.a.#", "x.a.y", true},
        {"#.a.#", "x.b.y", false},
        {"#.*", "a", true},
        {"#.*", "", false},
        {"*.#", "a.b.c", true},
        {"a.*.#", "a", false},
        {"a.*.#", "a.b", true},
        {"a.*.#", "a.b.c.d", true},
        // empty words are words
        {"a..b", "a..b", true},
        {"a.*.b", "a..b", true},
        {"a.b", "a..b", false},
        {"a.", "a.", true},
        {"a.*", "a.", true},
        {".a", ".a", true},
        {"*.a", ".a", true},
        {"#", ".", true},
        {"*", ".", false},
        {"*.*", ".", true},
        // '*' and '#' only as whole words
        {"a*", "ab", false},
        {"a*", "a*", true},
        {"a#", "a#", true},
        {"a#", "a", false},
    };
    for (auto& c : cases)
        EXPECT_EQ(matches(c.pattern, c.key), c.match)
            << "pattern '" << c.pattern << "' key '" << c.key << "'";
}

TEST(TopicTrie, SplitFollowsRabbitMQ) {
    std::vector<std::string_view> w;
    topic_trie::split("", w);
    EXPECT_TRUE(w.empty());
    topic_trie::split("a", w);
    EXPECT_EQ(w, (std::vector<std::string_view>{"a"}));
    topic_trie::split("a..b", w);
    EXPECT_EQ(w, (std::vector<std::string_view>{"a", "", "b"}));
    topic_trie::split(".", w);
    EXPECT_EQ(w, (std::vector<std::string_view>{"", ""}));
}

TEST(TopicTrie, EachDestinationAtMostOncePerMatch) {
    topic_trie t;
    binding_dest d{fake_queue(1), nullptr};
    t.add("#.a.#", d);
    route_result r;
    t.match("a.a.a.a", r);
    EXPECT_EQ(r.queues.size(), 1u);
}

TEST(TopicTrie, SeveralPatternsSeveralDestinations) {
    topic_trie t;
    t.add("stock.#", {fake_queue(1), nullptr});
    t.add("stock.*.nyse", {fake_queue(2), nullptr});
    t.add("*.usd.*", {fake_queue(3), nullptr});
    t.add("bond.#", {fake_queue(4), nullptr});
    route_result r;
    t.match("stock.usd.nyse", r);
    std::sort(r.queues.begin(), r.queues.end());
    EXPECT_EQ(r.queues, (std::vector<queue*>{fake_queue(1), fake_queue(2), fake_queue(3)}));
}

TEST(TopicTrie, RemovePrunesNodes) {
    topic_trie t;
    binding_dest d1{fake_queue(1), nullptr}, d2{fake_queue(2), nullptr};
    t.add("a.b.c", d1);
    t.add("a.#", d2);
    t.add("a.#", d2);  // same pattern twice (bindings differing by args)
    EXPECT_EQ(t.size(), 3u);
    EXPECT_TRUE(t.remove("a.b.c", d1));
    EXPECT_FALSE(t.remove("a.b.c", d1));
    EXPECT_FALSE(t.remove("a.b", d2));
    route_result r;
    t.match("a.b.c", r);
    EXPECT_EQ(r.queues, (std::vector<queue*>{fake_queue(2)}));
    EXPECT_TRUE(t.remove("a.#", d2));
    r.clear();
    t.match("a.b.c", r);
    EXPECT_EQ(r.queues.size(), 1u);
    EXPECT_TRUE(t.remove("a.#", d2));
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.node_count(), 1u);  // only the root is left
}

TEST(TopicTrie, FoldedHashesRemoveByEitherSpelling) {
    topic_trie t;
    binding_dest d{fake_queue(1), nullptr};
    t.add("a.#.#", d);
    EXPECT_TRUE(t.remove("a.#.#", d));
    EXPECT_EQ(t.node_count(), 1u);
}

TEST(TopicTrie, HundredThousandBindingsStayFast) {
    topic_trie t;
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
        std::string p = "region" + std::to_string(i % 100) + ".service" + std::to_string(i) +
                        (i % 3 == 0   ? ".*"
                         : i % 3 == 1 ? ".#"
                                      : ".event");
        t.add(p, binding_dest{fake_queue(static_cast<uintptr_t>(i)), nullptr});
    }
    t.add("#.event", binding_dest{fake_queue(n + 1), nullptr});
    EXPECT_EQ(t.size(), static_cast<size_t>(n + 1));
    route_result r;
    auto start = std::chrono::steady_clock::now();
    size_t total = 0;
    for (int i = 0; i < 20000; ++i) {
        r.clear();
        int s = (i * 7919) % n;
        t.match("region" + std::to_string(s % 100) + ".service" + std::to_string(s) + ".event", r);
        total += r.queues.size();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    // Each key matches its own binding (.*, .# or .event) and "#.event".
    EXPECT_EQ(total, 40000u);
    // 20k matches against 100k bindings: a linear scan would take 2e9 pattern checks; the trie
    // takes well under a second (scaled: a sanitizer build is slower).
    EXPECT_LT(ms, test::scaled(5000)) << "took " << ms << " ms";
}

}  // namespace
}  // namespace warren::core

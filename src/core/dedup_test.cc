#include "core/dedup.h"

#include <gtest/gtest.h>

#include "core/broker.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

message with_header(std::string_view name, field_value v) {
    message m;
    m.props.headers.emplace();
    m.props.headers->emplace_back(std::string(name), std::move(v));
    return m;
}

TEST(DedupKey, KindsAreKeptApartAndWidthsAreNot) {
    EXPECT_EQ(dedup_key(with_header(k_dedup_header, std::string("1")), k_dedup_header), "S1");
    EXPECT_EQ(dedup_key(with_header(k_dedup_header, int64_t{1}), k_dedup_header), "I1");
    EXPECT_EQ(dedup_key(with_header(k_dedup_header, int16_t{1}), k_dedup_header), "I1");
    EXPECT_EQ(dedup_key(with_header(k_dedup_header, bytes_value{"1"}), k_dedup_header), "S1");
    EXPECT_EQ(dedup_key(with_header(k_dedup_header, true), k_dedup_header), "B1");
    EXPECT_FALSE(dedup_key(with_header(k_dedup_header, void_value{}), k_dedup_header));
    EXPECT_FALSE(dedup_key(with_header(k_dedup_header, field_value::table({})), k_dedup_header));
    EXPECT_FALSE(dedup_key(with_header("other", std::string("1")), k_dedup_header));
    EXPECT_FALSE(dedup_key(message{}, k_dedup_header));
}

TEST(DedupOptions, PluginTypeNeedsCacheSizeArgumentFormDoesNot) {
    auto r = exchange_dedup_options(k_dedup_exchange_type, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    r = exchange_dedup_options(k_dedup_exchange_type, {{"x-cache-size", std::string("7")}});
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->size, 7u);
    r = exchange_dedup_options("direct", {{"x-message-deduplication", true}});
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->size, 128u);
    EXPECT_FALSE((*r)->ttl);
    r = exchange_dedup_options("direct", {{"x-cache-size", int64_t{5}}});
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);  // no deduplication asked for
    r = exchange_dedup_options(k_dedup_exchange_type,
                               {{"x-cache-size", int64_t{5}}, {"x-cache-ttl", int64_t{0}}});
    EXPECT_FALSE(r);
}

TEST(DedupCache, EvictsOldestFirstAndHandsBackRecordIds) {
    dedup_cache c(2);
    std::vector<uint64_t> gone;
    c.insert("a", 0, 11, 0, gone);
    c.insert("b", 0, 12, 0, gone);
    c.insert("c", 0, 13, 0, gone);
    EXPECT_EQ(gone, std::vector<uint64_t>{11});
    EXPECT_FALSE(c.contains("a", 0, gone));
    EXPECT_TRUE(c.contains("b", 0, gone));
    EXPECT_TRUE(c.contains("c", 0, gone));
    c.clear(gone);
    EXPECT_EQ(gone, (std::vector<uint64_t>{11, 12, 13}));
    EXPECT_EQ(c.size(), 0u);
}

TEST(DedupCache, ExpiredEntryIsNotADuplicateAndLeaves) {
    dedup_cache c(10);
    std::vector<uint64_t> gone;
    c.insert("a", 100, 1, 0, gone);
    c.insert("b", 0, 2, 0, gone);
    EXPECT_TRUE(c.contains("a", 99, gone));
    EXPECT_FALSE(c.contains("a", 100, gone));
    EXPECT_EQ(gone, std::vector<uint64_t>{1});
    EXPECT_EQ(c.size(), 1u);
    EXPECT_TRUE(c.contains("b", 1'000'000, gone));
}

TEST(DedupCache, ReinsertReplacesTheOldEntry) {
    dedup_cache c(2);
    std::vector<uint64_t> gone;
    c.insert("a", 0, 1, 0, gone);
    c.insert("a", 0, 2, 0, gone);
    EXPECT_EQ(gone, std::vector<uint64_t>{1});
    EXPECT_EQ(c.size(), 1u);
}

// The queue level: a key is held exactly while its message is in the queue.
TEST(DedupQueue, KeyHeldWhileMessageIsInTheQueue) {
    broker b;
    vhost& vh = *b.add_vhost("/");
    field_table args{{"x-message-deduplication", true}};
    ASSERT_TRUE(vh.declare_queue({.name = "q", .args = args}, 0));
    auto publish = [&](std::string key) {
        auto m = std::make_shared<message>(with_header(k_dedup_header, std::move(key)));
        m->routing_key = "q";
        ASSERT_TRUE(vh.publish("", m));
    };
    queue& q = *vh.find_queue("q");
    publish("k");
    publish("k");
    EXPECT_EQ(q.message_count(), 1u);
    EXPECT_EQ(q.stats().deduplicated, 1u);
    auto d = q.get(false);
    ASSERT_TRUE(d);
    publish("k");
    EXPECT_EQ(q.message_count(), 0u);  // unacked still holds it
    q.ack(d->seq);
    EXPECT_EQ(q.dedup_keys(), 0u);
    publish("k");
    EXPECT_EQ(q.message_count(), 1u);
    q.purge();
    EXPECT_EQ(q.dedup_keys(), 0u);
}

}  // namespace
}  // namespace warren::core

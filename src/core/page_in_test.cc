// Asynchronous page-in: a queue whose bodies are paged out never reads them on the broker thread
// for a consumer. It asks the log with read_async in batches, stops dispatching while the head
// is on disk, and resumes when the read lands; it reads the next batch ahead. These tests hold
// each read_async back and complete it by hand, so every interleaving is explicit.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/queue.h"
#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;

// Spills into a map; read_async requests wait in `pending` until complete() answers them.
struct held_log : message_log {
    struct request {
        std::vector<uint64_t> ids;
        read_done done;
    };
    std::map<uint64_t, message_ptr> disk;
    std::vector<uint64_t> settled;
    std::vector<request> pending;
    std::set<uint64_t> unreadable;
    uint64_t next_id = 0, limit = 0;
    size_t sync_reads = 0;

    uint64_t write_message(const message&, std::span<const uint64_t>) override { return 0; }
    uint64_t spill(const message& m, uint64_t) override {
        disk[++next_id] = std::make_shared<message>(m);
        return next_id;
    }
    uint64_t write_held(const message&, std::string_view, uint64_t, uint64_t*) override {
        return 0;
    }
    message_ptr read(uint64_t id, uint64_t* published) override {
        ++sync_reads;
        *published = 0;
        auto it = disk.find(id);
        return it == disk.end() ? nullptr : it->second;
    }
    void read_async(std::vector<uint64_t> ids, read_done done) override {
        pending.push_back({std::move(ids), std::move(done)});
    }
    void settle(uint64_t, uint64_t id) override { settled.push_back(id); }
    void queue_deleted(uint64_t, std::span<const uint64_t>) override {}
    uint64_t queue_memory_limit() const override { return limit; }

    // Answers the oldest pending request.
    void complete() {
        ASSERT_FALSE(pending.empty());
        request r = std::move(pending.front());
        pending.erase(pending.begin());
        std::vector<read_result> out(r.ids.size());
        for (size_t i = 0; i < r.ids.size(); ++i) {
            auto it = disk.find(r.ids[i]);
            if (it == disk.end() || unreadable.count(r.ids[i]))
                out[i].error = "gone";
            else
                out[i].msg = it->second;
        }
        r.done(std::move(out));
    }
};

class PageIn : public ::testing::Test {
protected:
    void SetUp() override {
        // Room for about 4 bodies of 100 bytes.
        log.limit = 4 * (100 + sizeof(message) + 64);
        vh.set_storage({.log = &log});
        ASSERT_TRUE(vh.declare_queue({.name = "q"}, 1));
        q = vh.find_queue("q");
    }
    void publish(int from, int to) {
        for (int i = from; i < to; ++i) {
            std::string body = std::to_string(i);
            body.resize(100, '.');
            ASSERT_TRUE(vh.publish("", make_msg(std::move(body), "q")));
        }
    }
    static std::vector<int> numbers(const test_consumer& c) {
        std::vector<int> out;
        for (auto& d : c.got) out.push_back(std::stoi(d.msg->body));
        return out;
    }
    static std::vector<int> range(int from, int to) {
        std::vector<int> out;
        for (int i = from; i < to; ++i) out.push_back(i);
        return out;
    }

    held_log log;
    vhost vh{"/"};
    queue_ptr q;
};

TEST_F(PageIn, AConsumerGetsWhatIsInMemoryThenWaitsForTheReadNotTheDisk) {
    publish(0, 20);
    EXPECT_EQ(q->paged_out(), 16u);
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    EXPECT_EQ(numbers(c), range(0, 4));  // the four in memory
    ASSERT_EQ(log.pending.size(), 1u);   // one batch asked for the rest
    EXPECT_EQ(log.pending[0].ids.size(), 16u);
    EXPECT_EQ(log.sync_reads, 0u);
    log.complete();
    EXPECT_EQ(numbers(c), range(0, 20));
    EXPECT_EQ(q->paged_out(), 0u);
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(log.sync_reads, 0u);
}

TEST_F(PageIn, BatchesAreBoundedAndTheNextIsReadAheadOfTheHead) {
    publish(0, 3004);  // 4 in memory, 3,000 paged out
    test_consumer c("c", 5);
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();  // 0-3 from memory; 4 is on disk: one batch of 1,024 (4-1027) is asked for
    ASSERT_EQ(log.pending.size(), 1u);
    EXPECT_EQ(log.pending[0].ids.size(), 1024u);
    // Delivers 4, and the batch after 1027 is read ahead while 5-1027 are still in memory.
    log.complete();
    ASSERT_EQ(log.pending.size(), 1u);
    EXPECT_EQ(log.pending[0].ids.size(), 1024u);
    EXPECT_EQ(numbers(c), range(0, 5));
    c.credit = 10000;
    q->dispatch();  // delivers what is in memory (6-1027), then waits
    EXPECT_EQ(numbers(c), range(0, 1028));
    while (!log.pending.empty()) log.complete();
    EXPECT_EQ(numbers(c), range(0, 3004));
    EXPECT_EQ(log.sync_reads, 0u);
}

TEST_F(PageIn, ABatchIsBoundedByBytesToo) {
    // Bodies of 64 KiB: a batch stops at 4 MiB.
    for (int i = 0; i < 200; ++i) {
        std::string body = std::to_string(i);
        body.resize(64 << 10, '.');
        ASSERT_TRUE(vh.publish("", make_msg(std::move(body), "q")));
    }
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_EQ(log.pending.size(), 1u);
    EXPECT_EQ(log.pending[0].ids.size(), 64u);
    while (!log.pending.empty()) log.complete();
    EXPECT_EQ(numbers(c), range(0, 200));
}

TEST_F(PageIn, AnUnreadableMessageIsSettledSkippedAndTheRestFlow) {
    publish(0, 10);
    log.unreadable.insert(2);  // the second one paged out ("5")
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    log.complete();
    EXPECT_EQ(numbers(c), (std::vector<int>{0, 1, 2, 3, 4, 6, 7, 8, 9}));
    EXPECT_EQ(log.settled, (std::vector<uint64_t>{2}));
    EXPECT_EQ(q->message_count(), 0u);
}

TEST_F(PageIn, MessagesThatLeaveWhileTheirReadIsInFlightAreNotDeliveredTwice) {
    publish(0, 10);
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_EQ(log.pending.size(), 1u);
    // basic.get takes the paged head synchronously while the batch is out.
    q->remove_consumer(&c);
    auto g = q->get(true);
    ASSERT_TRUE(g);
    EXPECT_EQ(std::stoi(g->msg->body), 4);
    EXPECT_EQ(log.sync_reads, 1u);
    test_consumer d;
    ASSERT_TRUE(q->add_consumer(&d));
    log.complete();
    EXPECT_EQ(numbers(d), range(5, 10));
}

TEST_F(PageIn, PurgeAndDeleteWhileAReadIsInFlight) {
    publish(0, 10);
    test_consumer c("c", 4);
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_EQ(log.pending.size(), 1u);  // 4-9, read ahead while 0-3 went out
    EXPECT_EQ(q->purge(), 6u);
    log.complete();  // finds nothing to fill
    EXPECT_EQ(numbers(c), range(0, 4));
    EXPECT_EQ(q->paged_out(), 0u);
    EXPECT_EQ(q->memory_bytes(), 0u);

    c.credit = 0;
    publish(10, 20);  // the queue still works: 4 in memory, then a new batch
    c.credit = 100;
    q->dispatch();
    ASSERT_EQ(log.pending.size(), 1u);
    log.complete();
    std::vector<int> want = range(0, 4);
    for (int i : range(10, 20)) want.push_back(i);
    EXPECT_EQ(numbers(c), want);

    c.credit = 0;
    publish(20, 30);
    c.credit = 100;
    q->dispatch();
    ASSERT_EQ(log.pending.size(), 1u);
    ASSERT_TRUE(vh.delete_queue("q", false, false, 1));
    log.complete();  // the queue is gone: a no-op
    EXPECT_TRUE(q->deleted());
    EXPECT_EQ(c.got.size(), 18u);
}

TEST_F(PageIn, PriorityOrderHoldsAcrossPagedAndRequeuedMessages) {
    field_table args;
    set(args, "x-max-priority", field_value{int64_t{5}});
    ASSERT_TRUE(vh.declare_queue({.name = "p", .args = args}, 1));
    auto p = vh.find_queue("p");
    for (int i = 0; i < 12; ++i) {
        auto m = std::make_shared<message>();
        m->body = std::to_string(i) + std::string(100, '.');
        m->routing_key = "p";
        m->props.priority = static_cast<uint8_t>(i % 3 == 0 ? 5 : 0);
        ASSERT_TRUE(vh.publish("", m));
    }
    test_consumer c;
    ASSERT_TRUE(p->add_consumer(&c));
    p->dispatch();
    while (!log.pending.empty()) log.complete();
    std::vector<int> got = numbers(c);
    // Priority 5 (0, 3, 6, 9) first, then the rest in publish order.
    EXPECT_EQ(got, (std::vector<int>{0, 3, 6, 9, 1, 2, 4, 5, 7, 8, 10, 11}));
}

}  // namespace
}  // namespace warren::core

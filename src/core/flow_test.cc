// Credit flow (core/flow.h): when a publisher is held, when it is let go, and what never holds it.
#include "core/flow.h"

#include <gtest/gtest.h>

#include "core/queue.h"
#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;

queue_ptr make_queue(std::string name = "q") {
    queue_decl d;
    d.name = std::move(name);
    return std::make_shared<queue>(std::move(d));
}

void fill(queue& q, size_t n, const std::string& body = "m") {
    for (size_t i = 0; i < n; ++i) q.enqueue(make_msg(body));
}

struct flow_fixture : ::testing::Test {
    int changes = 0;
    publisher_flow flow{7, [this] { ++changes; }};
    // One input batch whose publishes reached q.
    void batch(const queue_ptr& q, uint64_t now_ms) {
        flow.note(q);
        flow.end_of_batch(now_ms);
    }
    // One message over the mark, published in a batch of this flow's.
    void publish_past_mark(const queue_ptr& q, uint64_t now_ms) {
        fill(*q, flow_mark.messages + 1);
        batch(q, now_ms);
    }
};

using PublisherFlow = flow_fixture;

TEST_F(PublisherFlow, AQueueWithoutConsumersIsABufferAndHoldsNoOne) {
    auto q = make_queue();
    fill(*q, flow_mark.messages + 1);
    EXPECT_FALSE(q->behind());
    batch(q, 0);
    EXPECT_FALSE(flow.held());
    EXPECT_EQ(changes, 0);
}

TEST_F(PublisherFlow, HeldWhileBehindAndLetGoAtHalfTheMark) {
    auto q = make_queue();
    test_consumer c("c", 0);  // no credit: the backlog builds up
    c.connection_id = 1;
    ASSERT_TRUE(q->add_consumer(&c));
    fill(*q, flow_mark.messages);
    EXPECT_FALSE(q->behind());  // at the mark, not over it
    fill(*q, 1);
    ASSERT_TRUE(q->behind());
    flow.note(q);
    flow.note(q);  // noted once
    flow.end_of_batch(0);
    EXPECT_TRUE(flow.held());
    EXPECT_EQ(changes, 1);
    EXPECT_EQ(flow.stats().holds, 1u);

    // Deliveries down to just over half: still held. One more: let go at once, by the queue.
    c.credit = static_cast<int>(flow_mark.messages + 1 - flow_mark.messages / 2 - 1);
    q->dispatch();
    EXPECT_EQ(q->message_count(), flow_mark.messages / 2 + 1);
    EXPECT_TRUE(flow.held());
    c.credit = 1;
    q->dispatch();
    EXPECT_EQ(q->message_count(), flow_mark.messages / 2);
    EXPECT_FALSE(flow.held());
    EXPECT_EQ(changes, 2);
    q->remove_consumer(&c);
}

TEST_F(PublisherFlow, BodyBytesCountToo) {
    auto q = make_queue();
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    const std::string mib(1 << 20, 'x');
    fill(*q, flow_mark.bytes / mib.size(), mib);
    EXPECT_FALSE(q->behind());
    fill(*q, 1, mib);
    EXPECT_TRUE(q->behind());
    q->remove_consumer(&c);
}

TEST_F(PublisherFlow, NotHeldByAQueueItsOwnConnectionConsumesFrom) {
    // Its acks would not be read while held, so the queue would never drain.
    auto q = make_queue();
    test_consumer c("c", 0);
    c.connection_id = 7;  // the flow's own connection
    ASSERT_TRUE(q->add_consumer(&c));
    fill(*q, flow_mark.messages + 1);
    ASSERT_TRUE(q->behind());
    batch(q, 0);
    EXPECT_FALSE(flow.held());
    q->remove_consumer(&c);
}

TEST_F(PublisherFlow, AStuckConsumerHoldsThePublisherForAtMostTheStallTime) {
    auto q = make_queue();
    test_consumer c("c", 0);
    c.connection_id = 1;
    ASSERT_TRUE(q->add_consumer(&c));
    publish_past_mark(q, 1000);
    ASSERT_TRUE(flow.held());
    EXPECT_EQ(flow.timer_interval_ms(), flow_stall_ms / 5);
    flow.on_timer(1000 + flow_stall_ms - 1);
    EXPECT_TRUE(flow.held());
    flow.on_timer(1000 + flow_stall_ms);
    EXPECT_FALSE(flow.held());
    EXPECT_EQ(flow.stats().stalls, 1u);
    EXPECT_EQ(flow.timer_interval_ms(), 0u);
    // The queue grows, as in RabbitMQ, while its consumer takes nothing...
    fill(*q, 100);
    batch(q, 2000);
    EXPECT_FALSE(flow.held());
    // ...and holds the publisher again once the consumer moves.
    c.credit = 1;
    q->dispatch();
    batch(q, 3000);
    EXPECT_TRUE(flow.held());
    q->remove_consumer(&c);  // last consumer gone: a buffer again, let go
    EXPECT_FALSE(flow.held());
}

TEST_F(PublisherFlow, AConsumerThatKeepsTakingKeepsThePublisherHeld) {
    auto q = make_queue();
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    fill(*q, flow_mark.messages + 1000);
    batch(q, 0);
    for (uint64_t t = 100; t <= 5000; t += 100) {
        c.credit = 1;  // slow but moving
        q->dispatch();
        flow.on_timer(t);
        ASSERT_TRUE(flow.held()) << t;
    }
    EXPECT_EQ(flow.stats().stalls, 0u);
    q->remove_consumer(&c);
}

TEST_F(PublisherFlow, DeletingOrPurgingTheQueueLetsGo) {
    auto q = make_queue();
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    publish_past_mark(q, 0);
    ASSERT_TRUE(flow.held());
    q->purge();
    EXPECT_FALSE(flow.held());

    publish_past_mark(q, 0);
    ASSERT_TRUE(flow.held());
    q->mark_deleted();
    EXPECT_FALSE(flow.held());
    EXPECT_EQ(c.cancelled, 1);
}

TEST_F(PublisherFlow, AFlowDestroyedWhileHeldLeavesNoDanglingWaiter) {
    auto q = make_queue();
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    fill(*q, flow_mark.messages + 1);
    {
        publisher_flow gone(9, [] {});
        gone.note(q);
        gone.end_of_batch(0);
        ASSERT_TRUE(gone.held());
    }
    c.credit = 1 << 30;
    q->dispatch();  // would call the destroyed flow (ASan: use after free)
    EXPECT_EQ(q->message_count(), 0u);
    q->remove_consumer(&c);
}

TEST_F(PublisherFlow, AQueueDroppedWhileWaitedForLetsGoOnTheTimer) {
    auto q = make_queue();
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    publish_past_mark(q, 0);
    ASSERT_TRUE(flow.held());
    q->remove_consumer(&c);  // lets go...
    ASSERT_FALSE(flow.held());
    ASSERT_TRUE(q->add_consumer(&c));
    batch(q, 0);
    ASSERT_TRUE(flow.held());
    q->remove_consumer(&c);
    ASSERT_FALSE(flow.held());
    ASSERT_TRUE(q->add_consumer(&c));
    batch(q, 0);
    ASSERT_TRUE(flow.held());
    std::weak_ptr<queue> w = q;
    q.reset();  // the last reference (the consumer is never removed: the queue is gone)
    ASSERT_TRUE(w.expired());
    flow.on_timer(100);
    EXPECT_FALSE(flow.held());
}

TEST(PublishInfo, NamesAQueueThatIsBehind) {
    vhost vh{"/"};
    auto r = vh.declare_queue(queue_decl{.name = "q"}, 1);
    ASSERT_TRUE(r);
    queue_ptr q = r->q;
    test_consumer c("c", 0);
    ASSERT_TRUE(q->add_consumer(&c));
    publish_info info;
    for (size_t i = 0; i < flow_mark.messages; ++i) {
        ASSERT_TRUE(vh.publish("", make_msg("m", "q"), &info));
        ASSERT_FALSE(info.behind);
    }
    ASSERT_TRUE(vh.publish("", make_msg("m", "q"), &info));
    EXPECT_EQ(info.behind, q);
    // Through an exchange with several queues: the one behind is named.
    auto r2 = vh.declare_queue(queue_decl{.name = "q2"}, 1);
    ASSERT_TRUE(r2);
    ASSERT_TRUE(vh.bind_queue("q2", "amq.fanout", "", {}, 1));
    ASSERT_TRUE(vh.bind_queue("q", "amq.fanout", "", {}, 1));
    publish_info via;
    ASSERT_TRUE(vh.publish("amq.fanout", make_msg("m"), &via));
    EXPECT_EQ(via.behind, q);
    q->remove_consumer(&c);
}

}  // namespace
}  // namespace warren::core

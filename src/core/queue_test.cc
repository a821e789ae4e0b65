#include "core/queue.h"

#include <gtest/gtest.h>

#include "core/settle.h"
#include "core/test_consumer.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;
using strings = std::vector<std::string>;

queue_ptr make_queue(std::string name = "q", bool auto_delete = false) {
    queue_decl d;
    d.name = std::move(name);
    d.auto_delete = auto_delete;
    return std::make_shared<queue>(std::move(d));
}

TEST(Queue, MessagesWaitUntilAConsumerArrives) {
    auto q = make_queue();
    q->enqueue(make_msg("1"));
    q->enqueue(make_msg("2"));
    EXPECT_EQ(q->message_count(), 2u);
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    EXPECT_TRUE(c.got.empty());  // add_consumer does not dispatch
    q->dispatch();
    EXPECT_EQ(c.bodies(), (strings{"1", "2"}));
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(q->unacked_count(), 2u);
    EXPECT_EQ(c.got[0].q, q);
    EXPECT_FALSE(c.got[0].redelivered);
}

TEST(Queue, RoundRobinAmongConsumersWithCredit) {
    auto q = make_queue();
    test_consumer a("a"), b("b"), c("c", 1);
    q->add_consumer(&a);
    q->add_consumer(&b);
    q->add_consumer(&c);
    for (int i = 0; i < 7; ++i) q->enqueue(make_msg(std::to_string(i)));
    EXPECT_EQ(a.bodies(), (strings{"0", "3", "5"}));
    EXPECT_EQ(b.bodies(), (strings{"1", "4", "6"}));
    EXPECT_EQ(c.bodies(), (strings{"2"}));  // out of credit after one
}

TEST(Queue, DispatchStopsWithoutCreditAndResumesWhenCreditReturns) {
    auto q = make_queue();
    test_consumer a("a", 2);
    q->add_consumer(&a);
    for (int i = 0; i < 5; ++i) q->enqueue(make_msg(std::to_string(i)));
    EXPECT_EQ(a.got.size(), 2u);
    EXPECT_EQ(q->message_count(), 3u);
    q->ack(a.got[0].seq);
    a.credit = 10;
    q->dispatch();
    EXPECT_EQ(a.bodies(), (strings{"0", "1", "2", "3", "4"}));
    EXPECT_EQ(q->unacked_count(), 4u);
}

TEST(Queue, HigherPriorityConsumersFirst) {
    auto q = make_queue();
    test_consumer low("low"), high("high", 2), high2("high2", 1);
    low.priority = 0;
    high.priority = 10;
    high2.priority = 10;
    q->add_consumer(&low);
    q->add_consumer(&high);
    q->add_consumer(&high2);
    for (int i = 0; i < 5; ++i) q->enqueue(make_msg(std::to_string(i)));
    EXPECT_EQ(high.bodies(), (strings{"0", "2"}));
    EXPECT_EQ(high2.bodies(), (strings{"1"}));
    EXPECT_EQ(low.bodies(), (strings{"3", "4"}));
}

TEST(Queue, RequeueRestoresOriginalOrderAndSetsRedelivered) {
    auto q = make_queue();
    test_consumer a("a", 3);
    q->add_consumer(&a);
    for (int i = 0; i < 5; ++i) q->enqueue(make_msg(std::to_string(i)));
    ASSERT_EQ(a.bodies(), (strings{"0", "1", "2"}));
    // Requeue in scrambled order: they go back before "3", "4", in seq order.
    q->requeue({a.got[2].seq, a.got[0].seq, a.got[1].seq});
    EXPECT_EQ(q->unacked_count(), 0u);
    EXPECT_EQ(q->message_count(), 5u);
    test_consumer b("b");
    q->add_consumer(&b);
    q->dispatch();
    EXPECT_EQ(b.bodies(), (strings{"0", "1", "2", "3", "4"}));
    EXPECT_TRUE(b.got[0].redelivered);
    EXPECT_TRUE(b.got[2].redelivered);
    EXPECT_FALSE(b.got[3].redelivered);
    EXPECT_EQ(b.got[0].seq, a.got[0].seq);  // seq is stable across redelivery
    EXPECT_EQ(q->stats().requeued, 3u);
    EXPECT_EQ(q->stats().redelivered, 3u);
}

TEST(Queue, RequeueInterleavesWithReadyMessagesBySeq) {
    auto q = make_queue();
    for (int i = 0; i < 4; ++i) q->enqueue(make_msg(std::to_string(i)));
    auto d0 = q->get();
    auto d1 = q->get();
    auto d2 = q->get();
    q->requeue({d0->seq, d2->seq});  // ready: 0, 2, 3
    q->requeue({d1->seq});           // ready: 0, 1, 2, 3
    strings got;
    while (auto d = q->get(true)) got.push_back(d->msg->body);
    EXPECT_EQ(got, (strings{"0", "1", "2", "3"}));
}

// settle_batch (core/settle.h): requeues named out of order and across two queues go back to
// each queue in seq order; acks and discards settle at once.
TEST(SettleBatch, MixedRequeuesReturnToEachQueueInOriginalOrder) {
    auto q1 = make_queue("q1");
    auto q2 = make_queue("q2");
    for (int i = 0; i < 4; ++i) {
        q1->enqueue(make_msg("a" + std::to_string(i)));
        q2->enqueue(make_msg("b" + std::to_string(i)));
    }
    std::vector<delivery> d1, d2;
    for (int i = 0; i < 4; ++i) {
        d1.push_back(*q1->get());
        d2.push_back(*q2->get());
    }
    settle_batch b;
    b.add(*q1, d1[2].seq, settle_op::requeue);
    b.add(*q2, d2[3].seq, settle_op::requeue);
    b.add(*q1, d1[0].seq, settle_op::requeue);
    b.add(*q1, d1[1].seq, settle_op::ack);
    b.add(*q2, d2[0].seq, settle_op::discard);
    b.add(*q2, d2[1].seq, settle_op::requeue);
    EXPECT_EQ(q1->message_count(), 0u);  // requeues wait for flush
    EXPECT_EQ(q1->unacked_count(), 3u);  // the ack did not
    b.flush();
    strings got1, got2;
    while (auto d = q1->get(true)) got1.push_back(d->msg->body);
    while (auto d = q2->get(true)) got2.push_back(d->msg->body);
    EXPECT_EQ(got1, (strings{"a0", "a2"}));
    EXPECT_EQ(got2, (strings{"b1", "b3"}));
    EXPECT_EQ(q1->unacked_count(), 1u);  // d1[3] and d2[2] were never settled
    EXPECT_EQ(q2->unacked_count(), 1u);
    b.flush();  // empty: nothing happens
}

TEST(Queue, RequeueOfUnknownOrAckedSeqIsIgnored) {
    auto q = make_queue();
    q->enqueue(make_msg("a"));
    auto d = q->get();
    q->ack(d->seq);
    q->requeue({d->seq, 12345});
    EXPECT_EQ(q->message_count(), 0u);
    q->ack(d->seq);  // double ack: no-op
    EXPECT_EQ(q->stats().acked, 1u);
}

TEST(Queue, GetWithAndWithoutAck) {
    auto q = make_queue();
    EXPECT_FALSE(q->get());
    q->enqueue(make_msg("a"));
    q->enqueue(make_msg("b"));
    auto d = q->get();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->msg->body, "a");
    EXPECT_EQ(q->unacked_count(), 1u);
    auto e = q->get(true);
    EXPECT_EQ(e->msg->body, "b");
    EXPECT_EQ(q->unacked_count(), 1u);
    q->requeue({d->seq});
    auto f = q->get(true);
    EXPECT_TRUE(f->redelivered);
    EXPECT_EQ(f->msg->body, "a");
}

TEST(Queue, NoAckConsumerSettlesOnDelivery) {
    auto q = make_queue();
    test_consumer a;
    a.no_ack = true;
    q->add_consumer(&a);
    q->enqueue(make_msg("a"));
    EXPECT_EQ(a.got.size(), 1u);
    EXPECT_EQ(q->unacked_count(), 0u);
    EXPECT_EQ(q->stats().acked, 1u);
}

TEST(Queue, ExclusiveConsumerRules) {
    auto q = make_queue();
    test_consumer a("a"), b("b"), x("x");
    x.exclusive = true;
    ASSERT_TRUE(q->add_consumer(&a));
    auto r = q->add_consumer(&x);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::access_refused);
    EXPECT_EQ(r.error().text, "queue 'q' in vhost '/' in exclusive use");
    q->remove_consumer(&a);
    ASSERT_TRUE(q->add_consumer(&x));
    auto r2 = q->add_consumer(&b);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, reply_code::access_refused);
    q->remove_consumer(&x);
    EXPECT_TRUE(q->add_consumer(&b));
}

TEST(Queue, PurgeDropsReadyOnly) {
    auto q = make_queue();
    for (int i = 0; i < 3; ++i) q->enqueue(make_msg(std::to_string(i)));
    auto d = q->get();
    EXPECT_EQ(q->purge(), 2u);
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(q->unacked_count(), 1u);
    q->requeue({d->seq});
    EXPECT_EQ(q->message_count(), 1u);
}

TEST(Queue, AckInsideDeliverIsSafe) {
    auto q = make_queue();
    test_consumer a;
    a.on_deliver = [&](delivery& d) { d.q->ack(d.seq); };
    q->add_consumer(&a);
    for (int i = 0; i < 3; ++i) q->enqueue(make_msg(std::to_string(i)));
    EXPECT_EQ(a.got.size(), 3u);
    EXPECT_EQ(q->unacked_count(), 0u);
}

TEST(Queue, RequeueInsideDeliverDoesNotRecurseForever) {
    auto q = make_queue();
    test_consumer a("a", 3);
    int requeues = 0;
    a.on_deliver = [&](delivery& d) {
        if (requeues++ < 2) d.q->requeue({d.seq});
    };
    q->add_consumer(&a);
    q->enqueue(make_msg("m"));
    EXPECT_EQ(a.got.size(), 3u);  // delivered, requeued, redelivered ... until credit is gone
    EXPECT_TRUE(a.got.back().redelivered);
}

TEST(Queue, ConsumerCancellingItselfDuringDeliver) {
    auto q = make_queue();
    test_consumer a("a"), b("b");
    a.on_deliver = [&](delivery& d) { d.q->remove_consumer(&a); };
    q->add_consumer(&a);
    q->add_consumer(&b);
    for (int i = 0; i < 4; ++i) q->enqueue(make_msg(std::to_string(i)));
    EXPECT_EQ(a.bodies(), (strings{"0"}));
    EXPECT_EQ(b.bodies(), (strings{"1", "2", "3"}));
    EXPECT_EQ(q->consumer_count(), 1u);
}

TEST(Queue, AutoDeleteWhenLastConsumerLeaves) {
    auto q = make_queue("q", true);
    test_consumer a("a"), b("b");
    q->add_consumer(&a);
    q->add_consumer(&b);
    q->remove_consumer(&a);
    EXPECT_FALSE(q->deleted());
    q->remove_consumer(&b);
    EXPECT_TRUE(q->deleted());
    EXPECT_EQ(a.cancelled + b.cancelled, 0);  // they left; nobody to cancel
}

TEST(Queue, AutoDeleteNeedsAConsumerFirst) {
    auto q = make_queue("q", true);
    test_consumer a("a");
    q->remove_consumer(&a);  // never added
    EXPECT_FALSE(q->deleted());
}

TEST(Queue, MarkDeletedCancelsConsumersAndIgnoresLaterAcks) {
    auto q = make_queue();
    test_consumer a("a"), b("b");
    q->add_consumer(&a);
    q->add_consumer(&b);
    q->enqueue(make_msg("1"));
    q->enqueue(make_msg("2"));
    q->enqueue(make_msg("3"));
    a.credit = 0;
    b.credit = 0;
    q->enqueue(make_msg("4"));
    EXPECT_EQ(q->mark_deleted(), 1u);
    EXPECT_EQ(a.cancelled, 1);
    EXPECT_EQ(b.cancelled, 1);
    EXPECT_EQ(q->consumer_count(), 0u);
    q->ack(a.got[0].seq);
    q->requeue({b.got[0].seq});
    EXPECT_EQ(q->message_count(), 0u);
    q->enqueue(make_msg("5"));
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_FALSE(q->add_consumer(&a));
}

TEST(Queue, FindConsumerByTagAndConnection) {
    auto q = make_queue();
    test_consumer a("t1"), b("t1");
    a.connection_id = 1;
    b.connection_id = 2;
    q->add_consumer(&a);
    q->add_consumer(&b);
    EXPECT_EQ(q->find_consumer("t1", 2), &b);
    EXPECT_EQ(q->find_consumer("t2", 1), nullptr);
}

TEST(Queue, StatsCount) {
    auto q = make_queue();
    test_consumer a;
    q->add_consumer(&a);
    q->enqueue(make_msg("1"));
    q->enqueue(make_msg("2"));
    q->ack(a.got[0].seq);
    q->discard(a.got[1].seq);
    EXPECT_EQ(q->stats().published, 2u);
    EXPECT_EQ(q->stats().delivered, 2u);
    EXPECT_EQ(q->stats().acked, 1u);
    EXPECT_EQ(q->stats().discarded, 1u);
    EXPECT_EQ(q->unacked_count(), 0u);
}

}  // namespace
}  // namespace warren::core

// Queue features driven by x-arguments: TTL, dead-lettering, length limits, priorities,
// x-expires. Time comes from a fake clock injected into the vhost.
#include <gtest/gtest.h>

#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;

struct features : ::testing::Test {
    uint64_t now = 1000;
    vhost vh{"/"};
    features() {
        vh.set_clock([this] { return now; }, [] { return uint64_t{1700000000}; });
    }
    queue_ptr declare(std::string name, field_table args) {
        auto r = vh.declare_queue({.name = std::move(name), .args = std::move(args)}, 1);
        EXPECT_TRUE(r);
        return r->q;
    }
    void pub(std::string_view key, std::string body, std::optional<std::string> expiration = {},
             std::optional<uint8_t> prio = {}) {
        auto m = std::make_shared<message>();
        m->routing_key = std::string(key);
        m->body = std::move(body);
        m->props.expiration = std::move(expiration);
        m->props.priority = prio;
        ASSERT_TRUE(vh.publish("", m));
    }
    std::vector<std::string> drain(const queue_ptr& q) {
        std::vector<std::string> out;
        while (auto d = q->get(true)) out.push_back(d->msg->body);
        return out;
    }
};

const field_table* death(const message& m, size_t i) {
    auto* xd = find(*m.props.headers, "x-death");
    return xd && xd->as_array() && xd->as_array()->size() > i ? (*xd->as_array())[i].as_table()
                                                              : nullptr;
}
std::string str(const field_table& t, std::string_view k) {
    auto* v = find(t, k);
    return v && v->as_string() ? *v->as_string() : "<none>";
}

TEST_F(features, per_message_ttl_expires_in_the_middle) {
    auto q = declare("q", {});
    pub("q", "a");
    pub("q", "b", "100");
    pub("q", "c");
    EXPECT_EQ(vh.next_expiry(), std::optional<uint64_t>(1100));
    now = 1099;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 3u);
    now = 1100;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 2u);
    EXPECT_EQ(q->stats().expired, 1u);
    EXPECT_EQ(drain(q), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(vh.next_expiry(), std::nullopt);
}

TEST_F(features, queue_ttl_and_smaller_wins_and_never_delivered_expired) {
    auto q = declare("q", {{"x-message-ttl", int32_t{500}}});
    pub("q", "long", "100000");  // queue TTL (500) is smaller
    pub("q", "short", "10");
    now = 1010;
    // Not ticked: get must still skip the expired message.
    auto d = q->get(true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->msg->body, "long");
    EXPECT_FALSE(q->get(true));
    pub("q", "x");
    now = 1600;
    EXPECT_FALSE(q->get(true));
}

TEST_F(features, ttl_zero_goes_to_a_ready_consumer_or_expires) {
    auto q = declare("q", {{"x-message-ttl", int32_t{0}}});
    pub("q", "dropped");
    EXPECT_EQ(q->message_count(), 0u);
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    pub("q", "delivered");
    EXPECT_EQ(c.bodies(), (std::vector<std::string>{"delivered"}));
}

TEST_F(features, requeued_message_keeps_its_expiry) {
    auto q = declare("q", {});
    pub("q", "a", "100");
    auto d = q->get(false);
    ASSERT_TRUE(d);
    now = 1200;
    q->requeue({d->seq});
    EXPECT_FALSE(q->get(true));
}

TEST_F(features, dead_letter_on_reject_with_x_death) {
    ASSERT_TRUE(vh.declare_exchange({.name = "dlx", .type = "fanout"}));
    auto q = declare("q", {{"x-dead-letter-exchange", "dlx"}});
    auto dlq = declare("dlq", {});
    ASSERT_TRUE(vh.bind_queue("dlq", "dlx", "", {}, 1));
    pub("q", "m", "60000");
    auto d = q->get(false);
    ASSERT_TRUE(d);
    q->discard(d->seq);
    auto got = dlq->get(true);
    ASSERT_TRUE(got);
    const message& m = *got->msg;
    EXPECT_EQ(m.exchange, "dlx");
    EXPECT_EQ(m.routing_key, "q");
    EXPECT_FALSE(m.props.expiration);
    EXPECT_TRUE(m.props_raw.empty());
    auto* e = death(m, 0);
    ASSERT_TRUE(e);
    EXPECT_EQ(str(*e, "reason"), "rejected");
    EXPECT_EQ(str(*e, "queue"), "q");
    EXPECT_EQ(str(*e, "exchange"), "");
    EXPECT_EQ(str(*e, "original-expiration"), "60000");
    EXPECT_EQ(find(*e, "count")->as_int(), 1);
    EXPECT_EQ(*find(*e, "time"), field_value{timestamp_value{1700000000}});
    auto* keys = find(*e, "routing-keys")->as_array();
    ASSERT_TRUE(keys);
    EXPECT_EQ(*(*keys)[0].as_string(), "q");
    EXPECT_EQ(str(*m.props.headers, "x-first-death-reason"), "rejected");
    EXPECT_EQ(str(*m.props.headers, "x-first-death-queue"), "q");
    EXPECT_EQ(str(*m.props.headers, "x-last-death-queue"), "q");
    EXPECT_EQ(q->stats().dead_lettered, 1u);
}

TEST_F(features, dead_letter_routing_key_and_count_increments_and_moves_to_front) {
    // q1 (expire -> dlx "" key q2), q2 (reject -> "" key q1): a loop with rejections.
    auto q1 = declare("q1", {{"x-message-ttl", int32_t{10}},
                             {"x-dead-letter-exchange", ""},
                             {"x-dead-letter-routing-key", "q2"}});
    auto q2 = declare("q2", {{"x-dead-letter-exchange", ""}, {"x-dead-letter-routing-key", "q1"}});
    pub("q1", "m");
    for (int round = 1; round <= 2; ++round) {
        now += 20;
        vh.tick(now);
        ASSERT_EQ(q2->message_count(), 1u) << round;
        auto d = q2->get(false);
        q2->discard(d->seq);
        ASSERT_EQ(q1->message_count(), 1u) << round;
    }
    auto d = q1->get(true);
    const message& m = *d->msg;
    auto* e0 = death(m, 0);
    auto* e1 = death(m, 1);
    ASSERT_TRUE(e0 && e1);
    EXPECT_EQ(str(*e0, "queue"), "q2");
    EXPECT_EQ(str(*e0, "reason"), "rejected");
    EXPECT_EQ(find(*e0, "count")->as_int(), 2);
    EXPECT_EQ(str(*e1, "queue"), "q1");
    EXPECT_EQ(str(*e1, "reason"), "expired");
    EXPECT_EQ(find(*e1, "count")->as_int(), 2);
    EXPECT_EQ(str(*m.props.headers, "x-first-death-reason"), "expired");
    EXPECT_EQ(str(*m.props.headers, "x-last-death-reason"), "rejected");
}

TEST_F(features, expiry_cycle_is_dropped) {
    // Dead-letters to itself on expiry: RabbitMQ drops the message (cycle, no rejection).
    auto q = declare("q", {{"x-message-ttl", int32_t{10}}, {"x-dead-letter-exchange", ""}});
    pub("q", "m");
    now += 20;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 0u);
}

TEST_F(features, max_length_drop_head_dead_letters_maxlen) {
    auto q = declare("q", {{"x-max-length", int32_t{2}}, {"x-dead-letter-exchange", ""},
                           {"x-dead-letter-routing-key", "dlq"}});
    auto dlq = declare("dlq", {});
    pub("q", "1");
    pub("q", "2");
    pub("q", "3");
    EXPECT_EQ(drain(q), (std::vector<std::string>{"2", "3"}));
    auto d = dlq->get(true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->msg->body, "1");
    EXPECT_EQ(str(*death(*d->msg, 0), "reason"), "maxlen");
}

TEST_F(features, max_length_bytes) {
    auto q = declare("q", {{"x-max-length-bytes", int32_t{5}}});
    pub("q", "aaa");
    pub("q", "bbb");
    EXPECT_EQ(drain(q), (std::vector<std::string>{"bbb"}));
}

TEST_F(features, reject_publish_refuses_and_reports) {
    auto q = declare("q", {{"x-max-length", int32_t{1}}, {"x-overflow", "reject-publish"}});
    vhost::publish_info info;
    auto m = make_msg("1", "q");
    EXPECT_EQ(*vh.publish("", m, &info), 1u);
    EXPECT_EQ(info.rejected, 0u);
    EXPECT_EQ(*vh.publish("", make_msg("2", "q"), &info), 0u);
    EXPECT_EQ(info.rejected, 1u);
    EXPECT_EQ(drain(q), (std::vector<std::string>{"1"}));
}

TEST_F(features, reject_publish_dlx_dead_letters_the_refused_message) {
    auto q = declare("q", {{"x-max-length", int32_t{1}},
                           {"x-overflow", "reject-publish-dlx"},
                           {"x-dead-letter-exchange", ""},
                           {"x-dead-letter-routing-key", "dlq"}});
    auto dlq = declare("dlq", {});
    pub("q", "1");
    pub("q", "2");
    EXPECT_EQ(drain(q), (std::vector<std::string>{"1"}));
    EXPECT_EQ(drain(dlq), (std::vector<std::string>{"2"}));
}

TEST_F(features, priorities_highest_first_fifo_within_and_capped) {
    auto q = declare("q", {{"x-max-priority", int32_t{5}}});
    pub("q", "p0a");
    pub("q", "p9", {}, 9);  // capped to 5
    pub("q", "p5", {}, 5);
    pub("q", "p2", {}, 2);
    pub("q", "p0b", {}, 0);
    EXPECT_EQ(drain(q), (std::vector<std::string>{"p9", "p5", "p2", "p0a", "p0b"}));
    // Without x-max-priority, priority is ignored.
    auto plain = declare("plain", {});
    pub("plain", "a", {}, 0);
    pub("plain", "b", {}, 9);
    EXPECT_EQ(drain(plain), (std::vector<std::string>{"a", "b"}));
}

TEST_F(features, priority_requeue_returns_to_position) {
    auto q = declare("q", {{"x-max-priority", int32_t{10}}});
    pub("q", "lo", {}, 1);
    pub("q", "hi", {}, 8);
    auto d = q->get(false);
    ASSERT_EQ(d->msg->body, "hi");
    pub("q", "mid", {}, 4);
    q->requeue({d->seq});
    EXPECT_EQ(drain(q), (std::vector<std::string>{"hi", "mid", "lo"}));
}

TEST_F(features, priority_with_ttl_expires_in_middle) {
    auto q = declare("q", {{"x-max-priority", int32_t{10}}});
    pub("q", "a", {}, 5);
    pub("q", "b", "50", 3);
    pub("q", "c", {}, 1);
    now += 60;
    vh.tick(now);
    EXPECT_EQ(drain(q), (std::vector<std::string>{"a", "c"}));
}

TEST_F(features, x_expires_deletes_unused_queue) {
    auto q = declare("q", {{"x-expires", int32_t{1000}}});
    EXPECT_EQ(vh.next_expiry(), std::optional<uint64_t>(2000));
    now = 1500;
    declare("q", {{"x-expires", int32_t{1000}}});  // redeclare: used
    now = 2100;
    vh.tick(now);
    EXPECT_TRUE(vh.find_queue("q"));
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    now = 10000;
    vh.tick(now);
    EXPECT_TRUE(vh.find_queue("q"));  // has a consumer
    q->remove_consumer(&c);
    now = 10999;
    vh.tick(now);
    EXPECT_TRUE(vh.find_queue("q"));
    now = 11000;
    vh.tick(now);
    EXPECT_FALSE(vh.find_queue("q"));
    EXPECT_TRUE(q->deleted());
}

}  // namespace
}  // namespace warren::core

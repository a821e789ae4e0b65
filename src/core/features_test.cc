// Queue features driven by x-arguments: TTL, dead-lettering, length limits, priorities,
// x-expires. Time comes from a fake clock injected into the vhost.
#include <gtest/gtest.h>

#include "core/broker.h"
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
    auto q = declare("q", {{"x-max-length", int32_t{2}},
                           {"x-dead-letter-exchange", ""},
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

// ---- argument validation (RabbitMQ's rabbit_amqqueue check_* wording) ----

std::string declare_error(vhost& vh, field_table args, std::string name = "q") {
    auto r = vh.declare_queue({.name = std::move(name), .args = std::move(args)}, 1);
    if (r) return "ok";
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    return r.error().text;
}

TEST_F(features, invalid_queue_arguments_are_refused_with_rabbitmq_text) {
    const std::string pre = "invalid arg ";
    const std::string res = "for queue 'q' in vhost '/': ";
    EXPECT_EQ(declare_error(vh, {{"x-max-length", int32_t{-1}}}),
              pre + "'x-max-length' " + res + "{value_negative,-1}");
    EXPECT_EQ(declare_error(vh, {{"x-max-length", "10"}}),
              pre + "'x-max-length' " + res + "{unacceptable_type,longstr}");
    EXPECT_EQ(declare_error(vh, {{"x-max-length-bytes", int64_t{-5}}}),
              pre + "'x-max-length-bytes' " + res + "{value_negative,-5}");
    EXPECT_EQ(declare_error(vh, {{"x-max-priority", int32_t{256}}}),
              pre + "'x-max-priority' " + res + "{max_value_exceeded,256}");
    EXPECT_EQ(declare_error(vh, {{"x-overflow", "drop-tail"}}),
              pre + "'x-overflow' " + res + "invalid_overflow");
    EXPECT_EQ(declare_error(vh, {{"x-message-ttl", int32_t{-1}}}),
              pre + "'x-message-ttl' " + res + "{value_negative,-1}");
    EXPECT_EQ(declare_error(vh, {{"x-message-ttl", int64_t{4294967296}}}),
              pre + "'x-message-ttl' " + res + "{value_too_big,4294967296}");
    EXPECT_EQ(declare_error(vh, {{"x-expires", int32_t{0}}}),
              pre + "'x-expires' " + res + "{value_zero,0}");
    EXPECT_EQ(declare_error(vh, {{"x-single-active-consumer", "yes"}}),
              pre + "'x-single-active-consumer' " + res + "{unacceptable_type,longstr}");
    EXPECT_EQ(declare_error(vh, {{"x-delivery-limit", int16_t{-2}}}),
              pre + "'x-delivery-limit' " + res + "{value_negative,-2}");
    EXPECT_EQ(declare_error(vh, {{"x-dead-letter-routing-key", "k"}}),
              pre + "'x-dead-letter-routing-key' " + res + "routing_key_but_no_dlx_defined");
    EXPECT_EQ(declare_error(vh, {{"x-dead-letter-exchange", int32_t{1}}}),
              "invalid type 'signedint' for arg 'x-dead-letter-exchange' "
              "in queue 'q' in vhost '/'");
    // The first failing argument in RabbitMQ's order is reported (x-expires before x-max-length).
    EXPECT_EQ(declare_error(vh, {{"x-max-length", int32_t{-1}}, {"x-expires", int32_t{0}}}),
              pre + "'x-expires' " + res + "{value_zero,0}");
    EXPECT_FALSE(vh.find_queue("q"));
    // Valid values of any integer width are accepted.
    EXPECT_EQ(declare_error(vh, {{"x-max-length", uint8_t{3}},
                                 {"x-max-priority", int64_t{255}},
                                 {"x-overflow", "reject-publish-dlx"},
                                 {"x-single-active-consumer", true},
                                 {"x-message-ttl", int32_t{0}},
                                 {"x-dead-letter-exchange", ""},
                                 {"x-dead-letter-routing-key", "k"}}),
              "ok");
    // An existing queue is only checked for equivalence (RabbitMQ validates new ones).
    auto r = vh.declare_queue({.name = "q",
                               .args = {{"x-max-length", uint8_t{3}},
                                        {"x-max-priority", int64_t{255}},
                                        {"x-overflow", "reject-publish-dlx"},
                                        {"x-single-active-consumer", true},
                                        {"x-message-ttl", int32_t{0}},
                                        {"x-dead-letter-exchange", ""},
                                        {"x-dead-letter-routing-key", "k"}}},
                              1);
    EXPECT_TRUE(r);
}

TEST_F(features, invalid_alternate_exchange_type_is_refused) {
    auto r = vh.declare_exchange(
        {.name = "x", .type = "direct", .args = {{"alternate-exchange", int32_t{5}}}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    EXPECT_EQ(r.error().text,
              "invalid type 'signedint' for arg "
              "'alternate-exchange' in exchange 'x' in vhost '/'");
}

// ---- x-single-active-consumer ----

TEST_F(features, single_active_consumer_only_one_receives_and_fails_over_in_order) {
    auto q = declare("q", {{"x-single-active-consumer", true}});
    test_consumer a("a"), b("b"), c("c");
    ASSERT_TRUE(q->add_consumer(&a));
    ASSERT_TRUE(q->add_consumer(&b));
    ASSERT_TRUE(q->add_consumer(&c));
    for (int i = 0; i < 4; ++i) pub("q", "m" + std::to_string(i));
    EXPECT_EQ(a.bodies(), (std::vector<std::string>{"m0", "m1", "m2", "m3"}));
    EXPECT_TRUE(b.got.empty());
    EXPECT_TRUE(c.got.empty());
    EXPECT_EQ(q->active_consumer(), &a);
    // a goes (its channel closes): consumer removed first, then its unacked are requeued.
    q->ack(a.got[0].seq);
    q->remove_consumer(&a);
    EXPECT_EQ(q->active_consumer(), &b);
    q->requeue({a.got[1].seq, a.got[2].seq, a.got[3].seq});
    EXPECT_EQ(b.bodies(), (std::vector<std::string>{"m1", "m2", "m3"}));
    EXPECT_TRUE(b.got[0].redelivered);
    EXPECT_TRUE(c.got.empty());
    // The active consumer without credit blocks the queue: no other consumer gets messages.
    b.credit = 0;
    pub("q", "m4");
    EXPECT_TRUE(c.got.empty());
    EXPECT_EQ(q->message_count(), 1u);
    q->remove_consumer(&b);  // c takes over at once with what is ready
    EXPECT_EQ(c.bodies(), (std::vector<std::string>{"m4"}));
}

TEST_F(features, single_active_consumer_prefers_highest_priority_on_failover) {
    auto q = declare("q", {{"x-single-active-consumer", true}});
    test_consumer a("a"), low("low"), high("high");
    ASSERT_TRUE(q->add_consumer(&a));
    pub("q", "m0");  // a is active
    low.priority = 1;
    high.priority = 5;
    ASSERT_TRUE(q->add_consumer(&low));
    ASSERT_TRUE(q->add_consumer(&high));
    pub("q", "m1");
    EXPECT_EQ(a.bodies(), (std::vector<std::string>{"m0", "m1"}));  // no preemption
    q->remove_consumer(&a);
    pub("q", "m2");
    EXPECT_EQ(high.bodies(), (std::vector<std::string>{"m2"}));
    EXPECT_TRUE(low.got.empty());
}

// ---- x-delivery-limit ----

TEST_F(features, delivery_limit_counts_requeues_and_dead_letters_with_reason) {
    ASSERT_TRUE(vh.declare_exchange({.name = "dlx", .type = "fanout"}));
    auto q = declare("q", {{"x-delivery-limit", int32_t{2}}, {"x-dead-letter-exchange", "dlx"}});
    auto dlq = declare("dlq", {});
    ASSERT_TRUE(vh.bind_queue("dlq", "dlx", "", {}, 1));
    pub("q", "m");
    auto count_of = [](const delivery& d) -> std::optional<int64_t> {
        if (!d.msg->props.headers) return std::nullopt;
        auto* v = find(*d.msg->props.headers, "x-delivery-count");
        return v ? v->as_int() : std::nullopt;
    };
    auto d = q->get(false);
    ASSERT_TRUE(d);
    EXPECT_EQ(count_of(*d), std::nullopt);  // first delivery: no header
    q->requeue({d->seq});
    d = q->get(false);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->redelivered);
    EXPECT_EQ(count_of(*d), 1);
    EXPECT_TRUE(d->msg->props_raw.empty());
    q->requeue({d->seq});
    d = q->get(false);
    ASSERT_TRUE(d);
    EXPECT_EQ(count_of(*d), 2);
    q->requeue({d->seq});  // third return > limit 2: dead-lettered
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(q->unacked_count(), 0u);
    EXPECT_EQ(q->stats().dropped_delivery_limit, 1u);
    auto dead = dlq->get(true);
    ASSERT_TRUE(dead);
    auto* e = death(*dead->msg, 0);
    ASSERT_TRUE(e);
    EXPECT_EQ(str(*e, "reason"), "delivery_limit");
    EXPECT_EQ(str(*dead->msg->props.headers, "x-first-death-reason"), "delivery_limit");
}

TEST_F(features, delivery_limit_zero_without_dlx_drops_on_first_requeue) {
    auto q = declare("q", {{"x-delivery-limit", int32_t{0}}});
    pub("q", "m");
    test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_EQ(c.got.size(), 1u);
    q->requeue({c.got[0].seq});
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(c.got.size(), 1u);
}

// ---- CC / BCC ----

TEST_F(features, cc_and_bcc_route_additionally_and_bcc_is_removed) {
    for (auto n : {"a", "b", "c", "d"}) declare(n, {});
    ASSERT_TRUE(vh.declare_exchange({.name = "t", .type = "topic"}));
    ASSERT_TRUE(vh.bind_queue("a", "t", "k.a", {}, 1));
    ASSERT_TRUE(vh.bind_queue("b", "t", "k.*", {}, 1));
    ASSERT_TRUE(vh.bind_queue("c", "t", "cc.c", {}, 1));
    ASSERT_TRUE(vh.bind_queue("d", "t", "bcc.d", {}, 1));
    auto m = std::make_shared<message>();
    m->routing_key = "k.a";
    m->body = "x";
    m->props_raw = "stale";
    m->props.headers =
        field_table{{"CC", field_value::array({field_value{"cc.c"}, field_value{int32_t{7}}})},
                    {"BCC", field_value::array({field_value{"bcc.d"}})},
                    {"app", "v"}};
    auto n = vh.publish("t", m);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 4u);  // a and b by the routing key (each once), c by CC, d by BCC
    for (auto name : {"a", "b", "c", "d"}) {
        auto d = vh.find_queue(name)->get(true);
        ASSERT_TRUE(d) << name;
        ASSERT_TRUE(d->msg->props.headers);
        EXPECT_FALSE(find(*d->msg->props.headers, "BCC")) << name;
        EXPECT_TRUE(find(*d->msg->props.headers, "CC")) << name;
        EXPECT_TRUE(d->msg->props_raw.empty()) << name;  // re-encoded without BCC
    }
    // Through the default exchange, queue names are the keys.
    auto m2 = std::make_shared<message>();
    m2->routing_key = "a";
    m2->props.headers = field_table{{"CC", field_value::array({field_value{"c"}})}};
    n = vh.publish("", m2);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(drain(vh.find_queue("a")).size(), 1u);
    EXPECT_EQ(drain(vh.find_queue("c")).size(), 1u);
    // Only CC (no BCC): the message is not copied.
    auto m3 = std::make_shared<message>();
    m3->routing_key = "k.a";
    m3->props.headers = field_table{{"CC", field_value::array({field_value{"bcc.d"}})}};
    ASSERT_TRUE(vh.publish("t", m3));
    auto d = vh.find_queue("d")->get(true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->msg.get(), m3.get());
}

// ---- x-delayed-message ----

TEST_F(features, delayed_exchange_declare_validation) {
    auto r = vh.declare_exchange({.name = "d", .type = "x-delayed-message"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    EXPECT_EQ(r.error().text,
              "Invalid argument, 'x-delayed-type' must be "
              "an existing exchange type");
    r = vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "nope"}}});
    ASSERT_FALSE(r);
    r = vh.declare_exchange({.name = "d",
                             .type = "x-delayed-message",
                             .args = {{"x-delayed-type", "x-delayed-message"}}});
    ASSERT_FALSE(r);
    EXPECT_FALSE(vh.find_exchange("d"));
    r = vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "topic"}}});
    ASSERT_TRUE(r);
    EXPECT_TRUE((*r)->delayed());
    EXPECT_EQ((*r)->type(), exchange_type::topic);
    EXPECT_EQ((*r)->type_name(), "x-delayed-message");
    // Redeclare: same type ok, another type 406.
    EXPECT_TRUE(vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "topic"}}}));
    r = vh.declare_exchange({.name = "d", .type = "topic"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
}

TEST_F(features, delayed_exchange_holds_until_due_in_due_order) {
    ASSERT_TRUE(vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "direct"}}}));
    auto q = declare("q", {});
    ASSERT_TRUE(vh.bind_queue("q", "d", "k", {}, 1));
    auto pubd = [&](std::string body, std::optional<field_value> delay) {
        auto m = std::make_shared<message>();
        m->routing_key = "k";
        m->body = std::move(body);
        if (delay) m->props.headers = field_table{{"x-delay", std::as_const(*delay)}};
        auto n = vh.publish("d", m);
        EXPECT_TRUE(n);
        EXPECT_EQ(*n, 1u);  // held counts as routed (no basic.return)
    };
    pubd("late", int32_t{300});
    pubd("early", int64_t{100});
    pubd("now", std::nullopt);
    pubd("negative", int32_t{-5});
    pubd("string", "100");
    pubd("early2", uint16_t{100});
    EXPECT_EQ(drain(q), (std::vector<std::string>{"now", "negative", "string"}));
    EXPECT_EQ(vh.delayed_pending("d"), 3u);
    // Due 1 ms after now + delay (the clock is in whole ms: never early).
    EXPECT_EQ(vh.next_expiry(), std::optional<uint64_t>(1101));
    now = 1100;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 0u);
    now = 1101;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 2u);
    auto d = q->get(true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->msg->body, "early");
    EXPECT_EQ(find(*d->msg->props.headers, "x-delay")->as_int(), -100);
    EXPECT_EQ(q->get(true)->msg->body, "early2");
    EXPECT_EQ(vh.next_expiry(), std::optional<uint64_t>(1301));
    now = 5000;
    vh.tick(now);
    EXPECT_EQ(drain(q), (std::vector<std::string>{"late"}));
    EXPECT_EQ(vh.delayed_pending(), 0u);
    EXPECT_EQ(vh.next_expiry(), std::nullopt);
}

TEST_F(features, delayed_exchange_delete_drops_pending) {
    ASSERT_TRUE(vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "fanout"}}}));
    auto q = declare("q", {});
    ASSERT_TRUE(vh.bind_queue("q", "d", "", {}, 1));
    auto m = std::make_shared<message>();
    m->props.headers = field_table{{"x-delay", int32_t{50}}};
    ASSERT_TRUE(vh.publish("d", m));
    EXPECT_EQ(vh.delayed_pending("d"), 1u);
    ASSERT_TRUE(vh.delete_exchange("d", false));
    EXPECT_EQ(vh.delayed_pending(), 0u);
    ASSERT_TRUE(vh.declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "fanout"}}}));
    ASSERT_TRUE(vh.bind_queue("q", "d", "", {}, 1));
    now = 2000;
    vh.tick(now);
    EXPECT_EQ(q->message_count(), 0u);
}

// ---- policies ----

policy make_policy(std::string name, std::string pattern, std::string apply_to, int prio,
                   field_table def) {
    return policy{std::move(name), std::move(pattern), std::move(apply_to), prio, std::move(def)};
}

TEST_F(features, policy_validation) {
    auto bad = [&](field_table def, std::string apply = "queues", std::string pattern = ".*") {
        auto r = vh.set_policy(make_policy("p", pattern, apply, 0, std::move(def)));
        if (r) {
            (void)vh.clear_policy("p");
            return std::string("ok");
        }
        EXPECT_EQ(r.error().code, reply_code::precondition_failed);
        return r.error().text;
    };
    const std::string pre = "Validation failed\n\n";
    EXPECT_EQ(bad({{"message-ttl", int64_t{-1}}}), pre + "-1 is not a valid message TTL");
    EXPECT_EQ(bad({{"expires", int64_t{0}}}), pre + "0 is not a valid queue expiry");
    EXPECT_EQ(bad({{"max-length", "x"}}), pre + "<<\"x\">> is not a valid maximum length");
    EXPECT_EQ(bad({{"overflow", "nope"}}), pre + "<<\"nope\">> is not a valid overflow value");
    EXPECT_EQ(bad({{"max-priority", int64_t{5}}, {"foo", "x"}}),
              pre +
                  "[{<<\"foo\">>,<<\"x\">>},{<<\"max-priority\">>,5}] are not recognised "
                  "policy settings");
    EXPECT_EQ(bad({}, "everything"),
              pre + "apply-to 'everything' unrecognised; should be 'queues', 'exchanges' or 'all'");
    EXPECT_TRUE(bad({}, "all", "(")
                    .starts_with(pre + "pattern should be regular expression but is invalid: "));
    EXPECT_EQ(bad({}), pre + "no policy provided");
    // RabbitMQ 3.10's other keys are accepted (no effect in Warren), with their own checks.
    EXPECT_EQ(bad({{"queue-mode", "lazy"}, {"ha-mode", "all"}, {"max-age", "7D"}}), "ok");
    EXPECT_EQ(bad({{"queue-mode", "eager"}}),
              pre + "<<\"eager\">> is not a valid queue-mode value");
    EXPECT_EQ(bad({{"max-age", "7 days"}}), pre + "<<\"7 days\">> is not a valid max age");
    EXPECT_EQ(bad({{"ha-mode", "exactly"}}),
              pre + "ha-mode=\"exactly\" takes an integer, none given");
    EXPECT_TRUE(vh.policies().empty());
}

TEST_F(features, operator_policy_takes_the_lower_value_and_only_its_keys) {
    auto q = declare("op.q", {{"x-max-length", int64_t{50}}});
    ASSERT_TRUE(
        vh.set_policy(make_policy("p", "^op\\.", "queues", 0,
                                  {{"max-length", int64_t{20}}, {"dead-letter-exchange", "dlx"}})));
    EXPECT_EQ(q->features().max_length, 20u);
    // Operator policies take only the size/TTL keys (RabbitMQ's operator_policy_validator).
    auto r =
        vh.set_operator_policy(make_policy("cap", ".*", "queues", 0, {{"overflow", "drop-head"}}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().text,
              "Validation failed\n\n[{<<\"overflow\">>,<<\"drop-head\">>}] are not "
              "recognised policy settings");
    ASSERT_TRUE(vh.set_operator_policy(make_policy(
        "cap", ".*", "queues", 0, {{"max-length", int64_t{5}}, {"message-ttl", int64_t{1000}}})));
    EXPECT_EQ(q->features().max_length, 5u);  // min(argument 50, policy 20, operator 5)
    EXPECT_EQ(q->features().message_ttl, 1000u);
    EXPECT_EQ(q->operator_policy_name(), "cap");
    const field_table eff =
        effective_definition(vh.policy_rules().find("p"), vh.operator_policy_rules().find("cap"));
    ASSERT_NE(find(eff, "max-length"), nullptr);
    EXPECT_EQ(find(eff, "max-length")->as_int(), 5);
    EXPECT_EQ(*find(eff, "dead-letter-exchange")->as_string(), "dlx");
    EXPECT_EQ(find(eff, "message-ttl")->as_int(), 1000);
    // A higher operator value does not raise the policy's.
    ASSERT_TRUE(vh.set_operator_policy(
        make_policy("cap", ".*", "queues", 0, {{"max-length", int64_t{99}}})));
    EXPECT_EQ(q->features().max_length, 20u);
    EXPECT_FALSE(q->features().message_ttl.has_value());
    ASSERT_TRUE(vh.clear_operator_policy("cap").value());
    EXPECT_EQ(q->operator_policy_name(), "");
    EXPECT_TRUE(vh.operator_policies().empty());
}

TEST_F(features, policy_applies_to_existing_and_new_queues_highest_priority_wins) {
    auto a = declare("orders.a", {});
    auto other = declare("other", {});
    for (int i = 0; i < 5; ++i) pub("orders.a", "m" + std::to_string(i));
    ASSERT_TRUE(
        vh.set_policy(make_policy("low", "^orders\\.", "queues", 1, {{"max-length", int64_t{3}}})));
    // Applied at once: trimmed from the head.
    EXPECT_EQ(a->policy_name(), "low");
    EXPECT_EQ(a->message_count(), 3u);
    EXPECT_EQ(other->policy_name(), "");
    ASSERT_TRUE(
        vh.set_policy(make_policy("high", "orders", "all", 5, {{"message-ttl", int64_t{100}}})));
    EXPECT_EQ(a->policy_name(), "high");  // only one policy applies: max-length is gone
    EXPECT_EQ(a->features().max_length, std::nullopt);
    EXPECT_EQ(a->features().message_ttl, std::optional<uint64_t>(100));
    auto b = declare("orders.b", {});
    EXPECT_EQ(b->policy_name(), "high");
    pub("orders.b", "x");
    now += 100;
    vh.tick(now);
    EXPECT_EQ(b->message_count(), 0u);  // expired by the policy's TTL
    ASSERT_TRUE(vh.clear_policy("high").value());
    EXPECT_EQ(a->policy_name(), "low");
    EXPECT_FALSE(vh.clear_policy("high").value());
    // apply-to exchanges does not touch queues.
    ASSERT_TRUE(vh.set_policy(
        make_policy("low", "^orders\\.", "exchanges", 1, {{"alternate-exchange", "ae"}})));
    EXPECT_EQ(a->policy_name(), "");
    EXPECT_EQ(a->features().max_length, std::nullopt);
}

TEST_F(features, policy_precedence_with_queue_arguments) {
    ASSERT_TRUE(vh.set_policy(make_policy("p", ".*", "queues", 0,
                                          {{"message-ttl", int64_t{1000}},
                                           {"max-length", int64_t{10}},
                                           {"max-length-bytes", int64_t{50}},
                                           {"expires", int64_t{60000}},
                                           {"delivery-limit", int64_t{3}},
                                           {"dead-letter-exchange", "pdlx"},
                                           {"dead-letter-routing-key", "prk"},
                                           {"overflow", "reject-publish"}})));
    auto q = declare("q", {{"x-message-ttl", int32_t{500}},     // lower: argument
                           {"x-max-length", int32_t{20}},       // lower: policy
                           {"x-expires", int32_t{1000}},        // lower: argument
                           {"x-delivery-limit", int32_t{5}},    // lower: policy
                           {"x-dead-letter-exchange", "adlx"},  // argument wins
                           {"x-overflow", "drop-head"}});       // argument wins
    auto& f = q->features();
    EXPECT_EQ(f.message_ttl, std::optional<uint64_t>(500));
    EXPECT_EQ(f.max_length, std::optional<uint64_t>(10));
    EXPECT_EQ(f.max_length_bytes, std::optional<uint64_t>(50));
    EXPECT_EQ(f.expires, std::optional<uint64_t>(1000));
    EXPECT_EQ(f.delivery_limit, std::optional<uint64_t>(3));
    EXPECT_EQ(f.dlx, std::optional<std::string>("adlx"));
    EXPECT_EQ(f.dl_routing_key, std::optional<std::string>("prk"));  // no argument: policy
    EXPECT_EQ(f.overflow, overflow_mode::drop_head);
    auto q2 = declare("q2", {});
    EXPECT_EQ(q2->features().overflow, overflow_mode::reject_publish);
    EXPECT_EQ(q2->features().dlx, std::optional<std::string>("pdlx"));
}

TEST_F(features, policy_alternate_exchange_argument_wins) {
    ASSERT_TRUE(vh.declare_exchange({.name = "ae1", .type = "fanout"}));
    ASSERT_TRUE(vh.declare_exchange({.name = "ae2", .type = "fanout"}));
    auto q1 = declare("q1", {});
    auto q2 = declare("q2", {});
    ASSERT_TRUE(vh.bind_queue("q1", "ae1", "", {}, 1));
    ASSERT_TRUE(vh.bind_queue("q2", "ae2", "", {}, 1));
    ASSERT_TRUE(vh.declare_exchange({.name = "x", .type = "direct"}));
    ASSERT_TRUE(vh.declare_exchange(
        {.name = "y", .type = "direct", .args = {{"alternate-exchange", "ae2"}}}));
    ASSERT_TRUE(vh.set_policy(
        make_policy("ae", "^[xy]$", "exchanges", 0, {{"alternate-exchange", "ae1"}})));
    auto m = std::make_shared<message>();
    m->routing_key = "nowhere";
    EXPECT_EQ(*vh.publish("x", m), 1u);
    EXPECT_EQ(*vh.publish("y", m), 1u);
    EXPECT_EQ(q1->message_count(), 1u);  // x: the policy's AE
    EXPECT_EQ(q2->message_count(), 1u);  // y: its own argument wins
    ASSERT_TRUE(vh.clear_policy("ae").value());
    EXPECT_EQ(*vh.publish("x", m), 0u);
}

TEST(delayed_broker, release_delayed_alone_and_next_delayed_due) {
    uint64_t now = 5000;
    broker b;
    b.set_clock([&] { return now; });
    vhost* vh = b.find_vhost("/");
    ASSERT_TRUE(vh->declare_exchange(
        {.name = "d", .type = "x-delayed-message", .args = {{"x-delayed-type", "direct"}}}));
    ASSERT_TRUE(vh->declare_queue({.name = "q"}, 1));
    ASSERT_TRUE(vh->bind_queue("q", "d", "k", {}, 1));
    EXPECT_EQ(b.next_delayed_due(), std::nullopt);
    auto m = std::make_shared<message>();
    m->routing_key = "k";
    m->props.headers = field_table{{"x-delay", int32_t{3}}};
    ASSERT_TRUE(vh->publish("d", m));
    EXPECT_EQ(b.next_delayed_due(), std::optional<uint64_t>(5004));
    now = 5003;
    b.release_delayed(now);
    EXPECT_EQ(vh->find_queue("q")->message_count(), 0u);
    now = 5004;
    b.release_delayed(now);
    EXPECT_EQ(vh->find_queue("q")->message_count(), 1u);
    EXPECT_EQ(b.next_delayed_due(), std::nullopt);
}

}  // namespace
}  // namespace warren::core

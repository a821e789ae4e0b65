// Message rates as RabbitMQ samples them (message_stats.h): the change between the last two
// samples per second, 0.0 until there are two, summed over the vhosts a user sees.
#include "mgmt/message_stats.h"

#include <gtest/gtest.h>

#include "core/message.h"
#include "core/vhost.h"

namespace warren::mgmt {
namespace {

struct rates : ::testing::Test {
    core::broker b;
    core::vhost* vh = b.add_vhost("/");
    core::vhost* other = b.add_vhost("other");
    rate_sampler sampler{b};

    core::queue_ptr declare(core::vhost* v, std::string name) {
        auto r = v->declare_queue({.name = std::move(name)}, 1);
        EXPECT_TRUE(r);
        return r->q;
    }
    void publish(core::vhost* v, const std::string& key, int n) {
        for (int i = 0; i < n; ++i) {
            auto m = std::make_shared<core::message>();
            m->routing_key = key;
            m->body = "x";
            ASSERT_TRUE(v->publish("", m));
        }
    }
};

TEST_F(rates, RateIsTheChangeBetweenTheLastTwoSamplesPerSecond) {
    auto q = declare(vh, "q");
    json s = queue_message_stats(*q);
    sampler.add_rates(s, *q);
    EXPECT_EQ(s["publish_details"]["rate"], 0.0);  // never sampled
    publish(vh, "q", 10);
    sampler.sample(1000);
    s = queue_message_stats(*q);
    sampler.add_rates(s, *q);
    EXPECT_EQ(s["publish"], 10);
    EXPECT_EQ(s["publish_details"]["rate"], 0.0);  // one sample only
    publish(vh, "q", 25);
    sampler.sample(6000);
    s = queue_message_stats(*q);
    sampler.add_rates(s, *q);
    EXPECT_DOUBLE_EQ(s["publish_details"]["rate"].get<double>(), 5.0);  // 25 in 5 s
    EXPECT_DOUBLE_EQ(s["deliver_get_details"]["rate"].get<double>(), 0.0);
    // Depth rates sit beside the depths (queue JSON: messages_details).
    json depth = {{"messages", 35}, {"messages_ready", 35}};
    sampler.add_rates(depth, *q);
    EXPECT_DOUBLE_EQ(depth["messages_details"]["rate"].get<double>(), 5.0);
    EXPECT_FALSE(depth.contains("messages_unacknowledged_details"));
    // Draining: deliveries counted; the depth falls, a negative rate as in RabbitMQ.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(q->get(true));
    sampler.sample(8000);
    s = queue_message_stats(*q);
    sampler.add_rates(s, *q);
    EXPECT_DOUBLE_EQ(s["deliver_get_details"]["rate"].get<double>(), 10.0);  // 20 in 2 s
    EXPECT_DOUBLE_EQ(s["publish_details"]["rate"].get<double>(), 0.0);
    sampler.add_rates(depth, *q);
    EXPECT_DOUBLE_EQ(depth["messages_details"]["rate"].get<double>(), -10.0);
}

TEST_F(rates, OverviewSumsTheVhostsSeenAndDeletedObjectsDropOut) {
    auto q1 = declare(vh, "a");
    auto q2 = declare(other, "b");
    sampler.sample(0);
    publish(vh, "a", 10);
    publish(other, "b", 30);
    sampler.sample(10000);
    json all = vhost_message_stats(sample_of(*vh));
    sampler.add_rates(all, std::vector<const core::vhost*>{vh, other});
    EXPECT_DOUBLE_EQ(all["publish_details"]["rate"].get<double>(), 4.0);
    json one = vhost_message_stats(sample_of(*vh));
    sampler.add_rates(one, std::vector<const core::vhost*>{vh});
    EXPECT_DOUBLE_EQ(one["publish_details"]["rate"].get<double>(), 1.0);
    json totals = queue_totals(sample_of(*other));
    EXPECT_EQ(totals["messages"], 30);
    sampler.add_rates(totals, std::vector<const core::vhost*>{other});
    EXPECT_DOUBLE_EQ(totals["messages_ready_details"]["rate"].get<double>(), 3.0);
    // An exchange's publish_in.
    const core::exchange* x = vh->find_exchange("amq.direct");
    ASSERT_NE(x, nullptr);
    json xs = exchange_message_stats(*x);
    sampler.add_rates(xs, *x);
    EXPECT_DOUBLE_EQ(xs["publish_in_details"]["rate"].get<double>(), 0.0);
    // A deleted queue leaves the table at the next sample.
    ASSERT_TRUE(other->delete_queue("b", false, false, 1));
    sampler.sample(20000);
    json s = queue_message_stats(*q1);
    sampler.add_rates(s, *q1);
    EXPECT_DOUBLE_EQ(s["publish_details"]["rate"].get<double>(), 0.0);
}

}  // namespace
}  // namespace warren::mgmt

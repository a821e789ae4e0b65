// The router (core/router.h), driven through vhost::publish and vhost::dead_letter as the front
// ends drive it: a table of exchange graphs and publishes with the queues each must reach, then
// the cases that need more than a table (persistence, store failure, the dead-letter cycle rule,
// delayed holds, a publish from inside a delivery).

#include "core/router.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::test_consumer;
using strings = std::vector<std::string>;

strings words(const std::string& s) {
    std::istringstream in(s);
    strings out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

field_value string_array(const strings& v) {
    field_array a;
    for (auto& s : v) a.emplace_back(field_value{s});
    return field_value::array(std::move(a));
}

// A message still open for editing (make_msg's is const).
std::shared_ptr<message> make_msg(std::string body, std::string key) {
    auto m = std::make_shared<message>();
    m->body = std::move(body);
    m->routing_key = std::move(key);
    return m;
}

// One setup line: "x NAME TYPE [ae=ALT]", "q NAME", "bq QUEUE EXCHANGE KEY",
// "bx DEST SOURCE KEY" (KEY "-" = empty).
void apply(vhost& vh, const std::string& line) {
    strings w = words(line);
    ASSERT_GE(w.size(), 2u) << line;
    auto key = [&](size_t i) { return i < w.size() && w[i] != "-" ? w[i] : std::string(); };
    if (w[0] == "x") {
        exchange_decl d{.name = w[1], .type = w[2]};
        if (w.size() > 3 && w[3].rfind("ae=", 0) == 0)
            d.args.emplace_back("alternate-exchange", field_value{w[3].substr(3)});
        auto r = vh.declare_exchange(d);
        ASSERT_TRUE(r) << line << ": " << r.error().text;
    } else if (w[0] == "q") {
        auto r = vh.declare_queue(queue_decl{.name = w[1]}, 1);
        ASSERT_TRUE(r) << line << ": " << r.error().text;
    } else if (w[0] == "bq") {
        auto r = vh.bind_queue(w[1], w[2], key(3), {}, 1);
        ASSERT_TRUE(r) << line << ": " << r.error().text;
    } else if (w[0] == "bx") {
        auto r = vh.bind_exchange(w[1], w[2], key(3), {});
        ASSERT_TRUE(r) << line << ": " << r.error().text;
    } else {
        FAIL() << "bad setup line: " << line;
    }
}

struct route_case {
    const char* name;
    strings setup;
    std::string exchange, key;
    strings cc, bcc;
    size_t reached;
    std::map<std::string, size_t> ready;  // queue -> messages it holds afterwards
};

const route_case k_cases[] = {
    {"DirectRoutesByExactKey",
     {"q a", "q b", "bq a amq.direct k", "bq b amq.direct other"},
     "amq.direct",
     "k",
     {},
     {},
     1,
     {{"a", 1}, {"b", 0}}},
    {"DefaultExchangeRoutesToQueueNamedByKey",
     {"q a", "q b"},
     "",
     "a",
     {},
     {},
     1,
     {{"a", 1}, {"b", 0}}},
    {"DefaultExchangeWithoutSuchQueueIsUnroutable", {"q a"}, "", "nope", {}, {}, 0, {{"a", 0}}},
    {"ExchangeToExchangeChainIsFollowed",
     {"x e1 direct", "x e2 fanout", "q a", "bx e2 e1 k", "bq a e2 -"},
     "e1",
     "k",
     {},
     {},
     1,
     {{"a", 1}}},
    {"CycleOfExchangesDeliversOnce",
     {"x e1 fanout", "x e2 fanout", "q a", "bx e2 e1 -", "bx e1 e2 -", "bq a e1 -", "bq a e2 -"},
     "e1",
     "",
     {},
     {},
     1,
     {{"a", 1}}},
    {"TwoPathsToOneQueueDeliverOnce",
     {"x t topic", "q a", "bq a t a.*", "bq a t #", "bx t amq.fanout -", "bq a amq.fanout -"},
     "amq.fanout",
     "a.b",
     {},
     {},
     1,
     {{"a", 1}}},
    {"CcAddsRoutingKeys",
     {"q a", "q b", "q c", "bq a amq.direct ka", "bq b amq.direct kb", "bq c amq.direct kc"},
     "amq.direct",
     "ka",
     {"kb"},
     {},
     2,
     {{"a", 1}, {"b", 1}, {"c", 0}}},
    {"BccAddsRoutingKeys",
     {"q a", "q b", "bq a amq.direct ka", "bq b amq.direct kb"},
     "amq.direct",
     "ka",
     {},
     {"kb"},
     2,
     {{"a", 1}, {"b", 1}}},
    {"CcOnDefaultExchangeNamesQueues",
     {"q a", "q b", "q c"},
     "",
     "a",
     {"b"},
     {"c"},
     3,
     {{"a", 1}, {"b", 1}, {"c", 1}}},
    {"CcNamingTheSameQueueDeliversOnce",
     {"q a", "bq a amq.direct k1", "bq a amq.direct k2"},
     "amq.direct",
     "k1",
     {"k2", "k1"},
     {},
     1,
     {{"a", 1}}},
    {"UnroutableGoesToAlternateExchange",
     {"x main direct ae=alt", "x alt fanout", "q a", "q b", "bq a main k", "bq b alt -"},
     "main",
     "other",
     {},
     {},
     1,
     {{"a", 0}, {"b", 1}}},
    {"RoutedMessageSkipsAlternateExchange",
     {"x main direct ae=alt", "x alt fanout", "q a", "q b", "bq a main k", "bq b alt -"},
     "main",
     "k",
     {},
     {},
     1,
     {{"a", 1}, {"b", 0}}},
    {"AlternateExchangeCycleEnds",
     {"x e1 direct ae=e2", "x e2 direct ae=e1", "q a", "bq a e1 k"},
     "e1",
     "none",
     {},
     {},
     0,
     {{"a", 0}}},
    {"MissingAlternateExchangeIsUnroutable",
     {"x main direct ae=gone", "q a", "bq a main k"},
     "main",
     "none",
     {},
     {},
     0,
     {{"a", 0}}},
    {"AlternateExchangeOfDownstreamExchangeIsFollowed",
     {"x e1 fanout", "x e2 direct ae=alt", "x alt fanout", "q a", "bx e2 e1 -", "bq a alt -"},
     "e1",
     "k",
     {},
     {},
     1,
     {{"a", 1}}},
};

class RouteTable : public ::testing::TestWithParam<route_case> {};

TEST_P(RouteTable, ReachesTheExpectedQueues) {
    const route_case& c = GetParam();
    vhost vh("/");
    for (auto& line : c.setup) ASSERT_NO_FATAL_FAILURE(apply(vh, line));
    auto m = make_msg("m", c.key);
    if (!c.cc.empty() || !c.bcc.empty()) {
        m->props.headers.emplace();
        if (!c.cc.empty()) m->props.headers->emplace_back("CC", string_array(c.cc));
        if (!c.bcc.empty()) m->props.headers->emplace_back("BCC", string_array(c.bcc));
    }
    auto r = vh.publish(c.exchange, m);
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_EQ(*r, c.reached);
    for (auto& [q, n] : c.ready) {
        auto qp = vh.find_queue(q);
        ASSERT_TRUE(qp) << q;
        EXPECT_EQ(qp->message_count(), n) << "queue " << q;
    }
}

INSTANTIATE_TEST_SUITE_P(Router, RouteTable, ::testing::ValuesIn(k_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Router, BccIsStrippedBeforeDelivery) {
    vhost vh("/");
    apply(vh, "q a");
    auto m = make_msg("m", "a");
    m->props.headers.emplace();
    m->props.headers->emplace_back("BCC", string_array({"a"}));
    m->props.headers->emplace_back("keep", field_value{std::string("yes")});
    ASSERT_TRUE(vh.publish("", m));
    auto d = vh.find_queue("a")->get(true);
    ASSERT_TRUE(d);
    EXPECT_EQ(find(*d->msg->props.headers, "BCC"), nullptr);
    EXPECT_NE(find(*d->msg->props.headers, "keep"), nullptr);
}

TEST(Router, UnroutablePublishIsCountedOnTheExchange) {
    vhost vh("/");
    apply(vh, "q a");
    apply(vh, "bq a amq.direct k");
    ASSERT_TRUE(vh.publish("amq.direct", make_msg("1", "k")));
    ASSERT_TRUE(vh.publish("amq.direct", make_msg("2", "none")));
    auto& st = vh.find_exchange("amq.direct")->stats();
    EXPECT_EQ(st.published, 2u);
    EXPECT_EQ(st.unroutable, 1u);
}

// A message log that records what core writes.
struct recording_log : message_log {
    struct write {
        std::string body;
        std::vector<uint64_t> queues;
    };
    std::vector<write> writes;
    bool fail = false;
    uint64_t seq = 0;
    uint64_t write_message(const message& m, std::span<const uint64_t> ids) override {
        if (fail) return 0;
        writes.push_back({m.body, {ids.begin(), ids.end()}});
        return ++seq;
    }
    uint64_t spill(const message&, uint64_t) override { return 0; }
    uint64_t write_held(const message&, std::string_view, uint64_t, uint64_t*) override {
        return 0;
    }
    message_ptr read(uint64_t, uint64_t*) override { return nullptr; }
    void settle(uint64_t, uint64_t) override {}
    void queue_deleted(uint64_t, std::span<const uint64_t>) override {}
    uint64_t queue_memory_limit() const override { return 0; }
};

std::shared_ptr<message> persistent(std::string body, std::string key) {
    auto m = make_msg(std::move(body), std::move(key));
    m->props.delivery_mode = 2;
    return m;
}

class RouterStore : public ::testing::Test {
protected:
    void SetUp() override {
        vh.set_storage({.log = &log});
        for (auto [name, durable] : {std::pair{"d1", true}, {"d2", true}, {"t", false}}) {
            queue_decl d{.name = name, .durable = durable};
            d.store_id = ++ids;
            ASSERT_TRUE(vh.declare_queue(d, 1));
            ASSERT_TRUE(vh.bind_queue(name, "amq.fanout", "", {}, 1));
        }
    }
    recording_log log;
    vhost vh{"/"};
    uint64_t ids = 0;
};

TEST_F(RouterStore, PersistentFanoutIsWrittenOnceNamingEveryDurableQueue) {
    publish_info info;
    auto r = vh.publish("amq.fanout", persistent("p", ""), &info);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 3u);
    ASSERT_EQ(log.writes.size(), 1u);
    EXPECT_EQ(log.writes[0].queues, (std::vector<uint64_t>{vh.find_queue("d1")->store_id(),
                                                           vh.find_queue("d2")->store_id()}));
    EXPECT_EQ(info.store_seq, 1u);
}

TEST_F(RouterStore, PersistentToDefaultExchangeIsWrittenOnce) {
    publish_info info;
    ASSERT_TRUE(vh.publish("", persistent("p", "d1"), &info));
    ASSERT_EQ(log.writes.size(), 1u);
    EXPECT_EQ(log.writes[0].queues.size(), 1u);
    EXPECT_EQ(info.store_seq, 1u);
}

TEST_F(RouterStore, TransientOrNonDurableTargetsAreNotWritten) {
    ASSERT_TRUE(vh.publish("amq.fanout", make_msg("transient", "")));
    ASSERT_TRUE(vh.publish("", persistent("to-transient-queue", "t")));
    EXPECT_TRUE(log.writes.empty());
}

TEST_F(RouterStore, StoreWriteFailureReachesNoQueue) {
    log.fail = true;
    auto r = vh.publish("amq.fanout", persistent("p", ""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::internal_error);
    for (auto q : {"d1", "d2", "t"}) EXPECT_EQ(vh.find_queue(q)->message_count(), 0u) << q;
}

// A confirm gate whose durable seq the test moves.
struct manual_gate : confirm_gate {
    uint64_t durable = 0;
    std::vector<durable_waiter*> waiters;
    uint64_t durable_seq() const override { return durable; }
    void wait(durable_waiter* w) override { waiters.push_back(w); }
    void cancel_wait(durable_waiter* w) override { std::erase(waiters, w); }
    void advance(uint64_t to) {
        durable = to;
        auto ws = std::move(waiters);
        waiters.clear();
        for (auto* w : ws) w->durable_advanced(to);
    }
};

struct key_log : recording_log {
    uint64_t write_held(const message&, std::string_view, uint64_t, uint64_t* disk_id) override {
        *disk_id = 1000 + seq;
        return ++seq;
    }
};

TEST(RouterDedupHold, AMessageWhoseKeyWasWrittenIsDeliveredOnlyOnceTheKeyIsOnDisk) {
    key_log log;
    manual_gate gate;
    vhost vh{"/"};
    vh.set_storage({.log = &log, .confirms = &gate});
    vh.set_delayed_store_id(99);
    exchange_decl x{.name = "dd", .type = "x-message-deduplication", .durable = true};
    x.args = {{"x-cache-size", field_value{int64_t{10}}}};
    ASSERT_TRUE(vh.declare_exchange(x));
    queue_decl qd{.name = "q", .durable = true, .store_id = 7};
    ASSERT_TRUE(vh.declare_queue(qd, 1));
    ASSERT_TRUE(vh.bind_queue("q", "dd", "", {}, 1));
    testing::test_consumer c;
    auto q = vh.find_queue("q");
    ASSERT_TRUE(q->add_consumer(&c));

    auto keyed = persistent("k1", "");
    keyed->props.headers = field_table{{"x-deduplication-header", field_value{std::string("a")}}};
    publish_info info;
    ASSERT_TRUE(vh.publish("dd", keyed, &info));
    EXPECT_EQ(info.store_seq, 2u);  // the message (1), then its key (2)
    EXPECT_TRUE(c.got.empty()) << "delivered before its key is durable";
    EXPECT_FALSE(q->get().has_value());
    gate.advance(1);
    EXPECT_TRUE(c.got.empty());
    gate.advance(2);
    ASSERT_EQ(c.got.size(), 1u);
    EXPECT_EQ(c.got[0].msg->body, "k1");
    // A transient message writes no key: nothing to wait for.
    auto t = make_msg("t1", "");
    t->props.headers = field_table{{"x-deduplication-header", field_value{std::string("b")}}};
    ASSERT_TRUE(vh.publish("dd", t));
    EXPECT_EQ(c.got.size(), 2u);
    q->remove_consumer(&c);
}

std::shared_ptr<message> dead(std::string body, std::string queue, std::string reason) {
    auto m = make_msg(std::move(body), "k");
    field_table death;
    death.emplace_back("queue", field_value{std::move(queue)});
    death.emplace_back("reason", field_value{std::move(reason)});
    field_array arr;
    arr.emplace_back(field_value::table(std::move(death)));
    m->props.headers.emplace();
    m->props.headers->emplace_back("x-death", field_value::array(std::move(arr)));
    return m;
}

TEST(Router, DeadLetterSkipsQueueItDiedIn) {
    vhost vh("/");
    for (auto l : {"x dlx fanout", "q a", "q b", "bq a dlx -", "bq b dlx -"}) apply(vh, l);
    vh.dead_letter("dlx", dead("m", "a", "expired"));
    vh.drain_dead_letters();
    EXPECT_EQ(vh.find_queue("a")->message_count(), 0u);
    EXPECT_EQ(vh.find_queue("b")->message_count(), 1u);
}

TEST(Router, DeadLetterAfterRejectionIsNoCycle) {
    vhost vh("/");
    for (auto l : {"x dlx fanout", "q a", "bq a dlx -"}) apply(vh, l);
    vh.dead_letter("dlx", dead("m", "a", "rejected"));
    vh.drain_dead_letters();
    EXPECT_EQ(vh.find_queue("a")->message_count(), 1u);
}

TEST(Router, PublishedMessageWithDeathHistoryIsNoCycle) {
    vhost vh("/");
    for (auto l : {"q a", "bq a amq.fanout -"}) apply(vh, l);
    ASSERT_TRUE(vh.publish("amq.fanout", dead("m", "a", "expired")));
    EXPECT_EQ(vh.find_queue("a")->message_count(), 1u);
}

TEST(Router, DelayedExchangeHoldsUntilDue) {
    vhost vh("/");
    uint64_t now = 1000;
    vh.set_clock([&] { return now; });
    exchange_decl d{.name = "d", .type = "x-delayed-message"};
    d.args.emplace_back("x-delayed-type", field_value{std::string("fanout")});
    ASSERT_TRUE(vh.declare_exchange(d));
    for (auto l : {"x up fanout", "q a", "bx d up -", "bq a d -"}) apply(vh, l);
    auto m = make_msg("m", "");
    m->props.headers.emplace();
    m->props.headers->emplace_back("x-delay", field_value{int32_t{50}});
    auto r = vh.publish("up", m);  // up -> d holds it
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 1u);  // held counts as routed (no basic.return)
    EXPECT_EQ(vh.find_queue("a")->message_count(), 0u);
    EXPECT_EQ(vh.delayed_pending("d"), 1u);
    now += 51;
    vh.tick(now);
    EXPECT_EQ(vh.find_queue("a")->message_count(), 1u);
    EXPECT_EQ(vh.delayed_pending(), 0u);
}

TEST(Router, PublishFromInsideDeliveryRoutesToo) {
    vhost vh("/");
    for (auto l : {"q a", "q b", "q c", "bq a amq.fanout -", "bq b amq.fanout -"}) apply(vh, l);
    test_consumer ca("ca");
    int nested = 0;
    ca.on_deliver = [&](delivery&) {
        ++nested;
        auto r = vh.publish("", make_msg("inner", "c"));
        EXPECT_TRUE(r);
        EXPECT_EQ(*r, 1u);
    };
    ASSERT_TRUE(vh.find_queue("a")->add_consumer(&ca));
    auto r = vh.publish("amq.fanout", make_msg("outer", ""));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 2u);  // the outer publish still reached both queues
    EXPECT_EQ(nested, 1);
    EXPECT_EQ(vh.find_queue("b")->message_count(), 1u);
    EXPECT_EQ(vh.find_queue("c")->message_count(), 1u);
    vh.find_queue("a")->remove_consumer(&ca);
}

}  // namespace
}  // namespace warren::core

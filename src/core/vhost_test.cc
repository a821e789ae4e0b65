#include "core/vhost.h"

#include <gtest/gtest.h>

#include "core/broker.h"
#include "core/test_consumer.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;
using strings = std::vector<std::string>;

field_table tbl(std::initializer_list<std::pair<const char*, field_value>> kv) {
    field_table t;
    for (auto& [k, v] : kv) t.emplace_back(k, v);
    return t;
}

exchange_decl xdecl(std::string name, std::string type, bool durable = false) {
    exchange_decl d;
    d.name = std::move(name);
    d.type = std::move(type);
    d.durable = durable;
    return d;
}

queue_decl qdecl(std::string name, bool exclusive = false, bool auto_delete = false) {
    queue_decl d;
    d.name = std::move(name);
    d.exclusive = exclusive;
    d.auto_delete = auto_delete;
    return d;
}

template <typename R>
void expect_error(const R& r, reply_code code, const std::string& text = "") {
    ASSERT_FALSE(r) << "expected error " << static_cast<int>(code);
    EXPECT_EQ(r.error().code, code) << r.error().text;
    if (!text.empty()) {
        EXPECT_EQ(r.error().text, text);
    }
}

class VhostTest : public ::testing::Test {
protected:
    queue_ptr declare(std::string name, uint64_t conn = 1) {
        auto r = vh.declare_queue(qdecl(std::move(name)), conn);
        EXPECT_TRUE(r) << r.error().text;
        return r ? r->q : nullptr;
    }
    size_t pub(std::string_view x, std::string key, std::string body = "m") {
        auto r = vh.publish(x, make_msg(std::move(body), std::move(key)));
        EXPECT_TRUE(r) << r.error().text;
        return r ? *r : 0;
    }
    vhost vh{"/"};
};

// ---- exchanges ----

TEST_F(VhostTest, StandardExchangesExist) {
    for (auto n : {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"}) {
        ASSERT_NE(vh.find_exchange(n), nullptr) << n;
        EXPECT_TRUE(vh.find_exchange(n)->durable());
    }
    EXPECT_EQ(vh.find_exchange("amq.match")->type(), exchange_type::headers);
}

TEST_F(VhostTest, DeclareExchangeAndRedeclareEquivalent) {
    auto r = vh.declare_exchange(xdecl("x", "topic"));
    ASSERT_TRUE(r);
    auto r2 = vh.declare_exchange(xdecl("x", "topic"));
    ASSERT_TRUE(r2);
    EXPECT_EQ(*r, *r2);
}

TEST_F(VhostTest, DeclareExchangeInequivalent) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("x", "direct")));
    expect_error(vh.declare_exchange(xdecl("x", "direct", true)), reply_code::precondition_failed,
                 "inequivalent arg 'durable' for exchange 'x' in vhost "
                 "'/': received 'true' but current is 'false'");
    expect_error(vh.declare_exchange(xdecl("x", "fanout")), reply_code::precondition_failed,
                 "inequivalent arg 'type' for exchange 'x' in vhost '/': "
                 "received 'fanout' but current is 'direct'");
    auto ad = xdecl("x", "direct");
    ad.auto_delete = true;
    expect_error(vh.declare_exchange(ad), reply_code::precondition_failed,
                 "inequivalent arg 'auto_delete' for exchange 'x' in "
                 "vhost '/': received 'true' but current is 'false'");
    auto in = xdecl("x", "direct");
    in.internal = true;
    expect_error(vh.declare_exchange(in), reply_code::precondition_failed);
    auto ae = xdecl("x", "direct");
    ae.args = tbl({{"alternate-exchange", "ae"}});
    expect_error(vh.declare_exchange(ae), reply_code::precondition_failed,
                 "inequivalent arg 'alternate-exchange' for exchange 'x' "
                 "in vhost '/': received the value 'ae' of type 'longstr' but current is none");
    // Arguments RabbitMQ does not compare are accepted.
    auto other = xdecl("x", "direct");
    other.args = tbl({{"x-whatever", int32_t{1}}});
    EXPECT_TRUE(vh.declare_exchange(other));
}

TEST_F(VhostTest, DeclareExchangeUnknownType) {
    expect_error(vh.declare_exchange(xdecl("x", "foo")), reply_code::command_invalid,
                 "invalid exchange type 'foo'");
}

TEST_F(VhostTest, ReservedAndDefaultExchangeNames) {
    expect_error(vh.declare_exchange(xdecl("amq.foo", "direct")), reply_code::access_refused,
                 "exchange name 'amq.foo' contains reserved prefix 'amq.*'");
    // Redeclaring an existing amq.* exchange with its own properties is fine (as in RabbitMQ)
    EXPECT_TRUE(vh.declare_exchange(xdecl("amq.direct", "direct", true)));
    expect_error(vh.declare_exchange(xdecl("amq.direct", "direct", false)),
                 reply_code::precondition_failed);
    auto passive = xdecl("amq.topic", "");
    passive.passive = true;
    EXPECT_TRUE(vh.declare_exchange(passive));
    expect_error(vh.declare_exchange(xdecl("", "direct")), reply_code::access_refused,
                 "operation not permitted on the default exchange");
    expect_error(vh.delete_exchange("", false), reply_code::access_refused);
    expect_error(vh.delete_exchange("amq.direct", false), reply_code::access_refused);
    declare("q");
    expect_error(vh.bind_queue("q", "", "q", {}, 1), reply_code::access_refused);
    expect_error(vh.unbind_queue("q", "", "q", {}, 1), reply_code::access_refused);
}

TEST_F(VhostTest, PassiveDeclareOfMissingExchange) {
    auto d = xdecl("nope", "direct");
    d.passive = true;
    expect_error(vh.declare_exchange(d), reply_code::not_found, "no exchange 'nope' in vhost '/'");
}

TEST_F(VhostTest, DeleteExchange) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("x", "fanout")));
    declare("q");
    ASSERT_TRUE(vh.bind_queue("q", "x", "", {}, 1));
    expect_error(vh.delete_exchange("x", true), reply_code::precondition_failed,
                 "exchange 'x' in vhost '/' in use");
    EXPECT_TRUE(vh.delete_exchange("x", false));
    EXPECT_EQ(vh.find_exchange("x"), nullptr);
    EXPECT_TRUE(vh.find_queue("q")->inbound_bindings().empty());
    EXPECT_TRUE(vh.delete_exchange("x", false));  // missing: ok
}

TEST_F(VhostTest, AutoDeleteExchangeGoesWithItsLastBinding) {
    auto d = xdecl("x", "direct");
    d.auto_delete = true;
    ASSERT_TRUE(vh.declare_exchange(d));
    declare("q1");
    declare("q2");
    ASSERT_TRUE(vh.bind_queue("q1", "x", "a", {}, 1));
    ASSERT_TRUE(vh.bind_queue("q2", "x", "a", {}, 1));
    ASSERT_TRUE(vh.unbind_queue("q1", "x", "a", {}, 1));
    EXPECT_NE(vh.find_exchange("x"), nullptr);
    ASSERT_TRUE(vh.delete_queue("q2", false, false, 1));
    EXPECT_EQ(vh.find_exchange("x"), nullptr);
}

TEST_F(VhostTest, InternalExchangeRefusesPublishButRoutesViaE2E) {
    auto d = xdecl("inner", "fanout");
    d.internal = true;
    ASSERT_TRUE(vh.declare_exchange(d));
    ASSERT_TRUE(vh.declare_exchange(xdecl("outer", "fanout")));
    declare("q");
    ASSERT_TRUE(vh.bind_queue("q", "inner", "", {}, 1));
    ASSERT_TRUE(vh.bind_exchange("inner", "outer", "", {}));
    expect_error(vh.publish("inner", make_msg("x")), reply_code::access_refused,
                 "cannot publish to internal exchange 'inner' in vhost '/'");
    EXPECT_EQ(pub("outer", ""), 1u);
}

TEST_F(VhostTest, PublishToMissingExchange) {
    expect_error(vh.publish("nope", make_msg("x")), reply_code::not_found,
                 "no exchange 'nope' in vhost '/'");
}

// ---- routing ----

TEST_F(VhostTest, DefaultExchangeRoutesByQueueName) {
    auto q = declare("q");
    EXPECT_EQ(pub("", "q"), 1u);
    EXPECT_EQ(pub("", "other"), 0u);
    EXPECT_EQ(q->message_count(), 1u);
}

TEST_F(VhostTest, PublishSetsMessageIdAndSharesOneInstance) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("f", "fanout")));
    auto q1 = declare("q1");
    auto q2 = declare("q2");
    vh.bind_queue("q1", "f", "", {}, 1);
    vh.bind_queue("q2", "f", "", {}, 1);
    auto m = std::make_shared<message>();
    m->body = "shared";
    ASSERT_EQ(*vh.publish("f", m), 2u);
    EXPECT_NE(m->id, 0u);
    auto d1 = q1->get(true), d2 = q2->get(true);
    EXPECT_EQ(d1->msg.get(), m.get());
    EXPECT_EQ(d2->msg.get(), m.get());
}

TEST_F(VhostTest, TopicAndDirectRouting) {
    declare("all");
    declare("usd");
    vh.bind_queue("all", "amq.topic", "#", {}, 1);
    vh.bind_queue("usd", "amq.topic", "*.usd.#", {}, 1);
    vh.bind_queue("usd", "amq.direct", "usd", {}, 1);
    EXPECT_EQ(pub("amq.topic", "stock.usd.nyse"), 2u);
    EXPECT_EQ(pub("amq.topic", "stock.eur"), 1u);
    EXPECT_EQ(pub("amq.direct", "usd"), 1u);
    EXPECT_EQ(pub("amq.direct", "eur"), 0u);
    EXPECT_EQ(vh.find_exchange("amq.direct")->stats().published, 2u);
    EXPECT_EQ(vh.find_exchange("amq.direct")->stats().unroutable, 1u);
}

TEST_F(VhostTest, QueueBoundTwiceGetsMessageOnce) {
    auto q = declare("q");
    vh.bind_queue("q", "amq.topic", "a.*", {}, 1);
    vh.bind_queue("q", "amq.topic", "*.b", {}, 1);
    vh.bind_queue("q", "amq.topic", "#", {}, 1);
    EXPECT_EQ(pub("amq.topic", "a.b"), 1u);
    EXPECT_EQ(q->message_count(), 1u);
}

TEST_F(VhostTest, HeadersExchangeRouting) {
    auto q = declare("q");
    ASSERT_TRUE(vh.bind_queue("q", "amq.match", "", tbl({{"x-match", "any"}, {"k", "v"}}), 1));
    auto m = std::make_shared<message>();
    m->props.headers = tbl({{"k", "v"}});
    EXPECT_EQ(*vh.publish("amq.match", m), 1u);
    EXPECT_EQ(*vh.publish("amq.match", make_msg("no headers")), 0u);
}

TEST_F(VhostTest, HeadersBindingValidatesXMatch) {
    declare("q");
    expect_error(vh.bind_queue("q", "amq.match", "", tbl({{"x-match", "some"}}), 1),
                 reply_code::precondition_failed,
                 "Invalid x-match field value <<\"some\">>; expected all, "
                 "any, all-with-x, or any-with-x");
    expect_error(vh.bind_queue("q", "amq.match", "", tbl({{"x-match", int32_t{1}}}), 1),
                 reply_code::precondition_failed);
    // Other exchange types do not care.
    EXPECT_TRUE(vh.bind_queue("q", "amq.direct", "", tbl({{"x-match", "some"}}), 1));
    EXPECT_TRUE(vh.bind_queue("q", "amq.match", "", tbl({{"x-match", "any-with-x"}}), 1));
}

TEST_F(VhostTest, ExchangeToExchangeCyclesDeliverOnce) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("a", "fanout")));
    ASSERT_TRUE(vh.declare_exchange(xdecl("b", "fanout")));
    ASSERT_TRUE(vh.declare_exchange(xdecl("c", "topic")));
    auto qa = declare("qa");
    auto qc = declare("qc");
    // a -> b -> c -> a (cycle), and every exchange also reaches qc.
    ASSERT_TRUE(vh.bind_exchange("b", "a", "", {}));
    ASSERT_TRUE(vh.bind_exchange("c", "b", "", {}));
    ASSERT_TRUE(vh.bind_exchange("a", "c", "#", {}));
    ASSERT_TRUE(vh.bind_queue("qa", "a", "", {}, 1));
    ASSERT_TRUE(vh.bind_queue("qc", "c", "k", {}, 1));
    ASSERT_TRUE(vh.bind_queue("qc", "a", "", {}, 1));
    ASSERT_TRUE(vh.bind_queue("qc", "b", "", {}, 1));
    EXPECT_EQ(pub("c", "k"), 2u);
    EXPECT_EQ(qa->message_count(), 1u);
    EXPECT_EQ(qc->message_count(), 1u);
    EXPECT_EQ(pub("b", "zzz"), 2u);  // b -> c (no qc match) -> a (#) -> qa, qc; b -> qc
    EXPECT_EQ(qa->message_count(), 2u);
    EXPECT_EQ(qc->message_count(), 2u);
}

TEST_F(VhostTest, AlternateExchangeTakesUnroutableMessages) {
    auto d = xdecl("main", "direct");
    d.args = tbl({{"alternate-exchange", "ae"}});
    ASSERT_TRUE(vh.declare_exchange(d));
    ASSERT_TRUE(vh.declare_exchange(xdecl("ae", "fanout")));
    auto routed = declare("routed");
    auto unrouted = declare("unrouted");
    vh.bind_queue("routed", "main", "k", {}, 1);
    vh.bind_queue("unrouted", "ae", "", {}, 1);
    EXPECT_EQ(pub("main", "k"), 1u);
    EXPECT_EQ(pub("main", "other"), 1u);
    EXPECT_EQ(routed->message_count(), 1u);
    EXPECT_EQ(unrouted->message_count(), 1u);
    // An alternate exchange that does not exist is ignored; a cycle of AEs terminates.
    auto loop = xdecl("loop", "direct");
    loop.args = tbl({{"alternate-exchange", "loop"}});
    ASSERT_TRUE(vh.declare_exchange(loop));
    EXPECT_EQ(pub("loop", "x"), 0u);
    auto missing = xdecl("m", "direct");
    missing.args = tbl({{"alternate-exchange", "nope"}});
    ASSERT_TRUE(vh.declare_exchange(missing));
    EXPECT_EQ(pub("m", "x"), 0u);
}

TEST_F(VhostTest, ExchangeToExchangeSelfBinding) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("a", "fanout")));
    auto q = declare("q");
    ASSERT_TRUE(vh.bind_exchange("a", "a", "", {}));
    ASSERT_TRUE(vh.bind_queue("q", "a", "", {}, 1));
    EXPECT_EQ(pub("a", ""), 1u);
}

TEST_F(VhostTest, DeletingAnExchangeRemovesE2EBindingsBothWays) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("src", "fanout")));
    ASSERT_TRUE(vh.declare_exchange(xdecl("mid", "fanout")));
    auto ad = xdecl("ad", "fanout");
    ad.auto_delete = true;
    ASSERT_TRUE(vh.declare_exchange(ad));
    declare("q");
    ASSERT_TRUE(vh.bind_exchange("mid", "src", "", {}));
    ASSERT_TRUE(vh.bind_exchange("mid", "ad", "", {}));
    ASSERT_TRUE(vh.bind_queue("q", "mid", "", {}, 1));
    ASSERT_TRUE(vh.delete_exchange("mid", false));
    EXPECT_EQ(vh.find_exchange("src")->binding_count(), 0u);
    EXPECT_EQ(vh.find_exchange("ad"), nullptr);  // lost its only binding
    EXPECT_TRUE(vh.find_queue("q")->inbound_bindings().empty());
    EXPECT_EQ(pub("src", ""), 0u);
}

TEST_F(VhostTest, BindingToMissingThings) {
    declare("q");
    expect_error(vh.bind_queue("q", "nope", "", {}, 1), reply_code::not_found,
                 "no exchange 'nope' in vhost '/'");
    expect_error(vh.bind_queue("nope", "amq.direct", "", {}, 1), reply_code::not_found,
                 "no queue 'nope' in vhost '/'");
    expect_error(vh.bind_exchange("nope", "amq.direct", "", {}), reply_code::not_found);
    expect_error(vh.bind_exchange("amq.direct", "nope", "", {}), reply_code::not_found);
    expect_error(vh.bind_exchange("", "amq.direct", "", {}), reply_code::access_refused);
    EXPECT_TRUE(vh.unbind_queue("q", "amq.direct", "never", {}, 1));  // idempotent
}

// RabbitMQ 3.10 answers unbind-ok for a missing exchange, queue or binding: client libraries
// unbind in their teardown after auto-delete has removed the exchange.
TEST_F(VhostTest, UnbindOfMissingThingsIsIdempotent) {
    declare("q");
    ASSERT_TRUE(vh.declare_exchange(xdecl("x", "direct")));
    EXPECT_TRUE(vh.unbind_queue("q", "gone", "k", {}, 1));
    EXPECT_TRUE(vh.unbind_queue("gone", "x", "k", {}, 1));
    EXPECT_TRUE(vh.unbind_queue("gone", "gone", "k", {}, 1));
    EXPECT_TRUE(vh.unbind_exchange("x", "gone", "k", {}));
    EXPECT_TRUE(vh.unbind_exchange("gone", "x", "k", {}));
    EXPECT_TRUE(vh.unbind_exchange("x", "amq.direct", "not-bound", {}));
    expect_error(vh.unbind_exchange("x", "", "k", {}), reply_code::access_refused,
                 "operation not permitted on the default exchange");
}

TEST_F(VhostTest, UnbindOfAnotherConnectionsExclusiveQueue) {
    auto r = vh.declare_queue(qdecl("ex", true), 1);
    ASSERT_TRUE(r);
    ASSERT_TRUE(vh.bind_queue("ex", "amq.direct", "k", {}, 1));
    EXPECT_TRUE(vh.unbind_queue("ex", "amq.direct", "other", {}, 2));  // no such binding: ok
    expect_error(vh.unbind_queue("ex", "amq.direct", "k", {}, 2), reply_code::resource_locked);
    EXPECT_TRUE(vh.unbind_queue("ex", "amq.direct", "k", {}, 1));
}

// Regression: unbinding the last binding of an auto-delete exchange freed the exchange and then
// read its durable flag (heap-use-after-free under ASan).
TEST_F(VhostTest, UnbindLastBindingOfAutoDeleteExchangeDoesNotTouchIt) {
    declare("q");
    auto d = xdecl("ad", "direct");
    d.auto_delete = true;
    ASSERT_TRUE(vh.declare_exchange(d));
    ASSERT_TRUE(vh.declare_exchange(xdecl("dst", "fanout")));
    ASSERT_TRUE(vh.bind_queue("q", "ad", "k", {}, 1));
    ASSERT_TRUE(vh.unbind_queue("q", "ad", "k", {}, 1));
    EXPECT_EQ(vh.find_exchange("ad"), nullptr);
    EXPECT_TRUE(vh.unbind_queue("q", "ad", "k", {}, 1));  // gone now: still ok
    ASSERT_TRUE(vh.declare_exchange(d));
    ASSERT_TRUE(vh.bind_exchange("dst", "ad", "k", {}));
    ASSERT_TRUE(vh.unbind_exchange("dst", "ad", "k", {}));
    EXPECT_EQ(vh.find_exchange("ad"), nullptr);
}

TEST_F(VhostTest, UnbindStopsRouting) {
    auto q = declare("q");
    vh.bind_queue("q", "amq.direct", "k", tbl({{"a", "1"}}), 1);
    EXPECT_EQ(pub("amq.direct", "k"), 1u);
    vh.unbind_queue("q", "amq.direct", "k", {}, 1);  // different args: not that binding
    EXPECT_EQ(pub("amq.direct", "k"), 1u);
    vh.unbind_queue("q", "amq.direct", "k", tbl({{"a", "1"}}), 1);
    EXPECT_EQ(pub("amq.direct", "k"), 0u);
    EXPECT_TRUE(q->inbound_bindings().empty());
}

// ---- queues ----

TEST_F(VhostTest, ServerNamedQueue) {
    auto r = vh.declare_queue(qdecl(""), 1);
    ASSERT_TRUE(r);
    const std::string& n = r->q->name();
    ASSERT_EQ(n.size(), 8u + 22u) << n;
    EXPECT_EQ(n.substr(0, 8), "amq.gen-");
    for (char c : n.substr(8))
        EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << n;
    auto r2 = vh.declare_queue(qdecl(""), 1);
    EXPECT_NE(r2->q->name(), n);
    EXPECT_EQ(vh.find_queue(n), r->q);
}

TEST_F(VhostTest, ReservedQueueName) {
    expect_error(vh.declare_queue(qdecl("amq.q"), 1), reply_code::access_refused,
                 "queue name 'amq.q' contains reserved prefix 'amq.*'");
}

TEST_F(VhostTest, DeclareQueueReturnsCounts) {
    auto q = declare("q");
    pub("", "q");
    pub("", "q");
    test_consumer c("c", 0);
    q->add_consumer(&c);
    auto r = vh.declare_queue(qdecl("q"), 1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->message_count, 2u);
    EXPECT_EQ(r->consumer_count, 1u);
    auto p = qdecl("q");
    p.passive = true;
    p.durable = true;  // passive ignores the rest
    EXPECT_TRUE(vh.declare_queue(p, 1));
    p.name = "nope";
    expect_error(vh.declare_queue(p, 1), reply_code::not_found, "no queue 'nope' in vhost '/'");
    q->remove_consumer(&c);
}

TEST_F(VhostTest, DeclareQueueInequivalent) {
    auto d = qdecl("q");
    d.args = tbl({{"x-message-ttl", int32_t{1000}}, {"x-custom", "a"}});
    ASSERT_TRUE(vh.declare_queue(d, 1));
    auto dd = d;
    dd.durable = true;
    expect_error(vh.declare_queue(dd, 1), reply_code::precondition_failed,
                 "inequivalent arg 'durable' for queue 'q' in vhost '/': "
                 "received 'true' but current is 'false'");
    auto ad = d;
    ad.auto_delete = true;
    expect_error(vh.declare_queue(ad, 1), reply_code::precondition_failed);
    auto ttl = d;
    ttl.args = tbl({{"x-message-ttl", int32_t{2000}}});
    expect_error(vh.declare_queue(ttl, 1), reply_code::precondition_failed,
                 "inequivalent arg 'x-message-ttl' for queue 'q' in vhost "
                 "'/': received '2000' but current is '1000'");
    auto none = d;
    none.args = {};
    expect_error(vh.declare_queue(none, 1), reply_code::precondition_failed,
                 "inequivalent arg 'x-message-ttl' for queue 'q' in vhost "
                 "'/': received none but current is the value '1000' of type 'signedint'");
    // Same value in another integer width, and unchecked custom args: equivalent.
    auto wide = d;
    wide.args = tbl({{"x-message-ttl", int64_t{1000}}});
    EXPECT_TRUE(vh.declare_queue(wide, 1));
}

TEST_F(VhostTest, ExclusiveQueueBelongsToItsConnection) {
    auto r = vh.declare_queue(qdecl("ex", true), 7);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->q->owner(), 7u);
    const std::string locked =
        "cannot obtain exclusive access to locked queue 'ex' in vhost '/'. It "
        "could be originally declared on another connection or the exclusive property value "
        "does not match that of the original declaration.";
    expect_error(vh.declare_queue(qdecl("ex", true), 8), reply_code::resource_locked, locked);
    expect_error(vh.declare_queue(qdecl("ex", false), 8), reply_code::resource_locked);
    expect_error(vh.declare_queue(qdecl("ex", false), 7), reply_code::resource_locked);
    auto passive = qdecl("ex");
    passive.passive = true;
    expect_error(vh.declare_queue(passive, 8), reply_code::resource_locked);
    EXPECT_TRUE(vh.declare_queue(passive, 7));
    expect_error(vh.bind_queue("ex", "amq.direct", "k", {}, 8), reply_code::resource_locked);
    expect_error(vh.queue_for("ex", 8), reply_code::resource_locked);
    expect_error(vh.purge_queue("ex", 8), reply_code::resource_locked);
    expect_error(vh.delete_queue("ex", false, false, 8), reply_code::resource_locked);
    EXPECT_TRUE(vh.queue_for("ex", 7));
    EXPECT_TRUE(vh.bind_queue("ex", "amq.direct", "k", {}, 7));
    // Anyone may publish to it.
    EXPECT_EQ(pub("amq.direct", "k"), 1u);
    EXPECT_EQ(pub("", "ex"), 1u);
    // A non-exclusive queue cannot be redeclared exclusive.
    declare("shared");
    expect_error(vh.declare_queue(qdecl("shared", true), 1), reply_code::resource_locked);
}

TEST_F(VhostTest, ConnectionCloseDeletesItsExclusiveQueues) {
    auto q = vh.declare_queue(qdecl("ex", true), 7)->q;
    auto other = vh.declare_queue(qdecl("ex2", true), 8)->q;
    declare("plain", 7);
    vh.bind_queue("ex", "amq.topic", "#", {}, 7);
    test_consumer c;
    c.connection_id = 7;
    ASSERT_TRUE(q->add_consumer(&c));
    vh.connection_closed(7);
    EXPECT_EQ(vh.find_queue("ex"), nullptr);
    EXPECT_TRUE(q->deleted());
    EXPECT_EQ(c.cancelled, 1);
    EXPECT_NE(vh.find_queue("ex2"), nullptr);
    EXPECT_NE(vh.find_queue("plain"), nullptr);
    EXPECT_EQ(vh.find_exchange("amq.topic")->binding_count(), 0u);
}

TEST_F(VhostTest, AutoDeleteQueueRemovedWhenLastConsumerCancels) {
    auto q = vh.declare_queue(qdecl("ad", false, true), 1)->q;
    vh.bind_queue("ad", "amq.fanout", "", {}, 1);
    test_consumer a("a"), b("b");
    q->add_consumer(&a);
    q->add_consumer(&b);
    q->remove_consumer(&a);
    EXPECT_NE(vh.find_queue("ad"), nullptr);
    q->remove_consumer(&b);
    EXPECT_EQ(vh.find_queue("ad"), nullptr);
    EXPECT_TRUE(q->deleted());
    EXPECT_EQ(vh.find_exchange("amq.fanout")->binding_count(), 0u);
}

TEST_F(VhostTest, AutoDeleteQueueWithoutConsumersStays) {
    vh.declare_queue(qdecl("ad", false, true), 1);
    pub("", "ad");
    EXPECT_NE(vh.find_queue("ad"), nullptr);
}

TEST_F(VhostTest, DeleteQueueCountsAndConditions) {
    auto q = declare("q");
    pub("", "q");
    pub("", "q");
    pub("", "q");
    expect_error(vh.delete_queue("q", false, true, 1), reply_code::precondition_failed,
                 "queue 'q' in vhost '/' not empty");
    test_consumer c("c", 1);
    q->add_consumer(&c);
    q->dispatch();
    expect_error(vh.delete_queue("q", true, false, 1), reply_code::precondition_failed,
                 "queue 'q' in vhost '/' in use");
    auto n = vh.delete_queue("q", false, false, 1);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);  // ready only; one was unacked
    EXPECT_EQ(c.cancelled, 1);
    EXPECT_TRUE(q->deleted());
    q->ack(c.got[0].seq);                                   // no-op on a deleted queue
    EXPECT_EQ(*vh.delete_queue("q", false, false, 1), 0u);  // missing: ok, 0
    EXPECT_EQ(pub("", "q"), 0u);
}

TEST_F(VhostTest, PurgeQueue) {
    declare("q");
    pub("", "q");
    pub("", "q");
    EXPECT_EQ(*vh.purge_queue("q", 1), 2u);
    EXPECT_EQ(*vh.purge_queue("q", 1), 0u);
    expect_error(vh.purge_queue("nope", 1), reply_code::not_found);
}

TEST_F(VhostTest, DeletingQueueFromInsideDeliverDuringPublish) {
    // A consumer callback deletes another queue that the same publish is about to reach.
    ASSERT_TRUE(vh.declare_exchange(xdecl("f", "fanout")));
    auto q1 = declare("q1");
    auto q2 = declare("q2");
    vh.bind_queue("q1", "f", "", {}, 1);
    vh.bind_queue("q2", "f", "", {}, 1);
    test_consumer c1("c1"), c2("c2");
    c1.on_deliver = [&](delivery&) { vh.delete_queue("q2", false, false, 1); };
    c2.on_deliver = [&](delivery&) { vh.delete_queue("q1", false, false, 1); };
    q1->add_consumer(&c1);
    q2->add_consumer(&c2);
    EXPECT_EQ(pub("f", ""), 2u);
    EXPECT_EQ(c1.got.size() + c2.got.size(), 1u);
    EXPECT_EQ(c1.cancelled + c2.cancelled, 1);
}

TEST_F(VhostTest, NestedPublishFromInsideDeliver) {
    ASSERT_TRUE(vh.declare_exchange(xdecl("f", "fanout")));
    auto q1 = declare("q1");
    auto q2 = declare("q2");
    auto q3 = declare("q3");
    vh.bind_queue("q1", "f", "", {}, 1);
    vh.bind_queue("q2", "f", "", {}, 1);
    test_consumer c1("c1");
    c1.on_deliver = [&](delivery& d) {
        if (d.msg->body == "first") pub("", "q3", "reply");
    };
    q1->add_consumer(&c1);
    EXPECT_EQ(pub("f", "", "first"), 2u);
    EXPECT_EQ(q2->message_count(), 1u);
    EXPECT_EQ(q3->message_count(), 1u);
}

// ---- broker ----

TEST(Broker, DefaultsAndConnectionIds) {
    broker b;
    ASSERT_NE(b.find_vhost("/"), nullptr);
    EXPECT_EQ(b.find_vhost("/")->name(), "/");
    EXPECT_EQ(b.find_vhost("other"), nullptr);
    auto c1 = b.next_connection_id();
    auto c2 = b.next_connection_id();
    EXPECT_NE(c1, 0u);
    EXPECT_LT(c1, c2);
    vhost* v = b.add_vhost("v2");
    EXPECT_EQ(b.add_vhost("v2"), v);
    EXPECT_EQ(b.vhost_names().size(), 2u);
}

TEST(Broker, VhostNamesAppearInErrors) {
    broker b;
    vhost* v = b.add_vhost("prod");
    auto r = v->publish("x", make_msg("m"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().text, "no exchange 'x' in vhost 'prod'");
}

// ---- permissions (core/access.h): asked where RabbitMQ's channel asks --------------------------

// Records every question; refuses names listed in `deny` (as "perm:kind:name").
struct recording_access final : access {
    mutable std::vector<std::string> asked;
    std::vector<std::string> deny;
    static std::string key(permission p, resource_kind k, std::string_view name) {
        const char* ps[] = {"configure", "write", "read"};
        const char* ks[] = {"queue", "exchange", "topic"};
        return std::string(ps[int(p)]) + ":" + ks[int(k)] + ":" + std::string(name);
    }
    result<void> check(permission p, resource_kind k, std::string_view name) const override {
        asked.push_back(key(p, k, name));
        if (std::find(deny.begin(), deny.end(), asked.back()) != deny.end())
            return error{reply_code::access_refused, "refused " + asked.back()};
        return {};
    }
    result<void> check_topic(permission p, std::string_view x,
                             std::string_view key_) const override {
        asked.push_back(key(p, resource_kind::topic, std::string(x) + "/" + std::string(key_)));
        if (std::find(deny.begin(), deny.end(), asked.back()) != deny.end())
            return error{reply_code::access_refused, "refused " + asked.back()};
        return {};
    }
};

TEST(VhostAccess, DeclaresAskConfigureAndNewOnesTheirDlxAndAlternate) {
    vhost vh("/");
    recording_access who;
    exchange_decl xd{.name = "x", .type = "direct"};
    xd.args.emplace_back("alternate-exchange", field_value{std::string("ae")});
    ASSERT_TRUE(vh.declare_exchange(xd, &who));
    EXPECT_EQ(who.asked, (strings{"configure:exchange:x", "read:exchange:x", "write:exchange:ae"}));
    who.asked.clear();
    ASSERT_TRUE(vh.declare_exchange(xd, &who));  // existing: configure only
    EXPECT_EQ(who.asked, (strings{"configure:exchange:x"}));
    who.asked.clear();
    queue_decl qd{.name = "q"};
    qd.args.emplace_back("x-dead-letter-exchange", field_value{std::string("dlx")});
    ASSERT_TRUE(vh.declare_queue(qd, 1, &who));
    EXPECT_EQ(who.asked, (strings{"configure:queue:q", "read:queue:q", "write:exchange:dlx"}));
    who.asked.clear();
    ASSERT_TRUE(vh.declare_queue({.name = "q", .passive = true}, 1, &who));  // passive: none
    EXPECT_TRUE(who.asked.empty());
    auto gen = vh.declare_queue({}, 1, &who);  // server-named: the generated name
    ASSERT_TRUE(gen);
    EXPECT_EQ(who.asked, (strings{"configure:queue:" + gen->q->name()}));
    who.deny = {"configure:queue:nope"};
    auto r = vh.declare_queue({.name = "nope"}, 1, &who);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::access_refused);
    EXPECT_EQ(vh.find_queue("nope"), nullptr);
}

TEST(VhostAccess, BindingsAskWriteOnDestinationReadOnSourceAndTopicRead) {
    vhost vh("/");
    ASSERT_TRUE(vh.declare_queue({.name = "q"}, 1));
    recording_access who;
    ASSERT_TRUE(vh.bind_queue("q", "amq.topic", "a.b", {}, 1, &who));
    EXPECT_EQ(who.asked,
              (strings{"write:queue:q", "read:exchange:amq.topic", "read:topic:amq.topic/a.b"}));
    who.asked.clear();
    ASSERT_TRUE(vh.bind_exchange("amq.fanout", "amq.direct", "k", {}, &who));
    EXPECT_EQ(who.asked, (strings{"write:exchange:amq.fanout", "read:exchange:amq.direct"}));
    who.asked.clear();
    who.deny = {"read:exchange:amq.direct"};
    auto r = vh.unbind_queue("q", "amq.direct", "k", {}, 1, &who);  // refused before idempotence
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::access_refused);
}

TEST(VhostAccess, PublishAsksWriteThenTopicWriteDeletePurgeAskTheirs) {
    vhost vh("/");
    ASSERT_TRUE(vh.declare_queue({.name = "q"}, 1));
    recording_access who;
    ASSERT_TRUE(vh.publish("amq.topic", make_msg("x", "a.b"), nullptr, &who));
    EXPECT_EQ(who.asked, (strings{"write:exchange:amq.topic", "write:topic:amq.topic/a.b"}));
    who.asked.clear();
    ASSERT_TRUE(vh.publish("", make_msg("x", "q"), nullptr, &who));
    EXPECT_EQ(who.asked, (strings{"write:exchange:"}));  // the access names it amq.default
    who.asked.clear();
    who.deny = {"write:exchange:missing"};
    auto r = vh.publish("missing", make_msg("x", "q"), nullptr, &who);  // 403 before 404
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::access_refused);
    who.asked.clear();
    ASSERT_TRUE(vh.purge_queue("q", 1, &who));
    ASSERT_TRUE(vh.delete_queue("q", false, false, 1, &who));
    ASSERT_TRUE(vh.delete_exchange("gone", false, &who));
    EXPECT_EQ(who.asked, (strings{"read:queue:q", "configure:queue:q", "configure:exchange:gone"}));
}

TEST(VhostLimits, MaxQueuesRefusesOnlyNewQueuesWithRabbitMQsText) {
    vhost vh("lim");
    vh.set_limits({.max_connections = -1, .max_queues = 1});
    ASSERT_TRUE(vh.declare_queue({.name = "a"}, 1));
    ASSERT_TRUE(vh.declare_queue({.name = "a"}, 1));  // redeclare is fine
    auto r = vh.declare_queue({.name = "b"}, 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    EXPECT_EQ(r.error().text,
              "cannot declare queue 'b': queue limit in vhost 'lim' (1) is reached");
}

TEST(VhostLimits, ConnectionsAreCountedAndClosedOnDeletion) {
    broker b;
    vhost* vh = b.add_vhost("v");
    vh->set_limits({.max_connections = 2, .max_queues = -1});
    std::vector<std::string> closed;
    EXPECT_FALSE(vh->connection_limit_reached());
    vh->connection_opened(1, "u",
                          [&](std::string_view why) { closed.push_back(std::string(why)); });
    vh->connection_opened(2, "u", [&](std::string_view why) {
        closed.push_back(std::string(why));
        vh->connection_closed(2);  // a session forgets itself while being closed
    });
    EXPECT_EQ(vh->connection_limit_reached(), 2);
    vh->connection_closed(1);
    EXPECT_FALSE(vh->connection_limit_reached());
    vh->connection_opened(1, "u",
                          [&](std::string_view why) { closed.push_back(std::string(why)); });
    vh->connection_opened(3, "other", [&](std::string_view why) {
        closed.push_back("other: " + std::string(why));
        vh->connection_closed(3);
    });
    vh->close_connections_of("other", "user 'other' is deleted");
    EXPECT_EQ(closed, (strings{"other: user 'other' is deleted"}));
    closed.clear();
    ASSERT_TRUE(vh->declare_queue({.name = "q", .durable = true}, 0));
    ASSERT_TRUE(vh->declare_exchange({.name = "x", .type = "fanout"}));
    ASSERT_TRUE(b.delete_vhost("v", "vhost 'v' is deleted"));
    EXPECT_EQ(closed, (strings{"vhost 'v' is deleted", "vhost 'v' is deleted"}));
    EXPECT_EQ(b.find_vhost("v"), nullptr);
    EXPECT_FALSE(b.delete_vhost("v", "again"));
}

}  // namespace
}  // namespace warren::core

namespace warren::core {
namespace {

// The tick used to walk every queue twice per 10 ms: 13% of a core for an idle vhost of
// 10,000 queues (the feed app, one queue per user). Only queues with timers are walked now.
TEST(VhostTimers, OnlyQueuesWithTimersAreWatched) {
    broker b;
    vhost& vh = *b.add_vhost("/");
    for (int i = 0; i < 100; ++i)
        ASSERT_TRUE(vh.declare_queue({.name = "plain" + std::to_string(i)}, 0));
    ASSERT_TRUE(vh.declare_queue({.name = "ttl", .args = {{"x-message-ttl", int64_t{50}}}}, 0));
    ASSERT_TRUE(vh.declare_queue({.name = "exp", .args = {{"x-expires", int64_t{60000}}}}, 0));
    EXPECT_EQ(vh.watched_queues(), 1u);  // x-expires only: the TTL queue holds no message yet
    auto m = std::make_shared<message>();
    m->routing_key = "ttl";
    ASSERT_TRUE(vh.publish("", m));
    EXPECT_EQ(vh.watched_queues(), 2u);
    const uint64_t now = vh.now_ms();
    ASSERT_TRUE(vh.next_expiry());
    vh.tick(now + 100);  // the message expires; the queue has no timer left
    EXPECT_EQ(vh.find_queue("ttl")->message_count(), 0u);
    vh.tick(now + 200);
    EXPECT_EQ(vh.watched_queues(), 1u);
    ASSERT_TRUE(vh.publish("", m));  // registers again
    EXPECT_EQ(vh.watched_queues(), 2u);
}

}  // namespace
}  // namespace warren::core

// Session tests: drive a stomp::session with frames against a real core::broker and inspect the
// frames it writes back. No sockets; time is injected.

#include "proto/stomp/session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/broker.h"
#include "proto/stomp/destination.h"

namespace warren::stomp {
namespace {

using namespace std::string_literals;

struct fake_io : session_io {
    int ready = 0;
    bool close = false;
    void output_ready() override { ++ready; }
    void close_requested() override { close = true; }
};

class client {
public:
    client(core::broker& b, session_settings s = {}) : settings(s), sess(b, settings, io, "test") {}

    void send(const std::string& bytes, uint64_t now = 0) { sess.on_bytes(bytes, now); }
    void send(const frame& f, uint64_t now = 0) {
        send(encode(f, sess.connected() ? sess.negotiated_version() : version::v1_0), now);
    }
    // Frames written since the last call (heart-beats counted separately).
    std::vector<frame> frames() {
        auto out = sess.take_output();
        std::vector<frame> result;
        std::string_view data = out.bytes;
        p.set_version(sess.negotiated_version());
        while (!data.empty()) {
            auto r = p.parse(data);
            data.remove_prefix(r.consumed);
            if (r.status == parse_status::frame_ready)
                result.push_back(p.take_frame());
            else
                break;
        }
        heartbeats = p.heartbeats();
        return result;
    }
    frame one() {
        auto f = frames();
        EXPECT_EQ(f.size(), 1u);
        return f.empty() ? frame{} : f[0];
    }
    void connect(std::string versions = "1.2") {
        frame f{command::connect};
        f.add("accept-version", versions).add("host", "/").add("login", "guest");
        f.add("passcode", "guest");
        send(f);
        auto c = one();
        ASSERT_EQ(c.cmd, command::connected) << (c.get("message") ? *c.get("message") : "");
    }

    session_settings settings;
    fake_io io;
    session sess;
    parser p;
    uint64_t heartbeats = 0;
};

frame mk(command c, std::vector<header> hs, std::string body = {}) {
    frame f{c};
    f.headers = std::move(hs);
    f.body = std::move(body);
    return f;
}

std::string h(const frame& f, std::string_view name) {
    const std::string* v = f.get(name);
    return v ? *v : "<none>";
}

TEST(StompSession, ConnectNegotiatesHighestVersion) {
    core::broker b;
    client c(b);
    c.send(mk(command::stomp, {{"accept-version", "1.0,1.1"}, {"host", "/"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::connected);
    EXPECT_EQ(h(f, "version"), "1.1");
    EXPECT_EQ(h(f, "heart-beat"), "0,0");
    EXPECT_NE(h(f, "session"), "<none>");
    EXPECT_NE(h(f, "server"), "<none>");
    EXPECT_EQ(c.sess.user(), "guest");  // default login
}

TEST(StompSession, ConnectWithoutAcceptVersionIs10) {
    core::broker b;
    client c(b);
    c.send(mk(command::connect, {{"login", "guest"}, {"passcode", "guest"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::connected);
    EXPECT_EQ(c.sess.negotiated_version(), version::v1_0);
}

TEST(StompSession, VersionMismatchIsError) {
    core::broker b;
    client c(b);
    c.send(mk(command::connect, {{"accept-version", "2.0"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Version mismatch");
    EXPECT_EQ(h(f, "version"), "1.0,1.1,1.2");
    EXPECT_TRUE(c.io.close);
}

TEST(StompSession, BadLoginIsRefused) {
    core::broker b;
    client c(b);
    c.send(mk(
        command::connect,
        {{"accept-version", "1.2"}, {"login", "guest"}, {"passcode", "wrong"}, {"receipt", "r1"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Access refused");
    EXPECT_TRUE(c.io.close);
    EXPECT_TRUE(c.sess.closing());
}

TEST(StompSession, HostSelectsVhost) {
    core::broker b;
    b.add_vhost("other");
    {
        client c(b);
        c.send(mk(command::connect, {{"accept-version", "1.2"}, {"host", "other"}}));
        EXPECT_EQ(c.one().cmd, command::connected);
        EXPECT_EQ(c.sess.vhost_name(), "other");
    }
    {
        client c(b);
        c.send(mk(command::connect, {{"accept-version", "1.2"}, {"host", "nosuch"}}));
        auto f = c.one();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), "Virtual host access denied");
    }
    {
        client c(b);  // a dialled host name, not a vhost: default vhost
        c.send(mk(command::connect, {{"accept-version", "1.2"}, {"host", "127.0.0.1"}}));
        EXPECT_EQ(c.one().cmd, command::connected);
        EXPECT_EQ(c.sess.vhost_name(), "/");
    }
}

TEST(StompSession, HeartBeatNegotiationAndSilentPeer) {
    core::broker b;
    client c(b);
    c.send(mk(command::connect, {{"accept-version", "1.2"}, {"heart-beat", "1000,500"}}), 0);
    auto f = c.one();
    EXPECT_EQ(h(f, "heart-beat"), "500,1000");
    EXPECT_EQ(c.sess.timer_interval_ms(), 250u);
    c.sess.on_timer(600);
    c.frames();
    EXPECT_EQ(c.heartbeats, 1u);
    c.send("\n", 900);  // client heart-beat keeps it alive
    c.sess.on_timer(2800);
    EXPECT_FALSE(c.io.close);
    c.sess.on_timer(3000);
    EXPECT_TRUE(c.io.close);  // silent for > 2 x 1000 ms
}

TEST(StompSession, FrameBeforeConnectIsError) {
    core::broker b;
    client c(b);
    c.send(mk(command::send, {{"destination", "/queue/a"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Illegal command");
}

TEST(StompSession, UnknownCommandIsError) {
    core::broker b;
    client c(b);
    c.connect();
    c.send("FOO\nreceipt:9\n\n\0"s);
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Bad command");
    EXPECT_EQ(h(f, "receipt-id"), "9");
    EXPECT_TRUE(c.io.close);
    // Nothing more is processed after the error.
    c.send(mk(command::send, {{"destination", "/queue/a"}, {"receipt", "x"}}));
    EXPECT_TRUE(c.frames().empty());
}

TEST(StompSession, MalformedFrameIsError) {
    core::broker b;
    client c(b);
    c.connect();
    c.send("SEND\nno-colon-here\n\n\0"s);
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Invalid header");
    EXPECT_TRUE(c.io.close);
}

TEST(StompSession, OversizedFrameIsError) {
    core::broker b;
    session_settings s;
    s.frame_limits.max_frame_size = 1024;
    client c(b, s);
    c.connect();
    c.send(mk(command::send, {{"destination", "/queue/a"}}, std::string(2000, 'x')));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Frame too large");
}

TEST(StompSession, MissingHeadersAndBadDestinations) {
    core::broker b;
    struct tc {
        frame f;
        std::string message;
    };
    std::vector<tc> cases = {
        {mk(command::send, {}), "Missing destination"},
        {mk(command::subscribe, {{"id", "1"}}), "Missing destination"},
        {mk(command::subscribe, {{"destination", "/queue/a"}}), "Missing id"},
        {mk(command::send, {{"destination", "/bogus/a"}}), "Unknown destination"},
        {mk(command::send, {{"destination", "/queue/"}}), "Invalid destination"},
        {mk(command::send, {{"destination", "/temp-queue/x"}}), "Invalid destination"},
        {mk(command::subscribe, {{"destination", "/amq/queue/nope"}, {"id", "1"}}), "not_found"},
        {mk(command::subscribe, {{"destination", "/exchange/nope/k"}, {"id", "1"}}), "not_found"},
        {mk(command::send, {{"destination", "/exchange/nope/k"}}), "not_found"},
        {mk(command::subscribe, {{"destination", "/queue/a"}, {"id", "1"}, {"ack", "bogus"}}),
         "Invalid ack mode"},
        {mk(command::unsubscribe, {{"id", "404"}}), "Subscription not found"},
        {mk(command::ack, {}), "Missing id"},
        {mk(command::ack, {{"id", "nonsense"}}), "Invalid message-id"},
        {mk(command::ack, {{"id", "T_1@@x@@99"}}), "precondition_failed"},
        {mk(command::begin, {}), "Missing transaction"},
        {mk(command::commit, {{"transaction", "nope"}}), "Bad transaction"},
        {mk(command::send, {{"destination", "/queue/a"}, {"transaction", "nope"}}),
         "Bad transaction"},
        {mk(command::send, {{"destination", "/queue/a"}, {"priority", "high"}}), "Invalid header"},
        {mk(command::connect, {}), "Already connected"},
    };
    for (auto& t : cases) {
        SCOPED_TRACE(t.message + " " + encode(t.f, version::v1_2));
        client c(b);
        c.connect();
        c.send(t.f);
        auto f = c.one();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), t.message) << f.body;
        EXPECT_FALSE(f.body.empty());
        EXPECT_TRUE(c.io.close);
    }
}

TEST(StompSession, SendSubscribeMessageWithProperties) {
    core::broker b;
    client c(b);
    c.connect();
    std::string body = "a\0b"s;
    c.send(mk(command::send,
              {{"destination", "/queue/q1"},
               {"receipt", "r1"},
               {"content-type", "text/plain"},
               {"persistent", "true"},
               {"priority", "5"},
               {"correlation-id", "c1"},
               {"amqp-message-id", "m1"},
               {"x-custom", "v:1"},
               {"content-length", "3"}},
              body));
    auto r = c.one();
    EXPECT_EQ(r.cmd, command::receipt);
    EXPECT_EQ(h(r, "receipt-id"), "r1");
    auto q = b.find_vhost("/")->find_queue("q1");
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->durable());
    EXPECT_EQ(q->message_count(), 1u);

    c.send(mk(command::subscribe, {{"destination", "/queue/q1"}, {"id", "s1"}}));
    auto m = c.one();
    EXPECT_EQ(m.cmd, command::message);
    EXPECT_EQ(m.body, body);
    EXPECT_EQ(h(m, "subscription"), "s1");
    EXPECT_EQ(h(m, "destination"), "/queue/q1");
    EXPECT_EQ(h(m, "content-type"), "text/plain");
    EXPECT_EQ(h(m, "persistent"), "true");
    EXPECT_EQ(h(m, "priority"), "5");
    EXPECT_EQ(h(m, "correlation-id"), "c1");
    EXPECT_EQ(h(m, "amqp-message-id"), "m1");
    EXPECT_EQ(h(m, "x-custom"), "v:1");
    EXPECT_EQ(h(m, "redelivered"), "false");
    EXPECT_EQ(h(m, "ack"), "<none>");  // auto mode
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(q->unacked_count(), 0u);
}

TEST(StompSession, ClientAckIsCumulative) {
    core::broker b;
    client c(b);
    c.connect();
    for (int i = 0; i < 3; ++i) c.send(mk(command::send, {{"destination", "/queue/q"}}, "m"));
    c.send(mk(command::subscribe, {{"destination", "/queue/q"}, {"id", "s"}, {"ack", "client"}}));
    auto ms = c.frames();
    ASSERT_EQ(ms.size(), 3u);
    auto q = b.find_vhost("/")->find_queue("q");
    EXPECT_EQ(q->unacked_count(), 3u);
    EXPECT_EQ(h(ms[1], "ack"), h(ms[1], "message-id"));
    c.send(mk(command::ack, {{"id", h(ms[1], "ack")}, {"receipt", "a"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    EXPECT_EQ(q->unacked_count(), 1u);
    c.send(mk(command::ack, {{"id", h(ms[2], "ack")}}));
    EXPECT_EQ(q->unacked_count(), 0u);
}

TEST(StompSession, ClientIndividualAckAndNack) {
    core::broker b;
    client c(b);
    c.connect();
    for (int i = 0; i < 3; ++i) {
        c.send(mk(command::send, {{"destination", "/queue/q"}}, std::to_string(i)));
    }
    c.send(mk(command::subscribe,
              {{"destination", "/queue/q"}, {"id", "s"}, {"ack", "client-individual"}}));
    auto ms = c.frames();
    ASSERT_EQ(ms.size(), 3u);
    auto q = b.find_vhost("/")->find_queue("q");
    c.send(mk(command::ack, {{"id", h(ms[2], "ack")}}));
    EXPECT_EQ(q->unacked_count(), 2u);
    // NACK requeues by default: redelivered at once to the same subscriber.
    c.send(mk(command::nack, {{"id", h(ms[0], "ack")}}));
    auto re = c.one();
    EXPECT_EQ(re.body, "0");
    EXPECT_EQ(h(re, "redelivered"), "true");
    // requeue:false discards.
    c.send(mk(command::nack, {{"id", h(re, "ack")}, {"requeue", "false"}}));
    EXPECT_TRUE(c.frames().empty());
    EXPECT_EQ(q->unacked_count(), 1u);
    EXPECT_EQ(q->message_count(), 0u);
}

TEST(StompSession, PrefetchCountLimitsInFlight) {
    core::broker b;
    client c(b);
    c.connect();
    for (int i = 0; i < 5; ++i) c.send(mk(command::send, {{"destination", "/queue/q"}}, "m"));
    c.send(mk(command::subscribe, {{"destination", "/queue/q"},
                                   {"id", "s"},
                                   {"ack", "client-individual"},
                                   {"prefetch-count", "2"}}));
    auto ms = c.frames();
    ASSERT_EQ(ms.size(), 2u);
    c.send(mk(command::ack, {{"id", h(ms[0], "ack")}}));
    EXPECT_EQ(c.frames().size(), 1u);
}

TEST(StompSession, Version11AcksWithMessageId) {
    core::broker b;
    client c(b);
    c.connect("1.1");
    c.send(mk(command::send, {{"destination", "/queue/q"}}, "m"));
    c.send(mk(command::subscribe, {{"destination", "/queue/q"}, {"id", "s"}, {"ack", "client"}}));
    auto m = c.one();
    EXPECT_EQ(h(m, "ack"), "<none>");
    c.send(mk(command::ack, {{"message-id", h(m, "message-id")}, {"subscription", "s"}}));
    EXPECT_EQ(b.find_vhost("/")->find_queue("q")->unacked_count(), 0u);
}

TEST(StompSession, TransactionsBufferUntilCommit) {
    core::broker b;
    client c(b);
    c.connect();
    auto vh = b.find_vhost("/");
    c.send(mk(command::begin, {{"transaction", "t1"}, {"receipt", "b"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::send, {{"destination", "/queue/tq"}, {"transaction", "t1"}}, "x"));
    EXPECT_FALSE(vh->find_queue("tq"));
    c.send(mk(command::commit, {{"transaction", "t1"}, {"receipt", "c"}}));
    EXPECT_EQ(h(c.one(), "receipt-id"), "c");
    EXPECT_EQ(vh->find_queue("tq")->message_count(), 1u);

    c.send(mk(command::begin, {{"transaction", "t2"}}));
    c.send(mk(command::send, {{"destination", "/queue/tq"}, {"transaction", "t2"}}, "y"));
    c.send(mk(command::abort, {{"transaction", "t2"}}));
    EXPECT_EQ(vh->find_queue("tq")->message_count(), 1u);

    // ACKs inside a transaction take effect on COMMIT.
    c.send(mk(command::subscribe,
              {{"destination", "/queue/tq"}, {"id", "s"}, {"ack", "client-individual"}}));
    auto m = c.one();
    c.send(mk(command::begin, {{"transaction", "t3"}}));
    c.send(mk(command::ack, {{"id", h(m, "ack")}, {"transaction", "t3"}}));
    EXPECT_EQ(vh->find_queue("tq")->unacked_count(), 1u);
    c.send(mk(command::commit, {{"transaction", "t3"}}));
    EXPECT_EQ(vh->find_queue("tq")->unacked_count(), 0u);
}

TEST(StompSession, TopicFanOutAndExchangeDestinations) {
    core::broker b;
    client a(b), z(b), p(b);
    a.connect();
    z.connect();
    p.connect();
    a.send(mk(command::subscribe, {{"destination", "/topic/news.*"}, {"id", "1"}}));
    z.send(mk(command::subscribe, {{"destination", "/topic/news.uk"}, {"id", "1"}}));
    p.send(mk(command::send, {{"destination", "/topic/news.uk"}}, "hello"));
    auto fa = a.one(), fz = z.one();
    EXPECT_EQ(fa.body, "hello");
    EXPECT_EQ(h(fa, "destination"), "/topic/news.uk");
    EXPECT_EQ(fz.body, "hello");

    a.send(mk(command::subscribe, {{"destination", "/exchange/amq.fanout"}, {"id", "2"}}));
    p.send(mk(command::send, {{"destination", "/exchange/amq.fanout/rk"}}, "fan"));
    auto f = a.one();
    EXPECT_EQ(f.body, "fan");
    EXPECT_EQ(h(f, "destination"), "/exchange/amq.fanout/rk");
    EXPECT_EQ(h(f, "subscription"), "2");

    // /amq/queue: an existing queue; SEND does not declare.
    b.find_vhost("/")->declare_queue({.name = "existing"}, 0);
    a.send(mk(command::subscribe, {{"destination", "/amq/queue/existing"}, {"id", "3"}}));
    p.send(mk(command::send, {{"destination", "/amq/queue/existing"}}, "direct"));
    EXPECT_EQ(a.one().body, "direct");
}

TEST(StompSession, TopicSubscriptionQueueGoesAwayOnClose) {
    core::broker b;
    auto vh = b.find_vhost("/");
    size_t before = vh->queues().size();
    {
        client a(b);
        a.connect();
        a.send(mk(command::subscribe, {{"destination", "/topic/t"}, {"id", "1"}}));
        EXPECT_EQ(vh->queues().size(), before + 1);
        a.sess.connection_closed();
    }
    EXPECT_EQ(vh->queues().size(), before);
}

TEST(StompSession, DurableTopicSubscriptionSurvivesReconnect) {
    core::broker b;
    auto sub = mk(command::subscribe, {{"destination", "/topic/d"},
                                       {"id", "dur"},
                                       {"durable", "true"},
                                       {"auto-delete", "false"}});
    {
        client a(b);
        a.connect();
        a.send(sub);
        a.send(mk(command::disconnect, {}));
        a.sess.connection_closed();
    }
    client p(b);
    p.connect();
    p.send(mk(command::send, {{"destination", "/topic/d"}}, "while away"));
    client a(b);
    a.connect();
    a.send(sub);
    EXPECT_EQ(a.one().body, "while away");
    size_t n = b.find_vhost("/")->queues().size();
    a.send(mk(command::unsubscribe, {{"id", "dur"}, {"durable", "true"}}));
    EXPECT_EQ(b.find_vhost("/")->queues().size(), n - 1);
}

TEST(StompSession, TempQueueReplies) {
    core::broker b;
    client requester(b), responder(b);
    requester.connect();
    responder.connect();
    responder.send(mk(command::subscribe, {{"destination", "/queue/rpc"}, {"id", "r"}}));
    requester.send(mk(command::send,
                      {{"destination", "/queue/rpc"}, {"reply-to", "/temp-queue/answers"}},
                      "ping"));
    auto req = responder.one();
    std::string reply_to = h(req, "reply-to");
    ASSERT_EQ(reply_to.rfind("/reply-queue/amq.gen-", 0), 0u) << reply_to;
    responder.send(mk(command::send, {{"destination", reply_to}}, "pong"));
    auto rep = requester.one();
    EXPECT_EQ(rep.body, "pong");
    EXPECT_EQ(h(rep, "subscription"), "/temp-queue/answers");
}

TEST(StompSession, DisconnectReceiptAndRequeueOnClose) {
    core::broker b;
    auto q_name = "/queue/rq";
    {
        client c(b);
        c.connect();
        c.send(mk(command::send, {{"destination", q_name}}, "m"));
        c.send(mk(command::subscribe, {{"destination", q_name}, {"id", "s"}, {"ack", "client"}}));
        EXPECT_EQ(c.frames().size(), 1u);
        c.send(mk(command::disconnect, {{"receipt", "bye"}}));
        auto r = c.one();
        EXPECT_EQ(r.cmd, command::receipt);
        EXPECT_EQ(h(r, "receipt-id"), "bye");
        EXPECT_TRUE(c.io.close);
        c.sess.connection_closed();
    }
    auto q = b.find_vhost("/")->find_queue("rq");
    EXPECT_EQ(q->message_count(), 1u);
    EXPECT_EQ(q->unacked_count(), 0u);
}

TEST(StompSession, UnsubscribeStopsDeliveries) {
    core::broker b;
    client c(b);
    c.connect();
    c.send(mk(command::subscribe, {{"destination", "/queue/u"}, {"id", "s"}}));
    c.send(mk(command::unsubscribe, {{"id", "s"}, {"receipt", "u"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::send, {{"destination", "/queue/u"}}, "m"));
    EXPECT_TRUE(c.frames().empty());
    EXPECT_EQ(b.find_vhost("/")->find_queue("u")->message_count(), 1u);
}

TEST(StompSession, QueueDeletedUnderSubscriptionSendsErrorAndKeepsConnection) {
    core::broker b;
    client c(b);
    c.connect();
    c.send(mk(command::subscribe, {{"destination", "/queue/gone"}, {"id", "s"}}));
    c.send(mk(command::subscribe, {{"destination", "/queue/stays"}, {"id", "t"}}));
    auto r = b.find_vhost("/")->delete_queue("gone", false, false, 0);
    ASSERT_TRUE(r.ok());
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Server cancelled subscription");
    EXPECT_EQ(h(f, "subscription"), "s");
    EXPECT_FALSE(c.io.close);
    EXPECT_EQ(c.sess.subscription_count(), 1u);
    c.send(mk(command::send, {{"destination", "/queue/stays"}}, "ok"));
    EXPECT_EQ(c.one().body, "ok");
    // The id is free again.
    c.send(mk(command::subscribe, {{"destination", "/queue/gone"}, {"id", "s"}, {"receipt", "1"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
}

TEST(StompSession, SlowConsumerBackpressureStopsAndResumes) {
    core::broker b;
    session_settings s;
    s.output_high_water = 2000;
    client c(b, s);
    c.connect();
    auto q_name = "/queue/bp";
    for (int i = 0; i < 100; ++i) {
        c.send(mk(command::send, {{"destination", q_name}}, std::string(100, 'x')));
    }
    c.send(mk(command::subscribe, {{"destination", q_name}, {"id", "s"}}));
    auto q = b.find_vhost("/")->find_queue("bp");
    size_t first = c.frames().size();
    EXPECT_GT(first, 0u);
    EXPECT_LT(first, 100u);  // stopped at the high-water mark
    EXPECT_EQ(q->message_count(), 100u - first);
    size_t total = first;
    for (int i = 0; i < 100 && total < 100; ++i) {
        c.sess.on_output_drained();  // the transport wrote the batch
        total += c.frames().size();
    }
    EXPECT_EQ(total, 100u);
    EXPECT_EQ(q->message_count(), 0u);
}

TEST(StompSession, HeaderEscapingFollowsVersion) {
    core::broker b;
    client c(b);
    c.connect("1.2");
    c.send("SUBSCRIBE\ndestination:/queue/e\nid:s\n\n\0"s);
    c.send("SEND\ndestination:/queue/e\nmy\\cheader:line\\nbreak\\r\n\nx\0"s);
    auto m = c.one();
    EXPECT_EQ(h(m, "my:header"), "line\nbreak\r");  // round-tripped through 1.2 escapes
}

TEST(StompSession, WebSocketFrameEnds) {
    core::broker b;
    client c(b);
    c.connect();
    c.send(mk(command::subscribe, {{"destination", "/queue/w"}, {"id", "s"}, {"receipt", "1"}}));
    c.send(mk(command::send, {{"destination", "/queue/w"}, {"receipt", "2"}}, "x"));
    auto out = c.sess.take_output();
    ASSERT_EQ(out.frame_ends.size(), 3u);  // RECEIPT, MESSAGE, RECEIPT
    EXPECT_EQ(out.frame_ends.back(), out.bytes.size());
    EXPECT_EQ(out.bytes[out.frame_ends[0] - 1], '\0');
}

TEST(StompSession, DestinationFormatting) {
    EXPECT_EQ(format_destination("", "q"), "/queue/q");
    EXPECT_EQ(format_destination("amq.topic", "a.b"), "/topic/a.b");
    EXPECT_EQ(format_destination("x/y", "k"), "/exchange/x%2Fy/k");
    EXPECT_EQ(format_destination("x", ""), "/exchange/x");
    destination_error e;
    auto d = parse_destination("/exchange/x%2Fy/k%25", e);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->name, "x/y");
    EXPECT_EQ(d->key, "k%");
    EXPECT_FALSE(parse_destination("/queue/a%zz", e));
    EXPECT_FALSE(parse_destination("/queue/a/b", e));
}

}  // namespace
}  // namespace warren::stomp

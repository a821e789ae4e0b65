// Session tests: drive a stomp::session with frames against a real core::broker and inspect the
// frames it writes back. No sockets; time is injected.

#include "proto/stomp/session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/broker.h"
#include "core/persistence.h"
#include "core/vhost.h"
#include "proto/stomp/destination.h"

namespace warren::stomp {
namespace {

using namespace std::string_literals;

struct fake_io : session_io {
    int ready = 0;
    bool close = false;
    void output_ready() override { ++ready; }
    void close_requested() override { close = true; }
    void close_now() override { close = true; }
    size_t bytes_in_flight() const override { return 0; }
    void pause_input() override { paused = true; }
    void resume_input() override { paused = false; }
    bool paused = false;
};

class client {
public:
    // guest/guest with every permission on each vhost the broker has now (RabbitMQ's default
    // user; the management API grants its creator access to a new vhost the same way).
    static auth::authority& seeded(auth::authority& a, core::broker& b) {
        for (const auto& v : b.vhost_names()) a.seed_default_user("guest", "guest", v);
        return a;
    }
    client(core::broker& b, session_settings s = {}, std::string cert_login = {},
           std::string peer = "127.0.0.1:4000")
        : settings(s), sess(b, seeded(authority, b), settings, io, peer, std::move(cert_login)) {}

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

    auth::authority authority;
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

TEST(StompSession, AResourceAlarmStopsReadingAfterASendUntilItClears) {
    core::broker b;
    b.find_vhost("/")->declare_queue({.name = "q"}, 1);
    client c(b);
    c.connect();
    b.set_alarm(core::resource::disk, true);
    c.send(mk(command::subscribe, {{"destination", "/amq/queue/q"}, {"id", "0"}}));
    EXPECT_FALSE(c.io.paused) << "only a SEND blocks";
    c.send(mk(command::send, {{"destination", "/amq/queue/q"}}, "x"));
    EXPECT_TRUE(c.io.paused);
    EXPECT_TRUE(c.sess.blocked());
    auto f = c.frames();  // the MESSAGE still goes out: consumers are never blocked
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].cmd, command::message);
    b.set_alarm(core::resource::disk, false);
    EXPECT_FALSE(c.io.paused);
    EXPECT_FALSE(c.sess.blocked());
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

TEST(StompSession, ConnectOverTheNodeConnectionLimitIsRefused) {
    core::broker b;
    session_settings s;
    size_t open_on_node = 4;
    s.connection_max = 3;
    s.node_connections = [&] { return open_on_node; };
    client c(b, s);
    c.send(mk(command::connect,
              {{"accept-version", "1.2"}, {"login", "guest"}, {"passcode", "guest"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Bad CONNECT");
    EXPECT_EQ(f.body, "connection refused: node connection limit (3) is reached");
    EXPECT_TRUE(c.io.close);
    open_on_node = 3;  // itself included
    client ok(b, s);
    ok.connect();
}

TEST(StompSession, SubscribeBeyondConsumerMaxIsRabbitMQsNotAllowed) {
    core::broker b;
    session_settings s;
    s.consumer_max = 2;
    client c(b, s);
    c.connect();
    c.send(mk(command::subscribe, {{"destination", "/queue/a"}, {"id", "1"}, {"receipt", "r1"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::subscribe, {{"destination", "/queue/b"}, {"id", "2"}, {"receipt", "r2"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::subscribe, {{"destination", "/queue/c"}, {"id", "3"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "not_allowed");
    EXPECT_EQ(f.body, "NOT_ALLOWED - reached maximum (2) of consumers per channel");
}

TEST(StompSession, BadLoginIsRefused) {
    core::broker b;
    client c(b);
    c.send(mk(
        command::connect,
        {{"accept-version", "1.2"}, {"login", "guest"}, {"passcode", "wrong"}, {"receipt", "r1"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(h(f, "message"), "Bad CONNECT");
    EXPECT_EQ(f.body, "Access refused for user 'guest'\n");
    EXPECT_TRUE(c.io.close);
    EXPECT_TRUE(c.sess.closing());
}

TEST(StompSession, ConnectWithoutLoginUsesTheClientCertificateUser) {
    core::broker b;
    session_settings s;
    s.default_user = "";  // login required, except by certificate
    client c(b, s, "alice");
    c.authority.users.put_user("alice", auth::hash_password("secret"));
    ASSERT_TRUE(c.authority.users.set_permissions("alice", "/", {".*", ".*", ".*"}));
    c.send(mk(command::connect, {{"accept-version", "1.2"}}));
    auto f = c.one();
    ASSERT_EQ(f.cmd, command::connected) << f.body;
    EXPECT_EQ(c.sess.user(), "alice");
}

TEST(StompSession, ExplicitLoginWinsOverTheCertificate) {
    core::broker b;
    client c(b, {}, "nobody");
    c.send(mk(command::connect,
              {{"accept-version", "1.2"}, {"login", "guest"}, {"passcode", "wrong"}}));
    EXPECT_EQ(c.one().cmd, command::error);  // the password is checked as usual
}

TEST(StompSession, CertificateForAnUnknownUserIsRefused) {
    core::broker b;
    client c(b, {}, "nobody");
    c.send(mk(command::connect, {{"accept-version", "1.2"}}));
    auto f = c.one();
    EXPECT_EQ(f.cmd, command::error);
    EXPECT_EQ(f.body, "Access refused for user 'nobody'\n");
    EXPECT_TRUE(c.io.close);
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
        EXPECT_EQ(h(f, "message"), "Bad CONNECT");
        EXPECT_EQ(f.body, "Virtual host 'nosuch' access denied");
    }
    {
        client c(b);  // a dialled host name, not a vhost: default vhost
        c.send(mk(command::connect, {{"accept-version", "1.2"}, {"host", "127.0.0.1"}}));
        EXPECT_EQ(c.one().cmd, command::connected);
        EXPECT_EQ(c.sess.vhost_name(), "/");
    }
}

// Issue #16: idle sockets that never sent CONNECT used up every file descriptor.
TEST(StompSession, NoConnectWithinTheTimeoutCloses) {
    core::broker b;
    client c(b);
    c.sess.on_start(1000);
    EXPECT_EQ(c.sess.timer_interval_ms(), 1000u);
    c.sess.on_timer(10'900);
    EXPECT_FALSE(c.io.close);
    c.sess.on_timer(11'000);
    EXPECT_TRUE(c.io.close);
}

TEST(StompSession, ConnectInTimeKeepsTheConnection) {
    core::broker b;
    client c(b);
    c.sess.on_start(0);
    c.connect();
    EXPECT_EQ(c.sess.timer_interval_ms(), 0u);  // no heart-beats asked: no timer
    c.sess.on_timer(60'000);
    EXPECT_FALSE(c.io.close);
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

// The frame limit covers the command and headers; the body only max_message_size, over which
// the ERROR is RabbitMQ's channel error.
TEST(StompSession, FrameLimitIsForHeadersAndBodyLimitIsMaxMessageSize) {
    core::broker b;
    session_settings s;
    s.frame_limits.max_frame_size = 1024;
    s.frame_limits.max_body_size = 4096;
    {
        client c(b, s);
        c.connect();
        c.send(mk(command::send, {{"destination", "/queue/a"}, {"receipt", "r"}},
                  std::string(4096, 'x')));
        EXPECT_EQ(c.one().cmd, command::receipt);
    }
    {
        client c(b, s);
        c.connect();
        c.send(mk(command::send, {{"destination", "/queue/a"}, {"big", std::string(2000, 'h')}}));
        auto f = c.one();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), "Frame too large");
    }
    for (bool with_length : {true, false}) {
        client c(b, s);
        c.connect();
        std::string body(5000, 'x');
        if (with_length) {
            c.send("SEND\ndestination:/queue/a\ncontent-length:5000\n\n" + body + "\0"s);
        } else {
            c.send("SEND\ndestination:/queue/a\n\n" + body + "\0"s);
        }
        auto f = c.one();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), "precondition_failed");
        EXPECT_EQ(f.body,
                  "PRECONDITION_FAILED - message size 5000 is larger than configured max "
                  "size 4096");
        EXPECT_TRUE(c.io.close);
    }
}

// Every error path of RabbitMQ 3.10's rabbit_stomp_processor, with its texts word for word.
TEST(StompSession, ErrorTextsAreRabbitMQs) {
    core::broker b;
    b.find_vhost("/")->declare_queue({.name = "subscribed"}, 0);
    struct tc {
        std::vector<frame> frames;  // after CONNECT; the last one fails
        std::string message;
        std::string body;
    };
    auto one = [](frame f) { return std::vector<frame>{std::move(f)}; };
    std::vector<tc> cases = {
        {one(mk(command::unknown, {})), "Bad command", "Could not interpret command \"FROB\"\n"},
        {one(mk(command::message, {})), "Bad command", "Could not interpret command \"MESSAGE\"\n"},
        {one(mk(command::send, {})), "Missing destination",
         "\"SEND\" must include a 'destination' header\n"},
        {one(mk(command::subscribe, {{"id", "1"}})), "Missing destination",
         "\"SUBSCRIBE\" must include a 'destination' header\n"},
        {one(mk(command::send, {{"destination", "/bogus/a"}})), "Unknown destination",
         "'/bogus/a' is not a valid destination.\nValid destination types are: /temp-queue, "
         "/exchange, /topic, /queue, /amq/queue, /reply-queue/.\n"},
        {one(mk(command::send, {{"destination", "/queue/bah/baz"}})), "Invalid destination",
         "'/bah/baz' is not a valid queue destination\n"},
        {one(mk(command::send, {{"destination", "/queue/"}})), "Invalid destination",
         "'/' is not a valid queue destination\n"},
        {one(mk(command::send, {{"destination", "/queue"}})), "Invalid destination",
         "'' is not a valid queue destination\n"},
        {one(mk(command::send, {{"destination", ""}})), "Invalid destination",
         "Destination cannot be blank"},
        {one(mk(command::send, {{"destination", "/exchange/a/b/c"}})), "Invalid destination",
         "'/a/b/c' is not a valid exchange destination\n"},
        {one(mk(command::send, {{"destination", "/amq/queue/a/b"}})), "Invalid destination",
         "'/a/b' is not a valid amqqueue destination\n"},
        {one(mk(command::send, {{"destination", "/reply-queue/"}})), "Invalid destination",
         "'/' is not a valid reply_queue destination\n"},
        {one(mk(command::send, {{"destination", "/temp-queue/x"}})), "Invalid destination",
         "'/temp-queue/x' is not a valid destination for 'SEND'\n"},
        {one(mk(command::subscribe, {{"destination", "/temp-queue/x"}, {"id", "1"}})),
         "Invalid destination", "'/temp-queue/x' is not a valid destination for 'SUBSCRIBE'\n"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"message-id", "1"}})),
         "Invalid header", "'message-id' is not allowed on 'SEND'.\n"},
        {{mk(command::subscribe, {{"destination", "/queue/a"}, {"id", "d1"}}),
          mk(command::subscribe, {{"destination", "/queue/a"}, {"id", "d1"}})},
         "Duplicated subscription identifier",
         "A subscription identified by 'T_d1' already exists."},
        {one(mk(command::subscribe, {{"destination", "/topic/t"}, {"durable", "true"}})),
         "Missing Header", "Header 'id' is required for durable subscriptions"},
        {one(mk(command::subscribe, {{"destination", "/queue/a"}, {"persistent", "True"}})),
         "Missing Header", "Header 'id' is required for durable subscriptions"},
        {one(mk(command::unsubscribe, {{"destination", "/topic/t"}, {"durable", "true"}})),
         "Missing Header", "Header 'id' is required for durable subscriptions"},
        {one(mk(command::subscribe, {{"destination", "/queue/a"}, {"id", "1"}, {"ack", "x"}})),
         "Processing error", "Processing error"},
        {one(mk(command::subscribe,
                {{"destination", "/queue/a"}, {"id", "1"}, {"prefetch-count", "zz"}})),
         "Processing error", "Processing error"},
        {one(mk(command::subscribe,
                {{"destination", "/queue/a"}, {"id", "1"}, {"x-max-priority", "zz"}})),
         "Processing error", "Processing error"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"priority", "high"}})),
         "Processing error", "Processing error"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"expiration", "soon"}})),
         "precondition_failed", "PRECONDITION_FAILED - invalid expiration 'soon': no_integer"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"expiration", "5s"}})),
         "precondition_failed",
         "PRECONDITION_FAILED - invalid expiration '5s': {leftover_string,\"s\"}"},
        {one(mk(command::unsubscribe, {})), "Missing destination or id",
         "UNSUBSCRIBE must include a 'destination' or 'id' header"},
        {one(mk(command::unsubscribe, {{"id", "/temp-queue/x"}})), "Invalid id",
         "UNSUBSCRIBE 'id' may not start with /temp-queue/\n"},
        {one(mk(command::unsubscribe, {{"id", "404"}})), "No subscription found",
         "UNSUBSCRIBE must refer to an existing subscription.\nSubscription to \"id='404'\" not "
         "found.\n"},
        {one(mk(command::unsubscribe, {{"destination", "/queue/zz"}})), "No subscription found",
         "UNSUBSCRIBE must refer to an existing subscription.\nSubscription to "
         "\"destination='/queue/zz'\" not found.\n"},
        {one(mk(command::ack, {})), "Missing header", "\"ACK\" must include the \"id\" header\n"},
        {one(mk(command::nack, {{"message-id", "T_1@@x@@1"}})), "Missing header",
         "\"NACK\" must include the \"id\" header\n"},
        {one(mk(command::ack, {{"id", "nonsense"}})), "Invalid header",
         "\"ACK\" must include a valid \"id\" header\n"},
        {one(mk(command::ack, {{"id", "T_1@@x@@y"}})), "Processing error", "Processing error"},
        {one(mk(command::ack, {{"id", "T_1@@x@@99"}})), "Subscription not found",
         "Message with id \"T_1@@x@@99\" has no subscription"},
        {{mk(command::subscribe, {{"destination", "/amq/queue/subscribed"}, {"id", "1"}}),
          mk(command::ack, {{"id", "T_1@@x@@99"}})},
         "precondition_failed",
         "PRECONDITION_FAILED - unknown delivery tag 99"},
        {one(mk(command::begin, {})), "Missing transaction",
         "\"BEGIN\" must include a 'transaction' header\n"},
        {one(mk(command::commit, {})), "Missing transaction",
         "\"COMMIT\" must include a 'transaction' header\n"},
        {one(mk(command::abort, {})), "Missing transaction",
         "\"ABORT\" must include a 'transaction' header\n"},
        {one(mk(command::commit, {{"transaction", "nope"}})), "Bad transaction",
         "Invalid transaction identifier: \"nope\"\n"},
        {one(mk(command::abort, {{"transaction", "nope"}})), "Bad transaction",
         "Invalid transaction identifier: \"nope\"\n"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"transaction", "nope"}})),
         "Bad transaction", "Invalid transaction identifier: \"nope\"\n"},
        {one(mk(command::subscribe, {{"destination", "/amq/queue/nope"}, {"id", "1"}})),
         "not_found", "NOT_FOUND - no queue 'nope' in vhost '/'"},
        {one(mk(command::subscribe, {{"destination", "/exchange/nope/k"}, {"id", "1"}})),
         "not_found", "NOT_FOUND - no exchange 'nope' in vhost '/'"},
        {one(mk(command::send, {{"destination", "/exchange/nope/k"}})), "not_found",
         "NOT_FOUND - no exchange 'nope' in vhost '/'"},
        {one(mk(command::send, {{"destination", "/queue/a"}, {"user-id", "bob"}})),
         "precondition_failed",
         "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was "
         "'guest'"},
    };
    for (auto& t : cases) {
        frame& last = t.frames.back();
        if (last.cmd == command::unknown) last.command_text = "FROB";
        SCOPED_TRACE(t.message + " " + encode(last, version::v1_2));
        client c(b);
        c.connect();
        for (auto& f : t.frames) {
            if (f.cmd == command::unknown) {
                c.send(f.command_text + "\n\n"s + '\0');
            } else {
                c.send(f);
            }
        }
        auto out = c.frames();
        ASSERT_FALSE(out.empty());
        auto f = out.back();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), t.message);
        EXPECT_EQ(f.body, t.body);
        EXPECT_EQ(h(f, "version"), "1.0,1.1,1.2");
        EXPECT_EQ(h(f, "content-type"), "text/plain");
        EXPECT_TRUE(c.io.close);
    }
}

// CONNECT's errors, in RabbitMQ's order: version, login, vhost, then heart-beat.
TEST(StompSession, ConnectErrorTextsAreRabbitMQs) {
    core::broker b;
    struct tc {
        std::vector<header> headers;
        std::string message;
        std::string body;
    };
    std::vector<tc> cases = {
        {{{"accept-version", "3.0"}}, "Version mismatch", "Supported versions are 1.0,1.1,1.2\n"},
        {{{"accept-version", "1.2"}, {"login", "ann"}, {"passcode", "x"}, {"heart-beat", "x"}},
         "Bad CONNECT",
         "Access refused for user 'ann'\n"},
        {{{"accept-version", "1.2"}, {"host", "novh"}},
         "Bad CONNECT",
         "Virtual host 'novh' access denied"},
        {{{"accept-version", "1.2"}, {"heart-beat", "x"}}, "Processing error", "Processing error"},
    };
    for (auto& t : cases) {
        SCOPED_TRACE(t.body);
        client c(b);
        c.send(mk(command::connect, t.headers));
        auto f = c.one();
        EXPECT_EQ(f.cmd, command::error);
        EXPECT_EQ(h(f, "message"), t.message);
        EXPECT_EQ(f.body, t.body);
        EXPECT_EQ(h(f, "version"), "1.0,1.1,1.2");
    }
    session_settings no_default;
    no_default.default_user.clear();
    client c(b, no_default);
    c.send(mk(command::connect, {{"accept-version", "1.2"}}));
    auto f = c.one();
    EXPECT_EQ(h(f, "message"), "Bad CONNECT");
    EXPECT_EQ(f.body, "Missing login or passcode header(s)");
}

// As RabbitMQ: without an id, a subscription is named by its destination (consumer tag
// Q_<destination>), in every version, and MESSAGE frames carry no subscription header.
TEST(StompSession, SubscribeWithoutIdIsKeyedByDestination) {
    core::broker b;
    client c(b);
    c.connect("1.2");
    c.send(mk(command::subscribe,
              {{"destination", "/queue/noid"}, {"ack", "client"}, {"receipt", "s"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::send, {{"destination", "/queue/noid"}}, "m"));
    auto m = c.one();
    EXPECT_EQ(h(m, "subscription"), "<none>");
    EXPECT_EQ(h(m, "message-id").rfind("Q_/queue/noid@@", 0), 0u) << h(m, "message-id");
    c.send(mk(command::ack, {{"id", h(m, "ack")}, {"receipt", "a"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::unsubscribe, {{"destination", "/queue/noid"}, {"receipt", "u"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    EXPECT_EQ(c.sess.subscription_count(), 0u);
}

TEST(StompSession, BeginOfAnOpenTransactionStartsItAfresh) {
    core::broker b;
    client c(b);
    c.connect();
    c.send(mk(command::begin, {{"transaction", "t"}}));
    c.send(mk(command::send, {{"destination", "/queue/fresh"}, {"transaction", "t"}}, "dropped"));
    c.send(mk(command::begin, {{"transaction", "t"}, {"receipt", "b"}}));
    EXPECT_EQ(c.one().cmd, command::receipt);
    c.send(mk(command::commit, {{"transaction", "t"}}));
    auto q = b.find_vhost("/")->find_queue("fresh");
    EXPECT_TRUE(!q || q->message_count() == 0u);
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

// A receipt asked for by a SEND, ACK or NACK inside a transaction comes when COMMIT applies the
// frame (after it, in order, before the COMMIT's own); ABORT drops it.
TEST(StompSession, TransactionalReceiptsComeAtCommit) {
    core::broker b;
    client c(b);
    c.connect();
    for (int i = 0; i < 2; ++i) c.send(mk(command::send, {{"destination", "/queue/txr"}}, "m"));
    c.send(mk(command::subscribe,
              {{"destination", "/queue/txr"}, {"id", "s"}, {"ack", "client-individual"}}));
    auto ms = c.frames();
    ASSERT_EQ(ms.size(), 2u);
    c.send(mk(command::begin, {{"transaction", "t"}}));
    c.send(mk(command::send,
              {{"destination", "/queue/txr"}, {"transaction", "t"}, {"receipt", "send"}}, "x"));
    c.send(mk(command::ack, {{"id", h(ms[0], "ack")}, {"transaction", "t"}, {"receipt", "ack"}}));
    c.send(mk(command::nack, {{"id", h(ms[1], "ack")},
                              {"transaction", "t"},
                              {"receipt", "nack"},
                              {"requeue", "false"}}));
    EXPECT_TRUE(c.frames().empty());  // nothing before COMMIT
    c.send(mk(command::commit, {{"transaction", "t"}, {"receipt", "commit"}}));
    std::vector<std::string> receipts;
    for (auto& f : c.frames()) {
        if (f.cmd == command::receipt) receipts.push_back(h(f, "receipt-id"));
    }
    EXPECT_EQ(receipts, (std::vector<std::string>{"send", "ack", "nack", "commit"}));

    c.send(mk(command::begin, {{"transaction", "t2"}}));
    c.send(mk(command::send,
              {{"destination", "/queue/txr"}, {"transaction", "t2"}, {"receipt", "gone"}}, "y"));
    c.send(mk(command::abort, {{"transaction", "t2"}, {"receipt", "abort"}}));
    auto after = c.frames();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(h(after[0], "receipt-id"), "abort");
}

// NACK requeue:false (or False, as Python clients write it) discards for good; the message
// is dead-lettered when the queue has a DLX, and never delivered again.
TEST(StompSession, NackRequeueFalseDiscardsForGood) {
    core::broker b;
    auto vh = b.find_vhost("/");
    vh->declare_queue({.name = "dlq"}, 0);
    core::queue_decl src{.name = "src"};
    src.args.emplace_back("x-dead-letter-exchange", core::field_value{std::string()});
    src.args.emplace_back("x-dead-letter-routing-key", core::field_value{std::string("dlq")});
    ASSERT_TRUE(vh->declare_queue(src, 0).ok());
    for (std::string requeue : {"false", "False"}) {
        SCOPED_TRACE(requeue);
        client c(b);
        c.connect();
        c.send(mk(command::send, {{"destination", "/amq/queue/src"}}, "once"));
        c.send(mk(command::subscribe,
                  {{"destination", "/amq/queue/src"}, {"id", "s"}, {"ack", "client-individual"}}));
        auto m = c.one();
        c.send(mk(command::nack, {{"id", h(m, "ack")}, {"requeue", requeue}}));
        EXPECT_TRUE(c.frames().empty());  // not redelivered
        EXPECT_EQ(vh->find_queue("src")->message_count(), 0u);
        EXPECT_EQ(vh->find_queue("src")->unacked_count(), 0u);
        c.sess.connection_closed();
    }
    EXPECT_EQ(vh->find_queue("src")->message_count(), 0u);
    EXPECT_EQ(vh->find_queue("dlq")->message_count(), 2u);
}

// Boolean headers read as RabbitMQ reads them: true/True, false/False.
TEST(StompSession, CapitalisedBooleanHeaders) {
    core::broker b;
    auto vh = b.find_vhost("/");
    client c(b);
    c.connect();
    c.send(mk(command::subscribe, {{"destination", "/queue/p"}, {"id", "p"}}));
    c.send(mk(command::send, {{"destination", "/queue/p"}, {"persistent", "True"}}, "m"));
    EXPECT_EQ(h(c.one(), "persistent"), "true");
    c.send(mk(command::subscribe, {{"destination", "/queue/flags"},
                                   {"id", "f"},
                                   {"durable", "False"},
                                   {"auto-delete", "True"},
                                   {"exclusive", "True"}}));
    auto q = vh->find_queue("flags");
    ASSERT_TRUE(q);
    EXPECT_FALSE(q->durable());
    EXPECT_TRUE(q->auto_delete());
    EXPECT_TRUE(q->exclusive());
    // requeue:True requeues.
    c.send(mk(command::send, {{"destination", "/queue/r"}}, "r"));
    c.send(mk(command::subscribe,
              {{"destination", "/queue/r"}, {"id", "r"}, {"ack", "client-individual"}}));
    auto m = c.one();
    c.send(mk(command::nack, {{"id", h(m, "ack")}, {"requeue", "True"}}));
    EXPECT_EQ(h(c.one(), "redelivered"), "true");
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

// A store whose fsyncs complete when the test says so.
class manual_store : public core::message_log,
                     public core::topology_store,
                     public core::confirm_gate {
public:
    uint64_t write_message(const core::message&, std::span<const uint64_t>) override {
        return ++_seq;
    }
    uint64_t spill(const core::message&, uint64_t) override { return 0; }
    uint64_t write_held(const core::message&, std::string_view, uint64_t, uint64_t*) override {
        return ++_seq;
    }
    core::message_ptr read(uint64_t, uint64_t*) override { return nullptr; }
    void settle(uint64_t, uint64_t) override {}
    void queue_deleted(uint64_t, std::span<const uint64_t>) override {}
    bool topology_changed(core::vhost&) override { return true; }
    bool topology_pending() const override { return false; }
    uint64_t next_queue_id() override { return ++_queue_ids; }
    uint64_t queue_memory_limit() const override { return 0; }
    uint64_t durable_seq() const override { return _durable; }
    void wait(core::durable_waiter* w) override { _waiters.push_back(w); }
    void cancel_wait(core::durable_waiter* w) override { std::erase(_waiters, w); }

    void sync() {
        _durable = _seq;
        auto ws = std::move(_waiters);
        _waiters.clear();
        for (auto* w : ws) w->durable_advanced(_durable);
    }

private:
    uint64_t _seq = 0, _durable = 0, _queue_ids = 0;
    std::vector<core::durable_waiter*> _waiters;
};

// DISCONNECT whose receipt waits for the store: frames the client writes after it are not
// acted on (no publish, no receipt), the receipt still comes, then the session closes.
TEST(StompSession, NothingIsReadAfterDisconnectWhileItsReceiptWaits) {
    core::broker b;
    manual_store store;
    b.find_vhost("/")->set_storage(core::storage{&store, &store, &store});
    client c(b);
    c.connect();
    c.send(mk(command::send,
              {{"destination", "/queue/held"}, {"persistent", "true"}, {"receipt", "s1"}}, "a"));
    c.send(mk(command::disconnect, {{"receipt", "bye"}}));
    c.send(mk(command::send,
              {{"destination", "/queue/held"}, {"persistent", "true"}, {"receipt", "s2"}}, "b"));
    EXPECT_TRUE(c.frames().empty());
    EXPECT_FALSE(c.io.close);
    store.sync();
    std::vector<std::string> receipts;
    for (auto& f : c.frames()) receipts.push_back(h(f, "receipt-id"));
    EXPECT_EQ(receipts, (std::vector<std::string>{"s1", "bye"}));
    EXPECT_TRUE(c.io.close);
    EXPECT_EQ(b.find_vhost("/")->find_queue("held")->message_count(), 1u);
    c.sess.connection_closed();
    b.find_vhost("/")->set_storage(core::storage{});
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
    EXPECT_EQ(f.body,
              "The server has canceled a subscription.\nNo more messages will be delivered for "
              "\"id='s'\".\n");
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
    // As RabbitMQ: only %2F is decoded; any other % stays as it is.
    auto d = parse_destination("/exchange/x%2Fy/k%25");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->name, "x/y");
    EXPECT_EQ(d->key, "k%25");
    auto raw = parse_destination("/queue/a%zz");
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->name, "a%zz");
    auto bare = parse_destination("plain");  // no '/': a queue
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->kind, dest_kind::queue);
    EXPECT_EQ(bare->name, "plain");
    auto reply = parse_destination("/reply-queue/a/b");  // the rest, '/' and all
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->name, "a/b");
    auto bad = parse_destination("/queue/a/b");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().detail, "'/a/b' is not a valid queue destination\n");
    auto unknown = parse_destination("a/b");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().message, "Unknown destination");
}

// A core error becomes an ERROR frame as RabbitMQ's adapter writes it: the lower-case name in
// `message`, the AMQP reply text in the body.
TEST(Render, CoreErrorBecomesRabbitMqErrorFrame) {
    using rc = core::reply_code;
    struct row {
        core::error e;
        const char* message;
        const char* detail;
    };
    const row rows[] = {
        {{rc::not_found, "no exchange 'x' in vhost '/'", "exchange 'x' in vhost '/'"},
         "not_found",
         "NOT_FOUND - no exchange 'x' in vhost '/'"},
        {{rc::resource_locked, "cannot obtain exclusive access", {}},
         "resource_locked",
         "RESOURCE_LOCKED - cannot obtain exclusive access"},
        {{rc::precondition_failed, "unknown delivery tag -1", {}},
         "precondition_failed",
         "PRECONDITION_FAILED - unknown delivery tag -1"},
        {{rc::access_refused, "queue 'q' in vhost '/' in exclusive use", {}},
         "access_refused",
         "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use"},
        {{rc::internal_error, "the message store cannot write", {}},
         "internal_error",
         "INTERNAL_ERROR - the message store cannot write"},
    };
    for (auto& r : rows) {
        failure f = render(r.e);
        EXPECT_EQ(f.message, r.message);
        EXPECT_EQ(f.detail, r.detail);
    }
}

}  // namespace
}  // namespace warren::stomp

// AMQP session tests: drive an amqp::session with frames against a real core::broker and read
// the frames it writes back. No sockets: a fake session_io stands in for the transport, and time
// is injected. Covers the handshake, heartbeats and timeouts, the channel lifecycle, error paths
// and frame splits at every byte.

#include "proto/amqp091/session.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/broker.h"
#include "core/vhost.h"
#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/field_table.h"
#include "proto/amqp091/server.h"

namespace warren::amqp {
namespace {

using namespace std::string_literals;

const std::string header_091 = "AMQP\x00\x00\x09\x01"s;

struct fake_io : net::session_io {
    int ready = 0;
    bool close_requested_ = false;
    bool close_now_ = false;
    size_t in_flight = 0;
    void output_ready() override { ++ready; }
    void close_requested() override { close_requested_ = true; }
    void close_now() override { close_now_ = true; }
    size_t bytes_in_flight() const override { return in_flight; }
    void pause_input() override {
        paused = true;
        ++pauses;
    }
    void resume_input() override {
        paused = false;
        ++resumes;
    }
    bool paused = false;
    int pauses = 0, resumes = 0;
};

// net::session_io::hold_input: input is read only while no reason holds it, and the transport
// hears one pause and one resume however the reasons overlap.
TEST(SessionIo, InputIsHeldWhileAnyReasonIsSet) {
    fake_io io;
    io.hold_input(net::input_hold::alarm, true);
    EXPECT_TRUE(io.paused);
    io.hold_input(net::input_hold::flow, true);
    io.hold_input(net::input_hold::alarm, false);
    EXPECT_TRUE(io.paused) << "credit flow still holds it";
    EXPECT_TRUE(io.input_held());
    io.hold_input(net::input_hold::flow, false);
    EXPECT_FALSE(io.paused);
    EXPECT_FALSE(io.input_held());
    io.hold_input(net::input_hold::flow, false);  // letting go twice is no second resume
    EXPECT_EQ(io.pauses, 1);
    EXPECT_EQ(io.resumes, 1);
}

struct out_frame {
    frame_type type;
    uint16_t channel;
    std::string payload;
    std::optional<method> m;  // decoded method frames
    template <typename M>
    const M* as() const {
        return m ? std::get_if<M>(&*m) : nullptr;
    }
};

// A client on the far side of a transport: what it sends goes through on_bytes the way
// net::connection hands bytes over (the unconsumed rest kept and offered again).
class client {
public:
    explicit client(settings s = {}, net::peer_info peer = {"127.0.0.1:5555", false, false})
        : srv(ctx, broker, seeded(authority), s) {
        sess.emplace(srv, io, peer, 7);
        sess->on_start(now);
    }

    void raw(std::string_view bytes) {
        pending.append(bytes);
        size_t used = sess->on_bytes(pending, now);
        ASSERT_LE(used, pending.size());
        pending.erase(0, used);
    }
    template <typename M>
    void send(uint16_t ch, const M& m) {
        std::string b;
        append_method_frame(b, ch, m);
        raw(b);
    }
    void publish(uint16_t ch, std::string exchange, std::string key, std::string body) {
        std::string b;
        append_method_frame(b, ch, basic_publish{0, exchange, key, false, false});
        append_content_header_frame(b, ch, body.size(), empty_properties);
        append_body_frames(b, ch, body, 4096);
        raw(b);
    }

    std::vector<out_frame> frames() {
        std::vector<out_frame> result;
        if (!sess->has_output()) return result;
        auto batch = sess->take_output();
        std::string_view data = batch.bytes;
        if (data.starts_with("AMQP")) {  // our protocol header, sent back on a bad header
            result.push_back({frame_type::heartbeat, 0, std::string(data.substr(0, 8)), {}});
            data.remove_prefix(8);
        }
        while (!data.empty()) {
            auto r = parse_frame(data, 0);
            EXPECT_EQ(r.k, parse_result::ok) << "the session wrote a bad frame";
            if (r.k != parse_result::ok) break;
            out_frame f{r.frame.type, r.frame.channel, std::string(r.frame.payload), {}};
            if (f.type == frame_type::method) {
                auto m = decode_method(f.payload);
                EXPECT_TRUE(m) << "undecodable method from the session";
                if (m) f.m = std::move(*m);
            }
            result.push_back(std::move(f));
            data.remove_prefix(r.consumed);
        }
        sess->recycle(std::move(batch.bytes));
        return result;
    }
    template <typename M>
    M expect(uint16_t ch = 0) {
        auto fs = frames();
        EXPECT_EQ(fs.size(), 1u);
        for (auto& f : fs) {
            EXPECT_EQ(f.channel, ch);
            if (auto* m = f.as<M>()) return *m;
        }
        ADD_FAILURE() << "expected " << M::name << ", got "
                      << (fs.empty() || !fs[0].m ? "nothing" : std::string(method_name(*fs[0].m)));
        return M{};
    }

    void start_ok(std::string mechanism = "PLAIN", std::string response = "\0guest\0guest"s,
                  bool auth_failure_close = true) {
        core::field_table caps;
        caps.emplace_back("authentication_failure_close", auth_failure_close);
        if (blocked_capability) caps.emplace_back("connection.blocked", true);
        core::field_table props;
        props.emplace_back("capabilities", core::field_value::table(std::move(caps)));
        send(0, connection_start_ok{props, mechanism, response, "en_US"});
    }
    // Header through open-ok.
    void open(uint16_t heartbeat = 0, std::string vhost = "/") {
        raw(header_091);
        expect<connection_start>();
        start_ok();
        auto tune = expect<connection_tune>();
        send(0, connection_tune_ok{tune.channel_max, tune.frame_max, heartbeat});
        send(0, connection_open{vhost, "", false});
        expect<connection_open_ok>();
    }
    void open_channel(uint16_t ch) {
        send(ch, channel_open{""});
        expect<channel_open_ok>(ch);
    }
    connection_close expect_connection_close() {
        auto c = expect<connection_close>();
        return c;
    }

    static auth::authority& seeded(auth::authority& a) {
        a.seed_default_user("guest", "guest", "/");
        return a;
    }

    boost::asio::io_context ctx;
    core::broker broker;
    auth::authority authority;
    server srv;
    fake_io io;
    std::optional<session> sess;
    std::string pending;
    uint64_t now = 1'000'000;
    bool blocked_capability = true;  // announced in start-ok's client capabilities
};

// ---- handshake ------------------------------------------------------------------------------

TEST(AmqpSession, HandshakeStartTuneOpen) {
    client c;
    c.raw(header_091);
    auto start = c.expect<connection_start>();
    EXPECT_EQ(start.version_major, 0);
    EXPECT_EQ(start.version_minor, 9);
    EXPECT_EQ(start.mechanisms, "PLAIN AMQPLAIN");
    auto* caps = core::find(start.server_properties, "capabilities");
    ASSERT_NE(caps, nullptr);
    c.start_ok();
    auto tune = c.expect<connection_tune>();
    EXPECT_EQ(tune.channel_max, 2047);
    EXPECT_EQ(tune.frame_max, 131072u);
    c.send(0, connection_tune_ok{2047, 131072, 0});
    EXPECT_FALSE(c.sess->has_output());
    c.send(0, connection_open{"/", "", false});
    c.expect<connection_open_ok>();
    EXPECT_TRUE(c.sess->open());
}

TEST(AmqpSession, Amqp09HeaderIsAccepted) {
    client c;
    c.raw("AMQP\x01\x01\x00\x09"s);
    c.expect<connection_start>();
}

TEST(AmqpSession, BadProtocolHeaderGetsOursAndAGracefulClose) {
    client c;
    c.raw("HTTP/1.1 GET /\r\n"s);
    auto fs = c.frames();
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].payload, header_091);
    EXPECT_TRUE(c.io.close_requested_);
    EXPECT_FALSE(c.io.close_now_);
}

TEST(AmqpSession, HeaderSplitAtEveryByteWaits) {
    client c;
    for (char ch : header_091) {
        EXPECT_FALSE(c.sess->has_output());
        c.raw(std::string(1, ch));
    }
    c.expect<connection_start>();
    EXPECT_FALSE(c.io.close_requested_);
}

TEST(AmqpSession, AmqplainLogin) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    core::field_table t;
    t.emplace_back("LOGIN", "guest"s);
    t.emplace_back("PASSWORD", "guest"s);
    std::string enc;
    encode_table(enc, t);
    c.start_ok("AMQPLAIN", enc.substr(4));  // without the table's length prefix
    c.expect<connection_tune>();
}

TEST(AmqpSession, BadLoginClosesWith403WhenTheClientAsksForIt) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok("PLAIN", "\0guest\0wrong"s);
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 403);
    EXPECT_EQ(close.reply_text,
              "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For "
              "details see the broker logfile.");
    EXPECT_TRUE(c.io.close_requested_);
}

TEST(AmqpSession, BadLoginWithoutTheCapabilityJustCloses) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok("PLAIN", "\0guest\0wrong"s, false);
    EXPECT_TRUE(c.frames().empty());
    EXPECT_TRUE(c.io.close_requested_);
}

TEST(AmqpSession, UnknownMechanismCloses) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok("EXTERNAL", "");
    EXPECT_TRUE(c.io.close_requested_);
}

// A TLS connection whose client certificate verified, logging in as `user`.
net::peer_info tls_peer_with_certificate(std::string user) {
    net::peer_info p{"127.0.0.1:5555", false, true};
    p.cert_cn = user;
    p.cert_dn = "CN=" + user + ",O=test";
    p.cert_login = user;
    return p;
}

TEST(AmqpSession, ExternalIsOfferedOnlyWithAVerifiedClientCertificate) {
    client plain;
    plain.raw(header_091);
    EXPECT_EQ(plain.expect<connection_start>().mechanisms, "PLAIN AMQPLAIN");
    client tls_without_cert({}, net::peer_info{"127.0.0.1:5555", false, true});
    tls_without_cert.raw(header_091);
    EXPECT_EQ(tls_without_cert.expect<connection_start>().mechanisms, "PLAIN AMQPLAIN");
    client tls({}, tls_peer_with_certificate("guest"));
    tls.raw(header_091);
    EXPECT_EQ(tls.expect<connection_start>().mechanisms, "PLAIN AMQPLAIN EXTERNAL");
}

TEST(AmqpSession, ExternalLogsInAsTheCertificateUserWithoutAPassword) {
    client c({}, tls_peer_with_certificate("guest"));
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok("EXTERNAL", "");  // pika and amqplib send an empty response
    auto tune = c.expect<connection_tune>();
    c.send(0, connection_tune_ok{tune.channel_max, tune.frame_max, 0});
    c.send(0, connection_open{"/", "", false});
    c.expect<connection_open_ok>();
    EXPECT_EQ(c.sess->user(), "guest");
}

TEST(AmqpSession, ExternalWithACertificateForAnUnknownUserIsRefused) {
    client c({}, tls_peer_with_certificate("nobody"));
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok("EXTERNAL", "");
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 403);
    EXPECT_EQ(close.reply_text,
              "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For "
              "details see the broker logfile.");
    EXPECT_TRUE(c.io.close_requested_);
}

TEST(AmqpSession, PlainStillWorksOnATlsConnectionWithACertificate) {
    client c({}, tls_peer_with_certificate("nobody"));
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok();
    c.expect<connection_tune>();
}

TEST(AmqpSession, TuneOkBeyondOurLimitsIsRefused) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok();
    c.expect<connection_tune>();
    c.send(0, connection_tune_ok{4000, 131072, 0});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text,
              "NOT_ALLOWED - negotiated channel_max = 4000 is higher than the maximum allowed "
              "value (2047)");
}

TEST(AmqpSession, FrameMaxBelowMinimumIsRefused) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok();
    c.expect<connection_tune>();
    c.send(0, connection_tune_ok{0, 1000, 0});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text,
              "NOT_ALLOWED - negotiated frame_max = 1000 is lower than the minimum allowed value "
              "(4096)");
}

TEST(AmqpSession, UnknownVhostIsRefused) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok();
    c.expect<connection_tune>();
    c.send(0, connection_tune_ok{0, 131072, 0});
    c.send(0, connection_open{"nowhere", "", false});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text, "NOT_ALLOWED - vhost 'nowhere' not found");
    EXPECT_EQ(close.failing_class_id, 10);
    EXPECT_EQ(close.failing_method_id, 40);
}

TEST(AmqpSession, MethodOutOfOrderDuringHandshakeCloses) {
    client c;
    c.raw(header_091);
    c.expect<connection_start>();
    c.send(0, connection_open{"/", "", false});
    EXPECT_TRUE(c.io.close_requested_);
}

// ---- time -------------------------------------------------------------------------------------

TEST(AmqpSession, HandshakeTimeoutClosesAtOnce) {
    client c;
    c.raw(header_091);
    c.frames();
    EXPECT_EQ(c.sess->timer_interval_ms(), 1000u);
    c.sess->on_timer(c.now + 9'000);
    EXPECT_FALSE(c.io.close_now_);
    c.sess->on_timer(c.now + 10'001);
    EXPECT_TRUE(c.io.close_now_);
}

TEST(AmqpSession, NoTimerWithoutHeartbeats) {
    client c;
    c.open(0);
    EXPECT_EQ(c.sess->timer_interval_ms(), 0u);
}

TEST(AmqpSession, HeartbeatsSentWhenIdle) {
    client c;
    c.open(4);
    EXPECT_EQ(c.sess->timer_interval_ms(), 1000u);
    c.sess->on_timer(c.now + 1000);
    EXPECT_TRUE(c.frames().empty()) << "no heartbeat before half the interval";
    c.sess->on_timer(c.now + 2000);
    auto fs = c.frames();
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].type, frame_type::heartbeat);
    EXPECT_EQ(fs[0].channel, 0);
}

TEST(AmqpSession, MissedHeartbeatsCloseAtOnce) {
    client c;
    c.open(2);
    c.sess->on_timer(c.now + 3000);
    EXPECT_FALSE(c.io.close_now_);
    c.now += 3000;
    c.raw("\x08\x00\x00\x00\x00\x00\x00\xce"s);  // client heartbeat: counts as traffic
    c.sess->on_timer(c.now + 3900);
    EXPECT_FALSE(c.io.close_now_);
    c.sess->on_timer(c.now + 4100);
    EXPECT_TRUE(c.io.close_now_);
}

// ---- resource alarms (core/alarms.h) ---------------------------------------------------------

TEST(AmqpSession, AnAlarmBlocksAConnectionAtItsNextPublishAndClearsWithUnblocked) {
    client c;
    c.open(2);
    c.open_channel(1);
    c.broker.set_alarm(core::resource::memory, true);
    EXPECT_TRUE(c.frames().empty()) << "nothing is sent before the connection publishes";
    EXPECT_FALSE(c.io.paused);
    EXPECT_EQ(c.sess->flow_state(), "blocking");
    c.publish(1, "", "nowhere", "x");
    auto b = c.expect<connection_blocked>();
    EXPECT_EQ(b.reason, "low on memory");
    EXPECT_TRUE(c.io.paused);
    EXPECT_EQ(c.sess->flow_state(), "blocked");
    // Not read meanwhile: missed heartbeats are not held against it.
    c.sess->on_timer(c.now + 60'000);
    EXPECT_FALSE(c.io.close_now_);
    c.frames();                                      // heartbeats
    c.broker.set_alarm(core::resource::disk, true);  // still blocked; nothing new sent
    EXPECT_TRUE(c.frames().empty());
    c.broker.set_alarm(core::resource::memory, false);
    EXPECT_TRUE(c.io.paused);
    c.broker.set_alarm(core::resource::disk, false);
    c.expect<connection_unblocked>();
    EXPECT_FALSE(c.io.paused);
    EXPECT_EQ(c.sess->flow_state(), "running");
    // The heartbeat monitor starts again from the unblock.
    c.sess->on_timer(c.now + 60'000 + 3000);
    EXPECT_FALSE(c.io.close_now_);
}

TEST(AmqpSession, AClientWithoutTheCapabilityIsBlockedSilently) {
    client c;
    c.blocked_capability = false;
    c.open();
    c.open_channel(1);
    c.broker.set_alarm(core::resource::disk, true);
    c.publish(1, "", "nowhere", "x");
    EXPECT_TRUE(c.frames().empty());
    EXPECT_TRUE(c.io.paused);
    c.broker.set_alarm(core::resource::disk, false);
    EXPECT_TRUE(c.frames().empty());
    EXPECT_FALSE(c.io.paused);
}

TEST(AmqpSession, AConnectionOpenedDuringAnAlarmIsBlockedAtItsFirstPublishAndForgottenAtClose) {
    client c;
    c.broker.set_alarm(core::resource::memory, true);
    c.broker.set_alarm(core::resource::disk, true);
    c.open();
    c.open_channel(1);
    c.publish(1, "", "nowhere", "x");
    EXPECT_EQ(c.expect<connection_blocked>().reason, "low on memory & disk");
    c.sess->connection_closed();
    c.broker.set_alarm(core::resource::memory, false);  // must not reach the closed session
    c.broker.set_alarm(core::resource::disk, false);
    EXPECT_TRUE(c.io.paused);
}

TEST(AmqpSession, HeartbeatOnAChannelIsAFrameError) {
    client c;
    c.open();
    c.raw("\x08\x00\x01\x00\x00\x00\x00\xce"s);
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 505);
}

// ---- channels ---------------------------------------------------------------------------------

TEST(AmqpSession, ChannelOpenAndClose) {
    client c;
    c.open();
    c.open_channel(1);
    EXPECT_EQ(c.sess->channel_count(), 1u);
    c.send(1, channel_close{200, "bye", 0, 0});
    c.expect<channel_close_ok>(1);
    EXPECT_EQ(c.sess->channel_count(), 0u);
    c.open_channel(1);  // the number can be used again
}

TEST(AmqpSession, AnyChannelNumberButNoMoreThanChannelMax) {
    settings s;
    s.channel_max = 3;
    client c(s);
    c.open();
    c.open_channel(65535);
    c.open_channel(300);
    c.open_channel(2);
    c.send(4, channel_open{""});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text,
              "NOT_ALLOWED - number of channels opened (3) has reached the negotiated "
              "channel_max (3)");
    EXPECT_EQ(close.failing_class_id, 0);
    EXPECT_EQ(close.failing_method_id, 0);
}

TEST(AmqpSession, SecondOpenOfAChannelIs504) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, channel_open{""});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 504);
    EXPECT_EQ(close.reply_text, "CHANNEL_ERROR - second 'channel.open' seen");
}

TEST(AmqpSession, MethodOnAnUnopenedChannelIs504) {
    client c;
    c.open();
    c.send(5, queue_declare{0, "q", false, false, false, false, false, {}});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 504);
    EXPECT_EQ(close.reply_text, "CHANNEL_ERROR - expected 'channel.open'");
}

TEST(AmqpSession, ChannelErrorIgnoresFramesUntilCloseOk) {
    client c;
    c.open();
    c.open_channel(1);
    c.publish(1, "missing", "k", "x");
    auto close = c.expect<channel_close>(1);
    EXPECT_EQ(close.reply_code, 404);
    EXPECT_EQ(close.reply_text, "NOT_FOUND - no exchange 'missing' in vhost '/'");
    c.publish(1, "", "k", "sent before the client saw channel.close");
    EXPECT_TRUE(c.frames().empty());
    c.send(1, channel_close_ok{});
    EXPECT_TRUE(c.frames().empty());
    c.open_channel(1);
}

// ---- messages ---------------------------------------------------------------------------------

TEST(AmqpSession, PublishAndGet) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    auto ok = c.expect<queue_declare_ok>(1);
    EXPECT_EQ(ok.queue, "q");
    c.publish(1, "", "q", "hello");
    EXPECT_FALSE(c.sess->has_output());
    c.send(1, basic_get{0, "q", true});
    auto fs = c.frames();
    ASSERT_EQ(fs.size(), 3u);
    ASSERT_NE(fs[0].as<basic_get_ok>(), nullptr);
    EXPECT_EQ(fs[0].as<basic_get_ok>()->routing_key, "q");
    EXPECT_EQ(fs[1].type, frame_type::header);
    EXPECT_EQ(fs[2].type, frame_type::body);
    EXPECT_EQ(fs[2].payload, "hello");
    c.send(1, basic_get{0, "q", true});
    c.expect<basic_get_empty>(1);
}

TEST(AmqpSession, ConsumeDeliversAndAckSettles) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.frames();
    c.send(1, basic_consume{0, "q", "tag", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
    c.publish(1, "", "q", "m1");
    auto fs = c.frames();
    ASSERT_EQ(fs.size(), 3u);
    auto* d = fs[0].as<basic_deliver>();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->consumer_tag, "tag");
    EXPECT_EQ(d->delivery_tag, 1u);
    auto q = c.broker.find_vhost("/")->find_queue("q");
    EXPECT_EQ(q->unacked_count(), 1u);
    c.send(1, basic_ack{1, false});
    EXPECT_EQ(q->unacked_count(), 0u);
    c.send(1, basic_ack{9, false});
    auto close = c.expect<channel_close>(1);
    EXPECT_EQ(close.reply_code, 406);
    EXPECT_EQ(close.reply_text, "PRECONDITION_FAILED - unknown delivery tag 9");
}

TEST(AmqpSession, ConsumerTimeoutClosesTheChannelWithRabbitMQs406AndRequeues) {
    settings st;
    st.consumer_timeout_ms = 5000;
    client c(st);
    c.open();  // no heartbeats: the timer runs only while a delivery is unacknowledged
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.frames();
    EXPECT_EQ(c.sess->timer_interval_ms(), 0u);
    c.send(1, basic_consume{0, "q", "tag", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
    c.publish(1, "", "q", "m1");
    c.publish(1, "", "q", "m2");
    c.frames();
    EXPECT_EQ(c.sess->timer_interval_ms(), 1000u);
    c.sess->on_timer(c.now + 1000);  // stamps both deliveries at now + 1000
    c.send(1, basic_ack{1, false});  // acks in time do not count
    c.sess->on_timer(c.now + 6000);
    EXPECT_TRUE(c.frames().empty()) << "5,000 ms after the stamp is not over the timeout";
    c.sess->on_timer(c.now + 6001);
    auto close = c.expect<channel_close>(1);
    EXPECT_EQ(close.reply_code, 406);
    EXPECT_EQ(close.reply_text,
              "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout "
              "value used: 5000 ms. This timeout value can be configured, see consumers doc guide "
              "to learn more");
    EXPECT_EQ(close.failing_class_id, 0);
    EXPECT_EQ(close.failing_method_id, 0);
    auto q = c.broker.find_vhost("/")->find_queue("q");
    EXPECT_EQ(q->message_count(), 1u) << "m2 goes back to the queue";
    EXPECT_EQ(q->unacked_count(), 0u);
    EXPECT_FALSE(c.io.close_now_);
}

TEST(AmqpSession, ConsumeBeyondConsumerMaxPerChannelClosesTheConnectionWithRabbitMQs530) {
    settings st;
    st.consumer_max_per_channel = 2;
    client c(st);
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.frames();
    c.send(1, basic_consume{0, "q", "a", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
    c.send(1, basic_consume{0, "q", "", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
    c.send(1, basic_consume{0, "q", "c", false, false, false, false, {}});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text, "NOT_ALLOWED - reached maximum (2) of consumers per channel");
    EXPECT_EQ(close.failing_class_id, basic_consume::class_id);
    EXPECT_EQ(close.failing_method_id, basic_consume::method_id);
}

TEST(AmqpSession, ConsumerMaxPerChannelCountsEachChannelApartAndCancelsFreeSlots) {
    settings st;
    st.consumer_max_per_channel = 1;
    client c(st);
    c.open();
    c.open_channel(1);
    c.open_channel(2);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.frames();
    c.send(1, basic_consume{0, "q", "a", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
    c.send(2, basic_consume{0, "q", "b", false, false, false, false, {}});
    c.expect<basic_consume_ok>(2);
    c.send(1, basic_cancel{"a", false});
    c.expect<basic_cancel_ok>(1);
    c.send(1, basic_consume{0, "q", "a2", false, false, false, false, {}});
    c.expect<basic_consume_ok>(1);
}

TEST(AmqpSession, OpenOverTheNodeConnectionLimitGetsRabbitMQs530) {
    settings st;
    size_t open_on_node = 3;
    st.connection_max = 2;
    st.node_connections = [&] { return open_on_node; };
    client c(st);
    c.raw(header_091);
    c.expect<connection_start>();
    c.start_ok();
    auto tune = c.expect<connection_tune>();
    c.send(0, connection_tune_ok{tune.channel_max, tune.frame_max, 0});
    c.send(0, connection_open{"/", "", false});
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 530);
    EXPECT_EQ(close.reply_text,
              "NOT_ALLOWED - connection refused: node connection limit (2) is reached");
    EXPECT_EQ(close.failing_class_id, connection_open::class_id);
    EXPECT_EQ(close.failing_method_id, connection_open::method_id);

    open_on_node = 2;  // itself included: at the limit is allowed
    client ok(st);
    ok.open();
}

TEST(AmqpSession, ConsumerTimeoutZeroNeverCloses) {
    settings st;
    st.consumer_timeout_ms = 0;
    client c(st);
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.send(1, basic_get{0, "q", false});
    c.publish(1, "", "q", "m1");
    c.send(1, basic_get{0, "q", false});
    c.frames();
    EXPECT_EQ(c.sess->timer_interval_ms(), 0u);
    c.sess->on_timer(c.now + 100'000'000);
    EXPECT_TRUE(c.frames().empty());
}

TEST(AmqpSession, TransportGoneRequeuesUnacked) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.publish(1, "", "q", "m1");
    c.send(1, basic_get{0, "q", false});
    c.frames();
    auto q = c.broker.find_vhost("/")->find_queue("q");
    EXPECT_EQ(q->message_count(), 0u);
    c.sess->connection_closed();
    EXPECT_EQ(q->message_count(), 1u);
    c.sess->connection_closed();  // idempotent
}

TEST(AmqpSession, ExclusiveQueueGoesWithTheConnection) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "mine", false, false, true, false, false, {}});
    c.frames();
    EXPECT_NE(c.broker.find_vhost("/")->find_queue("mine"), nullptr);
    c.send(0, connection_close{200, "bye", 0, 0});
    c.expect<connection_close_ok>();
    EXPECT_EQ(c.broker.find_vhost("/")->find_queue("mine"), nullptr);
}

TEST(AmqpSession, BackpressureStopsDeliveriesAndResumes) {
    client c;
    c.open();
    c.open_channel(1);
    c.send(1, queue_declare{0, "q", false, false, false, false, false, {}});
    c.send(1, basic_consume{0, "q", "tag", true, false, false, false, {}});
    c.frames();
    c.io.in_flight = session::output_limit + 1;  // a slow client: a big write still pending
    c.publish(1, "", "q", "held back");
    EXPECT_FALSE(c.sess->has_output());
    auto q = c.broker.find_vhost("/")->find_queue("q");
    EXPECT_EQ(q->message_count(), 1u);
    c.io.in_flight = 0;
    c.sess->on_output_drained();
    auto fs = c.frames();
    ASSERT_EQ(fs.size(), 3u);
    EXPECT_EQ(fs[2].payload, "held back");
}

TEST(AmqpSession, MaxMessageSizeIsRefusedAtTheHeader) {
    settings s;
    s.max_message_size = 10;
    client c(s);
    c.open();
    c.open_channel(1);
    c.publish(1, "", "q", "eleven byte");
    auto close = c.expect<channel_close>(1);
    EXPECT_EQ(close.reply_code, 406);
    EXPECT_EQ(close.reply_text,
              "PRECONDITION_FAILED - message size 11 is larger than configured max size 10");
}

TEST(AmqpSession, BodyLongerThanAnnouncedNamesTheAnnouncedSize) {
    client c;
    c.open();
    c.open_channel(1);
    std::string b;
    append_method_frame(b, 1, basic_publish{0, "", "q", false, false});
    append_content_header_frame(b, 1, 4, empty_properties);
    append_frame(b, frame_type::body, 1, "123456");
    c.raw(b);
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 505);
    EXPECT_EQ(close.reply_text,
              "UNEXPECTED_FRAME - content body larger than declared: 2 more bytes than the 4 "
              "announced");
}

// ---- closing ----------------------------------------------------------------------------------

TEST(AmqpSession, ClientCloseGetsCloseOkAndAGracefulClose) {
    client c;
    c.open();
    c.open_channel(1);
    std::string b;
    append_method_frame(b, 0, connection_close{200, "bye", 0, 0});
    // Frames the client's mux still had queued after connection.close: ignored.
    append_method_frame(b, 1, queue_declare{0, "late", false, false, false, false, false, {}});
    c.raw(b);
    c.expect<connection_close_ok>();
    EXPECT_TRUE(c.io.close_requested_);
    EXPECT_FALSE(c.io.close_now_);
    EXPECT_EQ(c.broker.find_vhost("/")->find_queue("late"), nullptr);
    c.raw(b);  // still ignored
    EXPECT_FALSE(c.sess->has_output());
    EXPECT_EQ(c.sess->close_grace_ms(), 30'000u);
}

TEST(AmqpSession, CloseGraceFollowsHeartbeat) {
    client c;
    c.open(5);
    EXPECT_EQ(c.sess->close_grace_ms(), 5'000u);
    client d;
    EXPECT_EQ(d.sess->close_grace_ms(), 3'000u);  // never opened
}

TEST(AmqpSession, ForceCloseSends320AndWaitsForCloseOk) {
    client c;
    c.open();
    c.sess->force_close("shutdown");
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 320);
    EXPECT_EQ(close.reply_text,
              "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
    EXPECT_FALSE(c.io.close_requested_);
    c.send(0, connection_close_ok{});
    EXPECT_TRUE(c.io.close_requested_);
}

TEST(AmqpSession, ServerCloseTimesOutWithoutCloseOk) {
    client c;
    c.open();
    c.sess->force_close("shutdown");
    c.frames();
    c.sess->on_timer(c.now + 500);
    EXPECT_FALSE(c.io.close_now_);
    c.sess->on_timer(c.now + 1500);
    EXPECT_TRUE(c.io.close_now_);
}

TEST(AmqpSession, GarbageFrameIsAFrameError) {
    client c;
    c.open();
    c.raw("\x01\x00\x01\x00\x00\x00\x02zz\x00"s);  // bad frame-end octet
    auto close = c.expect_connection_close();
    EXPECT_EQ(close.reply_code, 501);
}

// ---- splits -----------------------------------------------------------------------------------

// A whole session's input: handshake, channel, declare, publish, get, close.
std::string conversation() {
    std::string b = header_091;
    core::field_table props;
    append_method_frame(b, 0, connection_start_ok{props, "PLAIN", "\0guest\0guest"s, "en_US"});
    append_method_frame(b, 0, connection_tune_ok{2047, 131072, 0});
    append_method_frame(b, 0, connection_open{"/", "", false});
    append_method_frame(b, 1, channel_open{""});
    append_method_frame(b, 1, queue_declare{0, "split", false, false, false, false, false, {}});
    append_method_frame(b, 1, basic_publish{0, "", "split", false, false});
    append_content_header_frame(b, 1, 10, empty_properties);
    append_body_frames(b, 1, "0123456789", 4096);
    append_method_frame(b, 1, basic_get{0, "split", true});
    append_method_frame(b, 0, connection_close{200, "bye", 0, 0});
    return b;
}

std::string replies_of(const std::vector<std::string_view>& chunks) {
    client c;
    std::string all;
    for (auto chunk : chunks) {
        c.raw(chunk);
        if (c.sess->has_output()) all += c.sess->take_output().bytes;
    }
    EXPECT_TRUE(c.io.close_requested_);
    return all;
}

TEST(AmqpSession, InputSplitAtEveryByteGivesTheSameReplies) {
    const std::string in = conversation();
    const std::string whole = replies_of({in});
    ASSERT_NE(whole.find("0123456789"), std::string::npos) << "the get must return the body";
    for (size_t i = 1; i < in.size(); ++i) {
        std::string_view v = in;
        EXPECT_EQ(replies_of({v.substr(0, i), v.substr(i)}), whole) << "split at " << i;
    }
}

TEST(AmqpSession, InputOneByteAtATime) {
    const std::string in = conversation();
    std::vector<std::string_view> chunks;
    for (size_t i = 0; i < in.size(); ++i) chunks.push_back(std::string_view(in).substr(i, 1));
    EXPECT_EQ(replies_of(chunks), replies_of({in}));
}

TEST(AmqpSession, ReadSizeHintCoversALargeFrame) {
    client c;
    c.open();
    std::string hdr = "\x03\x00\x01\x00\x10\x00\x00"s;  // body frame of 1 MiB, header only
    EXPECT_EQ(c.sess->read_size_hint(hdr), (1u << 20) + 8);
    EXPECT_EQ(c.sess->read_size_hint("\x03\x00"s), 0u);
}

// Core errors carry no "<NAME> - " prefix; reply_text adds it, once, for every code.
TEST(ReplyText, NamePrefixIsAddedOnceForEveryCode) {
    using rc = core::reply_code;
    struct row {
        core::error e;
        const char* wire;
    };
    const row rows[] = {
        {{rc::not_found, "no queue 'q' in vhost '/'", "queue 'q' in vhost '/'"},
         "NOT_FOUND - no queue 'q' in vhost '/'"},
        {{rc::access_refused, "operation not permitted on the default exchange", {}},
         "ACCESS_REFUSED - operation not permitted on the default exchange"},
        {{rc::resource_locked, "cannot obtain exclusive access", {}},
         "RESOURCE_LOCKED - cannot obtain exclusive access"},
        {{rc::precondition_failed, "unknown delivery tag 9", {}},
         "PRECONDITION_FAILED - unknown delivery tag 9"},
        {{rc::command_invalid, "invalid exchange type 'foo'", {}},
         "COMMAND_INVALID - invalid exchange type 'foo'"},
        {{rc::frame_error, "method frame too short (2 octets)", {}},
         "FRAME_ERROR - method frame too short (2 octets)"},
        {{rc::internal_error, "the message store cannot write", {}},
         "INTERNAL_ERROR - the message store cannot write"},
    };
    for (auto& r : rows) EXPECT_EQ(reply_text(r.e), r.wire);
    EXPECT_EQ(reply_text(make_error(rc::channel_error, "expected 'channel.open'")),
              "CHANNEL_ERROR - expected 'channel.open'");
}

}  // namespace
}  // namespace warren::amqp

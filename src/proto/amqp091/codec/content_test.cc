#include "proto/amqp091/codec/content.h"

#include <gtest/gtest.h>

#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/codec/test_util.h"

namespace warren::amqp {
namespace {

using core::field_value;
using test::hex;
using test::unhex;

core::basic_properties all_properties() {
    core::basic_properties p;
    p.content_type = "application/json";
    p.content_encoding = "gzip";
    p.headers = core::field_table{{"x-death", field_value::array({field_value{"q"}})},
                                  {"n", field_value{int64_t(-1)}}};
    p.delivery_mode = 2;
    p.priority = 9;
    p.correlation_id = "corr";
    p.reply_to = "amq.rabbitmq.reply-to";
    p.expiration = "60000";
    p.message_id = "mid";
    p.timestamp = 1700000000;
    p.type = "t";
    p.user_id = "guest";
    p.app_id = "app";
    p.cluster_id = "c";
    return p;
}

// Splits `wire` into frames (all must parse).
std::vector<frame_view> frames_of(std::string_view wire, uint32_t frame_max) {
    std::vector<frame_view> out;
    while (!wire.empty()) {
        auto r = parse_frame(wire, frame_max);
        EXPECT_EQ(r.k, parse_result::ok) << r.err.text;
        if (r.k != parse_result::ok) break;
        out.push_back(r.frame);
        wire.remove_prefix(r.consumed);
    }
    return out;
}

TEST(Content, AllPropertiesRoundTrip) {
    auto p = all_properties();
    std::string raw;
    encode_properties(raw, p);
    EXPECT_EQ(static_cast<uint8_t>(raw[0]), 0xff);
    EXPECT_EQ(static_cast<uint8_t>(raw[1]), 0xfc);
    auto back = decode_properties(raw);
    ASSERT_TRUE(back.ok()) << back.error().text;
    EXPECT_EQ(*back, p);
}

TEST(Content, EachPropertyAloneRoundTrips) {
    auto all = all_properties();
    std::vector<core::basic_properties> singles(14);
    singles[0].content_type = all.content_type;
    singles[1].content_encoding = all.content_encoding;
    singles[2].headers = all.headers;
    singles[3].delivery_mode = all.delivery_mode;
    singles[4].priority = all.priority;
    singles[5].correlation_id = all.correlation_id;
    singles[6].reply_to = all.reply_to;
    singles[7].expiration = all.expiration;
    singles[8].message_id = all.message_id;
    singles[9].timestamp = all.timestamp;
    singles[10].type = all.type;
    singles[11].user_id = all.user_id;
    singles[12].app_id = all.app_id;
    singles[13].cluster_id = all.cluster_id;
    for (size_t i = 0; i < singles.size(); ++i) {
        std::string raw;
        encode_properties(raw, singles[i]);
        uint16_t flags = uint16_t((uint8_t(raw[0]) << 8) | uint8_t(raw[1]));
        EXPECT_EQ(flags, 1u << (15 - i)) << i;
        auto back = decode_properties(raw);
        ASSERT_TRUE(back.ok()) << i;
        EXPECT_EQ(*back, singles[i]) << i;
    }
}

TEST(Content, EmptyProperties) {
    std::string raw;
    encode_properties(raw, {});
    EXPECT_EQ(raw, empty_properties);
}

TEST(Content, HeaderFrameMatchesPika) {
    // pika 1.2: Header(1, 5, BasicProperties(content_type='text/plain', delivery_mode=2,
    //   headers={'a': 1, 'b': 'x'}, timestamp=1700000000, priority=5)).marshal()
    const std::string want = unhex(
        "02000100000036003c00000000000000000005b8400a746578742f706c61696e0000000f016149000000010162"
        "5300000001780205000000006553f100ce");
    core::basic_properties p;
    p.content_type = "text/plain";
    p.delivery_mode = 2;
    p.headers = core::field_table{{"a", field_value{int32_t(1)}}, {"b", field_value{"x"}}};
    p.timestamp = 1700000000;
    p.priority = 5;
    std::string raw;
    encode_properties(raw, p);
    std::string out;
    append_content_header_frame(out, 1, 5, raw);
    EXPECT_EQ(hex(out), hex(want));

    auto f = parse_frame(want, 4096);
    ASSERT_EQ(f.k, parse_result::ok);
    auto h = decode_content_header(f.frame.payload);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->class_id, 60);
    EXPECT_EQ(h->body_size, 5u);
    EXPECT_EQ(h->props, p);
    EXPECT_EQ(h->props_raw, raw);

    auto lazy = decode_content_header(f.frame.payload, false);
    ASSERT_TRUE(lazy.ok());
    EXPECT_EQ(lazy->props, core::basic_properties{});
    EXPECT_EQ(lazy->props_raw, raw);
}

TEST(Content, MalformedHeadersFail) {
    std::string raw;
    encode_properties(raw, all_properties());
    std::string payload = unhex("003c0000") + unhex("0000000000000010") + raw;
    for (size_t n = 0; n < payload.size(); ++n) {
        std::string cut = payload.substr(0, n);
        auto full = decode_content_header(cut);
        auto lazy = decode_content_header(cut, false);
        EXPECT_FALSE(full.ok()) << n;
        EXPECT_FALSE(lazy.ok()) << n;
        if (!full.ok()) {
            EXPECT_EQ(full.error().code, core::reply_code::frame_error);
        }
    }
    EXPECT_FALSE(decode_content_header(payload + "x").ok());  // trailing byte
    std::string cont = payload;
    cont[13] |= 1;  // continuation flag: basic has no second flag word
    EXPECT_FALSE(decode_content_header(cont).ok());
}

TEST(Content, PropertyMutationsNeverCrash) {
    std::string raw;
    encode_properties(raw, all_properties());
    test::rng r;
    for (int i = 0; i < 20000; ++i) {
        std::string m = raw;
        for (int e = 0; e < 3; ++e) m[r.below(m.size())] ^= static_cast<char>(r.next());
        m.resize(r.below(m.size() + 1));
        auto full = decode_properties(m);
        auto lazy = decode_content_header(unhex("003c00000000000000000000") + m, false);
        EXPECT_EQ(full.ok(), lazy.ok());
        if (full.ok()) {
            std::string again;
            encode_properties(again, *full);
            auto twice = decode_properties(again);
            ASSERT_TRUE(twice.ok());
            EXPECT_EQ(*twice, *full);
        }
    }
}

struct delivery_parts {
    method m;
    content_header h;
    std::string body;
    size_t body_frames = 0;
};

delivery_parts parse_delivery(const std::string& wire, uint32_t frame_max) {
    delivery_parts d;
    auto fs = frames_of(wire, 0);
    EXPECT_GE(fs.size(), 2u);
    if (fs.size() < 2) return d;
    EXPECT_EQ(fs[0].type, frame_type::method);
    auto m = decode_method(fs[0].payload);
    EXPECT_TRUE(m.ok());
    if (m.ok()) d.m = *m;
    EXPECT_EQ(fs[1].type, frame_type::header);
    auto h = decode_content_header(fs[1].payload);
    EXPECT_TRUE(h.ok());
    if (h.ok()) d.h = *h;
    for (size_t i = 2; i < fs.size(); ++i) {
        EXPECT_EQ(fs[i].type, frame_type::body);
        EXPECT_EQ(fs[i].channel, fs[0].channel);
        if (frame_max) {
            EXPECT_LE(fs[i].payload.size() + frame_overhead, frame_max);
        }
        d.body += fs[i].payload;
        ++d.body_frames;
    }
    return d;
}

TEST(Content, DeliverSplitsBodyAtFrameMax) {
    std::string raw;
    encode_properties(raw, all_properties());
    std::string body(10000, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
    struct tc {
        uint32_t frame_max;
        size_t body_len;
        size_t frames;
    };
    for (auto c : {tc{4096, 10000, 3}, tc{4096, 4088, 1}, tc{4096, 4089, 2}, tc{0, 10000, 1},
                   tc{131072, 0, 0}, tc{9, 5, 5}}) {
        std::string_view b = std::string_view(body).substr(0, c.body_len);
        std::string out = "x";  // appends after existing bytes
        append_deliver(out, 3, "ctag", 42, true, "ex", "rk", raw, b, c.frame_max);
        ASSERT_EQ(out[0], 'x');
        auto d = parse_delivery(out.substr(1), c.frame_max);
        EXPECT_EQ(d.body_frames, c.frames) << c.frame_max << "/" << c.body_len;
        EXPECT_EQ(d.body, b);
        EXPECT_EQ(d.h.body_size, c.body_len);
        EXPECT_EQ(d.h.props, all_properties());
        EXPECT_EQ(std::get<basic_deliver>(d.m), (basic_deliver{"ctag", 42, true, "ex", "rk"}));
    }
}

TEST(Content, DeliverEqualsGenericEncoding) {
    std::string fast, slow;
    append_deliver(fast, 1, "tag", 5, false, "", "q", empty_properties, "hi", 4096);
    append_method_frame(slow, 1, basic_deliver{"tag", 5, false, "", "q"});
    append_content_header_frame(slow, 1, 2, empty_properties);
    append_body_frames(slow, 1, "hi", 4096);
    EXPECT_EQ(hex(fast), hex(slow));
}

TEST(Content, GetOkAndReturn) {
    std::string out;
    append_get_ok(out, 2, 9, false, "amq.direct", "k", 17, empty_properties, "body", 4096);
    auto d = parse_delivery(out, 4096);
    EXPECT_EQ(std::get<basic_get_ok>(d.m), (basic_get_ok{9, false, "amq.direct", "k", 17}));
    EXPECT_EQ(d.body, "body");

    out.clear();
    append_return(out, 2, 312, "NO_ROUTE", "ex", "nowhere", empty_properties, "b", 4096);
    d = parse_delivery(out, 4096);
    EXPECT_EQ(std::get<basic_return>(d.m), (basic_return{312, "NO_ROUTE", "ex", "nowhere"}));
    EXPECT_EQ(d.body, "b");

    std::string slow;
    append_method_frame(slow, 2, basic_return{312, "NO_ROUTE", "ex", "nowhere"});
    append_content_header_frame(slow, 2, 1, empty_properties);
    append_body_frames(slow, 2, "b", 4096);
    EXPECT_EQ(hex(out), hex(slow));
}

TEST(Content, DecodePublishMatchesGenericDecoder) {
    for (auto p :
         {basic_publish{0, "", "hello", true, false}, basic_publish{7, "ex", "", false, true},
          basic_publish{0, std::string(255, 'e'), std::string(255, 'r'), true, true}}) {
        std::string wire;
        encode_method(wire, p);
        publish_view v;
        ASSERT_TRUE(decode_publish(wire, v));
        EXPECT_EQ(v.ticket, p.ticket);
        EXPECT_EQ(v.exchange, p.exchange);
        EXPECT_EQ(v.routing_key, p.routing_key);
        EXPECT_EQ(v.mandatory, p.mandatory);
        EXPECT_EQ(v.immediate, p.immediate);
        for (size_t n = 0; n < wire.size(); ++n) {
            std::string cut = wire.substr(0, n);
            EXPECT_FALSE(decode_publish(cut, v)) << n;
        }
        EXPECT_FALSE(decode_publish(wire + "x", v));
    }
    std::string ack;
    encode_method(ack, basic_ack{1, false});
    publish_view v;
    EXPECT_FALSE(decode_publish(ack, v));
}

}  // namespace
}  // namespace warren::amqp

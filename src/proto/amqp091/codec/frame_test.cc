#include "proto/amqp091/codec/frame.h"

#include <gtest/gtest.h>

#include <vector>

#include "proto/amqp091/codec/test_util.h"

namespace warren::amqp {
namespace {

using test::hex;
using test::unhex;

struct parsed {
    frame_type type;
    uint16_t channel;
    std::string payload;
    bool operator==(const parsed&) const = default;
};

// Parses every complete frame at the front of `buf`, removing them from it.
std::vector<parsed> drain(std::string& buf, uint32_t frame_max) {
    std::vector<parsed> out;
    std::string_view v = buf;
    for (;;) {
        auto r = parse_frame(v, frame_max);
        if (r.k != parse_result::ok) {
            EXPECT_EQ(r.k, parse_result::need_more) << r.err.text;
            break;
        }
        out.push_back({r.frame.type, r.frame.channel, std::string(r.frame.payload)});
        v.remove_prefix(r.consumed);
    }
    buf.erase(0, buf.size() - v.size());
    return out;
}

TEST(Frame, HeartbeatBytes) {
    std::string out;
    append_heartbeat(out);
    EXPECT_EQ(hex(out), "08000000000000ce");
    auto r = parse_frame(out, 4096);
    ASSERT_EQ(r.k, parse_result::ok);
    EXPECT_EQ(r.frame.type, frame_type::heartbeat);
    EXPECT_EQ(r.frame.channel, 0);
    EXPECT_TRUE(r.frame.payload.empty());
    EXPECT_EQ(r.consumed, 8u);
}

TEST(Frame, AppendAndParse) {
    std::string out;
    append_frame(out, frame_type::body, 0x1234, "hello");
    EXPECT_EQ(hex(out), "03123400000005" + hex("hello") + "ce");
    auto r = parse_frame(out, 0);
    ASSERT_EQ(r.k, parse_result::ok);
    EXPECT_EQ(r.frame.type, frame_type::body);
    EXPECT_EQ(r.frame.channel, 0x1234);
    EXPECT_EQ(r.frame.payload, "hello");
    EXPECT_EQ(r.consumed, out.size());
}

TEST(Frame, BeginEndFrame) {
    std::string out = "prefix";
    size_t start = begin_frame(out, frame_type::method, 7);
    out += "abc";
    end_frame(out, start);
    EXPECT_EQ(out.substr(6), unhex("01000700000003") + "abc" + "\xce");
}

TEST(Frame, ProtocolHeader) {
    EXPECT_EQ(protocol_header.size(), 8u);
    EXPECT_EQ(hex(protocol_header), "414d515000000901");
}

TEST(Frame, IncompleteNeedsMore) {
    std::string f;
    append_frame(f, frame_type::method, 1, std::string(100, 'x'));
    for (size_t n = 0; n < f.size(); ++n) {
        std::string cut = f.substr(0, n);
        auto r = parse_frame(cut, 4096);
        EXPECT_EQ(r.k, parse_result::need_more) << n;
    }
}

TEST(Frame, BadFrameEndIsFrameError) {
    std::string f;
    append_frame(f, frame_type::method, 1, "abc");
    f.back() = 'X';
    auto r = parse_frame(f, 4096);
    ASSERT_EQ(r.k, parse_result::error);
    EXPECT_EQ(r.err.code, core::reply_code::frame_error);
    EXPECT_EQ(r.err.text.find("FRAME_ERROR"), std::string::npos);  // reply_text adds the name
    EXPECT_NE(r.err.text.find("invalid_frame_end_marker"), std::string::npos);
}

TEST(Frame, UnknownTypeIsFrameError) {
    for (uint8_t t : {0, 4, 5, 7, 9, 65, 255}) {
        std::string f;
        append_frame(f, frame_type::body, 1, "abc");
        f[0] = static_cast<char>(t);
        auto r = parse_frame(f, 4096);
        ASSERT_EQ(r.k, parse_result::error) << int(t);
        EXPECT_EQ(r.err.code, core::reply_code::frame_error);
        // Reported from the header alone.
        auto h = parse_frame(std::string_view(f).substr(0, 7), 4096);
        EXPECT_EQ(h.k, parse_result::error);
    }
}

TEST(Frame, OversizedIsFrameErrorFromHeaderAlone) {
    // A 1 GiB claim is rejected without waiting for the payload.
    std::string h = unhex("01000140000000");
    auto r = parse_frame(h, 131072);
    ASSERT_EQ(r.k, parse_result::error);
    EXPECT_EQ(r.err.code, core::reply_code::frame_error);
    EXPECT_NE(r.err.text.find("frame_too_large"), std::string::npos);
}

TEST(Frame, FrameMaxBoundary) {
    // RabbitMQ's slack: a payload of up to frame_max octets passes, one more fails.
    std::string ok, big;
    append_frame(ok, frame_type::body, 1, std::string(4096, 'x'));
    append_frame(big, frame_type::body, 1, std::string(4097, 'x'));
    EXPECT_EQ(parse_frame(ok, 4096).k, parse_result::ok);
    EXPECT_EQ(parse_frame(big, 4096).k, parse_result::error);
    EXPECT_EQ(parse_frame(big, 0).k, parse_result::ok);  // 0 = no limit
}

TEST(Frame, MultiFrameBufferSplitAtEveryOffset) {
    std::string all;
    append_frame(all, frame_type::method, 1, "method-payload");
    append_heartbeat(all);
    append_frame(all, frame_type::header, 1, std::string(14, '\0'));
    append_frame(all, frame_type::body, 1, "");
    append_frame(all, frame_type::body, 65535, std::string(300, 'b'));
    std::string whole = all;
    auto expected = drain(whole, 4096);
    ASSERT_EQ(expected.size(), 5u);
    ASSERT_TRUE(whole.empty());
    for (size_t split = 0; split <= all.size(); ++split) {
        std::string buf = all.substr(0, split);
        auto got = drain(buf, 4096);
        buf += all.substr(split);
        auto rest = drain(buf, 4096);
        got.insert(got.end(), rest.begin(), rest.end());
        EXPECT_EQ(got, expected) << "split at " << split;
        EXPECT_TRUE(buf.empty());
    }
    // And one byte at a time.
    std::string buf;
    std::vector<parsed> got;
    for (char c : all) {
        buf.push_back(c);
        auto g = drain(buf, 4096);
        got.insert(got.end(), g.begin(), g.end());
    }
    EXPECT_EQ(got, expected);
}

TEST(Frame, RandomBytesNeverCrash) {
    test::rng r;
    for (int i = 0; i < 50000; ++i) {
        std::string b(r.below(40), '\0');
        for (auto& c : b) c = static_cast<char>(r.next());
        if (!b.empty() && r.below(2)) b[0] = static_cast<char>(1 + r.below(3));
        if (b.size() > 6 && r.below(2)) {
            b[3] = b[4] = b[5] = 0;
            b[6] = char(r.below(40));
        }
        auto res = parse_frame(b, static_cast<uint32_t>(r.below(2) ? 4096 : 0));
        if (res.k == parse_result::ok) {
            EXPECT_LE(res.consumed, b.size());
            EXPECT_EQ(res.consumed, res.frame.payload.size() + 8);
        }
    }
}

}  // namespace
}  // namespace warren::amqp

#include "store/log_format.h"

#include <gtest/gtest.h>

#include "store/crc32c.h"
#include "store/message_codec.h"

namespace warren::store {
namespace {

namespace lf = log_format;

TEST(LogFormat, HeaderRoundTrip) {
    std::string h = lf::encode_header(42);
    ASSERT_EQ(h.size(), lf::header_size);
    EXPECT_EQ(h.substr(0, 6), "WRNSEG");
    auto info = lf::parse_header(h);
    EXPECT_EQ(info.status, lf::header_status::ok);
    EXPECT_EQ(info.segment, 42u);
    EXPECT_EQ(info.version, lf::format_version);
}

TEST(LogFormat, HeaderTooShortBadMagicBadChecksum) {
    std::string h = lf::encode_header(1);
    EXPECT_EQ(lf::parse_header(h.substr(0, 31)).status, lf::header_status::too_short);
    std::string m = h;
    m[0] = 'X';
    EXPECT_EQ(lf::parse_header(m).status, lf::header_status::bad_magic);
    std::string c = h;
    c[9] ^= 1;
    EXPECT_EQ(lf::parse_header(c).status, lf::header_status::bad_checksum);
}

TEST(LogFormat, HeaderFromNewerVersionIsRecognised) {
    std::string h = lf::encode_header(3);
    h[6] = 2;
    h.resize(28);
    lf::put_u32(h, crc32c::mask(crc32c::value(h.data(), 28)));
    auto info = lf::parse_header(h);
    EXPECT_EQ(info.status, lf::header_status::unknown_version);
    EXPECT_EQ(info.version, 2);
}

TEST(LogFormat, RecordsRoundTrip) {
    std::string buf;
    std::vector<uint64_t> qs = {7, 9};
    lf::append_message(buf, 1234, qs, "payload bytes");
    std::vector<uint64_t> ids = {1, 2, 3};
    lf::append_ack(buf, 7, ids);
    lf::append_queue_deleted(buf, 9);
    EXPECT_EQ(buf.size(), lf::message_record_size(2, 13) + lf::ack_record_size(3) +
                              lf::queue_deleted_record_size);

    lf::record r;
    std::string_view v = buf;
    ASSERT_EQ(lf::parse_record(v, r), lf::parse_status::ok);
    EXPECT_EQ(r.type, lf::record_type::message);
    EXPECT_EQ(r.message_id, 1234u);
    EXPECT_EQ(r.ids, qs);
    EXPECT_EQ(r.data, "payload bytes");
    v.remove_prefix(r.size);
    ASSERT_EQ(lf::parse_record(v, r), lf::parse_status::ok);
    EXPECT_EQ(r.type, lf::record_type::ack);
    EXPECT_EQ(r.queue_id, 7u);
    EXPECT_EQ(r.ids, ids);
    v.remove_prefix(r.size);
    ASSERT_EQ(lf::parse_record(v, r), lf::parse_status::ok);
    EXPECT_EQ(r.type, lf::record_type::queue_deleted);
    EXPECT_EQ(r.queue_id, 9u);
    EXPECT_EQ(r.size, v.size());
}

// Regression (fuzz/segment_recovery_fuzz.cc): a message record naming a queue twice.
TEST(LogFormat, RepeatedQueueIdInMessageRecordIsReadOnce) {
    std::string out;
    std::vector<uint64_t> queues = {3, 4, 3, 4, 5};
    lf::append_message(out, 1, queues, "data");
    lf::record r;
    ASSERT_EQ(lf::parse_record(out, r), lf::parse_status::ok);
    EXPECT_EQ(r.ids, (std::vector<uint64_t>{3, 4, 5}));
    EXPECT_EQ(r.data, "data");
    std::vector<uint64_t> many;
    for (uint64_t i = 0; i < 100; ++i) many.push_back(i % 40);
    std::string big;
    lf::append_message(big, 2, many, "x");
    ASSERT_EQ(lf::parse_record(big, r), lf::parse_status::ok);
    ASSERT_EQ(r.ids.size(), 40u);
    for (uint64_t i = 0; i < 40; ++i) EXPECT_EQ(r.ids[i], i);
}

TEST(LogFormat, EveryTruncationIsDetected) {
    std::string buf;
    std::vector<uint64_t> qs = {1};
    lf::append_message(buf, 5, qs, "abcdefgh");
    lf::record r;
    for (size_t n = 0; n < buf.size(); ++n)
        EXPECT_EQ(lf::parse_record(std::string_view(buf).substr(0, n), r),
                  lf::parse_status::truncated)
            << n;
}

TEST(LogFormat, EveryBitFlipIsDetected) {
    std::string buf;
    std::vector<uint64_t> qs = {1, 2};
    lf::append_message(buf, 5, qs, "some message body");
    lf::record r;
    for (size_t byte = 0; byte < buf.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string b = buf;
            b[byte] = static_cast<char>(b[byte] ^ (1 << bit));
            EXPECT_NE(lf::parse_record(b, r), lf::parse_status::ok) << byte << ":" << bit;
        }
    }
}

TEST(LogFormat, GarbageLengthIsRejected) {
    std::string buf(9, '\0');
    for (int i = 4; i < 8; ++i) buf[i] = '\xff';
    buf[8] = 1;
    lf::record r;
    EXPECT_EQ(lf::parse_record(buf, r), lf::parse_status::bad_length);
}

TEST(LogFormat, ZerosAreNotARecord) {
    std::string zeros(64, '\0');
    lf::record r;
    EXPECT_EQ(lf::parse_record(zeros, r), lf::parse_status::bad_checksum);
}

TEST(MessageCodec, RoundTrip) {
    std::string body(1000, 'b');
    auto bytes = encode_message({"amq.topic", "a.b.c", std::string("\x90\x00\x02", 3), body});
    auto m = decode_message(bytes);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->exchange, "amq.topic");
    EXPECT_EQ(m->routing_key, "a.b.c");
    EXPECT_EQ(m->properties, std::string("\x90\x00\x02", 3));
    EXPECT_EQ(m->body, body);
}

TEST(MessageCodec, PublishTimeRoundTripsAndVersionOneStillDecodes) {
    message_fields in{"x", "k", "p", "body"};
    in.published_ms = 1795575000123;
    auto m = decode_message(encode_message(in));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->published_ms, 1795575000123u);
    // Version 1 (no publish time), as the first release wrote it.
    std::string v1("\x01\x01\x00x\x01\x00k\x01\x00\x00\x00pbody", 16);
    auto old = decode_message(v1);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->published_ms, 0u);
    EXPECT_EQ(old->exchange, "x");
    EXPECT_EQ(old->routing_key, "k");
    EXPECT_EQ(old->properties, "p");
    EXPECT_EQ(old->body, "body");
}

TEST(MessageCodec, EmptyFieldsRoundTrip) {
    auto bytes = encode_message({"", "", "", ""});
    auto m = decode_message(bytes);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->exchange.empty() && m->routing_key.empty() && m->properties.empty() &&
                m->body.empty());
}

TEST(MessageCodec, TruncatedOrUnknownVersionIsAnError) {
    auto bytes = encode_message({"x", "key", "props", "body"});
    // Every cut inside the fixed fields fails; cuts inside the body just shorten the body.
    size_t fixed = bytes.size() - 4;
    for (size_t n = 0; n < fixed; ++n) EXPECT_FALSE(decode_message(bytes.substr(0, n))) << n;
    bytes[0] = 9;
    auto m = decode_message(bytes);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, errc::unsupported_version);
}

}  // namespace
}  // namespace warren::store

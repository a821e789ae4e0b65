// properties_codec: the stored / props_raw form of message properties. The byte vector is pika
// 1.2's content-header property list, so this layout stays the one AMQP clients send (the AMQP
// codec's content_test.cc checks the same bytes against its own copy).

#include "core/properties_codec.h"

#include <gtest/gtest.h>

#include <random>

namespace warren::core {
namespace {

std::string unhex(std::string_view h) {
    std::string out;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

basic_properties all_properties() {
    basic_properties p;
    p.content_type = "application/json";
    p.content_encoding = "gzip";
    p.headers = field_table{{"x-death", field_value::array({field_value{"q"}})},
                            {"n", field_value{int64_t(-1)}},
                            {"t", field_value::table({{"f", field_value{1.5}}})}};
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

TEST(properties_codec, bytes_match_what_an_amqp_client_sends) {
    // pika 1.2: BasicProperties(content_type='text/plain', delivery_mode=2,
    //   headers={'a': 1, 'b': 'x'}, timestamp=1700000000, priority=5)
    const std::string want = unhex(
        "b8400a746578742f706c61696e0000000f0161490000000101625300000001780205000000006553f100");
    basic_properties p;
    p.content_type = "text/plain";
    p.delivery_mode = 2;
    p.headers = field_table{{"a", field_value{int32_t(1)}}, {"b", field_value{"x"}}};
    p.timestamp = 1700000000;
    p.priority = 5;
    std::string raw;
    encode_properties(raw, p);
    EXPECT_EQ(raw, want);
    auto back = decode_properties(want);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, p);
}

TEST(properties_codec, every_property_round_trips) {
    std::string raw;
    encode_properties(raw, all_properties());
    EXPECT_EQ(static_cast<uint8_t>(raw[0]), 0xff);
    EXPECT_EQ(static_cast<uint8_t>(raw[1]), 0xfc);
    auto back = decode_properties(raw);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all_properties());
    raw.clear();
    encode_properties(raw, {});
    EXPECT_EQ(raw, std::string("\0\0", 2));
}

TEST(properties_codec, truncated_or_trailing_bytes_are_rejected) {
    std::string raw;
    encode_properties(raw, all_properties());
    for (size_t n = 0; n < raw.size(); ++n) EXPECT_FALSE(decode_properties(raw.substr(0, n))) << n;
    EXPECT_FALSE(decode_properties(raw + "x"));
    std::string cont = raw;
    cont[1] |= 1;  // a continuation flag word: never valid for these properties
    EXPECT_FALSE(decode_properties(cont));
}

TEST(properties_codec, mutated_bytes_never_crash_and_reencode_stably) {
    std::string raw;
    encode_properties(raw, all_properties());
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        std::string m = raw;
        for (int e = 0; e < 3; ++e) m[rng() % m.size()] ^= static_cast<char>(rng());
        m.resize(rng() % (m.size() + 1));
        auto p = decode_properties(m);
        if (!p) continue;
        std::string again;
        encode_properties(again, *p);
        auto twice = decode_properties(again);
        ASSERT_TRUE(twice);
        EXPECT_EQ(*twice, *p);
    }
}

}  // namespace
}  // namespace warren::core

#include "proto/amqp091/codec/methods.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "proto/amqp091/codec/test_util.h"

#include "proto/amqp091/codec/method_samples.inc"

namespace warren::amqp {
namespace {

using core::field_value;
using test::hex;
using test::unhex;

// Every alternative of the variant, default-constructed.
template <size_t... I>
std::vector<method> default_methods(std::index_sequence<I...>) {
    return {method{std::in_place_index<I>}...};
}
std::vector<method> default_methods() {
    return default_methods(std::make_index_sequence<std::variant_size_v<method>>{});
}

std::string encoded(const method& m) {
    std::string out;
    encode_method(out, m);
    return out;
}

TEST(Methods, SamplesCoverEveryMethod) {
    auto v = filled_methods();
    ASSERT_EQ(v.size(), std::variant_size_v<method>);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i].index(), i);
    std::set<std::pair<uint16_t, uint16_t>> ids;
    for (auto& m : v) ids.insert({method_class_id(m), method_method_id(m)});
    EXPECT_EQ(ids.size(), v.size());  // class/method ids are unique
}

TEST(Methods, EveryMethodRoundTrips) {
    auto filled = filled_methods();
    auto defaults = default_methods();
    for (auto* set : {&filled, &defaults}) {
        for (const method& m : *set) {
            std::string wire = encoded(m);
            auto back = decode_method(wire);
            ASSERT_TRUE(back.ok()) << method_name(m) << ": " << back.error().text;
            EXPECT_EQ(*back, m) << method_name(m);
            EXPECT_EQ(encoded(*back), wire) << method_name(m);
            uint16_t c = 0, i = 0;
            ASSERT_TRUE(peek_method_ids(wire, c, i));
            EXPECT_EQ(c, method_class_id(m));
            EXPECT_EQ(i, method_method_id(m));
            EXPECT_EQ(method_name(c, i), method_name(m));
            EXPECT_EQ(has_content(c, i), has_content(m));
        }
    }
}

TEST(Methods, EveryTruncationAndTrailingByteFails) {
    for (const method& m : filled_methods()) {
        std::string wire = encoded(m);
        for (size_t n = 0; n < wire.size(); ++n) {
            std::string cut = wire.substr(0, n);
            auto r = decode_method(cut);
            ASSERT_FALSE(r.ok()) << method_name(m) << " prefix " << n;
            EXPECT_EQ(r.error().code, core::reply_code::frame_error) << method_name(m);
        }
        auto r = decode_method(wire + "x");
        ASSERT_FALSE(r.ok()) << method_name(m);
        EXPECT_EQ(r.error().code, core::reply_code::frame_error);
    }
}

TEST(Methods, UnknownMethodIsNotImplemented) {
    for (auto ids : {"003c03e7", "00630001", "000a0000", "005a0028"}) {
        auto r = decode_method(unhex(ids));
        ASSERT_FALSE(r.ok()) << ids;
        EXPECT_EQ(r.error().code, core::reply_code::not_implemented) << ids;
        EXPECT_EQ(r.error().text.rfind("unknown method class_id=", 0), 0u) << r.error().text;
    }
    EXPECT_TRUE(method_name(60, 999).empty());
}

TEST(Methods, Names) {
    EXPECT_EQ(method_name(method{basic_publish{}}), "basic.publish");
    EXPECT_EQ(method_name(method{basic_get_empty{}}), "basic.get-empty");
    EXPECT_EQ(method_name(method{connection_update_secret_ok{}}), "connection.update-secret-ok");
    EXPECT_EQ(method_name(method{confirm_select{}}), "confirm.select");
    EXPECT_EQ(basic_nack::class_id, 60);
    EXPECT_EQ(basic_nack::method_id, 120);
    EXPECT_EQ(exchange_unbind_ok::method_id, 51);
    EXPECT_EQ(connection_blocked::method_id, 60);
}

TEST(Methods, ContentCarriers) {
    std::set<std::string_view> with;
    for (auto& m : default_methods())
        if (has_content(m)) with.insert(method_name(m));
    EXPECT_EQ(with, (std::set<std::string_view>{"basic.publish", "basic.return", "basic.deliver",
                                                "basic.get-ok"}));
}

TEST(Methods, SpecDefaults) {
    EXPECT_EQ(connection_start{}.version_minor, 9);
    EXPECT_TRUE(basic_reject{}.requeue);
    EXPECT_TRUE(basic_nack{}.requeue);
}

// Reference bytes produced by pika 1.2 (pika.frame.Method(...).marshal()).
TEST(Methods, ConnectionStartAsRabbitSendsIt) {
    connection_start m;
    m.server_properties = {
        {"product", field_value{"RabbitMQ"}},
        {"capabilities", field_value::table({{"publisher_confirms", field_value{true}}})}};
    m.mechanisms = "PLAIN AMQPLAIN";
    m.locales = "en_US";
    std::string out;
    append_method_frame(out, 0, m);
    const char* want =
        "01000000000061000a000a00090000003c0770726f6475637453000000085261626269744d510c63617061"
        "62696c69746965734600000015127075626c69736865725f636f6e6669726d7374010000000e504c41494e"
        "20414d51504c41494e00000005656e5f5553ce";
    EXPECT_EQ(hex(out), want);
    auto f = parse_frame(out, 4096);
    ASSERT_EQ(f.k, parse_result::ok);
    auto back = decode_method(f.frame.payload);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(std::get<connection_start>(*back), m);
}

TEST(Methods, BasicPublishBytes) {
    std::string out;
    append_method_frame(out, 1, basic_publish{0, "", "hello", true, false});
    EXPECT_EQ(hex(out), "0100010000000e003c00280000000568656c6c6f01ce");
}

TEST(Methods, QueueDeclareBitsPack) {
    queue_declare q;
    q.queue = "q";
    q.durable = true;
    q.auto_delete = true;
    q.arguments = {{"x-max-length", field_value{int32_t(10)}}};
    std::string out;
    append_method_frame(out, 1, q);
    EXPECT_EQ(hex(out),
              "0100010000001f0032000a000001710a000000120c782d6d61782d6c656e677468490000000ace");
}

TEST(Methods, NackAndCloseBytes) {
    std::string out;
    append_method_frame(out, 2, basic_nack{7, false, true});
    EXPECT_EQ(hex(out), "0100020000000d003c0078000000000000000702ce");
    out.clear();
    append_method_frame(out, 0, method{connection_close{320, "CONNECTION_FORCED - bye", 0, 0}});
    EXPECT_EQ(hex(out),
              "01000000000022000a0032014017434f4e4e454354494f4e5f464f52434544202d2062796500000000"
              "ce");
}

TEST(Methods, BadTableInsideMethodIsFrameError) {
    // queue.declare whose arguments table has an unknown tag 'Z'.
    std::string wire = unhex("0032000a0000017100") + unhex("00000004") +
                       "\x01"
                       "k"
                       "Z"
                       "\x00";
    auto r = decode_method(wire);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, core::reply_code::frame_error);
}

TEST(Methods, RandomMutationsNeverCrash) {
    auto samples = filled_methods();
    test::rng r;
    for (int i = 0; i < 30000; ++i) {
        std::string m = encoded(samples[r.below(samples.size())]);
        int edits = static_cast<int>(r.below(4));
        for (int e = 0; e < edits; ++e) m[4 + r.below(m.size() - 4)] ^= static_cast<char>(r.next());
        if (r.below(3) == 0) m.resize(r.below(m.size() + 1));
        auto res = decode_method(m);
        if (res.ok()) {
            // Unused bits in a bit octet are ignored (as RabbitMQ does), so the bytes may differ,
            // but whatever was accepted must re-encode to something that decodes to it.
            auto again = decode_method(encoded(*res));
            ASSERT_TRUE(again.ok());
            EXPECT_EQ(*again, *res);
        }
    }
}

}  // namespace
}  // namespace warren::amqp

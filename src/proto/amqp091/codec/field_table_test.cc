#include "proto/amqp091/codec/field_table.h"

#include <gtest/gtest.h>

#include <limits>

#include "proto/amqp091/codec/test_util.h"

namespace warren::amqp {
namespace {

using core::field_array;
using core::field_table;
using core::field_value;
using test::hex;
using test::unhex;

field_table every_tag_table() {
    field_table t;
    t.emplace_back("bool", field_value{true});
    t.emplace_back("i8", field_value{int8_t(-5)});
    t.emplace_back("u8", field_value{uint8_t(250)});
    t.emplace_back("i16", field_value{int16_t(-30000)});
    t.emplace_back("u16", field_value{uint16_t(65000)});
    t.emplace_back("i32", field_value{int32_t(-2000000000)});
    t.emplace_back("u32", field_value{uint32_t(4000000000u)});
    t.emplace_back("i64", field_value{std::numeric_limits<int64_t>::min()});
    t.emplace_back("f", field_value{1.5f});
    t.emplace_back("d", field_value{-2.25});
    t.emplace_back("dec", field_value{core::decimal_value{2, 12345}});
    t.emplace_back("str", field_value{std::string("hello\0world", 11)});
    t.emplace_back("bytes", field_value{core::bytes_value{std::string("\x00\xff\x01", 3)}});
    t.emplace_back("ts", field_value{core::timestamp_value{1700000000}});
    t.emplace_back("void", field_value{core::void_value{}});
    t.emplace_back("arr", field_value::array({field_value{int32_t(1)}, field_value{"two"},
                                              field_value::array({}),
                                              field_value::table({{"k", field_value{false}}})}));
    t.emplace_back("tbl", field_value::table({{"nested", field_value{uint8_t(1)}}}));
    t.emplace_back("", field_value{"empty key"});
    return t;
}

TEST(FieldTable, EveryTagRoundTrips) {
    field_table t = every_tag_table();
    std::string wire;
    encode_table(wire, t);
    std::string_view in = wire;
    field_table back;
    ASSERT_TRUE(decode_table(in, back));
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(back, t);
    // Every tag is present once at the top level or in the array.
    std::string tags;
    for (auto& [k, v] : t) tags.push_back(field_tag(v));
    EXPECT_EQ(tags, "tbBsuIilfdDSxTVAFS");
}

TEST(FieldTable, KnownBytesMatchPika) {
    // pika 1.2 encodes {'a': 1, 'b': 'x'} as a, I 1; b, S "x".
    field_table t{{"a", field_value{int32_t(1)}}, {"b", field_value{"x"}}};
    std::string wire;
    encode_table(wire, t);
    EXPECT_EQ(hex(wire),
              "0000000f0161490000000101625300000001"
              "78");
}

TEST(FieldTable, EmptyTable) {
    std::string wire;
    encode_table(wire, {});
    EXPECT_EQ(wire, std::string(4, '\0'));
    std::string_view in = wire;
    field_table t{{"x", field_value{true}}};
    ASSERT_TRUE(decode_table(in, t));
    EXPECT_TRUE(t.empty());
}

TEST(FieldTable, ArrayRoundTrips) {
    field_array a{field_value{int64_t(7)}, field_value{"s"}, field_value{core::void_value{}}};
    std::string wire;
    encode_array(wire, a);
    std::string_view in = wire;
    field_array back;
    ASSERT_TRUE(decode_array(in, back));
    EXPECT_EQ(back, a);
}

TEST(FieldTable, SingleValueRoundTrips) {
    for (auto& [k, v] : every_tag_table()) {
        std::string wire;
        encode_field_value(wire, v);
        std::string_view in = wire;
        field_value back;
        ASSERT_TRUE(decode_field_value(in, back)) << k;
        EXPECT_TRUE(in.empty());
        EXPECT_EQ(back, v) << k;
    }
}

TEST(FieldTable, DecodeLeavesFollowingBytes) {
    std::string wire;
    encode_table(wire, {{"k", field_value{"v"}}});
    wire += "tail";
    std::string_view in = wire;
    field_table t;
    ASSERT_TRUE(decode_table(in, t));
    EXPECT_EQ(in, "tail");
}

TEST(FieldTable, TruncatedAtEveryOffsetFails) {
    std::string wire;
    encode_table(wire, every_tag_table());
    for (size_t n = 0; n < wire.size(); ++n) {
        std::string cut = wire.substr(0, n);  // own buffer so ASan sees over-reads
        std::string_view in = cut;
        field_table t;
        EXPECT_FALSE(decode_table(in, t)) << "prefix " << n;
        in = cut;
        EXPECT_FALSE(skip_table(in)) << "prefix " << n;
    }
}

TEST(FieldTable, TableLengthPastEndFails) {
    std::string wire = unhex("000000ff") +
                       "\x01"
                       "a"
                       "t\x01";
    std::string_view in = wire;
    field_table t;
    EXPECT_FALSE(decode_table(in, t));
}

TEST(FieldTable, InnerLengthPastTableEndFails) {
    // The table says 8 bytes; the inner long string claims 100 (the bytes exist after the table,
    // but a value must not run past its table).
    std::string wire = unhex("00000008") +
                       "\x01"
                       "k"
                       "S" +
                       unhex("00000064") + std::string(100, 'x');
    std::string_view in = wire;
    field_table t;
    EXPECT_FALSE(decode_table(in, t));
    in = wire;
    EXPECT_FALSE(skip_table(in));
}

TEST(FieldTable, UnknownTagFails) {
    for (char tag : std::string("LcCUe\x00Z", 7)) {
        std::string wire = unhex("00000004") +
                           "\x01"
                           "k" +
                           std::string(1, tag) + "\x00";
        std::string_view in = wire;
        field_table t;
        EXPECT_FALSE(decode_table(in, t)) << int(tag);
        in = wire;
        EXPECT_FALSE(skip_table(in)) << int(tag);
    }
}

// `depth` tables, each holding the next under key "n".
std::string nested_tables(int depth) {
    std::string inner(4, '\0');
    for (int i = 0; i < depth; ++i) {
        uint32_t len = static_cast<uint32_t>(3 + inner.size());
        std::string outer{char(len >> 24), char(len >> 16), char(len >> 8), char(len)};
        outer +=
            "\x01"
            "n"
            "F";
        outer += inner;
        inner = std::move(outer);
    }
    return inner;
}

TEST(FieldTable, DeepNestingIsBounded) {
    {
        std::string wire = nested_tables(max_field_depth);
        std::string_view in = wire;
        field_table t;
        EXPECT_TRUE(decode_table(in, t));
        in = wire;
        EXPECT_TRUE(skip_table(in));
    }
    {
        std::string wire = nested_tables(max_field_depth + 1);
        std::string_view in = wire;
        field_table t;
        EXPECT_FALSE(decode_table(in, t));
        in = wire;
        EXPECT_FALSE(skip_table(in));
    }
    {
        std::string wire = nested_tables(5000);  // unbounded recursion would be a stack risk
        std::string_view in = wire;
        field_table t;
        EXPECT_FALSE(decode_table(in, t));
        in = wire;
        EXPECT_FALSE(skip_table(in));
    }
}

TEST(FieldTable, DeepArrayNestingIsBounded) {
    std::string inner = unhex("00000000");
    for (int i = 0; i < 5000; ++i) {
        uint32_t len = static_cast<uint32_t>(1 + inner.size());
        std::string outer{char(len >> 24), char(len >> 16), char(len >> 8), char(len)};
        outer += "A" + inner;
        inner = std::move(outer);
    }
    std::string_view in = inner;
    field_array a;
    EXPECT_FALSE(decode_array(in, a));
}

TEST(FieldTable, RandomMutationsNeverCrash) {
    std::string wire;
    encode_table(wire, every_tag_table());
    test::rng r;
    for (int i = 0; i < 20000; ++i) {
        std::string m = wire;
        int edits = 1 + static_cast<int>(r.below(4));
        for (int e = 0; e < edits; ++e) m[r.below(m.size())] = static_cast<char>(r.next());
        m.resize(r.below(m.size() + 1));
        std::string_view in = m;
        field_table t;
        bool a = decode_table(in, t);
        in = m;
        bool b = skip_table(in);
        EXPECT_EQ(a, b);  // the validator and the decoder agree
    }
}

}  // namespace
}  // namespace warren::amqp

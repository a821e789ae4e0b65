#include "store/topology.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "store/fault_env.h"
#include "store/metadata_store.h"
#include "store/test_util.h"

namespace warren::store {
namespace {

using core::field_table;
using core::field_value;

topology sample() {
    topology t;
    t.next_queue_id = 17;
    vhost_def v;
    v.name = "/";
    field_table xargs;
    xargs.emplace_back("alternate-exchange", field_value{std::string("ae")});
    v.exchanges.push_back({"orders", "topic", false, false, xargs});
    v.exchanges.push_back({"internal.x", "fanout", true, true, {}});
    field_table qargs;
    qargs.emplace_back("x-max-length", field_value{int64_t{1000}});
    qargs.emplace_back("x-message-ttl", field_value{int32_t{60000}});
    qargs.emplace_back("x-queue-mode", field_value{std::string("lazy")});
    qargs.emplace_back("x-dead-letter-exchange", field_value{std::string("dlx")});
    qargs.emplace_back("flag", field_value{true});
    qargs.emplace_back("raw", field_value{core::bytes_value{std::string("\x00\xff\x10", 3)}});
    qargs.emplace_back("notutf8", field_value{std::string("\xc3\x28")});
    qargs.emplace_back("small", field_value{int8_t{-5}});
    qargs.emplace_back("u16", field_value{uint16_t{65535}});
    qargs.emplace_back("u32", field_value{uint32_t{4000000000u}});
    qargs.emplace_back("d", field_value{2.5});
    qargs.emplace_back("f", field_value{1.5f});
    qargs.emplace_back("dec", field_value{core::decimal_value{2, 12345}});
    qargs.emplace_back("ts", field_value{core::timestamp_value{1700000000}});
    qargs.emplace_back("nothing", field_value{core::void_value{}});
    field_table inner;
    inner.emplace_back("k", field_value{std::string("v")});
    qargs.emplace_back("tbl", field_value::table(inner));
    qargs.emplace_back(
        "arr", field_value::array({field_value{int32_t{1}}, field_value{std::string("two")}}));
    v.queues.push_back({"q1", 3, false, qargs});
    v.queues.push_back({"q2", 4, true, {}});
    field_table bargs;
    bargs.emplace_back("x-match", field_value{std::string("any")});
    v.bindings.push_back({"orders", "q1", false, "a.*.c", {}});
    v.bindings.push_back({"orders", "internal.x", true, "#", bargs});
    v.policies.push_back({"ttl", "^q", "queues", 5, R"({"message-ttl":1000})"});
    v.operator_policies.push_back({"cap", ".*", "queues", 0, R"({"max-length":10})"});
    t.vhosts.push_back(v);
    vhost_def v2;
    v2.name = "staging";
    t.vhosts.push_back(v2);
    t.users.push_back({"guest", "hash==", "rabbit_password_hashing_sha256", {"administrator"}});
    t.permissions.push_back({"guest", "/", ".*", ".*", ".*"});
    return t;
}

TEST(Topology, EncodeDecodeRoundTripKeepsTypes) {
    topology t = sample();
    std::string text = encode_topology(t);
    EXPECT_NE(text.find("\"format_version\": 1"), std::string::npos);
    auto back = decode_topology(text);
    ASSERT_TRUE(back) << back.error().text;
    EXPECT_EQ(*back, t);
    // Types survive: x-max-length stays a 64-bit integer.
    auto* v = core::find(back->vhosts[0].queues[0].args, "x-max-length");
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(std::holds_alternative<int64_t>(v->v));
}

TEST(Topology, NonFiniteFloatsRoundTrip) {
    topology t;
    vhost_def v;
    v.name = "/";
    field_table a;
    a.emplace_back("inf", field_value{std::numeric_limits<double>::infinity()});
    a.emplace_back("nan", field_value{std::nan("")});
    v.queues.push_back({"q", 1, false, a});
    t.vhosts.push_back(v);
    auto back = decode_topology(encode_topology(t));
    ASSERT_TRUE(back);
    auto& args = back->vhosts[0].queues[0].args;
    EXPECT_TRUE(std::isinf(std::get<double>(args[0].second.v)));
    EXPECT_TRUE(std::isnan(std::get<double>(args[1].second.v)));
}

TEST(Topology, AccessStateRoundTripsAndChangesApply) {
    topology t;
    t.vhosts.push_back(vhost_def{.name = "v", .limits = {5, 7}});
    t.users.push_back(user_def{.name = "alice",
                               .password_hash = "aGFzaA==",
                               .tags = {"management"},
                               .max_connections = 3,
                               .max_channels = 9});
    t.permissions.push_back(permission_def{"alice", "v", "^c", "^w", "^r"});
    t.topic_permissions.push_back(topic_permission_def{"alice", "v", "amq.topic", "^a", "^b"});
    auto back = decode_topology(encode_topology(t));
    ASSERT_TRUE(back) << back.error().text;
    EXPECT_EQ(*back, t);

    using o = topology_change::op;
    std::vector<topology_change> cs{
        {.kind = o::put_vhost, .vhost = "w", .limits = {1, -1}},
        {.kind = o::put_user, .user = {.name = "bob", .password_hash = "eA=="}},
        {.kind = o::put_permission, .vhost = "w", .permission = {"bob", "w", ".*", ".*", ".*"}},
        {.kind = o::put_topic_permission, .vhost = "w", .topic = {"bob", "w", "t", "x", "y"}},
        {.kind = o::delete_topic_permission, .vhost = "v", .topic = {"alice", "v", "amq.topic"}},
        {.kind = o::delete_permission, .vhost = "v", .permission = {.user = "alice", .vhost = "v"}},
        {.kind = o::delete_user, .user = {.name = "alice"}},
        {.kind = o::delete_vhost, .vhost = "v"},
    };
    auto decoded = decode_changes(encode_changes(cs));
    ASSERT_TRUE(decoded) << decoded.error().text;
    ASSERT_EQ(decoded->size(), cs.size());
    EXPECT_EQ((*decoded)[0].limits, (vhost_limits{1, -1}));
    EXPECT_EQ((*decoded)[1].user.name, "bob");
    for (const auto& c : *decoded) apply_change(t, c);
    ASSERT_EQ(t.vhosts.size(), 1u);
    EXPECT_EQ(t.vhosts[0].name, "w");
    EXPECT_EQ(t.vhosts[0].limits, (vhost_limits{1, -1}));
    ASSERT_EQ(t.users.size(), 1u);
    EXPECT_EQ(t.users[0].name, "bob");
    ASSERT_EQ(t.permissions.size(), 1u);
    EXPECT_EQ(t.permissions[0].vhost, "w");
    ASSERT_EQ(t.topic_permissions.size(), 1u);
    EXPECT_EQ(t.topic_permissions[0].exchange, "t");
}

TEST(Topology, PolicyChangesRoundTripAndApply) {
    topology t;
    using o = topology_change::op;
    std::vector<topology_change> cs{
        {.kind = o::put_policy,
         .vhost = "v",
         .policy = {"p", "^a", "queues", 2, R"({"max-length":5})"}},
        {.kind = o::put_operator_policy,
         .vhost = "v",
         .policy = {"op", ".*", "all", 0, R"({"message-ttl":100})"}},
        {.kind = o::put_policy, .vhost = "v", .policy = {"p", "^b", "all", 1, "{}"}},
        {.kind = o::put_policy, .vhost = "v", .policy = {"gone", "x", "all", 0, "{}"}},
        {.kind = o::delete_policy, .vhost = "v", .policy = {.name = "gone"}},
    };
    auto decoded = decode_changes(encode_changes(cs));
    ASSERT_TRUE(decoded) << decoded.error().text;
    ASSERT_EQ(*decoded, cs);
    for (const auto& c : *decoded) apply_change(t, c);
    ASSERT_EQ(t.vhosts.size(), 1u);
    ASSERT_EQ(t.vhosts[0].policies.size(), 1u);
    EXPECT_EQ(t.vhosts[0].policies[0], (policy_def{"p", "^b", "all", 1, "{}"}));
    ASSERT_EQ(t.vhosts[0].operator_policies.size(), 1u);
    EXPECT_EQ(t.vhosts[0].operator_policies[0].definition, R"({"message-ttl":100})");
    apply_change(t, {.kind = o::delete_operator_policy, .vhost = "v", .policy = {.name = "op"}});
    EXPECT_TRUE(t.vhosts[0].operator_policies.empty());
    // Definitions: plain JSON <-> field tables, canonical text.
    auto def = parse_policy_definition(R"({"b": [1, "x", true], "a": {"k": 2.5}, "c": "s"})");
    ASSERT_TRUE(def);
    EXPECT_EQ(policy_definition_json(*def), R"({"a":{"k":2.5},"b":[1,"x",true],"c":"s"})");
    EXPECT_FALSE(parse_policy_definition("[1]"));
    EXPECT_FALSE(parse_policy_definition("{"));
}

TEST(Topology, UnknownVersionIsRefused) {
    auto r = decode_topology(R"({"format_version": 2, "vhosts": []})");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);
    EXPECT_NE(r.error().text.find("format_version 2"), std::string::npos) << r.error().text;
}

TEST(Topology, MissingVersionOrGarbageIsCorruption) {
    for (const char* text :
         {"", "{", "[]", R"({"vhosts": []})", R"({"format_version": "1"})",
          R"({"format_version": 1, "vhosts": [{"exchanges": []}]})",
          R"({"format_version": 1, "vhosts": [{"name": "/", "queues": [)"
          R"({"name": "q", "arguments": [["k", {"type": "weird", "value": 1}]]}]}]})",
          R"({"format_version": 1, "vhosts": [{"name": "/", "queues": [)"
          R"({"name": "q", "arguments": [["k", {"type": "int8", "value": 300}]]}]}]})"}) {
        auto r = decode_topology(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().code, errc::corruption) << text;
    }
}

class MetadataStoreTest : public ::testing::Test {
protected:
    MetadataStoreTest() : fenv(posix_env()), meta(&fenv, tmp.path() + "/meta") {}
    testing::temp_dir tmp;
    fault_env fenv;
    metadata_store meta;
};

TEST_F(MetadataStoreTest, FreshDataDirLoadsNothing) {
    auto r = meta.load();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_value());
}

TEST_F(MetadataStoreTest, SaveThenLoad) {
    ASSERT_TRUE(meta.save(sample()));
    EXPECT_GE(fenv.file_syncs(), 1u);
    EXPECT_GE(fenv.dir_syncs(), 1u);
    EXPECT_FALSE(std::filesystem::exists(meta.path() + ".tmp"));
    auto r = meta.load();
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(**r, sample());
    // A second save replaces the first.
    topology t = sample();
    t.vhosts.pop_back();
    ASSERT_TRUE(meta.save(t));
    EXPECT_EQ(**meta.load(), t);
}

TEST_F(MetadataStoreTest, FailedSaveLeavesTheOldTopology) {
    ASSERT_TRUE(meta.save(sample()));
    fenv.write_budget = static_cast<int64_t>(fenv.bytes_written() + 50);  // disk full mid-write
    topology t;
    vhost_def other;
    other.name = "other";
    t.vhosts.push_back(other);
    EXPECT_FALSE(meta.save(t));
    fenv.write_budget = -1;
    auto r = meta.load();
    ASSERT_TRUE(r);
    EXPECT_EQ(**r, sample());
}

TEST_F(MetadataStoreTest, LeftoverTmpFileIsIgnored) {
    ASSERT_TRUE(meta.save(sample()));
    testing::append_bytes(meta.path() + ".tmp", "{ half written");
    auto r = meta.load();
    ASSERT_TRUE(r);
    EXPECT_EQ(**r, sample());
}

TEST_F(MetadataStoreTest, UnknownVersionOnDiskIsRefusedWithPath) {
    std::filesystem::create_directories(tmp.path() + "/meta");
    testing::append_bytes(meta.path(), R"({"format_version": 99})");
    auto r = meta.load();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);
    EXPECT_NE(r.error().text.find(meta.path()), std::string::npos);
    EXPECT_NE(r.error().text.find("Refusing to start"), std::string::npos);
}

}  // namespace
}  // namespace warren::store

// Password hashing and permission checks, against vectors and texts taken from RabbitMQ 3.10.8
// (rabbit_password:salted_hash with salt <<1,2,3,4>>, and its refusals seen with pika).

#include <gtest/gtest.h>

#include "auth/login_throttle.h"
#include "auth/password.h"
#include "auth/permissions.h"
#include "auth/user_access.h"
#include "auth/user_db.h"

namespace warren::auth {
namespace {

const std::string salt = std::string("\x01\x02\x03\x04", 4);

std::string b64_digest(const password_hash& h) {
    password_hash digest_only = h;
    digest_only.salted.erase(0, 4);
    return digest_only.base64();
}

TEST(Password, DigestsMatchRabbitMQs) {
    EXPECT_EQ(b64_digest(hash_password_with_salt("s3cret", salt, hash_algorithm::sha256)),
              "ur+FbJPgY1DlKMW2W1K8uhAhkhAhyR1gCpFS+PTg2m8=");
    EXPECT_EQ(b64_digest(hash_password_with_salt("s3cret", salt, hash_algorithm::sha512)),
              "kjbJBDU16DfSmhv7yGRhQzW/g9co2PRJCwAI52JE61j2uDieOIK36TGfbSCtnSCqOWM5kV0PpP4tHUorO3"
              "CUBg==");
    EXPECT_EQ(b64_digest(hash_password_with_salt("s3cret", salt, hash_algorithm::md5)),
              "G9KdKFZuTZMOeepUNDFLBw==");
}

TEST(Password, RoundTripsThroughTheDefinitionsForm) {
    auto h = hash_password("pw");
    EXPECT_EQ(h.salted.size(), 36u);
    auto back = password_hash::parse(h.base64(), "rabbit_password_hashing_sha256");
    ASSERT_TRUE(back);
    EXPECT_TRUE(verify_password(*back, "pw"));
    EXPECT_FALSE(verify_password(*back, "PW"));
    EXPECT_FALSE(verify_password(*back, ""));
}

TEST(Password, ImportedSha512AndMd5Verify) {
    for (auto a : {hash_algorithm::sha512, hash_algorithm::md5}) {
        auto h = hash_password_with_salt("s3cret", salt, a);
        auto back = password_hash::parse(h.base64(), algorithm_name(a));
        ASSERT_TRUE(back) << algorithm_name(a);
        EXPECT_TRUE(verify_password(*back, "s3cret"));
        EXPECT_FALSE(verify_password(*back, "s3cre"));
    }
}

TEST(Password, FreshSaltsDiffer) {
    EXPECT_NE(hash_password("pw").salted, hash_password("pw").salted);
}

TEST(Password, MalformedImportsAreRefused) {
    EXPECT_FALSE(password_hash::parse("not base64!", ""));
    EXPECT_FALSE(password_hash::parse("AAAA", ""));  // wrong length for SHA-256
    EXPECT_FALSE(password_hash::parse("AAAA", "rabbit_password_hashing_rot13"));
}

TEST(Password, NoPasswordNeverVerifies) {
    auto h = password_hash::parse("", "");
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->empty());
    EXPECT_FALSE(verify_password(*h, ""));
}

TEST(Permissions, UnanchoredSearchLikeErlangRe) {
    auto p = permission_set::compile({"^a", "b", ".*"});
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->allows(permission::configure, "abc"));
    EXPECT_FALSE(p->allows(permission::configure, "cab"));
    EXPECT_TRUE(p->allows(permission::write, "cab"));  // anywhere in the name
    EXPECT_TRUE(p->allows(permission::read, ""));
}

TEST(Permissions, EmptyPatternAllowsNothingButTheEmptyName) {
    auto p = permission_set::compile({"", "", ""});
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->allows(permission::configure, "q"));
    EXPECT_TRUE(p->allows(permission::write, ""));  // "^$"
}

TEST(Permissions, InvalidPatternIsAnError) {
    auto p = permission_set::compile({"(", ".*", ".*"});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().text.find("invalid configure regular expression '('"), std::string::npos);
}

TEST(Permissions, TopicPatternsExpandUserAndVhost) {
    auto t = topic_permission::compile("amq.topic", "^{username}\\.", "^{vhost}$", "alice", "v1");
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->allows(permission::write, "alice.news"));
    EXPECT_FALSE(t->allows(permission::write, "bob.news"));
    EXPECT_TRUE(t->allows(permission::read, "v1"));
    EXPECT_EQ(t->write_pattern(), "^{username}\\.");
}

TEST(Permissions, RefusalTextsAreRabbitMQs) {
    EXPECT_EQ(refused(resource_kind::queue, "q1", "/", "alice").text,
              "access to queue 'q1' in vhost '/' refused for user 'alice'");
    EXPECT_EQ(refused(resource_kind::queue, "q1", "/", "alice").code,
              core::reply_code::access_refused);
    EXPECT_EQ(topic_refused("bad", "amq.topic", "/", "alice").text,
              "access to topic 'bad' in exchange 'amq.topic' in vhost '/' "
              "refused for user 'alice'");
}

TEST(UserDb, PasswordLogin) {
    user_db db;
    db.put_user("alice", hash_password("pw"), {"management"});
    auto u = db.authenticate("alice", "pw");
    ASSERT_TRUE(u);
    EXPECT_TRUE((*u)->has_tag("management"));
    EXPECT_FALSE(db.authenticate("alice", "wrong"));
    EXPECT_FALSE(db.authenticate("nobody", "pw"));
    db.put_user("cert-only", password_hash{}, {});
    EXPECT_FALSE(db.authenticate("cert-only", ""));
}

TEST(UserDb, PermissionsPerUserAndVhost) {
    user_db db;
    db.put_user("alice", hash_password("pw"));
    EXPECT_FALSE(db.may_access("alice", "/"));
    ASSERT_TRUE(db.set_permissions("alice", "/", {"^a", "^a", "^a"}));
    EXPECT_TRUE(db.may_access("alice", "/"));
    EXPECT_FALSE(db.may_access("alice", "other"));
    EXPECT_TRUE(db.check("alice", "/", permission::read, resource_kind::queue, "aq"));
    auto r = db.check("alice", "/", permission::read, resource_kind::queue, "q9");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().text, "access to queue 'q9' in vhost '/' refused for user 'alice'");
    EXPECT_FALSE(db.check("alice", "other", permission::read, resource_kind::queue, "aq"));
    db.vhost_deleted("/");
    EXPECT_FALSE(db.may_access("alice", "/"));
}

TEST(UserDb, TopicPermissionsOnlyRestrictTheirExchange) {
    user_db db;
    ASSERT_TRUE(db.set_topic_permission("alice", "/", "amq.topic", "^ok", "^ok"));
    EXPECT_TRUE(db.check_topic("alice", "/", permission::write, "amq.topic", "ok.1"));
    EXPECT_FALSE(db.check_topic("alice", "/", permission::write, "amq.topic", "bad"));
    EXPECT_TRUE(db.check_topic("alice", "/", permission::write, "other.topic", "bad"));
    EXPECT_TRUE(db.check_topic("bob", "/", permission::write, "amq.topic", "bad"));
    db.clear_topic_permissions("alice", "/", "amq.topic");
    EXPECT_TRUE(db.check_topic("alice", "/", permission::write, "amq.topic", "bad"));
}

TEST(UserDb, DeletingAUserDropsTheirPermissions) {
    user_db db;
    db.put_user("alice", hash_password("pw"));
    ASSERT_TRUE(db.set_permissions("alice", "/", {".*", ".*", ".*"}));
    ASSERT_TRUE(db.set_topic_permission("alice", "/", "amq.topic", ".*", ".*"));
    EXPECT_TRUE(db.delete_user("alice"));
    EXPECT_FALSE(db.delete_user("alice"));
    EXPECT_EQ(db.all_permissions().size(), 0u);
    EXPECT_EQ(db.all_topic_permissions().size(), 0u);
}

TEST(UserAccess, ChecksAsTheUserInTheVhostAndSeesChangesAtOnce) {
    user_db db;
    db.put_user("alice", hash_password("pw"));
    ASSERT_TRUE(db.set_permissions("alice", "/", {"^a", "^w", "^r"}));
    user_access who(db, "alice", "/");
    EXPECT_TRUE(who.check(permission::configure, resource_kind::queue, "aq"));
    EXPECT_TRUE(who.check(permission::configure, resource_kind::queue, "aq"));  // cached
    auto r = who.check(permission::configure, resource_kind::queue, "zq");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::reply_code::access_refused);
    EXPECT_EQ(r.error().text, "access to queue 'zq' in vhost '/' refused for user 'alice'");
    // Revoking applies to the open connection at once, cached answers included.
    ASSERT_TRUE(db.set_permissions("alice", "/", {"", "", ""}));
    EXPECT_FALSE(who.check(permission::configure, resource_kind::queue, "aq"));
}

TEST(UserAccess, TheDefaultExchangeIsCheckedAsAmqDefault) {
    user_db db;
    ASSERT_TRUE(db.set_permissions("alice", "/", {"", "^amq\\.default$", ""}));
    user_access who(db, "alice", "/");
    EXPECT_TRUE(who.check(permission::write, resource_kind::exchange, ""));
    ASSERT_TRUE(db.set_permissions("alice", "/", {"", "^x$", ""}));
    auto r = who.check(permission::write, resource_kind::exchange, "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().text,
              "access to exchange 'amq.default' in vhost '/' refused for user 'alice'");
}

TEST(UserAccess, TopicChecksOnlyWithTopicPermissions) {
    user_db db;
    ASSERT_TRUE(db.set_permissions("alice", "/", {".*", ".*", ".*"}));
    user_access who(db, "alice", "/");
    EXPECT_TRUE(who.check_topic(permission::write, "amq.topic", "anything"));
    ASSERT_TRUE(db.set_topic_permission("alice", "/", "amq.topic", "^{username}\\.", ".*"));
    EXPECT_TRUE(who.check_topic(permission::write, "amq.topic", "alice.x"));
    auto r = who.check_topic(permission::write, "amq.topic", "bob.x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().text,
              "access to topic 'bob.x' in exchange 'amq.topic' in vhost '/' refused for user "
              "'alice'");
}

TEST(UserDb, LoopbackUsersOnlyFromThisHost) {
    user_db db;
    EXPECT_TRUE(db.may_connect_from("guest", "127.0.0.1:5000"));
    EXPECT_TRUE(db.may_connect_from("guest", "tls:127.0.0.1:5000"));
    EXPECT_TRUE(db.may_connect_from("guest", "[::1]:5000"));
    EXPECT_TRUE(db.may_connect_from("guest", "ws:::ffff:127.0.0.1:5000"));
    EXPECT_FALSE(db.may_connect_from("guest", "10.1.2.3:5000"));
    EXPECT_FALSE(db.may_connect_from("guest", "wss:192.168.0.2:5000"));
    EXPECT_TRUE(db.may_connect_from("alice", "10.1.2.3:5000"));
    db.set_loopback_users({});
    EXPECT_TRUE(db.may_connect_from("guest", "10.1.2.3:5000"));
}

TEST(UserDb, LimitsAndCountsPerUser) {
    user_db db;
    EXPECT_FALSE(db.set_limits("alice", {1, 2}));
    db.put_user("alice", hash_password("pw"));
    uint64_t g = db.generation();
    EXPECT_TRUE(db.set_limits("alice", {1, 2}));
    EXPECT_GT(db.generation(), g);
    db.put_user("alice", hash_password("new"), {"management"});  // keeps the limits
    EXPECT_EQ(db.find("alice")->limits, (user_limits{1, 2}));
    db.connection_opened("alice");
    db.channel_opened("alice");
    db.channel_opened("alice");
    EXPECT_EQ(db.connections("alice"), 1u);
    EXPECT_EQ(db.channels("alice"), 2u);
    db.channel_closed("alice");
    db.channel_closed("alice");
    db.connection_closed("alice");
    db.connection_closed("alice");  // never below zero
    EXPECT_EQ(db.connections("alice"), 0u);
    EXPECT_EQ(db.channels("alice"), 0u);
}

TEST(LoginThrottle, LocksOutAnAddressAfterRepeatedFailuresAndBacksOff) {
    login_throttle t({.threshold = 3,
                      .window_ms = 10'000,
                      .first_lockout_ms = 1'000,
                      .max_lockout_ms = 4'000,
                      .max_addresses = 2});
    EXPECT_EQ(t.failed("10.0.0.1:1", 0), 0u);
    EXPECT_EQ(t.failed("10.0.0.1:2", 0), 0u);  // the port does not matter
    EXPECT_FALSE(t.locked_out("10.0.0.1:3", 0));
    EXPECT_EQ(t.failed("tls:10.0.0.1:4", 0), 1'000u);
    EXPECT_EQ(*t.locked_out("10.0.0.1:5", 400), 600u);
    EXPECT_FALSE(t.locked_out("10.0.0.2:5", 400));  // other addresses are not affected
    EXPECT_FALSE(t.locked_out("10.0.0.1:5", 1'000));
    EXPECT_EQ(t.failed("10.0.0.1:1", 1'000), 2'000u);  // doubles
    EXPECT_EQ(t.failed("10.0.0.1:1", 3'000), 4'000u);
    EXPECT_EQ(t.failed("10.0.0.1:1", 7'000), 4'000u);  // capped
    t.succeeded("10.0.0.1:9");
    EXPECT_FALSE(t.locked_out("10.0.0.1:1", 7'001));
    // Failures spread wider than the window never lock out.
    for (uint64_t now = 20'000; now < 200'000; now += 20'000)
        EXPECT_EQ(t.failed("10.0.0.3:1", now), 0u);
    // Bounded memory: a third address pushes the oldest out.
    t.failed("10.0.0.4:1", 300'000);
    t.failed("10.0.0.5:1", 300'001);
    EXPECT_EQ(login_throttle::host_of("[::1]:5672"), "::1");
    EXPECT_EQ(login_throttle::host_of("wss:10.0.0.1:5"), "10.0.0.1");
}

}  // namespace
}  // namespace warren::auth

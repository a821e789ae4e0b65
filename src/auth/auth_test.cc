// Password hashing and permission checks, against vectors and texts taken from RabbitMQ 3.10.8
// (rabbit_password:salted_hash with salt <<1,2,3,4>>, and its refusals seen with pika).

#include <gtest/gtest.h>

#include "auth/password.h"
#include "auth/permissions.h"
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

}  // namespace
}  // namespace warren::auth

#include "apps/feed/feed_db.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace warren::feed {
namespace {

struct temp_db {
    std::string dir;
    temp_db() {
        char tmpl[] = "/tmp/warren-feed-XXXXXX";
        dir = ::mkdtemp(tmpl);
    }
    ~temp_db() { std::filesystem::remove_all(dir); }
    std::string path() const { return dir + "/feed.db"; }
};

TEST(FeedDb, PostWritesThePostAndItsOutboxRowTogether) {
    temp_db t;
    feed_db db(t.path());
    const int64_t ann = db.create_user("ann"), bob = db.create_user("bob");
    EXPECT_EQ(db.create_user("ann"), ann);
    ASSERT_TRUE(db.follow(bob, ann));
    EXPECT_FALSE(db.follow(bob, 999));
    auto p = db.create_post(ann, "hello");
    ASSERT_TRUE(p);
    EXPECT_FALSE(db.create_post(999, "nobody"));
    auto f = db.feed(bob, 10);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].text, "hello");
    EXPECT_EQ(f[0].author_name, "ann");
    EXPECT_TRUE(db.feed(ann, 10).empty());  // ann follows nobody
    EXPECT_TRUE(db.feed(bob, 10, p->id).empty());

    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(t.path().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(raw, "SELECT exchange, routing_key, headers, body FROM outbox", -1, &s,
                       nullptr);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "feed.posts");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1))),
              author_key(ann));
    auto body = nlohmann::json::parse(
        static_cast<const char*>(sqlite3_column_blob(s, 3)),
        static_cast<const char*>(sqlite3_column_blob(s, 3)) + sqlite3_column_bytes(s, 3));
    EXPECT_EQ(body["id"], p->id);
    EXPECT_EQ(body["text"], "hello");
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(raw);
}

}  // namespace
}  // namespace warren::feed

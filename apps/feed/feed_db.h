#pragma once
// The feed app's database (SQLite): users, follows, posts, and the outbox warren-outbox relays
// (docs/outbox.md). Posting writes the post and its outbox row in one transaction: the post is
// published if and only if it was saved (the seed's "distributed transaction").
//
//   feed::feed_db db("/tmp/feed.db");
//   auto alice = db.create_user("alice");
//   db.post(alice, "hello");            // posts row + outbox row, one COMMIT
//   auto rows = db.feed(bob, 50);       // the posts of whom bob follows, newest first
//
// Not thread-safe: the app calls it from its one I/O thread. Errors throw std::runtime_error.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warren::feed {

inline constexpr const char* k_posts_exchange = "feed.posts";

struct user {
    int64_t id = 0;
    std::string name;
};

struct post {
    int64_t id = 0;
    int64_t author = 0;
    std::string author_name;
    std::string text;
    int64_t created_ms = 0;  // wall clock, ms since the epoch
};

// The JSON a post travels as (message body and API): {"id","author","author_name","text",
// "created_ms"}.
std::string post_json(const post& p);
// Routing key of an author's posts on the topic exchange: "author.<id>".
std::string author_key(int64_t author);
// A user's queue: "feed.user.<id>".
std::string user_queue(int64_t user);

class feed_db {
public:
    explicit feed_db(const std::string& path);
    ~feed_db();
    feed_db(const feed_db&) = delete;
    feed_db& operator=(const feed_db&) = delete;

    int64_t create_user(const std::string& name);  // existing name: its id
    std::optional<user> find_user(int64_t id);
    std::vector<user> users();
    // false if either user does not exist. Following twice is fine.
    bool follow(int64_t follower, int64_t followee);
    std::vector<int64_t> following(int64_t user);
    // Many at once, in one transaction (feed-bench's set-up); unknown users are skipped.
    std::vector<int64_t> create_users(const std::vector<std::string>& names);
    size_t follow_many(const std::vector<std::pair<int64_t, int64_t>>& pairs);
    // The post and its outbox row, in one transaction. nullopt: no such author.
    std::optional<post> create_post(int64_t author, const std::string& text);
    // Posts by the users `user` follows, newest first, only those with id > after.
    std::vector<post> feed(int64_t user, size_t limit, int64_t after = 0);
    uint64_t queries() const { return _queries; }  // statements run (feed-bench's DB load)

private:
    void exec(const std::string& sql);
    sqlite3_stmt* prepare(const char* sql);
    [[noreturn]] void fail(const std::string& what);

    sqlite3* _db = nullptr;
    std::vector<sqlite3_stmt*> _stmts;
    sqlite3_stmt *_insert_user, *_find_user_by_name, *_find_user, *_users, *_follow, *_following,
        *_insert_post, *_insert_outbox, *_feed;
    uint64_t _queries = 0;
};

}  // namespace warren::feed

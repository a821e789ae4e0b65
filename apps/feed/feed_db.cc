#include "apps/feed/feed_db.h"

#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace warren::feed {

namespace {
int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string column_text(sqlite3_stmt* s, int col) {
    const unsigned char* t = sqlite3_column_text(s, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s, col)))
             : std::string();
}

// Resets a statement when the scope ends, however it ends.
struct reset_at_exit {
    sqlite3_stmt* s;
    ~reset_at_exit() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
};
}  // namespace

std::string post_json(const post& p) {
    return nlohmann::json{{"id", p.id},
                          {"author", p.author},
                          {"author_name", p.author_name},
                          {"text", p.text},
                          {"created_ms", p.created_ms}}
        .dump();
}

std::string author_key(int64_t author) {
    return "author." + std::to_string(author);
}

std::string user_queue(int64_t user) {
    return "feed.user." + std::to_string(user);
}

feed_db::feed_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &_db) != SQLITE_OK) {
        std::string e = _db ? sqlite3_errmsg(_db) : "out of memory";
        sqlite3_close(_db);
        throw std::runtime_error("feed db: cannot open " + path + ": " + e);
    }
    sqlite3_busy_timeout(_db, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
        "CREATE TABLE IF NOT EXISTS follows (follower INTEGER NOT NULL, followee INTEGER NOT "
        "NULL, PRIMARY KEY (follower, followee));"
        "CREATE INDEX IF NOT EXISTS follows_followee ON follows (followee);"
        "CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, author INTEGER NOT NULL, "
        "text TEXT NOT NULL, created_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS posts_author ON posts (author, id);"
        // The outbox, as warren-outbox --init creates it (docs/outbox.md).
        "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "exchange TEXT NOT NULL, routing_key TEXT NOT NULL DEFAULT '', headers TEXT, "
        "body BLOB NOT NULL, "
        "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')), "
        "published_at TEXT);"
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL");
    _insert_user = prepare("INSERT OR IGNORE INTO users (name) VALUES (?)");
    _find_user_by_name = prepare("SELECT id FROM users WHERE name = ?");
    _find_user = prepare("SELECT id, name FROM users WHERE id = ?");
    _users = prepare("SELECT id, name FROM users ORDER BY id");
    _follow = prepare("INSERT OR IGNORE INTO follows (follower, followee) VALUES (?, ?)");
    _following = prepare("SELECT followee FROM follows WHERE follower = ? ORDER BY followee");
    _insert_post = prepare("INSERT INTO posts (author, text, created_ms) VALUES (?, ?, ?)");
    _insert_outbox =
        prepare("INSERT INTO outbox (exchange, routing_key, headers, body) VALUES (?, ?, ?, ?)");
    _feed = prepare(
        "SELECT p.id, p.author, u.name, p.text, p.created_ms FROM follows f "
        "JOIN posts p ON p.author = f.followee JOIN users u ON u.id = p.author "
        "WHERE f.follower = ? AND p.id > ? ORDER BY p.id DESC LIMIT ?");
}

feed_db::~feed_db() {
    for (auto* s : _stmts) sqlite3_finalize(s);
    sqlite3_close(_db);
}

void feed_db::fail(const std::string& what) {
    throw std::runtime_error("feed db: " + what + ": " + sqlite3_errmsg(_db));
}

void feed_db::exec(const std::string& sql) {
    char* err = nullptr;
    ++_queries;
    if (sqlite3_exec(_db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string e = err ? err : "error";
        sqlite3_free(err);
        throw std::runtime_error("feed db: " + e);
    }
}

sqlite3_stmt* feed_db::prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(_db, sql, -1, &s, nullptr) != SQLITE_OK) fail(sql);
    _stmts.push_back(s);
    return s;
}

int64_t feed_db::create_user(const std::string& name) {
    {
        reset_at_exit r{_insert_user};
        sqlite3_bind_text(_insert_user, 1, name.data(), static_cast<int>(name.size()),
                          SQLITE_TRANSIENT);
        ++_queries;
        if (sqlite3_step(_insert_user) != SQLITE_DONE) fail("create user");
    }
    reset_at_exit r{_find_user_by_name};
    sqlite3_bind_text(_find_user_by_name, 1, name.data(), static_cast<int>(name.size()),
                      SQLITE_TRANSIENT);
    ++_queries;
    if (sqlite3_step(_find_user_by_name) != SQLITE_ROW) fail("find user");
    return sqlite3_column_int64(_find_user_by_name, 0);
}

std::optional<user> feed_db::find_user(int64_t id) {
    reset_at_exit r{_find_user};
    sqlite3_bind_int64(_find_user, 1, id);
    ++_queries;
    if (sqlite3_step(_find_user) != SQLITE_ROW) return std::nullopt;
    return user{sqlite3_column_int64(_find_user, 0), column_text(_find_user, 1)};
}

std::vector<user> feed_db::users() {
    reset_at_exit r{_users};
    ++_queries;
    std::vector<user> out;
    while (sqlite3_step(_users) == SQLITE_ROW)
        out.push_back(user{sqlite3_column_int64(_users, 0), column_text(_users, 1)});
    return out;
}

bool feed_db::follow(int64_t follower, int64_t followee) {
    if (!find_user(follower) || !find_user(followee)) return false;
    reset_at_exit r{_follow};
    sqlite3_bind_int64(_follow, 1, follower);
    sqlite3_bind_int64(_follow, 2, followee);
    ++_queries;
    if (sqlite3_step(_follow) != SQLITE_DONE) fail("follow");
    return true;
}

std::vector<int64_t> feed_db::following(int64_t u) {
    reset_at_exit r{_following};
    sqlite3_bind_int64(_following, 1, u);
    ++_queries;
    std::vector<int64_t> out;
    while (sqlite3_step(_following) == SQLITE_ROW)
        out.push_back(sqlite3_column_int64(_following, 0));
    return out;
}

std::vector<int64_t> feed_db::create_users(const std::vector<std::string>& names) {
    std::vector<int64_t> ids;
    exec("BEGIN IMMEDIATE");
    try {
        for (auto& n : names) ids.push_back(create_user(n));
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(_db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return ids;
}

size_t feed_db::follow_many(const std::vector<std::pair<int64_t, int64_t>>& pairs) {
    size_t n = 0;
    exec("BEGIN IMMEDIATE");
    try {
        for (auto [a, b] : pairs) n += follow(a, b) ? 1 : 0;
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(_db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return n;
}

std::optional<post> feed_db::create_post(int64_t author, const std::string& text) {
    auto who = find_user(author);
    if (!who) return std::nullopt;
    post p{0, author, who->name, text, now_ms()};
    exec("BEGIN IMMEDIATE");
    try {
        {
            reset_at_exit r{_insert_post};
            sqlite3_bind_int64(_insert_post, 1, author);
            sqlite3_bind_text(_insert_post, 2, text.data(), static_cast<int>(text.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_int64(_insert_post, 3, p.created_ms);
            ++_queries;
            if (sqlite3_step(_insert_post) != SQLITE_DONE) fail("insert post");
            p.id = sqlite3_last_insert_rowid(_db);
        }
        const std::string body = post_json(p);
        const std::string key = author_key(author);
        const std::string headers =
            nlohmann::json{{"post-id", p.id}, {"author", author}, {"content-type", "json"}}.dump();
        reset_at_exit r{_insert_outbox};
        sqlite3_bind_text(_insert_outbox, 1, k_posts_exchange, -1, SQLITE_STATIC);
        sqlite3_bind_text(_insert_outbox, 2, key.data(), static_cast<int>(key.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(_insert_outbox, 3, headers.data(), static_cast<int>(headers.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_blob(_insert_outbox, 4, body.data(), static_cast<int>(body.size()),
                          SQLITE_TRANSIENT);
        ++_queries;
        if (sqlite3_step(_insert_outbox) != SQLITE_DONE) fail("insert outbox row");
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(_db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return p;
}

std::vector<post> feed_db::feed(int64_t u, size_t limit, int64_t after) {
    reset_at_exit r{_feed};
    sqlite3_bind_int64(_feed, 1, u);
    sqlite3_bind_int64(_feed, 2, after);
    sqlite3_bind_int64(_feed, 3, static_cast<int64_t>(limit));
    ++_queries;
    std::vector<post> out;
    while (sqlite3_step(_feed) == SQLITE_ROW)
        out.push_back(post{sqlite3_column_int64(_feed, 0), sqlite3_column_int64(_feed, 1),
                           column_text(_feed, 2), column_text(_feed, 3),
                           sqlite3_column_int64(_feed, 4)});
    return out;
}

}  // namespace warren::feed

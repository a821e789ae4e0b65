// The SQLite outbox: the database file the application writes (WAL mode, so the relay's reads do
// not block its writers), read by polling.
#include <sqlite3.h>

#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tools/outbox/source.h"

namespace warren::outbox {

namespace {

class sqlite_source final : public source {
public:
    sqlite_source(const std::string& path, const source_options& o) : _o(o) {
        if (sqlite3_open_v2(path.c_str(), &_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) != SQLITE_OK) {
            std::string e = _db ? sqlite3_errmsg(_db) : "out of memory";
            sqlite3_close(_db);
            throw std::runtime_error("sqlite: cannot open " + path + ": " + e);
        }
        sqlite3_busy_timeout(_db, 5000);
        exec("PRAGMA journal_mode=WAL");
    }
    ~sqlite_source() override {
        for (auto* s : {_fetch, _count, _remove})
            if (s) sqlite3_finalize(s);
        sqlite3_close(_db);
    }

    void init() override {
        exec(fmt::format(
            "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "exchange TEXT NOT NULL, routing_key TEXT NOT NULL DEFAULT '', headers TEXT, "
            "body BLOB NOT NULL, "
            "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')), "
            "published_at TEXT)",
            _o.table));
        exec(
            fmt::format("CREATE INDEX IF NOT EXISTS {0}_pending ON {0} (id) "
                        "WHERE published_at IS NULL",
                        _o.table));
    }

    std::vector<row> fetch(size_t limit) override {
        if (!_fetch)
            _fetch =
                prepare(fmt::format("SELECT id, exchange, routing_key, headers, body FROM {} "
                                    "WHERE published_at IS NULL ORDER BY id LIMIT ?",
                                    _o.table));
        sqlite3_reset(_fetch);
        sqlite3_bind_int64(_fetch, 1, static_cast<sqlite3_int64>(limit));
        std::vector<row> out;
        for (;;) {
            int rc = sqlite3_step(_fetch);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) fail("fetch");
            row r;
            r.id = sqlite3_column_int64(_fetch, 0);
            r.exchange = text(_fetch, 1);
            r.routing_key = text(_fetch, 2);
            r.headers = text(_fetch, 3);
            const void* b = sqlite3_column_blob(_fetch, 4);
            r.body.assign(static_cast<const char*>(b),
                          static_cast<size_t>(sqlite3_column_bytes(_fetch, 4)));
            out.push_back(std::move(r));
        }
        sqlite3_reset(_fetch);
        return out;
    }

    void remove(const std::vector<row>& rows) override {
        if (rows.empty()) return;
        // Exactly the rows fetched (never a range: a row committed later may sit between them).
        if (!_remove)
            _remove =
                prepare(_o.keep ? fmt::format("UPDATE {} SET published_at = "
                                              "strftime('%Y-%m-%d %H:%M:%f','now') WHERE id = ?",
                                              _o.table)
                                : fmt::format("DELETE FROM {} WHERE id = ?", _o.table));
        exec("BEGIN IMMEDIATE");
        try {
            for (auto& r : rows) {
                sqlite3_reset(_remove);
                sqlite3_bind_int64(_remove, 1, r.id);
                if (sqlite3_step(_remove) != SQLITE_DONE) fail("remove");
            }
            sqlite3_reset(_remove);
            exec("COMMIT");
        } catch (...) {
            sqlite3_reset(_remove);
            sqlite3_exec(_db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    void wait(std::chrono::milliseconds timeout) override { std::this_thread::sleep_for(timeout); }

    backlog pending() override {
        if (!_count)
            _count = prepare(fmt::format(
                "SELECT count(*), (julianday('now') - julianday(min(created_at))) * 86400000.0 "
                "FROM {} WHERE published_at IS NULL",
                _o.table));
        sqlite3_reset(_count);
        backlog b;
        if (sqlite3_step(_count) != SQLITE_ROW) fail("count");
        b.pending = static_cast<uint64_t>(sqlite3_column_int64(_count, 0));
        if (sqlite3_column_type(_count, 1) != SQLITE_NULL)
            b.oldest_age_ms = sqlite3_column_double(_count, 1);
        sqlite3_reset(_count);
        return b;
    }

private:
    static std::string text(sqlite3_stmt* s, int col) {
        const unsigned char* t = sqlite3_column_text(s, col);
        return t ? std::string(reinterpret_cast<const char*>(t),
                               static_cast<size_t>(sqlite3_column_bytes(s, col)))
                 : std::string();
    }
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("sqlite: " + what + ": " + sqlite3_errmsg(_db));
    }
    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(_db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string e = err ? err : "error";
            sqlite3_free(err);
            throw std::runtime_error("sqlite: " + e + " (" + sql + ")");
        }
    }
    sqlite3_stmt* prepare(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(_db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
            fail("prepare " + sql);
        return s;
    }

    source_options _o;
    sqlite3* _db = nullptr;
    sqlite3_stmt* _fetch = nullptr;
    sqlite3_stmt* _count = nullptr;
    sqlite3_stmt* _remove = nullptr;
};

}  // namespace

std::unique_ptr<source> open_sqlite_source(const std::string& path, const source_options& o) {
    return std::make_unique<sqlite_source>(path, o);
}

}  // namespace warren::outbox

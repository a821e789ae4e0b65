#include "tools/outbox/relay.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace warren::outbox {
namespace {

std::string temp_db() {
    char tmpl[] = "/tmp/warren-outbox-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    if (!dir) throw std::runtime_error("mkdtemp");
    return std::string(dir) + "/app.db";
}

void exec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
}

TEST(RowHeaders, JsonTypesMapToFieldValuesAndTheIdIsTheKey) {
    row r;
    r.id = 42;
    r.headers = R"({"a":"s","n":-3,"f":1.5,"b":true,"z":null,"o":{"k":1},"l":[1,"x"],)"
                R"("x-deduplication-header":"spoofed"})";
    auto h = row_headers(r);
    ASSERT_EQ(h.size(), 8u);
    EXPECT_EQ(*core::find(h, "a")->as_string(), "s");
    EXPECT_EQ(core::find(h, "n")->as_int(), -3);
    EXPECT_EQ(core::find(h, "b")->as_bool(), true);
    EXPECT_TRUE(core::find(h, "o")->as_table());
    EXPECT_EQ(core::find(h, "l")->as_array()->size(), 2u);
    // The row id is the deduplication key, whatever the JSON says.
    EXPECT_EQ(core::find(h, "x-deduplication-header")->as_int(), 42);
}

TEST(RowHeaders, NotAnObjectStillCarriesTheKey) {
    row r;
    r.id = 7;
    r.headers = "[1,2";
    std::string warning;
    auto h = row_headers(r, &warning);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(core::find(h, "x-deduplication-header")->as_int(), 7);
    EXPECT_FALSE(warning.empty());
}

TEST(SqliteSource, FetchesOldestFirstAndRemovesOnlyTheRowsItWasGiven) {
    const std::string path = temp_db();
    auto src = open_source("sqlite:" + path, {});
    src->init();
    exec(path,
         "INSERT INTO outbox (exchange, routing_key, headers, body) VALUES "
         "('x','k1','{\"h\":1}',x'00ff'),('x','k2',NULL,'b2'),('y','k3','','b3')");
    auto rows = src->fetch(2);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].routing_key, "k1");
    EXPECT_EQ(rows[0].body, std::string("\x00\xff", 2));
    EXPECT_EQ(rows[1].headers, "");
    EXPECT_LT(rows[0].id, rows[1].id);
    EXPECT_EQ(src->pending().pending, 3u);
    src->remove({rows[0]});  // not rows[1]: a row not removed stays pending
    rows = src->fetch(10);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].routing_key, "k2");
    src->remove(rows);
    EXPECT_TRUE(src->fetch(10).empty());
    EXPECT_EQ(src->pending().pending, 0u);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(SqliteSource, KeepMarksRowsInsteadOfDeleting) {
    const std::string path = temp_db();
    auto src = open_source(path, {.keep = true});
    src->init();
    exec(path, "INSERT INTO outbox (exchange, body) VALUES ('x','a'),('x','b')");
    src->remove(src->fetch(10));
    EXPECT_TRUE(src->fetch(10).empty());
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL", -1, &s,
                       nullptr);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    sqlite3_close(db);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(OpenSource, UnknownSchemeIsRefused) {
    EXPECT_THROW(open_source("mysql://x", {}), std::runtime_error);
}

}  // namespace
}  // namespace warren::outbox

// The PostgreSQL outbox, through libpq: rows read in binary (the body is bytea), removed by id in
// one statement, and LISTEN on the channel the --init trigger notifies, so a new row wakes the
// relay at once; wait() falls back to its timeout (polling) when no notification comes.
#include <libpq-fe.h>
#include <poll.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "tools/outbox/source.h"

namespace warren::outbox {

namespace {

int64_t be64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return static_cast<int64_t>(v);
}

class result_guard {
public:
    explicit result_guard(PGresult* r) : _r(r) {}
    ~result_guard() { PQclear(_r); }
    result_guard(const result_guard&) = delete;
    result_guard& operator=(const result_guard&) = delete;
    PGresult* get() const { return _r; }

private:
    PGresult* _r;
};

class pg_source final : public source {
public:
    pg_source(const std::string& uri, const source_options& o) : _o(o) {
        _c = PQconnectdb(uri.c_str());
        if (PQstatus(_c) != CONNECTION_OK) {
            std::string e = PQerrorMessage(_c);
            PQfinish(_c);
            throw std::runtime_error("postgresql: cannot connect: " + e);
        }
        exec("SET client_min_messages = warning");
        exec(fmt::format("LISTEN {}", quoted_ident(_o.channel)));
    }
    ~pg_source() override { PQfinish(_c); }

    void init() override {
        exec(fmt::format(
            "CREATE TABLE IF NOT EXISTS {0} (id bigserial PRIMARY KEY, exchange text NOT NULL, "
            "routing_key text NOT NULL DEFAULT '', headers text, body bytea NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
            "published_at timestamptz);"
            "CREATE INDEX IF NOT EXISTS {1} ON {0} (id) WHERE published_at IS NULL;"
            "CREATE OR REPLACE FUNCTION {2}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify({3}, ''); RETURN NULL; END $$;"
            "DROP TRIGGER IF EXISTS {4} ON {0};"
            "CREATE TRIGGER {4} AFTER INSERT ON {0} FOR EACH STATEMENT EXECUTE FUNCTION {2}()",
            quoted_ident(_o.table), quoted_ident(_o.table + "_pending"),
            quoted_ident(_o.table + "_notify"), quoted_literal(_o.channel),
            quoted_ident(_o.table + "_notify")));
    }

    std::vector<row> fetch(size_t limit) override {
        const std::string sql = fmt::format(
            "SELECT id, exchange, routing_key, coalesce(headers, ''), body FROM {} "
            "WHERE published_at IS NULL ORDER BY id LIMIT {}",
            quoted_ident(_o.table), limit);
        result_guard r(PQexecParams(_c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1));
        check(r.get(), PGRES_TUPLES_OK, "fetch");
        std::vector<row> out;
        const int n = PQntuples(r.get());
        out.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            auto col = [&](int c) {
                return std::string(PQgetvalue(r.get(), i, c),
                                   static_cast<size_t>(PQgetlength(r.get(), i, c)));
            };
            if (PQgetlength(r.get(), i, 0) != 8) throw std::runtime_error("postgresql: bad id");
            row x;
            x.id = be64(PQgetvalue(r.get(), i, 0));
            x.exchange = col(1);
            x.routing_key = col(2);
            x.headers = col(3);
            x.body = col(4);
            out.push_back(std::move(x));
        }
        return out;
    }

    void remove(const std::vector<row>& rows) override {
        if (rows.empty()) return;
        // Exactly the rows fetched (never a range: a row committed later may sit between them).
        std::string ids = "{";
        for (size_t i = 0; i < rows.size(); ++i) {
            if (i) ids += ',';
            ids += std::to_string(rows[i].id);
        }
        ids += '}';
        const std::string sql = _o.keep ? fmt::format(
                                              "UPDATE {} SET published_at = clock_timestamp() "
                                              "WHERE id = ANY($1::bigint[])",
                                              quoted_ident(_o.table))
                                        : fmt::format("DELETE FROM {} WHERE id = ANY($1::bigint[])",
                                                      quoted_ident(_o.table));
        const char* params[] = {ids.c_str()};
        result_guard r(PQexecParams(_c, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0));
        check(r.get(), PGRES_COMMAND_OK, "remove");
    }

    void wait(std::chrono::milliseconds timeout) override {
        if (drain_notifications()) return;
        pollfd p{PQsocket(_c), POLLIN, 0};
        if (p.fd < 0) throw std::runtime_error("postgresql: connection lost");
        if (::poll(&p, 1, static_cast<int>(timeout.count())) > 0) drain_notifications();
    }

    backlog pending() override {
        const std::string sql = fmt::format(
            "SELECT count(*), extract(epoch from clock_timestamp() - min(created_at)) * 1000 "
            "FROM {} WHERE published_at IS NULL",
            quoted_ident(_o.table));
        result_guard r(PQexec(_c, sql.c_str()));
        check(r.get(), PGRES_TUPLES_OK, "count");
        backlog b;
        b.pending = std::stoull(PQgetvalue(r.get(), 0, 0));
        if (!PQgetisnull(r.get(), 0, 1)) b.oldest_age_ms = std::stod(PQgetvalue(r.get(), 0, 1));
        return b;
    }

private:
    // true if a notification was waiting.
    bool drain_notifications() {
        if (!PQconsumeInput(_c))
            throw std::runtime_error(std::string("postgresql: ") + PQerrorMessage(_c));
        bool any = false;
        while (PGnotify* n = PQnotifies(_c)) {
            any = true;
            PQfreemem(n);
        }
        return any;
    }
    std::string quoted_ident(const std::string& s) {
        char* q = PQescapeIdentifier(_c, s.c_str(), s.size());
        if (!q) throw std::runtime_error(std::string("postgresql: ") + PQerrorMessage(_c));
        std::string out(q);
        PQfreemem(q);
        return out;
    }
    std::string quoted_literal(const std::string& s) {
        char* q = PQescapeLiteral(_c, s.c_str(), s.size());
        if (!q) throw std::runtime_error(std::string("postgresql: ") + PQerrorMessage(_c));
        std::string out(q);
        PQfreemem(q);
        return out;
    }
    void check(PGresult* r, ExecStatusType want, const char* what) {
        if (PQresultStatus(r) != want)
            throw std::runtime_error(std::string("postgresql: ") + what + ": " +
                                     PQresultErrorMessage(r));
    }
    void exec(const std::string& sql) {
        result_guard r(PQexec(_c, sql.c_str()));
        check(r.get(), PGRES_COMMAND_OK, "exec");
    }

    source_options _o;
    PGconn* _c = nullptr;
};

}  // namespace

std::unique_ptr<source> open_pg_source(const std::string& uri, const source_options& o) {
    return std::make_unique<pg_source>(uri, o);
}

}  // namespace warren::outbox

#pragma once
// Where warren-outbox reads the outbox from: a table of rows an application wrote in the same
// database transaction as its own change (the transactional outbox). Two implementations:
// PostgreSQL through libpq (LISTEN wakes the relay at once; polling is the fallback) and SQLite
// (polling). Both read the oldest pending rows first and remove a row only when told, after the
// broker has confirmed it.
//
// The table (created by `warren-outbox --init`; docs/outbox.md):
//   id           bigint primary key, increasing (bigserial / INTEGER PRIMARY KEY AUTOINCREMENT)
//   exchange     text     the exchange to publish to
//   routing_key  text
//   headers      text     a JSON object (may be empty or NULL): the message's headers
//   body         bytea / blob
//   created_at   timestamp (set by the database)
//   published_at timestamp, NULL until relayed (only used with --keep: rows are marked, not
//                deleted)
//
//   auto src = outbox::open_source("postgresql://...", {.table = "outbox"});
//   auto rows = src->fetch(500);          // oldest pending first
//   ... publish, wait for the confirms ...
//   src->remove(rows);                    // delete (or mark published)
//
// Errors throw std::runtime_error (the relay logs, waits and reconnects). Single-threaded.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace warren::outbox {

struct row {
    int64_t id = 0;
    std::string exchange, routing_key;
    std::string headers;  // JSON text, may be empty
    std::string body;
};

struct source_options {
    std::string table = "outbox";
    bool keep = false;               // mark rows published_at instead of deleting them
    std::string channel = "outbox";  // PostgreSQL: the LISTEN channel the --init trigger uses
};

class source {
public:
    virtual ~source() = default;
    // Creates the table (and on PostgreSQL the trigger that notifies the channel on insert) if
    // it does not exist.
    virtual void init() = 0;
    // Up to `limit` pending rows, lowest id first.
    virtual std::vector<row> fetch(size_t limit) = 0;
    // The rows are relayed: delete them (or set published_at), in one transaction.
    virtual void remove(const std::vector<row>& rows) = 0;
    // Waits until new rows may be there: a notification (PostgreSQL) or `timeout`.
    virtual void wait(std::chrono::milliseconds timeout) = 0;
    struct backlog {
        uint64_t pending = 0;
        std::optional<double> oldest_age_ms;  // age of the oldest pending row
    };
    virtual backlog pending() = 0;
};

// `db`: "postgresql://..." or "postgres://..." (a libpq connection URI), or "sqlite:PATH"
// (or a path ending in .db / .sqlite). Throws if it cannot connect or open.
std::unique_ptr<source> open_source(const std::string& db, const source_options& o);

}  // namespace warren::outbox

#pragma once
// warren-outbox's loop: read the oldest pending outbox rows, publish them in id order over one
// AMQP channel in confirm mode (persistent, header x-deduplication-header = the row id), wait for
// the broker's confirms, and only then delete (or mark) the rows. Either side may die at any
// point: the broker (reconnect with backoff, publish the unconfirmed rows again), the database
// (reopen) or the relay itself (a restart starts from the oldest pending row). A row may so be
// published more than once, never lost; a deduplicating exchange (core/dedup.h) with a durable
// cache drops the repeats, so each row reaches the queues exactly once.
//
//   outbox::relay r(opts);
//   r.run(stop_flag);     // returns when stop_flag is set
//
// Single-threaded; progress lines go to stderr, metrics to `metrics_file` (Prometheus text).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/fields.h"
#include "tools/outbox/source.h"
#include "tools/perf/options.h"

namespace warren::outbox {

struct relay_options {
    perf::amqp_uri amqp;
    std::string db;
    source_options src;
    size_t batch = 500;                    // rows per publish batch
    std::chrono::milliseconds poll{1000};  // wait when idle (PostgreSQL: or NOTIFY)
    uint16_t wake_udp = 0;  // a datagram to 127.0.0.1:wake_udp ends the wait (SQLite's NOTIFY)
    std::chrono::milliseconds progress_every{5000};  // 0: no progress lines
    std::string metrics_file;                        // "": none
    bool init = false;                               // create the table first
    uint64_t max_rows = 0;                           // stop after relaying this many (tests)
};

struct relay_stats {
    uint64_t relayed = 0;  // rows confirmed by the broker and removed
    uint64_t batches = 0;
    uint64_t republished = 0;  // rows published again after a failure
    uint64_t broker_reconnects = 0, db_reconnects = 0;
    uint64_t db_queries = 0;   // statements run against the outbox (fetch, remove, count)
    uint64_t pending = 0;      // at the last progress check
    double oldest_age_ms = 0;  // lag: age of the oldest pending row then
};

// The message headers for a row: its JSON object (strings, integers, floats, booleans, null,
// nested objects and arrays), plus x-deduplication-header = the row id (long). Invalid JSON
// or a non-object gives just the id header (the row is still relayed; a warning is logged).
core::field_table row_headers(const row& r, std::string* warning = nullptr);

class relay {
public:
    explicit relay(relay_options o) : _o(std::move(o)) {}
    // Runs until `stop` is set (or max_rows are relayed). Returns 0, or 1 if it could never
    // start (bad options).
    int run(const std::atomic<bool>& stop);
    const relay_stats& stats() const { return _stats; }

private:
    void progress(source& src, bool force);
    // Waits for new rows: the source's own wait (NOTIFY or a sleep), or the wake socket.
    void wait(source& src);
    void write_metrics() const;

    relay_options _o;
    relay_stats _stats;
    std::chrono::steady_clock::time_point _last_progress{};
    uint64_t _last_relayed = 0;
    int _wake_fd = -1;
};

}  // namespace warren::outbox

#pragma once
// Stream queues (x-queue-type: stream, RabbitMQ's semantics over AMQP 0-9-1 and STOMP): an
// append-only log that consumers read without removing anything. Each message gets an offset
// (0, 1, 2, ...); a consumer starts where its x-stream-offset says (first, last, next, an
// offset, a timestamp, or an interval such as "1h") and reads on independently of the others;
// an ack only returns credit. Retention (x-max-length-bytes, x-max-age, by policy too) deletes
// whole segments (x-stream-max-segment-size-bytes), oldest first. docs/streams.md.
//
// A stream lives inside its core::queue (queue::is_stream()), which keeps the consumers and the
// queue's identity; this class keeps the log and each consumer's position. Storage is a
// stream_storage: durability/ implements it over store::stream_log (a directory of segment files
// per stream, synced in the shared log's group commit, so a publisher confirm means on disk);
// memory_stream_storage() keeps everything in memory (unit tests, a broker without a data dir).
//
// Reads: the newest messages (up to tail_cache_bytes) are kept in memory, already stamped with
// their x-stream-offset header, so consumers that keep up cost no disk read and no copy; a
// consumer further behind reads batches from storage.
//
// Lives on the broker thread, like its queue.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/fields.h"
#include "core/message.h"

namespace warren::core {

class queue;

// One stream's log, as core sees it.
class stream_storage {
public:
    virtual ~stream_storage() = default;
    struct entry {
        uint64_t offset = 0;
        uint64_t timestamp_ms = 0;  // wall clock, when it was appended
        std::string filter;         // x-stream-filter-value ("" = none)
        message_ptr msg;
        bool stamped = true;  // msg has its x-stream-offset header (read() returns them so)
    };
    // Appends m at next_offset(); returns the seq of the shared log's group commit to confirm
    // at (1 for a storage with nothing to wait for), 0 if it cannot be stored.
    virtual uint64_t append(const message& m, uint64_t timestamp_ms, std::string_view filter) = 0;
    // Entries from `from` (raised to first_offset()): at most max_records, stopping after the
    // one that reaches max_bytes of bodies. Empty at the end or on a read error (logged).
    virtual std::vector<entry> read(uint64_t from, size_t max_records, size_t max_bytes) = 0;
    // The same off the broker thread (a storage on disk): `done` runs later on the broker
    // thread, never after the storage is destroyed. reads_async() false: read() is cheap (in
    // memory) and read_async is not used.
    using read_done = std::function<void(std::vector<entry>)>;
    virtual bool reads_async() const { return false; }
    virtual void read_async(uint64_t from, size_t max_records, size_t max_bytes, read_done done) {
        done(read(from, max_records, max_bytes));
    }
    virtual uint64_t first_offset() const = 0;
    virtual uint64_t next_offset() const = 0;
    // First offset appended at or after ts_ms (next_offset() if none).
    virtual uint64_t offset_at_time(uint64_t ts_ms) = 0;
    virtual uint64_t bytes() const = 0;
    virtual size_t segment_count() const = 0;
    // Deletes whole segments (never the newest) over max_bytes / older than max_age (0: none).
    virtual void retain(uint64_t max_bytes, uint64_t max_age_ms, uint64_t now_ms) = 0;
    virtual void set_max_segment_bytes(uint64_t n) = 0;
    // The queue is deleted: remove everything.
    virtual void destroy() = 0;
};

std::unique_ptr<stream_storage> memory_stream_storage(uint64_t max_segment_bytes);

// Sets header x-stream-offset (long) and re-encodes props_raw: what a stream delivers. The log
// stores the message as published; readers stamp what they read.
void stamp_stream_offset(message& m, uint64_t offset);

// RabbitMQ's stream settings, from x-arguments and policies (the lower value wins).
struct stream_settings {
    std::optional<uint64_t> max_bytes;         // x-max-length-bytes / max-length-bytes
    std::optional<uint64_t> max_age_ms;        // x-max-age / max-age
    uint64_t max_segment_bytes = 500'000'000;  // x-stream-max-segment-size-bytes
    static stream_settings parse(const field_table& args, const field_table* policy);
};
// "7D", "1h", "30m", "10s", "1Y", "2M": milliseconds; nullopt if malformed (RabbitMQ's
// units: Y = 365 days, M = 30 days, D, h, m, s; the number must be positive).
std::optional<uint64_t> parse_max_age(std::string_view s);

// Where a consumer starts (x-stream-offset); nullopt: no argument (RabbitMQ's default, next).
struct stream_start {
    enum kind { first, last, next, offset, timestamp } k = next;
    uint64_t value = 0;  // offset, or wall-clock ms for timestamp
};
// Parses a basic.consume / SUBSCRIBE argument; an error text (RabbitMQ's) if invalid.
basic_result<stream_start, std::string> parse_stream_offset(const field_value& v, uint64_t now_ms);

// queue.declare of a new stream (x-queue-type: stream), RabbitMQ's checks and texts in its
// order: arguments streams do not support, then the values, then the properties (a stream is
// durable, not exclusive, not auto-delete). `resource`: "queue 'q' in vhost '/'".
result<void> validate_stream_declare(const field_table& args, bool durable, bool exclusive,
                                     bool auto_delete, std::string_view resource);
// The arguments compared when a stream is declared again (the others are ignored).
inline constexpr std::string_view stream_equivalence_args[] = {
    "x-max-length-bytes",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-queue-type",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
};
bool is_stream_decl(const field_table& args);

class stream {
public:
    stream(queue& q, stream_settings settings);
    ~stream();
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    // A publish: stamps x-stream-offset, appends, hands it to waiting consumers. Returns false
    // if the storage refused it. *store_seq (may be null) is raised to the seq to confirm at.
    bool append(const message_ptr& m, uint64_t* store_seq);
    // A consumer joins (its x-stream-* arguments in c->args) / leaves.
    result<void> attach(consumer* c);
    void detach(consumer* c);
    // Delivers to every consumer with credit from its position, as far as it can.
    void dispatch(std::span<consumer* const> consumers);
    // Retention by age, at most once a second (the vhost's tick).
    void tick(uint64_t now_ms);
    std::optional<uint64_t> next_tick() const;
    void apply_settings(stream_settings s);
    void destroy();  // the queue is deleted
    // Storage is opened at first use (a recovered stream is declared before the store is
    // attached); recovery opens it early. close_storage: the store is going away.
    void open_storage() { (void)storage(); }
    void close_storage();

    uint64_t first_offset() const;
    uint64_t next_offset() const;  // one past the last (RabbitMQ's committed offset + 1)
    uint64_t bytes() const;
    size_t segment_count() const;
    uint64_t message_count() const { return next_offset() - first_offset(); }
    const stream_settings& settings() const { return _settings; }

    static constexpr size_t tail_cache_bytes = 8u << 20;
    static constexpr size_t read_batch = 256;

private:
    struct reader {
        uint64_t next = 0;  // offset of the next message to consider
        std::vector<std::string> filters;
        bool match_unfiltered = false;
        std::deque<stream_storage::entry> batch;  // read ahead from storage
        uint64_t id = 0;       // for a read_async that lands after the reader is gone
        bool reading = false;  // a read_async is in flight
    };
    // Starts a read_async for r from `from` (its result lands in on_read).
    void read_ahead(reader& r, uint64_t from);
    void on_read(uint64_t reader_id, std::vector<stream_storage::entry> got);
    stream_storage& storage();
    void retain(uint64_t now_ms);
    bool wanted(const reader& r, const stream_storage::entry& e) const;
    // The entry at r.next (from the tail cache or storage); null at the end.
    stream_storage::entry* peek(reader& r);

    queue& _q;
    stream_settings _settings;
    std::unique_ptr<stream_storage> _storage;
    std::deque<stream_storage::entry> _tail;  // the newest entries, in offset order
    size_t _tail_bytes = 0;
    std::unordered_map<const consumer*, reader> _readers;
    uint64_t _last_retention = 0;
    uint64_t _seq = 0;  // delivery seqs (an ack only returns credit)
    uint64_t _next_reader_id = 1;
    size_t _segments_seen = 0;
};

}  // namespace warren::core

#pragma once
// segment_log: the durable message log. Persistent messages on durable queues, and the acks
// that settle them, are appended to fixed-size segment files under <data_dir>/msgs/; a message
// is read back by its position (segment, offset). Format: log_format.h and docs/storage.md.
//
// Group commit: append_*() only encodes the record into an in-memory buffer and returns a
// sequence number. A background flusher thread (or the caller's flush(), when
// options.background_flush is false) writes everything buffered and fsyncs once per batch;
// while one fsync runs, new appends gather for the next one, so under load one fsync covers
// many records. durable_seq() says how far the disk has caught up; options.on_durable is called
// (on the flusher thread) after each batch, so a broker can post the confirm work to its event
// loop. Send a publisher confirm only once durable_seq() >= the append's seq.
//
// Liveness: every message record names the queues holding it. It stays live until each of
// those queues acks it (ack(), also used for purge) or is deleted (queue_deleted()). A segment
// with nothing live, that is not the one being appended to, is deleted, unless it holds acks
// for messages in an older segment that still exists (deleting it would resurrect them after a
// restart); it goes once that older segment has gone.
//
// Compaction: a sealed segment that is mostly dead has its few live message records copied to
// the head of the log (same message id, the queues still holding it), after which it is dead
// and deleted. So a record's position can change: queues should hold message ids and read with
// read_message(id) (a hash lookup, then one pread). Message ids must grow in publish order.
//
// Recovery (open): scans every remaining segment in order, rebuilds each queue's live messages
// (in message-id, i.e. publish, order) with their positions, cuts a torn or corrupt tail off,
// skips a corrupt region in the middle (reported, never served), deletes dead segments, and
// starts a fresh segment.
//
//   store::recovery_result rec;
//   auto log = store::segment_log::open(store::posix_env(), dir + "/msgs", opts, &rec);
//   if (!log) fail(log.error().text);
//   WLOG_INFO("store recovered {}", rec.stats.summary());
//   auto a = (*log)->append_message(msg_id, queue_ids, bytes);   // a->pos, a->seq
//   ... when (*log)->durable_seq() >= a->seq: confirm
//   (*log)->ack(queue_id, {msg_id});
//   auto body = (*log)->read_message(msg_id);
//
// Threads: every method may be called from any thread (one mutex guards the state; appends
// hold it only to copy bytes). The broker calls it from its event-loop thread; the flusher is a
// private thread. Lifetime: the destructor flushes what is buffered and joins the flusher.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/env.h"
#include "store/error.h"
#include "store/message_codec.h"

namespace warren::store {

struct position {
    uint64_t segment = 0;
    uint32_t offset = 0;
    bool operator==(const position&) const = default;
    auto operator<=>(const position&) const = default;
};

// Another file that must be durable before the log's durable_seq may pass a seq: a stream's own
// log (stream_log.h). The flusher calls sync() after each batch it wrote (and fsynced), before
// it publishes the batch's durable_seq; a failure stalls and retries the batch like its own.
class sync_participant {
public:
    virtual ~sync_participant() = default;
    virtual status sync() = 0;
};

struct segment_log_options {
    // Nominal segment size. A record larger than this gets a segment of its own.
    uint64_t segment_size = 64ull << 20;
    // true: a private thread writes and fsyncs batches. false: nothing is written until the
    // caller calls flush() (tests, or a broker that drives flushing from its loop).
    bool background_flush = true;
    // After the flusher wakes for new work it waits this long to let more gather (0 = none;
    // batching then comes only from appends made while the previous fsync ran).
    std::chrono::microseconds linger{0};
    // Called after each batch is durable, with the new durable_seq, on the flusher thread (or
    // the flush() caller). Must be quick and thread-safe, e.g. asio::post to the broker loop;
    // it must not call flush() (the flusher would wait for itself).
    std::function<void(uint64_t durable_seq)> on_durable;
    // Called once, on the flusher thread, when the log fails for good (after which nothing more
    // becomes durable): the broker must stop waiting for confirms. Same rules as on_durable.
    std::function<void(const error&)> on_failed;
    // A batch could not be written or fsynced (a full disk, no file descriptors, an I/O error):
    // the log keeps the batch and everything appended after it in memory, still readable, and
    // the flusher retries with back-off (retry_min doubling to retry_max). Before each retry
    // every segment the batch touched is cut back to where the batch began in it and the same
    // bytes are written again, so a failed fsync never leaves data of unknown state behind.
    // on_stalled is called at the first failure, on_resumed after the first batch that then
    // became durable (confirm waiters keep waiting meanwhile). Same rules as on_durable.
    std::function<void(const error&)> on_stalled;
    std::function<void()> on_resumed;
    std::chrono::milliseconds retry_min{50};
    std::chrono::milliseconds retry_max{5000};
    // Compaction: a sealed segment whose live message records fill at most this fraction of
    // it has them copied to the head of the log, so it can be deleted. 0 disables. The
    // flusher does it in steps of compact_step_bytes between batches; without a flusher the
    // caller runs compact().
    double compact_live_ratio = 0.25;
    size_t compact_step_bytes = 4u << 20;
};

struct recovered_message {
    uint64_t message_id = 0;
    position pos;
    uint32_t size = 0;  // of its whole record (an upper bound on the message's size)
};

struct recovery_stats {
    uint64_t segments_scanned = 0;
    uint64_t bytes_scanned = 0;
    uint64_t records = 0;           // good records read
    uint64_t messages = 0;          // live (queue, message) pairs recovered
    uint64_t queues = 0;            // queues with at least one live message
    uint64_t segments_deleted = 0;  // dead segments removed at the end of recovery
    uint64_t torn_tails = 0;        // segments whose tail was cut off
    uint64_t bytes_truncated = 0;
    uint64_t corrupt_regions = 0;  // corrupt stretches skipped in the middle of a segment
    uint64_t bytes_skipped = 0;
    uint64_t corrupt_segments = 0;  // whole files set aside (bad header), renamed *.corrupt
    std::chrono::microseconds duration{0};
    std::string summary() const;
};

struct recovery_result {
    // queue id -> its live messages in publish (message id) order.
    std::map<uint64_t, std::vector<recovered_message>> queues;
    uint64_t max_message_id = 0;  // continue numbering above this
    recovery_stats stats;
};

struct segment_info {
    uint64_t segment = 0;
    uint64_t live = 0;                // live (queue, message) references
    uint64_t live_bytes = 0;          // bytes of message records still live
    uint64_t bytes = 0;               // file length (end of the last record)
    std::vector<uint64_t> waits_for;  // older segments its acks refer to
    bool active = false;
};

class segment_log {
public:
    // Opens (creating if needed) the log in `dir` and recovers it. `recovered` may be null.
    // Fails with unsupported_version for a segment written by a newer format.
    static result<std::unique_ptr<segment_log>> open(env* e, std::string dir,
                                                     segment_log_options opts,
                                                     recovery_result* recovered);
    ~segment_log();
    segment_log(const segment_log&) = delete;
    segment_log& operator=(const segment_log&) = delete;

    struct appended {
        position pos;
        uint64_t seq = 0;
    };
    // A message held by the given queues (at least one, at most 65535). `data` is opaque (see
    // message_codec.h for the encoding the broker uses). message_id must not be live already.
    result<appended> append_message(uint64_t message_id, std::span<const uint64_t> queue_ids,
                                    std::string_view data);
    // The same, encoding the message (message_codec.h) straight into the log's buffer: saves
    // the copy of the body that encode_message() + append_message() would make.
    result<appended> append_message(uint64_t message_id, std::span<const uint64_t> queue_ids,
                                    const message_fields& m);
    // The queue is done with these messages (acked, purged, expired, dead-lettered). Unknown
    // or already-settled ids are ignored. Returns the seq covering the record (no record and
    // the current last_seq if nothing was live).
    result<uint64_t> ack(uint64_t queue_id, std::span<const uint64_t> message_ids);
    // The queue is gone: writes a marker (recovery drops every earlier message of the queue)
    // and releases the given ids, which should be all the queue's live messages.
    result<uint64_t> queue_deleted(uint64_t queue_id, std::span<const uint64_t> message_ids);

    // The data of the message record at `p`. Served from the write buffer if not yet written,
    // else by pread. corruption if the bytes fail their checksum; not_found if the segment
    // was deleted. Compaction moves records: hold message ids and use read_message() unless
    // compaction is off.
    result<std::string> read(position p) const;
    // read_message for many ids at once, one result per id in order: records still in memory
    // are copied, the rest are read with one pread per run of nearby records in a segment
    // (sorted by position), so paging a backlog back in costs a few syscalls per batch, not
    // one per message. A record moved by compaction meanwhile is looked up again.
    std::vector<result<std::string>> read_messages(std::span<const uint64_t> message_ids) const;
    // The data of a live message, wherever it is now. not_found if it is not live.
    result<std::string> read_message(uint64_t message_id) const;
    // Where a live message is now.
    std::optional<position> locate(uint64_t message_id) const;

    // One step of compaction (at most compact_step_bytes of a sparse segment). Returns true
    // if there is more to do. The flusher calls it when idle; call it yourself without one.
    result<bool> compact();

    // Participants (sync_participant): registered ones are synced with every batch after they
    // call note_external(), which returns the seq to wait for (0 if the log has failed).
    void add_participant(std::shared_ptr<sync_participant> p);
    void remove_participant(const sync_participant* p);
    uint64_t note_external();

    // Sequence number of the newest append (0 before any).
    uint64_t last_seq() const;
    // Every append with seq <= durable_seq() is on disk (written and fsynced).
    uint64_t durable_seq() const { return _durable_seq.load(std::memory_order_acquire); }
    // Calls cb (on the flusher thread, or here if already durable) once seq is durable.
    // Not called if the log fails first.
    void on_durable(uint64_t seq, std::function<void()> cb);
    // Writes and fsyncs everything appended so far; returns once it is durable or failed.
    status flush();
    // The sticky error after the log failed for good (then nothing more is accepted).
    status health() const;
    // The write error the flusher is retrying after (nullopt: not stalled).
    std::optional<error> stalled() const;

    struct counters {
        uint64_t appends = 0;  // records appended
        uint64_t batches = 0;  // flush batches written
        uint64_t fsyncs = 0;   // file fsyncs issued
        uint64_t bytes_written = 0;
        uint64_t segments_deleted = 0;
        uint64_t relocated = 0;      // message records copied by compaction
        uint64_t live_messages = 0;  // distinct live message records
        uint64_t pending_bytes = 0;  // appended, not yet written
        // Latency of each batch's closing fsync (fdatasync), for /metrics: how many took at
        // most sync_bounds_us[i] (not cumulative; the last slot counts the slower ones), their
        // sum and count.
        static constexpr std::array<uint64_t, 12> sync_bounds_us = {
            100,    250,    500,    1'000,   2'500,   5'000,
            10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000};
        std::array<uint64_t, 13> sync_buckets{};
        uint64_t sync_sum_us = 0;
        uint64_t sync_count = 0;
        // Records (appends) per group-commit batch written, the same way: batches of at most
        // batch_bounds[i] records, the larger ones in the last slot, and the sum.
        static constexpr std::array<uint64_t, 12> batch_bounds = {1,  2,   4,   8,   16,   32,
                                                                  64, 128, 256, 512, 1024, 4096};
        std::array<uint64_t, 13> batch_buckets{};
        uint64_t batch_records = 0;
    };
    counters stats() const;
    std::vector<segment_info> segments() const;
    const std::string& dir() const { return _dir; }
    std::string segment_path(uint64_t segment) const;

private:
    struct chunk {
        uint64_t segment = 0;
        uint64_t start = 0;  // offset of bytes[0] in the segment file
        std::string bytes;
    };
    struct seg_state {
        uint64_t live = 0;
        uint64_t live_bytes = 0;
        uint64_t bytes = 0;       // end of the last record
        bool no_compact = false;  // compaction found it unreadable: leave it be
        // Older segments holding messages this one's acks settle, or records its compaction
        // copies supersede: it is deleted only after them.
        std::set<uint64_t> pins;
        bool deleting = false;
        mutable std::shared_ptr<random_access_file> reader;  // opened by the first read
    };
    // The queues still holding one message: inline when there is one (the common case), an
    // array for fanout. Order does not matter (removal swaps the last one in).
    struct queue_refs {
        uint32_t n = 0;
        uint64_t one = 0;
        std::unique_ptr<uint64_t[]> many;
        void assign(std::span<const uint64_t> qs);
        const uint64_t* begin() const { return many ? many.get() : &one; }
        const uint64_t* end() const { return begin() + n; }
        bool contains(uint64_t q) const;
        bool remove(uint64_t q);
    };
    struct live_entry {  // ~56 bytes per live message record, with the map node
        uint64_t segment = 0;
        uint32_t offset = 0;
        uint32_t size = 0;  // of the whole record
        queue_refs queues;
    };

    segment_log(env* e, std::string dir, segment_log_options opts);
    // A record still in _pending or _inflight at p: true and `out` set (the bytes or a
    // corruption error); false if p is not in memory. Holds _mu.
    bool read_buffered_locked(position p, result<std::string>& out) const;
    // The segment's shared reader, opened on first use. Holds _mu.
    result<std::shared_ptr<random_access_file>> reader_locked(uint64_t segment) const;
    template <typename Writer>
    result<appended> append_impl(uint64_t message_id, std::span<const uint64_t> queue_ids,
                                 size_t data_len, Writer&& write);
    status recover(recovery_result& out);
    status scan_segment(uint64_t seg, const std::string& path, recovery_result& out,
                        std::unordered_map<uint64_t, std::vector<uint64_t>>& order);
    void start();

    // All *_locked: _mu held.
    std::string& chunk_for_append_locked();
    void make_room_locked(size_t record_size);
    void release_locked(uint64_t message_id, uint64_t queue_id, uint64_t tomb_segment);
    void maybe_delete_locked(uint64_t seg);
    void advance_locked(size_t size);
    void place_locked(live_entry& e, uint64_t seg, uint32_t offset, uint32_t size);
    std::optional<uint64_t> compaction_candidate_locked() const;
    bool compaction_pending_locked() const;
    bool deletable_locked(uint64_t seg) const;

    status flush_once();
    void flusher_main();
    void delete_segments(std::vector<uint64_t> segs);

    env* _env;
    std::string _dir;
    segment_log_options _opts;

    mutable std::mutex _mu;
    std::condition_variable _work_cv;
    std::condition_variable _durable_cv;
    std::vector<chunk> _pending;
    std::vector<chunk> _inflight;
    std::string _spare;     // a written chunk's buffer, reused so appends rarely reallocate
    std::string _scan_buf;  // recovery: one segment at a time (released when it is done)
    std::map<uint64_t, seg_state> _segs;
    std::unordered_map<uint64_t, live_entry> _live;
    std::vector<uint64_t> _to_delete;
    std::multimap<uint64_t, std::function<void()>> _waiters;
    std::vector<std::shared_ptr<sync_participant>> _participants;
    bool _external = false;  // a participant has data to sync
    uint64_t _append_seg = 0;
    uint64_t _append_off = 0;
    uint64_t _last_seq = 0;
    std::atomic<uint64_t> _durable_seq{0};
    std::optional<error> _error;
    std::optional<error> _stall;           // a write is being retried (on_stalled)
    uint32_t _stall_retries = 0;           // failed attempts since the stall began
    std::map<uint64_t, uint64_t> _rewind;  // segment -> offset to cut back to before a retry
    bool _recovering = false;
    bool _stop = false;
    bool _flusher_idle = false;
    bool _busy = false;
    uint64_t _compact_seg = 0;  // segment being compacted (0 = none)
    uint64_t _compact_off = 0;  // next offset to look at in it  // a flush_once is between taking
                                // work and finishing its deletions
    counters _counters;

    // Owned by whoever holds _flush_mu (the flusher thread, or a manual flush() caller).
    std::mutex _flush_mu;
    std::mutex _compact_mu;  // one compact() at a time
    std::unique_ptr<writable_file> _writer;
    uint64_t _writer_seg = 0;

    std::thread _flusher;
};

}  // namespace warren::store

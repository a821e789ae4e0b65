#pragma once
// stream_log: one stream queue's append-only log (x-queue-type: stream). Unlike the shared
// segment log (segment_log.h), nothing here is ever acked: records stay until retention deletes
// whole segments, oldest first. Each record has an offset (0, 1, 2, ... in append order), the
// time it was appended, an optional filter value and the caller's bytes (message_codec.h).
//
// Layout, in its own directory (<data_dir>/streams/<queue store id>/):
//   <first offset, 20 digits>.seg   a segment: 16-byte header, then records back to back
//     header:  8 bytes "WRNSTRM1", u64 first offset
//     record:  u32 length of what follows the crc, u32 masked crc32c of it,
//              u64 offset, u64 timestamp_ms, u16 filter length, filter, data
//   (integers little-endian). A new segment starts when the next record would take the current
//   one past max_segment_bytes (a larger record gets a segment of its own).
//
// Durability: append() only buffers. sync() (called by the shared log's flusher, as a
// sync_participant: segment_log.h) writes and fsyncs what is buffered, so a publisher confirm
// for a stream waits for the same group commit as any other persistent message. A segment is
// fsynced and closed when the next one starts. A failed write is retried on the next sync():
// the file is cut back to its last durable length and the same bytes written again.
//
// Reads: read() serves any offset still kept, from the files by pread (the OS page cache does
// the caching) or from the buffer for what is not written yet. A sparse in-memory index (one
// entry per index_interval_bytes of each segment: offset, file position, time) finds where to
// start, so memory stays small however long the stream is.
//
// Recovery (open): a sealed segment's index comes from its <first>.idx file (written when the
// segment was sealed; crc-checked, and only if the segment still has the length it records),
// else the segment is read once, in windows of 1 MiB; the newest segment is always read. A torn
// or corrupt tail is cut off, and a gap in offsets ends the stream there (later segments are
// set aside as *.corrupt).
//
//   auto log = store::stream_log::open(store::posix_env(), dir, {});
//   auto off = (*log)->append(now_ms, "", fields);      // buffered
//   (*log)->sync();                                      // durable
//   auto batch = (*log)->read(0, 100, 1 << 20);          // records 0..99
//   (*log)->apply_retention(1ull << 30, 0, now_ms);      // keep about 1 GiB
//
// Threads: append/read/retention/destroy from one thread (the broker's); sync() from another
// (the flusher). One mutex guards the state; fsync runs outside it.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.h"
#include "store/error.h"
#include "store/message_codec.h"
#include "store/segment_log.h"

namespace warren::store {

struct stream_log_options {
    uint64_t max_segment_bytes = 500'000'000;  // RabbitMQ's default
    uint32_t index_interval_bytes = 64u << 10;
};

struct stream_record {
    uint64_t offset = 0;
    uint64_t timestamp_ms = 0;
    std::string filter;  // empty: none
    std::string data;
};

struct stream_segment_info {
    uint64_t first_offset = 0;
    uint64_t next_offset = 0;  // one past its last record
    uint64_t first_ts = 0, last_ts = 0;
    uint64_t bytes = 0;  // file length
};

struct stream_recovery_stats {
    uint64_t segments = 0, records = 0, bytes = 0;
    uint64_t bytes_truncated = 0;  // torn or corrupt tail cut off
    uint64_t segments_set_aside = 0;
    uint64_t indexed = 0;  // sealed segments recovered from their .idx without a scan
};

class stream_log final : public sync_participant {
public:
    static result<std::shared_ptr<stream_log>> open(env* e, std::string dir,
                                                    stream_log_options opts,
                                                    stream_recovery_stats* stats = nullptr);
    ~stream_log() override;
    stream_log(const stream_log&) = delete;
    stream_log& operator=(const stream_log&) = delete;

    // Buffers a record; returns its offset. Fails only if a segment cannot be started or
    // finished (a new file, the fsync of the full one).
    result<uint64_t> append(uint64_t timestamp_ms, std::string_view filter,
                            const message_fields& m);
    result<uint64_t> append(uint64_t timestamp_ms, std::string_view filter, std::string_view data);
    // Writes and fsyncs everything appended so far (sync_participant).
    status sync() override;

    // Up to max_records records from offset `from` (raised to first_offset()), stopping after
    // the record that reaches max_bytes of data. Empty at the end.
    result<std::vector<stream_record>> read(uint64_t from, size_t max_records,
                                            size_t max_bytes) const;
    uint64_t first_offset() const;
    uint64_t next_offset() const;  // the offset the next append gets
    // The first offset whose record was appended at or after ts_ms (next_offset() if none).
    result<uint64_t> offset_at_time(uint64_t ts_ms) const;
    uint64_t bytes() const;  // of every segment file
    std::vector<stream_segment_info> segments() const;
    size_t segment_count() const;  // segments().size() without building the list
    // Deletes whole segments, oldest first, never the newest: while the stream is over
    // max_bytes (0: no limit), and every segment whose newest record is older than
    // now_ms - max_age_ms (max_age_ms 0: no limit). Returns how many were deleted.
    result<size_t> apply_retention(uint64_t max_bytes, uint64_t max_age_ms, uint64_t now_ms);
    void set_max_segment_bytes(uint64_t n);
    // Removes every file and the directory (the queue is deleted); nothing works afterwards.
    status destroy();
    const std::string& dir() const { return _dir; }

private:
    struct index_entry {
        uint64_t offset;
        uint64_t pos;
        uint64_t ts;
    };
    struct segment {
        uint64_t first = 0;
        uint64_t next = 0;
        uint64_t first_ts = 0, last_ts = 0;
        uint64_t bytes = 0;  // file length including what is buffered (active one)
        uint64_t last_index_pos = 0;
        std::vector<index_entry> index;
        mutable std::shared_ptr<random_access_file> reader;
    };

    stream_log(env* e, std::string dir, stream_log_options opts);
    status recover(stream_recovery_stats& st);
    std::string path_of(uint64_t first) const;
    std::string index_path_of(uint64_t first) const;
    // <first>.idx: a sealed segment's index (written when the next segment starts), so that
    // recovery need not read the segment. Checked by crc and against the segment's length.
    void write_index_locked(const segment& s);
    bool load_index(uint64_t first, uint64_t file_size, segment& s) const;
    status start_segment_locked(uint64_t first);  // seals the active one first
    void note_record_locked(segment& s, uint64_t offset, uint64_t pos, uint64_t ts);
    template <typename Writer>
    result<uint64_t> append_impl(uint64_t ts, std::string_view filter, size_t data_len,
                                 Writer&& write);
    // `n` bytes of segment s from `pos` (file, then the unwritten buffer for the active one).
    status fetch_locked(const segment& s, uint64_t pos, size_t n, std::string& out) const;
    // Parses records from `pos` in s until `want` records / `max_bytes`; appends to out.
    status scan_locked(const segment& s, uint64_t pos, uint64_t from, size_t want, size_t max_bytes,
                       std::vector<stream_record>& out, size_t& got_bytes) const;

    env* _env;
    std::string _dir;
    stream_log_options _opts;

    std::mutex _sync_mu;  // one sync() or segment switch at a time
    mutable std::mutex _mu;
    std::map<uint64_t, segment> _segs;       // by first offset
    std::unique_ptr<writable_file> _writer;  // the active (last) segment
    uint64_t _active = 0;                    // its first offset
    // Bytes of the active segment since its durable length: [0, _written) already written.
    std::string _buf;
    size_t _written = 0;
    uint64_t _durable_len = 0;  // of the active segment's file
    bool _rewind = false;       // a write failed: cut back to _durable_len before the next
    uint64_t _next = 0;
    bool _destroyed = false;
};

}  // namespace warren::store

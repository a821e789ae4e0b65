#include "store/segment_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include <fmt/format.h>

#include "base/containers.h"
#include "base/log.h"
#include "store/log_format.h"

namespace warren::store {

namespace lf = log_format;

namespace {

constexpr std::string_view seg_suffix = ".seg";
constexpr size_t seg_name_digits = 20;
// Ids per ack record, so that one record stays well under max_payload.
constexpr size_t max_ids_per_ack = 1u << 20;

std::optional<uint64_t> parse_segment_name(std::string_view name) {
    if (name.size() != seg_name_digits + seg_suffix.size()) return std::nullopt;
    if (name.substr(seg_name_digits) != seg_suffix) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < seg_name_digits; ++i) {
        char c = name[i];
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

// Searches past a bad record for the next offset where a well-framed record starts.
std::optional<size_t> resync(std::string_view file, size_t from) {
    for (size_t o = from; o + lf::record_header_size <= file.size(); ++o) {
        auto t = static_cast<uint8_t>(file[o + 8]);
        if (t < 1 || t > 3) continue;
        uint32_t len = lf::get_u32(file.data() + o + 4);
        if (len > file.size() - o - lf::record_header_size) continue;
        uint32_t size = 0;
        if (lf::check_record(file.substr(o), size) == lf::parse_status::ok) return o;
    }
    return std::nullopt;
}

}  // namespace

void segment_log::queue_refs::assign(std::span<const uint64_t> qs) {
    n = static_cast<uint32_t>(qs.size());
    if (n == 1) {
        one = qs[0];
        many.reset();
    } else {
        many = std::make_unique<uint64_t[]>(n);
        std::copy(qs.begin(), qs.end(), many.get());
    }
}

bool segment_log::queue_refs::contains(uint64_t q) const {
    return std::find(begin(), end(), q) != end();
}

bool segment_log::queue_refs::remove(uint64_t q) {
    uint64_t* d = many ? many.get() : &one;
    for (uint32_t i = 0; i < n; ++i) {
        if (d[i] == q) {
            d[i] = d[n - 1];
            --n;
            return true;
        }
    }
    return false;
}

std::string recovery_stats::summary() const {
    return fmt::format(
        "segments_scanned={} bytes_scanned={} records={} live_messages={} queues={} "
        "segments_deleted={} torn_tails={} bytes_truncated={} corrupt_regions={} "
        "bytes_skipped={} corrupt_segments={} duration_ms={:.1f}",
        segments_scanned, bytes_scanned, records, messages, queues, segments_deleted, torn_tails,
        bytes_truncated, corrupt_regions, bytes_skipped, corrupt_segments,
        static_cast<double>(duration.count()) / 1000.0);
}

segment_log::segment_log(env* e, std::string dir, segment_log_options opts)
    : _env(e), _dir(std::move(dir)), _opts(std::move(opts)) {}

std::string segment_log::segment_path(uint64_t segment) const {
    char name[32];
    std::snprintf(name, sizeof name, "%020" PRIu64 ".seg", segment);
    return join_path(_dir, name);
}

result<std::unique_ptr<segment_log>> segment_log::open(env* e, std::string dir,
                                                       segment_log_options opts,
                                                       recovery_result* recovered) {
    if (opts.segment_size < lf::header_size + 64)
        return make_error(errc::invalid_argument, "segment_size too small");
    if (opts.segment_size > (4ull << 30) - 1)
        return make_error(errc::invalid_argument, "segment_size must be below 4 GiB");
    if (auto s = e->create_dirs(dir); !s) return s.error();
    std::unique_ptr<segment_log> log(new segment_log(e, std::move(dir), std::move(opts)));
    recovery_result local;
    recovery_result& out = recovered ? *recovered : local;
    out = recovery_result{};
    if (auto s = log->recover(out); !s) return s.error();
    log->start();
    return log;
}

segment_log::~segment_log() {
    {
        std::lock_guard lk(_mu);
        _stop = true;
    }
    _work_cv.notify_all();
    if (_flusher.joinable()) {
        _flusher.join();
    } else {
        (void)flush_once();
    }
    if (_writer) (void)_writer->close();
}

// ---------------------------------------------------------------------------------------------
// Recovery

status segment_log::recover(recovery_result& out) {
    auto t0 = std::chrono::steady_clock::now();
    _recovering = true;
    auto names = _env->list_dir(_dir);
    if (!names) return names.error();
    std::vector<uint64_t> segs;
    uint64_t max_seen = 0;
    for (const auto& n : *names) {
        // A set-aside "<n>.seg.corrupt" still reserves its number.
        std::string_view base = n;
        if (base.ends_with(".corrupt")) base.remove_suffix(8);
        auto num = parse_segment_name(base);
        if (!num) continue;
        max_seen = std::max(max_seen, *num);
        if (base.size() == n.size()) segs.push_back(*num);
    }
    std::sort(segs.begin(), segs.end());

    std::unordered_map<uint64_t, std::vector<uint64_t>> order;  // queue -> message ids
    for (uint64_t seg : segs) {
        if (auto s = scan_segment(seg, segment_path(seg), out, order); !s) return s;
    }
    std::string().swap(_scan_buf);

    // Queues' live messages, in publish order. Message ids grow in publish order, while log
    // order does not always follow it (compaction moves old messages to the head).
    order.clear();
    for (const auto& [id, e] : _live) {
        for (uint64_t q : e.queues) {
            out.queues[q].push_back({id, {e.segment, e.offset}, e.size});
            ++out.stats.messages;
        }
    }
    for (auto& [q, msgs] : out.queues)
        std::sort(msgs.begin(), msgs.end(),
                  [](const auto& a, const auto& b) { return a.message_id < b.message_id; });
    out.stats.queues = out.queues.size();

    // Dead segments go now. Pins point only to older segments, so one ascending pass settles
    // every chain.
    _recovering = false;
    bool removed = false;
    for (auto it = _segs.begin(); it != _segs.end();) {
        uint64_t seg = it->first;
        if (!deletable_locked(seg)) {
            ++it;
            continue;
        }
        if (auto s = _env->remove_file(segment_path(seg)); !s) return s;
        removed = true;
        ++out.stats.segments_deleted;
        it = _segs.erase(it);
        for (auto& [other, st] : _segs) st.pins.erase(seg);
    }
    if (removed) {
        if (auto s = _env->sync_dir(_dir); !s) return s;
    }

    // Appends go to a fresh segment: the old tail stays sealed as it was found.
    _append_seg = max_seen + 1;
    _segs[_append_seg].bytes = lf::header_size;
    _pending.push_back(chunk{_append_seg, 0, lf::encode_header(_append_seg)});
    _append_off = lf::header_size;

    out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    return {};
}

status segment_log::scan_segment(uint64_t seg, const std::string& path, recovery_result& out,
                                 std::unordered_map<uint64_t, std::vector<uint64_t>>& order) {
    if (auto s = _env->read_file(path, _scan_buf); !s) return s;
    const std::string& bytes = _scan_buf;
    ++out.stats.segments_scanned;
    out.stats.bytes_scanned += bytes.size();

    auto h = lf::parse_header(bytes);
    if (h.status == lf::header_status::unknown_version) {
        return make_error(errc::unsupported_version,
                          fmt::format("segment file {} has format version {}; this Warren reads "
                                      "version {} only. Refusing to start: upgrade Warren or "
                                      "move the data directory away.",
                                      path, h.version, lf::format_version));
    }
    if (h.status == lf::header_status::ok && h.segment != seg) {
        h.status = lf::header_status::bad_checksum;  // a file renamed by hand: do not trust it
    }
    if (h.status != lf::header_status::ok) {
        if (bytes.size() < lf::header_size) {
            // Crashed while creating the file: nothing in it was ever durable.
            WLOG_WARN("store: segment {} has a torn header ({} bytes); removing it", path,
                      bytes.size());
            ++out.stats.torn_tails;
            out.stats.bytes_truncated += bytes.size();
            return _env->remove_file(path);
        }
        WLOG_WARN("store: segment {} has a bad header; set aside as {}.corrupt, not served", path,
                  path);
        ++out.stats.corrupt_segments;
        return _env->rename_file(path, path + ".corrupt");
    }

    seg_state& st = _segs[seg];
    std::string_view view = bytes;
    size_t off = lf::header_size;
    lf::record r;
    while (off < bytes.size()) {
        auto ps = lf::parse_record(view.substr(off), r);
        if (ps != lf::parse_status::ok) {
            if (ps == lf::parse_status::bad_type || ps == lf::parse_status::bad_payload) {
                // Framing is sound (checksum matched) but we cannot use it: skip exactly it.
                uint32_t size = 0;
                (void)lf::check_record(view.substr(off), size);
                WLOG_WARN("store: {} at {} offset {}; skipped {} bytes", lf::to_string(ps), path,
                          off, size);
                ++out.stats.corrupt_regions;
                out.stats.bytes_skipped += size;
                off += size;
                continue;
            }
            auto next = resync(view, off + 1);
            if (!next) {
                WLOG_WARN("store: {} at {} offset {}: cutting off the last {} bytes",
                          lf::to_string(ps), path, off, bytes.size() - off);
                ++out.stats.torn_tails;
                out.stats.bytes_truncated += bytes.size() - off;
                st.bytes = off;
                return _env->truncate_file(path, off);
            }
            WLOG_WARN(
                "store: {} at {} offset {}: skipped {} bytes up to the next good record "
                "at offset {}; whatever they held is lost, never served",
                lf::to_string(ps), path, off, *next - off, *next);
            ++out.stats.corrupt_regions;
            out.stats.bytes_skipped += *next - off;
            off = *next;
            continue;
        }
        ++out.stats.records;
        switch (r.type) {
            case lf::record_type::message: {
                out.max_message_id = std::max(out.max_message_id, r.message_id);
                auto [it, fresh] = _live.try_emplace(r.message_id);
                uint64_t superseded = 0;
                if (!fresh) {
                    // A copy made by compaction: it carries the queues still holding the
                    // message then, and supersedes the older record.
                    superseded = it->second.segment;
                    auto& old = _segs[superseded];
                    old.live -= it->second.queues.n;
                    old.live_bytes -= it->second.size;
                }
                it->second.queues.assign(r.ids);
                place_locked(it->second, seg, static_cast<uint32_t>(off), r.size);
                // The copy's segment outlives the older record's (as an ack's does), else the
                // older record would come back once the copy is gone.
                if (superseded && superseded != seg) _segs[seg].pins.insert(superseded);
                for (uint64_t q : r.ids) order[q].push_back(r.message_id);
                break;
            }
            case lf::record_type::ack:
                for (uint64_t id : r.ids) release_locked(id, r.queue_id, seg);
                break;
            case lf::record_type::queue_deleted: {
                auto it = order.find(r.queue_id);
                if (it == order.end()) break;
                for (uint64_t id : it->second) release_locked(id, r.queue_id, seg);
                order.erase(it);
                break;
            }
        }
        off += r.size;
    }
    st.bytes = bytes.size();
    return {};
}

void segment_log::start() {
    if (_opts.background_flush) _flusher = std::thread([this] { flusher_main(); });
}

// ---------------------------------------------------------------------------------------------
// Appends

std::string& segment_log::chunk_for_append_locked() {
    if (_pending.empty() || _pending.back().segment != _append_seg) {
        std::string buf = std::move(_spare);
        buf.clear();
        _spare = std::string();
        _pending.push_back(chunk{_append_seg, _append_off, std::move(buf)});
    }
    return _pending.back().bytes;
}

void segment_log::make_room_locked(size_t record_size) {
    if (_append_off + record_size <= _opts.segment_size || _append_off <= lf::header_size) return;
    uint64_t old = _append_seg;
    ++_append_seg;
    _segs[_append_seg].bytes = lf::header_size;
    _pending.push_back(chunk{_append_seg, 0, lf::encode_header(_append_seg)});
    _append_off = lf::header_size;
    maybe_delete_locked(old);
}

result<segment_log::appended> segment_log::append_message(uint64_t message_id,
                                                          std::span<const uint64_t> queue_ids,
                                                          std::string_view data) {
    return append_impl(message_id, queue_ids, data.size(),
                       [&](std::string& out) { out.append(data); });
}

result<segment_log::appended> segment_log::append_message(uint64_t message_id,
                                                          std::span<const uint64_t> queue_ids,
                                                          const message_fields& m) {
    return append_impl(message_id, queue_ids, encoded_size(m),
                       [&](std::string& out) { encode_message(m, out); });
}

template <typename Writer>
result<segment_log::appended> segment_log::append_impl(uint64_t message_id,
                                                       std::span<const uint64_t> queue_ids,
                                                       size_t data_len, Writer&& write) {
    if (queue_ids.empty() || queue_ids.size() > 0xffff)
        return make_error(errc::invalid_argument, "a message record needs 1..65535 queues");
    size_t size = lf::message_record_size(queue_ids.size(), data_len);
    if (size - lf::record_header_size > lf::max_payload ||
        size + lf::header_size > (4ull << 30) - 1)
        return make_error(errc::invalid_argument, "message too large for the log");
    std::unique_lock lk(_mu);
    if (_error) return make_error(errc::failed, "message log failed earlier: " + _error->text);
    auto [it, fresh] = _live.try_emplace(message_id);
    if (!fresh)
        return make_error(errc::invalid_argument,
                          fmt::format("message id {} is already live in the log", message_id));
    make_room_locked(size);
    position pos{_append_seg, static_cast<uint32_t>(_append_off)};
    std::string& out = chunk_for_append_locked();
    size_t at = lf::begin_message(out, message_id, queue_ids, data_len);
    write(out);
    lf::finish_record(out, at);
    advance_locked(size);
    it->second.queues.assign(queue_ids);
    place_locked(it->second, pos.segment, pos.offset, static_cast<uint32_t>(size));
    uint64_t seq = ++_last_seq;
    ++_counters.appends;
    _counters.pending_bytes += size;
    bool wake = _flusher_idle;
    _flusher_idle = false;
    lk.unlock();
    if (wake) _work_cv.notify_one();
    return appended{pos, seq};
}

result<uint64_t> segment_log::ack(uint64_t queue_id, std::span<const uint64_t> message_ids) {
    std::unique_lock lk(_mu);
    if (_error) return make_error(errc::failed, "message log failed earlier: " + _error->text);
    std::vector<uint64_t> hit;
    hit.reserve(message_ids.size());
    for (uint64_t id : message_ids) {
        auto it = _live.find(id);
        if (it == _live.end()) continue;
        if (it->second.queues.contains(queue_id)) hit.push_back(id);
    }
    if (hit.empty()) return _last_seq;
    for (size_t from = 0; from < hit.size(); from += max_ids_per_ack) {
        std::span<const uint64_t> part(hit.data() + from,
                                       std::min(max_ids_per_ack, hit.size() - from));
        size_t size = lf::ack_record_size(part.size());
        make_room_locked(size);
        lf::append_ack(chunk_for_append_locked(), queue_id, part);
        advance_locked(size);
        _counters.pending_bytes += size;
        ++_counters.appends;
        for (uint64_t id : part) release_locked(id, queue_id, _append_seg);
    }
    uint64_t seq = ++_last_seq;
    bool wake = _flusher_idle;
    _flusher_idle = false;
    lk.unlock();
    if (wake) _work_cv.notify_one();
    return seq;
}

result<uint64_t> segment_log::queue_deleted(uint64_t queue_id,
                                            std::span<const uint64_t> message_ids) {
    std::unique_lock lk(_mu);
    if (_error) return make_error(errc::failed, "message log failed earlier: " + _error->text);
    make_room_locked(lf::queue_deleted_record_size);
    lf::append_queue_deleted(chunk_for_append_locked(), queue_id);
    advance_locked(lf::queue_deleted_record_size);
    _counters.pending_bytes += lf::queue_deleted_record_size;
    ++_counters.appends;
    for (uint64_t id : message_ids) release_locked(id, queue_id, _append_seg);
    uint64_t seq = ++_last_seq;
    bool wake = _flusher_idle;
    _flusher_idle = false;
    lk.unlock();
    if (wake) _work_cv.notify_one();
    return seq;
}

void segment_log::release_locked(uint64_t message_id, uint64_t queue_id, uint64_t tomb_segment) {
    auto it = _live.find(message_id);
    if (it == _live.end()) return;
    if (!it->second.queues.remove(queue_id)) return;
    uint64_t seg = it->second.segment;
    uint32_t size = it->second.size;
    bool dead = it->second.queues.n == 0;
    if (dead) {
        _live.erase(it);
        shrink_when_sparse(_live);
    }
    auto s = _segs.find(seg);
    if (s == _segs.end()) return;
    --s->second.live;
    if (dead) s->second.live_bytes -= size;
    if (seg != tomb_segment) _segs[tomb_segment].pins.insert(seg);
    maybe_delete_locked(seg);
}

void segment_log::advance_locked(size_t size) {
    _append_off += size;
    _segs[_append_seg].bytes = _append_off;
}

void segment_log::place_locked(live_entry& e, uint64_t seg, uint32_t offset, uint32_t size) {
    e.segment = seg;
    e.offset = offset;
    e.size = size;
    auto& st = _segs[seg];
    st.live += e.queues.n;
    st.live_bytes += size;
}

bool segment_log::deletable_locked(uint64_t seg) const {
    auto it = _segs.find(seg);
    if (it == _segs.end() || it->second.deleting) return false;
    if (seg == _append_seg || it->second.live > 0) return false;
    for (uint64_t p : it->second.pins)
        if (_segs.count(p)) return false;
    return true;
}

void segment_log::maybe_delete_locked(uint64_t seg) {
    if (_recovering || !deletable_locked(seg)) return;
    _segs[seg].deleting = true;
    _to_delete.push_back(seg);
    _flusher_idle = false;
    _work_cv.notify_one();
}

// ---------------------------------------------------------------------------------------------
// Flushing

status segment_log::flush_once() {
    std::lock_guard flk(_flush_mu);
    std::vector<uint64_t> dels;
    uint64_t batch_seq = 0;
    bool external = false;
    std::vector<std::shared_ptr<sync_participant>> parts;
    {
        std::lock_guard lk(_mu);
        if (_error) return *_error;
        if (_pending.empty() && _to_delete.empty() && !_external) return {};
        _inflight.swap(_pending);
        dels.swap(_to_delete);
        batch_seq = _last_seq;
        external = _external;
        _external = false;
        if (external) parts = _participants;
        _busy = true;
    }

    status s;
    bool created = false, stalled_now = false, resumed = false;
    uint64_t written = 0, syncs = 0;
    for (const chunk& c : _inflight) {
        if (!_writer || _writer_seg != c.segment) {
            if (_writer) {
                s = _writer->sync();
                if (!s) break;
                ++syncs;
                (void)_writer->close();
                _writer.reset();
            }
            const std::string path = segment_path(c.segment);
            uint64_t rewind_to = 0;
            bool rewind = false;
            {
                std::lock_guard lk(_mu);
                if (auto it = _rewind.find(c.segment); it != _rewind.end()) {
                    rewind = true;
                    rewind_to = it->second;
                }
            }
            result<std::unique_ptr<writable_file>> f = make_error(errc::io_error, "");
            if (rewind) {
                // A retry: back to what was durable before the failed batch, then the same
                // bytes again.
                if (_env->file_exists(path)) s = _env->truncate_file(path, rewind_to);
                if (!s) break;
                f = _env->appendable_file(path);
            } else {
                f = _env->new_writable_file(path);
            }
            if (!f) {
                s = f.error();
                break;
            }
            if (rewind) {
                std::lock_guard lk(_mu);
                _rewind.erase(c.segment);
            }
            _writer = std::move(*f);
            _writer_seg = c.segment;
            created = true;
        }
        s = _writer->append(c.bytes);
        if (!s) break;
        written += c.bytes.size();
    }
    uint64_t sync_us = 0;
    bool timed = false;
    if (s && written > 0) {
        auto t0 = std::chrono::steady_clock::now();
        s = _writer->sync();
        sync_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - t0)
                                            .count());
        timed = true;
        if (s) ++syncs;
    }
    if (s && created) s = _env->sync_dir(_dir);
    for (auto& p : parts) {
        if (!s) break;
        s = p->sync();
    }

    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lk(_mu);
        _counters.fsyncs += syncs;
        _counters.bytes_written += written;
        if (timed) {
            const auto& bounds = counters::sync_bounds_us;
            size_t b = 0;
            while (b < bounds.size() && sync_us > bounds[b]) ++b;
            ++_counters.sync_buckets[b];
            _counters.sync_sum_us += sync_us;
            ++_counters.sync_count;
        }
        if (!s) {
            // Retried later (flusher_main): the batch goes back in front of what was appended
            // since (its records stay readable from memory), each segment it touched will be cut
            // back to where the batch began in it (after a failed fsync the file's state is
            // unknown, so the same bytes are written again), deletions wait.
            for (const chunk& c : _inflight) _rewind.try_emplace(c.segment, c.start);
            _inflight.insert(_inflight.end(), std::make_move_iterator(_pending.begin()),
                             std::make_move_iterator(_pending.end()));
            _pending.swap(_inflight);
            _inflight.clear();
            _to_delete.insert(_to_delete.begin(), dels.begin(), dels.end());
            dels.clear();
            _external = _external || external;
            _busy = false;
            stalled_now = !_stall;
            if (stalled_now)
                WLOG_ERROR(
                    "store: message log write failed, retrying until it succeeds (publishers "
                    "are blocked meanwhile): {}",
                    s.error().text);
            else if (_stall_retries % 20 == 0)
                WLOG_WARN("store: message log write still failing after {} retries: {}",
                          _stall_retries, s.error().text);
            _stall = s.error();
            ++_stall_retries;
        } else {
            if (_stall) {
                WLOG_INFO("store: message log writes resumed after {} failed attempts",
                          _stall_retries);
                _stall.reset();
                _stall_retries = 0;
                resumed = true;
            }
            _counters.pending_bytes -= std::min(_counters.pending_bytes, written);
            for (auto& c : _inflight)
                if (c.bytes.capacity() > _spare.capacity() && c.bytes.capacity() <= (16u << 20))
                    _spare = std::move(c.bytes);
            _inflight.clear();
            if (written > 0) {
                ++_counters.batches;
                const uint64_t records =
                    batch_seq - std::min(batch_seq, _durable_seq.load(std::memory_order_relaxed));
                const auto& bounds = counters::batch_bounds;
                size_t b = 0;
                while (b < bounds.size() && records > bounds[b]) ++b;
                ++_counters.batch_buckets[b];
                _counters.batch_records += records;
            }
            _durable_seq.store(batch_seq, std::memory_order_release);
            auto end = _waiters.upper_bound(batch_seq);
            for (auto it = _waiters.begin(); it != end; ++it)
                ready.push_back(std::move(it->second));
            _waiters.erase(_waiters.begin(), end);
        }
    }
    _durable_cv.notify_all();
    if (!s) {
        if (_writer) {
            (void)_writer->close();
            _writer.reset();
        }
        if (stalled_now && _opts.on_stalled) _opts.on_stalled(s.error());
        return s;
    }
    if (_opts.on_durable && (written > 0 || external)) _opts.on_durable(batch_seq);
    if (resumed && _opts.on_resumed) _opts.on_resumed();
    for (auto& cb : ready) cb();
    if (!dels.empty()) delete_segments(std::move(dels));
    {
        std::lock_guard lk(_mu);
        _busy = false;
    }
    _durable_cv.notify_all();
    return {};
}

void segment_log::delete_segments(std::vector<uint64_t> segs) {
    std::sort(segs.begin(), segs.end());
    std::vector<uint64_t> gone;
    for (uint64_t seg : segs) {
        {
            std::lock_guard lk(_mu);
            _segs[seg].reader.reset();
        }
        auto s = _env->remove_file(segment_path(seg));
        if (!s && s.error().code != errc::not_found) {
            WLOG_WARN("store: could not delete dead segment {}: {}", segment_path(seg),
                      s.error().text);
            std::lock_guard lk(_mu);
            _segs[seg].deleting = false;  // stays; retried never (harmless: only disk space)
            continue;
        }
        gone.push_back(seg);
    }
    if (!gone.empty()) (void)_env->sync_dir(_dir);
    std::lock_guard lk(_mu);
    for (uint64_t seg : gone) {
        _segs.erase(seg);
        ++_counters.segments_deleted;
    }
    // Segments waiting for these may go now.
    std::vector<uint64_t> freed;
    for (auto& [other, st] : _segs) {
        bool changed = false;
        for (uint64_t seg : gone) changed |= st.pins.erase(seg) > 0;
        if (changed) freed.push_back(other);
    }
    for (uint64_t seg : freed) maybe_delete_locked(seg);
}

void segment_log::flusher_main() {
    // Compaction runs when there is nothing to write, and also every so often under sustained
    // load (a bounded step between two batches), so that it is not starved.
    constexpr auto compact_interval = std::chrono::milliseconds(100);
    auto last_compact = std::chrono::steady_clock::now();
    std::unique_lock lk(_mu);
    for (;;) {
        if (_pending.empty() && _to_delete.empty() && !_external) {
            if (_stop) break;
            if (!_error && !_stall && compaction_pending_locked()) {
                lk.unlock();
                (void)compact();
                last_compact = std::chrono::steady_clock::now();
                lk.lock();
                continue;
            }
            _flusher_idle = true;
            _work_cv.wait(lk, [this] {
                return _stop || !_pending.empty() || !_to_delete.empty() || _external;
            });
            _flusher_idle = false;
            continue;
        }
        if (_error) {
            if (_stop) break;
            _flusher_idle = true;
            _work_cv.wait(lk, [this] { return _stop; });
            continue;
        }
        if (_stall) {
            // Back-off before the next attempt: retry_min, doubling, at most retry_max.
            if (_stop) break;
            auto delay = _opts.retry_min * (uint64_t{1} << std::min<uint32_t>(_stall_retries, 16));
            if (delay > _opts.retry_max) delay = _opts.retry_max;
            _work_cv.wait_for(lk, delay, [this] { return _stop; });
            if (_stop) break;
        }
        if (_opts.linger.count() > 0 && !_stop) {
            _work_cv.wait_for(lk, _opts.linger, [this] { return _stop; });
        }
        lk.unlock();
        (void)flush_once();
        auto now = std::chrono::steady_clock::now();
        if (now - last_compact >= compact_interval) {
            last_compact = now;
            bool due = false;
            {
                std::lock_guard g(_mu);
                due = !_error && !_stall && !_stop && compaction_pending_locked();
            }
            if (due) (void)compact();
        }
        lk.lock();
    }
}

status segment_log::flush() {
    if (!_opts.background_flush) {
        // Loop so that deletions a batch unblocked (segments waiting on deleted ones) run too.
        for (;;) {
            if (auto s = flush_once(); !s) return s;
            std::lock_guard lk(_mu);
            if (_pending.empty() && _to_delete.empty() && !_external) return {};
        }
    }
    std::unique_lock lk(_mu);
    uint64_t target = _last_seq;
    _flusher_idle = false;
    _work_cv.notify_one();
    _durable_cv.wait(lk, [&] {
        return _error || _stall || (_durable_seq.load() >= target && _to_delete.empty() && !_busy);
    });
    if (_error) return *_error;
    if (_stall && _durable_seq.load() < target) return *_stall;
    return {};
}

void segment_log::add_participant(std::shared_ptr<sync_participant> p) {
    std::lock_guard lk(_mu);
    _participants.push_back(std::move(p));
}

void segment_log::remove_participant(const sync_participant* p) {
    std::lock_guard lk(_mu);
    std::erase_if(_participants, [p](const auto& q) { return q.get() == p; });
}

uint64_t segment_log::note_external() {
    std::unique_lock lk(_mu);
    if (_error) return 0;
    const uint64_t seq = ++_last_seq;
    _external = true;
    bool wake = _flusher_idle;
    _flusher_idle = false;
    lk.unlock();
    if (wake) _work_cv.notify_one();
    return seq;
}

void segment_log::on_durable(uint64_t seq, std::function<void()> cb) {
    {
        std::lock_guard lk(_mu);
        if (_error) return;
        if (_durable_seq.load() < seq) {
            _waiters.emplace(seq, std::move(cb));
            return;
        }
    }
    cb();
}

std::optional<error> segment_log::stalled() const {
    std::lock_guard lk(_mu);
    return _stall;
}

status segment_log::health() const {
    std::lock_guard lk(_mu);
    if (_error) return *_error;
    return {};
}

uint64_t segment_log::last_seq() const {
    std::lock_guard lk(_mu);
    return _last_seq;
}

segment_log::counters segment_log::stats() const {
    std::lock_guard lk(_mu);
    counters c = _counters;
    c.live_messages = _live.size();
    return c;
}

std::vector<segment_info> segment_log::segments() const {
    std::lock_guard lk(_mu);
    std::vector<segment_info> out;
    for (const auto& [seg, st] : _segs) {
        segment_info i;
        i.segment = seg;
        i.live = st.live;
        i.live_bytes = st.live_bytes;
        i.bytes = st.bytes;
        i.active = seg == _append_seg;
        for (uint64_t p : st.pins)
            if (_segs.count(p)) i.waits_for.push_back(p);
        out.push_back(std::move(i));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Compaction

std::optional<uint64_t> segment_log::compaction_candidate_locked() const {
    if (_opts.compact_live_ratio <= 0) return std::nullopt;
    for (const auto& [seg, st] : _segs) {
        // Leave the two newest sealed segments alone: under load their stragglers are about
        // to be acked anyway, and copying them would only add writes.
        if (seg + 2 > _append_seg) break;
        if (st.deleting || st.no_compact || st.live == 0 || st.bytes <= lf::header_size) continue;
        bool unwritten = false;
        for (const auto* list : {&_pending, &_inflight})
            for (const chunk& c : *list) unwritten |= c.segment == seg;
        if (unwritten) continue;
        auto data = static_cast<double>(st.bytes - lf::header_size);
        if (static_cast<double>(st.live_bytes) <= data * _opts.compact_live_ratio) return seg;
    }
    return std::nullopt;
}

bool segment_log::compaction_pending_locked() const {
    return _compact_seg != 0 || compaction_candidate_locked().has_value();
}

result<bool> segment_log::compact() {
    std::lock_guard clk(_compact_mu);
    uint64_t seg = 0, off = 0, end = 0;
    std::shared_ptr<random_access_file> reader;
    {
        std::lock_guard lk(_mu);
        if (_error) return *_error;
        if (_compact_seg != 0 && !_segs.count(_compact_seg)) _compact_seg = 0;
        if (_compact_seg == 0) {
            auto c = compaction_candidate_locked();
            if (!c) return false;
            _compact_seg = *c;
            _compact_off = lf::header_size;
        }
        seg = _compact_seg;
        off = _compact_off;
        auto& st = _segs[seg];
        end = st.bytes;
        if (!st.reader) {
            auto f = _env->new_random_access_file(segment_path(seg));
            if (f) st.reader = std::move(*f);
        }
        reader = st.reader;
        if (!reader) {
            st.no_compact = true;
            _compact_seg = 0;
            return compaction_pending_locked();
        }
    }

    constexpr size_t window = 1u << 20;
    std::string buf;
    std::vector<std::pair<uint64_t, lf::record>> found;  // offset, record
    size_t processed = 0;
    bool bad = false;
    while (off < end && processed < _opts.compact_step_bytes && !bad) {
        buf.resize(static_cast<size_t>(std::min<uint64_t>(end - off, window)));
        auto n = reader->read(off, buf.size(), buf.data());
        if (!n || *n < std::min<size_t>(buf.size(), lf::record_header_size)) {
            bad = true;
            break;
        }
        buf.resize(*n);
        // A record longer than the window: read it whole.
        uint32_t first_len = lf::get_u32(buf.data() + 4);
        size_t first_size = lf::record_header_size + size_t{first_len};
        if (first_len <= lf::max_payload && first_size > buf.size() && off + first_size <= end) {
            buf.resize(first_size);
            auto m = reader->read(off, first_size, buf.data());
            if (!m || *m != first_size) {
                bad = true;
                break;
            }
        }
        size_t p = 0;
        found.clear();
        std::string_view v = buf;
        while (p + lf::record_header_size <= v.size()) {
            uint32_t len = lf::get_u32(v.data() + p + 4);
            if (len > lf::max_payload) {
                bad = true;
                break;
            }
            if (p + lf::record_header_size + len > v.size()) break;  // next window
            lf::record r;
            if (lf::parse_record(v.substr(p), r) != lf::parse_status::ok) {
                bad = true;
                break;
            }
            if (r.type == lf::record_type::message) found.emplace_back(off + p, std::move(r));
            p += r.size;
        }
        if (p == 0 && !bad) bad = true;  // no progress: the segment is not what we think
        {
            std::lock_guard lk(_mu);
            if (_error) return *_error;
            for (auto& [at, r] : found) {
                auto it = _live.find(r.message_id);
                if (it == _live.end() || it->second.segment != seg || it->second.offset != at)
                    continue;
                live_entry& e = it->second;
                std::vector<uint64_t> qs(e.queues.begin(), e.queues.end());
                size_t size = lf::message_record_size(qs.size(), r.data.size());
                make_room_locked(size);
                position pos{_append_seg, static_cast<uint32_t>(_append_off)};
                lf::append_message(chunk_for_append_locked(), r.message_id, qs, r.data);
                advance_locked(size);
                auto& old = _segs[seg];
                old.live -= e.queues.n;
                old.live_bytes -= e.size;
                place_locked(e, pos.segment, pos.offset, static_cast<uint32_t>(size));
                // Until `seg` is gone its record of this message must not outlive the copy.
                if (pos.segment != seg) _segs[pos.segment].pins.insert(seg);
                ++_last_seq;
                ++_counters.appends;
                ++_counters.relocated;
                _counters.pending_bytes += size;
            }
            maybe_delete_locked(seg);
        }
        off += p;
        processed += p;
    }

    std::lock_guard lk(_mu);
    if (bad) {
        WLOG_WARN("store: compaction cannot read {} at offset {}; leaving the segment as it is",
                  segment_path(seg), off);
        if (auto it = _segs.find(seg); it != _segs.end()) it->second.no_compact = true;
        _compact_seg = 0;
    } else if (off >= end) {
        _compact_seg = 0;
        if (auto it = _segs.find(seg); it != _segs.end() && it->second.live > 0) {
            // Every record was looked at; what is still counted live here was not found.
            // Never loop on it.
            WLOG_WARN("store: compaction of {} left {} live references; not retrying",
                      segment_path(seg), it->second.live);
            it->second.no_compact = true;
        }
    } else {
        _compact_off = off;
    }
    return compaction_pending_locked();
}

// ---------------------------------------------------------------------------------------------
// Reads

std::optional<position> segment_log::locate(uint64_t message_id) const {
    std::lock_guard lk(_mu);
    auto it = _live.find(message_id);
    if (it == _live.end()) return std::nullopt;
    return position{it->second.segment, it->second.offset};
}

result<std::string> segment_log::read_message(uint64_t message_id) const {
    for (int attempt = 0;; ++attempt) {
        auto p = locate(message_id);
        if (!p)
            return make_error(errc::not_found,
                              fmt::format("message {} is not live in the log", message_id));
        auto r = read(*p);
        // Moved by compaction between locate and read: look again.
        if (r || r.error().code != errc::not_found || attempt == 2) return r;
    }
}

bool segment_log::read_buffered_locked(position p, result<std::string>& out) const {
    for (const auto* list : {&_pending, &_inflight}) {
        for (const chunk& c : *list) {
            if (c.segment != p.segment || p.offset < c.start ||
                p.offset >= c.start + c.bytes.size())
                continue;
            lf::record r;
            auto ps = lf::parse_record(std::string_view(c.bytes).substr(p.offset - c.start), r);
            if (ps != lf::parse_status::ok || r.type != lf::record_type::message)
                out = make_error(errc::corruption, fmt::format("no message record at {}:{}",
                                                               segment_path(p.segment), p.offset));
            else
                out = std::string(r.data);
            return true;
        }
    }
    return false;
}

result<std::shared_ptr<random_access_file>> segment_log::reader_locked(uint64_t segment) const {
    auto it = _segs.find(segment);
    if (it == _segs.end())
        return make_error(errc::not_found, fmt::format("segment {} no longer exists", segment));
    const seg_state& st = it->second;
    if (!st.reader) {
        // The path only for opening the file and for errors: building it on every read cost
        // ~1,700 instructions, about 12% of a paging consumer's work (issue #12's profile).
        auto f = _env->new_random_access_file(segment_path(segment));
        if (!f) return f.error();
        st.reader = std::move(*f);
    }
    return st.reader;
}

result<std::string> segment_log::read(position p) const {
    std::shared_ptr<random_access_file> reader;
    {
        std::lock_guard lk(_mu);
        result<std::string> buffered = std::string();
        if (read_buffered_locked(p, buffered)) return buffered;
        auto r = reader_locked(p.segment);
        if (!r) return r.error();
        reader = std::move(*r);
    }

    // One pread for small records; a second for the rest of a large one.
    std::string buf(4096, '\0');
    auto n = reader->read(p.offset, buf.size(), buf.data());
    if (!n) return n.error();
    buf.resize(*n);
    if (buf.size() >= lf::record_header_size) {
        uint32_t len = lf::get_u32(buf.data() + 4);
        size_t want = lf::record_header_size + size_t{len};
        if (len <= lf::max_payload && want > buf.size()) {
            size_t have = buf.size();
            buf.resize(want);
            auto m = reader->read(p.offset + have, want - have, buf.data() + have);
            if (!m) return m.error();
            buf.resize(have + *m);
        }
    }
    lf::record r;
    auto ps = lf::parse_record(buf, r);
    if (ps != lf::parse_status::ok)
        return make_error(errc::corruption, fmt::format("{} at {} offset {}", lf::to_string(ps),
                                                        segment_path(p.segment), p.offset));
    if (r.type != lf::record_type::message)
        return make_error(errc::corruption, fmt::format("record at {} offset {} is not a message",
                                                        segment_path(p.segment), p.offset));
    return std::string(r.data);
}

std::vector<result<std::string>> segment_log::read_messages(
    std::span<const uint64_t> message_ids) const {
    std::vector<result<std::string>> out;
    out.reserve(message_ids.size());
    struct wanted {
        uint64_t segment;
        uint32_t offset;
        uint32_t size;
        size_t index;
        std::shared_ptr<random_access_file> reader;
    };
    std::vector<wanted> disk;
    {
        std::lock_guard lk(_mu);
        for (size_t i = 0; i < message_ids.size(); ++i) {
            out.emplace_back(std::string());
            auto it = _live.find(message_ids[i]);
            if (it == _live.end()) {
                out[i] =
                    make_error(errc::not_found,
                               fmt::format("message {} is not live in the log", message_ids[i]));
                continue;
            }
            const live_entry& e = it->second;
            if (read_buffered_locked({e.segment, e.offset}, out[i])) continue;
            auto r = reader_locked(e.segment);
            if (!r) {
                out[i] = r.error();
                continue;
            }
            disk.push_back({e.segment, e.offset, e.size, i, std::move(*r)});
        }
    }
    std::sort(disk.begin(), disk.end(), [](const wanted& a, const wanted& b) {
        return std::tie(a.segment, a.offset) < std::tie(b.segment, b.offset);
    });
    // Runs of records in one segment with small gaps between them, up to 1 MiB: one pread each.
    constexpr uint64_t max_gap = 16 << 10, max_run = 1 << 20;
    std::string buf;
    for (size_t a = 0; a < disk.size();) {
        const uint64_t start = disk[a].offset;
        uint64_t end = start + disk[a].size;
        size_t b = a + 1;
        while (b < disk.size() && disk[b].segment == disk[a].segment &&
               disk[b].offset <= end + max_gap &&
               disk[b].offset + disk[b].size - start <= max_run) {
            end = std::max<uint64_t>(end, disk[b].offset + disk[b].size);
            ++b;
        }
        buf.resize(end - start);
        auto n = disk[a].reader->read(start, buf.size(), buf.data());
        for (size_t k = a; k < b; ++k) {
            const wanted& w = disk[k];
            lf::record r;
            if (n && w.offset - start < *n &&
                lf::parse_record(std::string_view(buf.data(), *n).substr(w.offset - start), r) ==
                    lf::parse_status::ok &&
                r.type == lf::record_type::message) {
                out[w.index] = std::string(r.data);
            } else {
                // Moved by compaction, a record larger than its index entry says, or a read
                // error: the one-by-one path looks again and words the error.
                out[w.index] = read_message(message_ids[w.index]);
            }
        }
        a = b;
    }
    return out;
}

}  // namespace warren::store

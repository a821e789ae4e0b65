#include "store/segment_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include <fmt/format.h>

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

    // Queues' live messages, in log order.
    for (auto& [q, ids] : order) {
        std::vector<recovered_message> msgs;
        for (uint64_t id : ids) {
            auto it = _live.find(id);
            if (it == _live.end()) continue;
            const auto& qs = it->second.queues;
            if (std::find(qs.begin(), qs.end(), q) == qs.end()) continue;
            msgs.push_back({id, {it->second.segment, it->second.offset}});
        }
        if (msgs.empty()) continue;
        out.stats.messages += msgs.size();
        out.queues.emplace(q, std::move(msgs));
    }
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
    _segs[_append_seg];
    _pending.push_back(chunk{_append_seg, 0, lf::encode_header(_append_seg)});
    _append_off = lf::header_size;

    out.stats.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    return {};
}

status segment_log::scan_segment(uint64_t seg, const std::string& path, recovery_result& out,
                                 std::unordered_map<uint64_t, std::vector<uint64_t>>& order) {
    auto file = _env->read_file(path);
    if (!file) return file.error();
    const std::string& bytes = *file;
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
        WLOG_WARN("store: segment {} has a bad header; set aside as {}.corrupt, not served",
                  path, path);
        ++out.stats.corrupt_segments;
        return _env->rename_file(path, path + ".corrupt");
    }

    seg_state& st = _segs[seg];
    (void)st;
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
                return _env->truncate_file(path, off);
            }
            WLOG_WARN("store: {} at {} offset {}: skipped {} bytes up to the next good record "
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
                if (!fresh) {
                    // Cannot happen unless ids were reused; the older record wins.
                    WLOG_WARN("store: duplicate message id {} at {} offset {}; ignored",
                              r.message_id, path, off);
                    break;
                }
                it->second.segment = seg;
                it->second.offset = static_cast<uint32_t>(off);
                it->second.queues = r.ids;
                _segs[seg].live += r.ids.size();
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
    return {};
}

void segment_log::start() {
    if (_opts.background_flush) _flusher = std::thread([this] { flusher_main(); });
}

// ---------------------------------------------------------------------------------------------
// Appends

std::string& segment_log::chunk_for_append_locked() {
    if (_pending.empty() || _pending.back().segment != _append_seg)
        _pending.push_back(chunk{_append_seg, _append_off, {}});
    return _pending.back().bytes;
}

void segment_log::make_room_locked(size_t record_size) {
    if (_append_off + record_size <= _opts.segment_size || _append_off <= lf::header_size) return;
    uint64_t old = _append_seg;
    ++_append_seg;
    _segs[_append_seg];
    _pending.push_back(chunk{_append_seg, 0, lf::encode_header(_append_seg)});
    _append_off = lf::header_size;
    maybe_delete_locked(old);
}

result<segment_log::appended> segment_log::append_message(uint64_t message_id,
                                                          std::span<const uint64_t> queue_ids,
                                                          std::string_view data) {
    if (queue_ids.empty() || queue_ids.size() > 0xffff)
        return make_error(errc::invalid_argument, "a message record needs 1..65535 queues");
    size_t size = lf::message_record_size(queue_ids.size(), data.size());
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
    lf::append_message(chunk_for_append_locked(), message_id, queue_ids, data);
    _append_off += size;
    it->second.segment = pos.segment;
    it->second.offset = pos.offset;
    it->second.queues.assign(queue_ids.begin(), queue_ids.end());
    _segs[pos.segment].live += queue_ids.size();
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
        const auto& qs = it->second.queues;
        if (std::find(qs.begin(), qs.end(), queue_id) != qs.end()) hit.push_back(id);
    }
    if (hit.empty()) return _last_seq;
    for (size_t from = 0; from < hit.size(); from += max_ids_per_ack) {
        std::span<const uint64_t> part(hit.data() + from,
                                       std::min(max_ids_per_ack, hit.size() - from));
        size_t size = lf::ack_record_size(part.size());
        make_room_locked(size);
        lf::append_ack(chunk_for_append_locked(), queue_id, part);
        _append_off += size;
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
    _append_off += lf::queue_deleted_record_size;
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
    auto& qs = it->second.queues;
    auto q = std::find(qs.begin(), qs.end(), queue_id);
    if (q == qs.end()) return;
    qs.erase(q);
    uint64_t seg = it->second.segment;
    if (qs.empty()) _live.erase(it);
    auto s = _segs.find(seg);
    if (s == _segs.end()) return;
    --s->second.live;
    if (seg != tomb_segment) _segs[tomb_segment].pins.insert(seg);
    maybe_delete_locked(seg);
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
    {
        std::lock_guard lk(_mu);
        if (_error) return *_error;
        if (_pending.empty() && _to_delete.empty()) return {};
        _inflight.swap(_pending);
        dels.swap(_to_delete);
        batch_seq = _last_seq;
        _busy = true;
    }

    status s;
    bool created = false;
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
            auto f = _env->new_writable_file(segment_path(c.segment));
            if (!f) {
                s = f.error();
                break;
            }
            _writer = std::move(*f);
            _writer_seg = c.segment;
            created = true;
        }
        s = _writer->append(c.bytes);
        if (!s) break;
        written += c.bytes.size();
    }
    if (s && written > 0) {
        s = _writer->sync();
        if (s) ++syncs;
    }
    if (s && created) s = _env->sync_dir(_dir);

    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lk(_mu);
        _counters.fsyncs += syncs;
        _counters.bytes_written += written;
        if (!s) {
            // Keep _inflight: its records can still be read from memory. Nothing is retried:
            // after a failed fsync the file's state is unknown.
            _error = s.error();
            _busy = false;
            WLOG_ERROR("store: message log write failed, refusing further appends: {}",
                       s.error().text);
        } else {
            _counters.pending_bytes -= std::min(_counters.pending_bytes, written);
            _inflight.clear();
            if (written > 0) ++_counters.batches;
            _durable_seq.store(batch_seq, std::memory_order_release);
            auto end = _waiters.upper_bound(batch_seq);
            for (auto it = _waiters.begin(); it != end; ++it) ready.push_back(std::move(it->second));
            _waiters.erase(_waiters.begin(), end);
        }
    }
    _durable_cv.notify_all();
    if (!s) return s;
    if (_opts.on_durable && written > 0) _opts.on_durable(batch_seq);
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
    std::unique_lock lk(_mu);
    for (;;) {
        if (_pending.empty() && _to_delete.empty()) {
            if (_stop) break;
            _flusher_idle = true;
            _work_cv.wait(lk, [this] {
                return _stop || !_pending.empty() || !_to_delete.empty();
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
        if (_opts.linger.count() > 0 && !_stop) {
            _work_cv.wait_for(lk, _opts.linger, [this] { return _stop; });
        }
        lk.unlock();
        (void)flush_once();
        lk.lock();
    }
}

status segment_log::flush() {
    if (!_opts.background_flush) {
        // Loop so that deletions a batch unblocked (segments waiting on deleted ones) run too.
        for (;;) {
            if (auto s = flush_once(); !s) return s;
            std::lock_guard lk(_mu);
            if (_pending.empty() && _to_delete.empty()) return {};
        }
    }
    std::unique_lock lk(_mu);
    uint64_t target = _last_seq;
    _flusher_idle = false;
    _work_cv.notify_one();
    _durable_cv.wait(lk, [&] {
        return _error ||
               (_durable_seq.load() >= target && _to_delete.empty() && !_busy);
    });
    if (_error) return *_error;
    return {};
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
        i.active = seg == _append_seg;
        for (uint64_t p : st.pins)
            if (_segs.count(p)) i.waits_for.push_back(p);
        out.push_back(std::move(i));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Reads

result<std::string> segment_log::read(position p) const {
    std::shared_ptr<random_access_file> reader;
    std::string path = segment_path(p.segment);
    {
        std::lock_guard lk(_mu);
        for (const auto* list : {&_pending, &_inflight}) {
            for (const chunk& c : *list) {
                if (c.segment != p.segment || p.offset < c.start ||
                    p.offset >= c.start + c.bytes.size())
                    continue;
                lf::record r;
                auto ps = lf::parse_record(std::string_view(c.bytes).substr(p.offset - c.start), r);
                if (ps != lf::parse_status::ok || r.type != lf::record_type::message)
                    return make_error(errc::corruption,
                                      fmt::format("no message record at {}:{}", path, p.offset));
                return std::string(r.data);
            }
        }
        auto it = _segs.find(p.segment);
        if (it == _segs.end())
            return make_error(errc::not_found,
                              fmt::format("segment {} no longer exists", p.segment));
        const seg_state& st = it->second;
        if (!st.reader) {
            auto f = _env->new_random_access_file(path);
            if (!f) return f.error();
            st.reader = std::move(*f);
        }
        reader = st.reader;
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
        return make_error(errc::corruption,
                          fmt::format("{} at {} offset {}", lf::to_string(ps), path, p.offset));
    if (r.type != lf::record_type::message)
        return make_error(errc::corruption,
                          fmt::format("record at {} offset {} is not a message", path, p.offset));
    return std::string(r.data);
}

}  // namespace warren::store

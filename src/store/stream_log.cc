#include "store/stream_log.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "base/log.h"
#include "store/crc32c.h"
#include "store/log_format.h"

namespace warren::store {

namespace {
namespace lf = log_format;

constexpr char k_magic[8] = {'W', 'R', 'N', 'S', 'T', 'R', 'M', '1'};
constexpr size_t k_header = 16;
constexpr size_t k_prefix = 8;  // u32 length, u32 crc
constexpr size_t k_fixed = 18;  // u64 offset, u64 timestamp, u16 filter length
constexpr uint32_t k_max_len = 1u << 30;
constexpr size_t k_read_block = 256u << 10;

std::string encode_header(uint64_t first) {
    std::string h(k_magic, sizeof k_magic);
    lf::put_u64(h, first);
    return h;
}

// A whole record at p (k_prefix + len bytes, len already range-checked): its fields, or false
// if its checksum or filter length is wrong.
struct record_view {
    uint64_t offset = 0, ts = 0;
    std::string_view filter, data;
};
bool view_record(const char* p, uint32_t len, record_view& v) {
    if (crc32c::unmask(lf::get_u32(p + 4)) != crc32c::value(p + k_prefix, len)) return false;
    const uint16_t flen = lf::get_u16(p + k_prefix + 16);
    if (k_fixed + flen > len) return false;
    v.offset = lf::get_u64(p + k_prefix);
    v.ts = lf::get_u64(p + k_prefix + 8);
    v.filter = std::string_view(p + k_prefix + k_fixed, flen);
    v.data = std::string_view(p + k_prefix + k_fixed + flen, len - k_fixed - flen);
    return true;
}

bool parse_name(const std::string& name, uint64_t& first) {
    if (name.size() != 24 || name.compare(20, 4, ".seg") != 0) return false;
    first = 0;
    for (size_t i = 0; i < 20; ++i) {
        if (name[i] < '0' || name[i] > '9') return false;
        first = first * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    return true;
}
}  // namespace

stream_log::stream_log(env* e, std::string dir, stream_log_options opts)
    : _env(e), _dir(std::move(dir)), _opts(opts) {}

stream_log::~stream_log() {
    if (_writer) (void)_writer->close();
}

std::string stream_log::path_of(uint64_t first) const {
    return fmt::format("{}/{:020}.seg", _dir, first);
}

result<std::shared_ptr<stream_log>> stream_log::open(env* e, std::string dir,
                                                     stream_log_options opts,
                                                     stream_recovery_stats* stats) {
    if (opts.max_segment_bytes == 0)
        opts.max_segment_bytes = stream_log_options{}.max_segment_bytes;
    if (opts.index_interval_bytes == 0) opts.index_interval_bytes = 64u << 10;
    if (auto s = e->create_dirs(dir); !s) return s.error();
    std::shared_ptr<stream_log> log(new stream_log(e, std::move(dir), opts));
    stream_recovery_stats local;
    if (auto s = log->recover(stats ? *stats : local); !s) return s.error();
    return log;
}

void stream_log::note_record_locked(segment& s, uint64_t offset, uint64_t pos, uint64_t ts) {
    if (s.index.empty() || pos - s.last_index_pos >= _opts.index_interval_bytes) {
        s.index.push_back({offset, pos, ts});
        s.last_index_pos = pos;
    }
    if (s.next == s.first) s.first_ts = ts;
    s.last_ts = std::max(s.last_ts, ts);
    s.next = offset + 1;
}

std::string stream_log::index_path_of(uint64_t first) const {
    return fmt::format("{}/{:020}.idx", _dir, first);
}

namespace {
constexpr char k_index_magic[8] = {'W', 'R', 'N', 'S', 'I', 'D', 'X', '1'};
}  // namespace

void stream_log::write_index_locked(const segment& s) {
    // Best effort: without it (or with a bad one) recovery scans the segment instead.
    std::string out(k_index_magic, sizeof k_index_magic);
    for (uint64_t v : {s.first, s.next, s.first_ts, s.last_ts, s.bytes, uint64_t(s.index.size())})
        lf::put_u64(out, v);
    for (auto& e : s.index) {
        lf::put_u64(out, e.offset);
        lf::put_u64(out, e.pos);
        lf::put_u64(out, e.ts);
    }
    lf::put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
    const std::string path = index_path_of(s.first), tmp = path + ".tmp";
    auto f = _env->new_writable_file(tmp);
    if (!f || !(*f)->append(out) || !(*f)->close() || !_env->rename_file(tmp, path)) {
        WLOG_WARN("stream {}: could not write the index of segment {} (recovery will scan it)",
                  _dir, s.first);
        (void)_env->remove_file(tmp);
    }
}

bool stream_log::load_index(uint64_t first, uint64_t file_size, segment& s) const {
    const std::string path = index_path_of(first);
    auto size = _env->file_size(path);
    if (!size || *size < 8 + 6 * 8 + 4) return false;
    auto f = _env->new_random_access_file(path);
    if (!f) return false;
    std::string buf(*size, '\0');
    auto n = (*f)->read(0, buf.size(), buf.data());
    if (!n || *n != buf.size()) return false;
    if (std::memcmp(buf.data(), k_index_magic, sizeof k_index_magic) != 0) return false;
    const size_t body = buf.size() - 4;
    if (crc32c::unmask(lf::get_u32(buf.data() + body)) != crc32c::value(buf.data(), body))
        return false;
    const char* p = buf.data() + 8;
    segment out;
    out.first = lf::get_u64(p);
    out.next = lf::get_u64(p + 8);
    out.first_ts = lf::get_u64(p + 16);
    out.last_ts = lf::get_u64(p + 24);
    out.bytes = lf::get_u64(p + 32);
    const uint64_t count = lf::get_u64(p + 40);
    p += 48;
    if (out.first != first || out.bytes != file_size || out.next < out.first ||
        count != (body - 8 - 48) / 24 || (body - 8 - 48) % 24 != 0)
        return false;
    out.index.reserve(count);
    for (uint64_t i = 0; i < count; ++i, p += 24)
        out.index.push_back({lf::get_u64(p), lf::get_u64(p + 8), lf::get_u64(p + 16)});
    if (!out.index.empty()) out.last_index_pos = out.index.back().pos;
    s = std::move(out);
    return true;
}

status stream_log::recover(stream_recovery_stats& st) {
    auto names = _env->list_dir(_dir);
    if (!names) return names.error();
    std::vector<uint64_t> firsts;
    for (auto& n : *names) {
        uint64_t f = 0;
        if (parse_name(n, f)) firsts.push_back(f);
        if (n.ends_with(".idx.tmp")) (void)_env->remove_file(_dir + "/" + n);
    }
    std::sort(firsts.begin(), firsts.end());
    bool broken = false;  // a gap or a corrupt middle: what follows is set aside
    std::string buf;
    for (size_t i = 0; i < firsts.size(); ++i) {
        const uint64_t first = firsts[i];
        const bool last = i + 1 == firsts.size();
        const std::string path = path_of(first);
        if (broken || (!_segs.empty() && first != _next)) {
            broken = true;
            WLOG_ERROR("stream {}: segment {} does not follow offset {}: set aside as .corrupt",
                       _dir, path, _next);
            (void)_env->rename_file(path, path + ".corrupt");
            (void)_env->remove_file(index_path_of(first));
            ++st.segments_set_aside;
            continue;
        }
        auto size = _env->file_size(path);
        if (!size) return size.error();
        segment s;
        // A sealed segment with a good index is not read at all.
        if (!last && load_index(first, *size, s)) {
            ++st.indexed;
        } else {
            auto f = _env->new_random_access_file(path);
            if (!f) return f.error();
            // Read in windows (memory stays small however large the segment): a record cut by
            // a window's end is read again at the start of the next.
            auto read_at = [&](uint64_t pos, size_t n) -> status {
                buf.resize(n);
                size_t got = 0;
                while (got < n) {
                    auto r = (*f)->read(pos + got, n - got, buf.data() + got);
                    if (!r) return r.error();
                    if (*r == 0) break;
                    got += *r;
                }
                buf.resize(got);
                return {};
            };
            if (auto r = read_at(0, k_header); !r) return r;
            if (buf.size() < k_header || std::memcmp(buf.data(), k_magic, sizeof k_magic) != 0 ||
                lf::get_u64(buf.data() + 8) != first) {
                if (last && buf.size() < k_header) {
                    // A segment created but never written past its header: start it again.
                    (void)_env->remove_file(path);
                    continue;
                }
                WLOG_ERROR("stream {}: segment {} has a bad header: set aside as .corrupt", _dir,
                           path);
                (void)_env->rename_file(path, path + ".corrupt");
                ++st.segments_set_aside;
                broken = true;
                continue;
            }
            s.first = s.next = first;
            uint64_t pos = k_header;
            bool bad = false;
            constexpr size_t k_window = k_read_block * 4;
            size_t window = k_window;
            while (!bad && pos < *size) {
                if (auto r = read_at(pos, std::min<uint64_t>(window, *size - pos)); !r) return r;
                const bool enlarged = window != k_window;
                window = k_window;
                size_t i2 = 0;
                while (i2 + k_prefix + k_fixed <= buf.size()) {
                    const char* p = buf.data() + i2;
                    const uint32_t len = lf::get_u32(p);
                    if (len < k_fixed || len > k_max_len || pos + i2 + k_prefix + len > *size) {
                        bad = true;
                        break;
                    }
                    if (i2 + k_prefix + len > buf.size()) {
                        // Cut by the window's end: read again from it (all of it if larger).
                        if (i2 == 0) window = k_prefix + len;
                        break;
                    }
                    record_view v;
                    if (!view_record(p, len, v) || v.offset != s.next) {
                        bad = true;
                        break;
                    }
                    note_record_locked(s, v.offset, pos + i2, v.ts);
                    ++st.records;
                    i2 += k_prefix + len;
                }
                // Nothing whole left: a torn tail (or a window too small for one record).
                if (i2 == 0 && (window == k_window || enlarged)) bad = true;
                pos += i2;
            }
            if (pos < *size) {
                WLOG_WARN("stream {}: cut {} bytes of a {} tail off segment {}", _dir, *size - pos,
                          last ? "torn" : "corrupt", path);
                if (auto t = _env->truncate_file(path, pos); !t) return t;
                st.bytes_truncated += *size - pos;
                if (!last) broken = true;
            }
            s.bytes = pos;
            if (!last && !broken) write_index_locked(s);  // next time, no scan
        }
        st.bytes += s.bytes;
        ++st.segments;
        _next = s.next;
        _segs.emplace(first, std::move(s));
    }
    buf = std::string();
    if (!_segs.empty()) {
        // Appends continue in the newest segment.
        auto& last = _segs.rbegin()->second;
        auto w = _env->appendable_file(path_of(last.first));
        if (!w) return w.error();
        _writer = std::move(*w);
        _active = last.first;
        _durable_len = last.bytes;
    }
    return {};
}

status stream_log::start_segment_locked(uint64_t first) {
    if (_writer) {
        // Seal the active segment: what is buffered goes to disk now.
        if (_written < _buf.size()) {
            if (auto s = _writer->append(std::string_view(_buf).substr(_written)); !s) return s;
            _written = _buf.size();
        }
        if (auto s = _writer->sync(); !s) return s;
        (void)_writer->close();
        _writer.reset();
        _buf.clear();
        _written = 0;
        write_index_locked(_segs.rbegin()->second);
    }
    auto w = _env->new_writable_file(path_of(first));
    if (!w) return w.error();
    std::string h = encode_header(first);
    if (auto s = (*w)->append(h); !s) return s;
    if (auto s = (*w)->sync(); !s) return s;
    if (auto s = _env->sync_dir(_dir); !s) return s;
    _writer = std::move(*w);
    _active = first;
    _durable_len = h.size();
    _rewind = false;
    segment seg;
    seg.first = seg.next = first;
    seg.bytes = h.size();
    _segs.emplace(first, std::move(seg));
    return {};
}

template <typename Writer>
result<uint64_t> stream_log::append_impl(uint64_t ts, std::string_view filter, size_t data_len,
                                         Writer&& write) {
    if (filter.size() > 0xffff) filter = filter.substr(0, 0xffff);
    const size_t len = k_fixed + filter.size() + data_len;
    if (len > k_max_len) return make_error(errc::invalid_argument, "record too large");
    std::unique_lock lk(_mu);
    auto must_switch = [&] {
        if (_segs.empty()) return true;
        const segment& cur = _segs.rbegin()->second;
        return cur.bytes + k_prefix + len > _opts.max_segment_bytes && cur.next != cur.first;
    };
    if (_destroyed) return make_error(errc::failed, "stream deleted");
    if (must_switch()) {
        // A segment switch must not race a sync() (which fsyncs outside _mu): wait for it.
        // Only here: an append never waits for an fsync otherwise.
        lk.unlock();
        std::lock_guard sl(_sync_mu);
        lk.lock();
        if (_destroyed) return make_error(errc::failed, "stream deleted");
        if (must_switch())
            if (auto s = start_segment_locked(_next); !s) return s.error();
    }
    segment& cur = _segs.rbegin()->second;
    const uint64_t off = _next;
    const uint64_t pos = cur.bytes;
    const size_t at = _buf.size();
    lf::put_u32(_buf, static_cast<uint32_t>(len));
    lf::put_u32(_buf, 0);
    lf::put_u64(_buf, off);
    lf::put_u64(_buf, ts);
    lf::put_u16(_buf, static_cast<uint16_t>(filter.size()));
    _buf.append(filter);
    write(_buf);
    const uint32_t crc = crc32c::mask(crc32c::value(_buf.data() + at + k_prefix, len));
    for (int i = 0; i < 4; ++i) _buf[at + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    cur.bytes += k_prefix + len;
    note_record_locked(cur, off, pos, ts);
    ++_next;
    return off;
}

result<uint64_t> stream_log::append(uint64_t ts, std::string_view filter, const message_fields& m) {
    return append_impl(ts, filter, encoded_size(m),
                       [&](std::string& out) { encode_message(m, out); });
}

result<uint64_t> stream_log::append(uint64_t ts, std::string_view filter, std::string_view data) {
    return append_impl(ts, filter, data.size(), [&](std::string& out) { out.append(data); });
}

status stream_log::sync() {
    std::lock_guard sl(_sync_mu);
    writable_file* w = nullptr;
    size_t target = 0;
    {
        std::lock_guard lk(_mu);
        if (_destroyed || !_writer || _buf.empty()) return {};
        if (_rewind) {
            // The last attempt failed part-way: back to the durable length, same bytes again.
            (void)_writer->close();
            _writer.reset();
            const std::string path = path_of(_active);
            if (auto s = _env->truncate_file(path, _durable_len); !s) return s;
            auto f = _env->appendable_file(path);
            if (!f) return f.error();
            _writer = std::move(*f);
            _written = 0;
            _rewind = false;
        }
        if (_written < _buf.size()) {
            if (auto s = _writer->append(std::string_view(_buf).substr(_written)); !s) {
                _rewind = true;
                return s;
            }
            _written = _buf.size();
        }
        w = _writer.get();
        target = _written;
    }
    // Outside _mu: appends go on meanwhile (a segment switch waits for _sync_mu).
    status s = w->sync();
    std::lock_guard lk(_mu);
    if (!s) {
        _rewind = true;
        return s;
    }
    _buf.erase(0, target);
    _written -= target;
    _durable_len += target;
    return {};
}

status stream_log::fetch_locked(const segment& s, uint64_t pos, size_t n, std::string& out) const {
    out.clear();
    const uint64_t end = std::min<uint64_t>(s.bytes, pos + n);
    if (pos >= end) return {};
    out.resize(end - pos);
    uint64_t file_end = s.bytes;
    if (s.first == _active && _writer) file_end = _durable_len;
    size_t got = 0;
    if (pos < file_end) {
        if (!s.reader) {
            auto f = _env->new_random_access_file(path_of(s.first));
            if (!f) return f.error();
            s.reader = std::move(*f);
        }
        const size_t want = static_cast<size_t>(std::min(end, file_end) - pos);
        while (got < want) {
            auto r = s.reader->read(pos + got, want - got, out.data() + got);
            if (!r) return r.error();
            if (*r == 0) return make_error(errc::corruption, "stream segment shorter than indexed");
            got += *r;
        }
    }
    if (got < out.size()) {
        // The rest is still in the buffer (not yet durable, maybe not yet written).
        const uint64_t from = pos + got - _durable_len;
        std::memcpy(out.data() + got, _buf.data() + from, out.size() - got);
    }
    return {};
}

status stream_log::scan_locked(const segment& s, uint64_t pos, uint64_t from, size_t want,
                               size_t max_bytes, std::vector<stream_record>& out,
                               size_t& got_bytes) const {
    std::string block;
    size_t block_size = k_read_block;
    while (pos < s.bytes && out.size() < want && got_bytes < max_bytes) {
        if (auto r = fetch_locked(s, pos, block_size, block); !r) return r;
        block_size = k_read_block;
        size_t i = 0;
        while (i + k_prefix <= block.size() && out.size() < want && got_bytes < max_bytes) {
            const char* p = block.data() + i;
            const uint32_t len = lf::get_u32(p);
            if (len < k_fixed || len > k_max_len)
                return make_error(errc::corruption,
                                  fmt::format("stream record at {} in {} has a bad length", pos + i,
                                              path_of(s.first)));
            if (i + k_prefix + len > block.size()) {
                // Cut by the block's end: read again from it (a whole block for it if needed).
                if (i == 0) block_size = k_prefix + len;
                break;
            }
            const uint64_t off = lf::get_u64(p + k_prefix);
            if (off >= from) {
                record_view v;
                if (!view_record(p, len, v))
                    return make_error(errc::corruption,
                                      fmt::format("stream record {} in {} fails its checksum", off,
                                                  path_of(s.first)));
                got_bytes += v.data.size();
                out.push_back({v.offset, v.ts, std::string(v.filter), std::string(v.data)});
            }
            i += k_prefix + len;
        }
        if (i == 0 && block_size == k_read_block) break;  // nothing more to parse
        pos += i;
    }
    return {};
}

result<std::vector<stream_record>> stream_log::read(uint64_t from, size_t max_records,
                                                    size_t max_bytes) const {
    std::vector<stream_record> out;
    std::lock_guard lk(_mu);
    if (_destroyed || _segs.empty()) return out;
    from = std::max(from, _segs.begin()->first);
    if (from >= _next || max_records == 0) return out;
    auto it = _segs.upper_bound(from);
    --it;
    size_t got_bytes = 0;
    for (; it != _segs.end() && out.size() < max_records && got_bytes < max_bytes; ++it) {
        const segment& s = it->second;
        if (s.next <= from) continue;
        uint64_t pos = k_header;
        auto ix = std::upper_bound(s.index.begin(), s.index.end(), from,
                                   [](uint64_t v, const index_entry& e) { return v < e.offset; });
        if (ix != s.index.begin()) pos = std::prev(ix)->pos;
        if (auto r = scan_locked(s, pos, from, max_records, max_bytes, out, got_bytes); !r)
            return r.error();
    }
    return out;
}

uint64_t stream_log::first_offset() const {
    std::lock_guard lk(_mu);
    return _segs.empty() ? _next : _segs.begin()->first;
}

uint64_t stream_log::next_offset() const {
    std::lock_guard lk(_mu);
    return _next;
}

result<uint64_t> stream_log::offset_at_time(uint64_t ts_ms) const {
    uint64_t from = 0;
    {
        std::lock_guard lk(_mu);
        auto it = std::find_if(_segs.begin(), _segs.end(),
                               [&](const auto& kv) { return kv.second.last_ts >= ts_ms; });
        if (it == _segs.end()) return _next;
        const segment& s = it->second;
        from = s.first;
        // The last index entry older than ts_ms: the record wanted is at or after it.
        for (auto& e : s.index) {
            if (e.ts >= ts_ms) break;
            from = e.offset;
        }
    }
    // Scan forward from there (timestamps within a stream grow, except for clock steps).
    for (;;) {
        auto batch = read(from, 256, 4u << 20);
        if (!batch) return batch.error();
        if (batch->empty()) return next_offset();
        for (auto& r : *batch)
            if (r.timestamp_ms >= ts_ms) return r.offset;
        from = batch->back().offset + 1;
    }
}

uint64_t stream_log::bytes() const {
    std::lock_guard lk(_mu);
    uint64_t n = 0;
    for (auto& [f, s] : _segs) n += s.bytes;
    return n;
}

size_t stream_log::segment_count() const {
    std::lock_guard lk(_mu);
    return _segs.size();
}

std::vector<stream_segment_info> stream_log::segments() const {
    std::lock_guard lk(_mu);
    std::vector<stream_segment_info> out;
    for (auto& [f, s] : _segs) out.push_back({s.first, s.next, s.first_ts, s.last_ts, s.bytes});
    return out;
}

result<size_t> stream_log::apply_retention(uint64_t max_bytes, uint64_t max_age_ms,
                                           uint64_t now_ms) {
    std::vector<uint64_t> gone;
    {
        std::lock_guard lk(_mu);
        if (_destroyed) return size_t{0};
        uint64_t total = 0;
        for (auto& [f, s] : _segs) total += s.bytes;
        while (_segs.size() > 1) {
            const segment& s = _segs.begin()->second;
            const bool too_big = max_bytes && total > max_bytes;
            const bool too_old =
                max_age_ms && now_ms > max_age_ms && s.last_ts < now_ms - max_age_ms;
            if (!too_big && !too_old) break;
            total -= s.bytes;
            gone.push_back(s.first);
            _segs.erase(_segs.begin());
        }
    }
    for (uint64_t f : gone) {
        (void)_env->remove_file(index_path_of(f));
        auto s = _env->remove_file(path_of(f));
        if (!s && s.error().code != errc::not_found) return s.error();
    }
    if (!gone.empty()) (void)_env->sync_dir(_dir);
    return gone.size();
}

void stream_log::set_max_segment_bytes(uint64_t n) {
    std::lock_guard lk(_mu);
    if (n) _opts.max_segment_bytes = n;
}

status stream_log::destroy() {
    std::lock_guard sl(_sync_mu);
    std::lock_guard lk(_mu);
    if (_destroyed) return {};
    _destroyed = true;
    if (_writer) (void)_writer->close();
    _writer.reset();
    _segs.clear();
    _buf.clear();
    auto names = _env->list_dir(_dir);
    if (names)
        for (auto& n : *names) (void)_env->remove_file(_dir + "/" + n);
    // The directory itself: env has no rmdir; an empty directory is harmless, and a re-declared
    // stream gets a new store id (a new directory).
    return {};
}

}  // namespace warren::store

#include "core/stream.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "base/log.h"
#include "core/clock.h"
#include "core/features.h"
#include "core/message_log.h"
#include "core/properties_codec.h"
#include "core/queue.h"
#include "core/vhost.h"

namespace warren::core {

// ---------------------------------------------------------------------------------------------
// Settings

std::optional<uint64_t> parse_max_age(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == 0 || i + 1 != s.size()) return std::nullopt;
    uint64_t n = 0;
    if (std::from_chars(s.data(), s.data() + i, n).ec != std::errc{} || n == 0) return std::nullopt;
    constexpr uint64_t sec = 1000, day = 86'400 * sec;
    uint64_t unit = 0;
    switch (s[i]) {
        case 'Y':
            unit = 365 * day;
            break;
        case 'M':
            unit = 30 * day;
            break;
        case 'D':
            unit = day;
            break;
        case 'h':
            unit = 3600 * sec;
            break;
        case 'm':
            unit = 60 * sec;
            break;
        case 's':
            unit = sec;
            break;
        default:
            return std::nullopt;
    }
    if (n > UINT64_MAX / unit) return std::nullopt;
    return n * unit;
}

stream_settings stream_settings::parse(const field_table& args, const field_table* policy) {
    stream_settings s;
    auto lower = [](std::optional<uint64_t>& slot, std::optional<uint64_t> v) {
        if (v && (!slot || *v < *slot)) slot = v;
    };
    auto count = [](const field_value* v) -> std::optional<uint64_t> {
        if (!v) return std::nullopt;
        auto i = v->as_int();
        if (!i || *i < 0) return std::nullopt;
        return static_cast<uint64_t>(*i);
    };
    auto age = [](const field_value* v) -> std::optional<uint64_t> {
        if (!v) return std::nullopt;
        auto* str = v->as_string();
        return str ? parse_max_age(*str) : std::nullopt;
    };
    std::optional<uint64_t> seg;
    lower(s.max_bytes, count(find(args, "x-max-length-bytes")));
    lower(s.max_age_ms, age(find(args, "x-max-age")));
    lower(seg, count(find(args, "x-stream-max-segment-size-bytes")));
    if (policy) {
        lower(s.max_bytes, count(find(*policy, "max-length-bytes")));
        lower(s.max_age_ms, age(find(*policy, "max-age")));
        lower(seg, count(find(*policy, "stream-max-segment-size-bytes")));
    }
    if (seg && *seg > 0) s.max_segment_bytes = *seg;
    return s;
}

basic_result<stream_start, std::string> parse_stream_offset(const field_value& v, uint64_t now_ms) {
    if (auto* str = v.as_string()) {
        if (*str == "first") return stream_start{stream_start::first};
        if (*str == "last") return stream_start{stream_start::last};
        if (*str == "next") return stream_start{stream_start::next};
        if (auto age = parse_max_age(*str))
            return stream_start{stream_start::timestamp, now_ms > *age ? now_ms - *age : 0};
        return std::string("invalid x-stream-offset: ") + *str;
    }
    if (auto* ts = std::get_if<timestamp_value>(&v.v))
        return stream_start{stream_start::timestamp, ts->seconds * 1000};
    if (auto i = v.as_int()) {
        // A negative offset is the first (RabbitMQ: before the first).
        return stream_start{stream_start::offset, static_cast<uint64_t>(std::max<int64_t>(*i, 0))};
    }
    return std::string("invalid x-stream-offset");
}

bool is_stream_decl(const field_table& args) {
    auto* t = find(args, "x-queue-type");
    return t && t->as_string() && *t->as_string() == "stream";
}

namespace {
// Queue arguments RabbitMQ 3.10 refuses on a stream (rabbit_stream_queue's capabilities).
constexpr std::string_view k_unsupported[] = {
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-max-length",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-single-active-consumer",
    "x-delivery-limit",
    "x-quorum-initial-group-size",
    "x-queue-version",
};
constexpr int64_t k_max_segment_limit = 3'000'000'000;
}  // namespace

result<void> validate_stream_declare(const field_table& args, bool durable, bool exclusive,
                                     bool auto_delete, std::string_view resource) {
    const std::string res(resource);
    auto refuse = [&](std::string text) {
        return error{reply_code::precondition_failed, std::move(text), res};
    };
    for (auto& [key, v] : args)
        for (auto k : k_unsupported)
            if (key == k)
                return refuse("invalid arg '" + key + "' for " + res +
                              " of queue type rabbit_stream_queue");
    auto invalid = [&](std::string_view key, std::string why) {
        return refuse("invalid arg '" + std::string(key) + "' for " + res + ": " + why);
    };
    for (std::string_view key : {"x-max-length-bytes", "x-stream-max-segment-size-bytes"}) {
        const field_value* v = find(args, key);
        if (!v) continue;
        auto i = v->as_int();
        if (!i)
            return invalid(key,
                           "\"expected integer, got " + std::string(field_type_name(*v)) + "\"");
        if (*i < 0) return invalid(key, "{value_negative," + std::to_string(*i) + "}");
        if (key == "x-stream-max-segment-size-bytes" && *i > k_max_segment_limit)
            return refuse("Exceeded max value for x-stream-max-segment-size-bytes");
    }
    if (const field_value* v = find(args, "x-max-age")) {
        auto* s = v->as_string();
        if (!s)
            return invalid("x-max-age",
                           "{unacceptable_type," + std::string(field_type_name(*v)) + "}");
        if (!parse_max_age(*s)) return invalid("x-max-age", "invalid_max_age");
    }
    if (const field_value* v = find(args, "x-initial-cluster-size")) {
        auto i = v->as_int();
        if (!i)
            return invalid("x-initial-cluster-size",
                           "{unacceptable_type," + std::string(field_type_name(*v)) + "}");
        if (*i == 0) return invalid("x-initial-cluster-size", "{value_zero,0}");
        if (*i < 0)
            return invalid("x-initial-cluster-size", "{value_negative," + std::to_string(*i) + "}");
    }
    if (const field_value* v = find(args, "x-queue-leader-locator")) {
        auto* s = v->as_string();
        if (!s || (*s != "balanced" && *s != "client-local"))
            return invalid("x-queue-leader-locator", "invalid_queue_locator_arg");
    }
    if (auto_delete) return refuse("invalid property 'auto-delete' for " + res);
    if (exclusive) return refuse("invalid property 'exclusive-owner' for " + res);
    if (!durable) return refuse("invalid property 'non-durable' for " + res);
    return {};
}

void stamp_stream_offset(message& m, uint64_t offset) {
    if (!m.props.headers) m.props.headers.emplace();
    set(*m.props.headers, "x-stream-offset", field_value{static_cast<int64_t>(offset)});
    m.props_raw.clear();
    encode_properties(m.props_raw, m.props);
}

// ---------------------------------------------------------------------------------------------
// In-memory storage

namespace {
class memory_storage final : public stream_storage {
public:
    explicit memory_storage(uint64_t max_segment) : _max_segment(max_segment) {}

    uint64_t append(const message& m, uint64_t ts, std::string_view filter) override {
        const uint64_t size = m.body.size() + m.props_raw.size() + 64;
        if (_segments.empty() ||
            (_segments.back().bytes + size > _max_segment && _segments.back().first != _next))
            _segments.push_back({_next, 0, ts});
        _segments.back().bytes += size;
        _segments.back().last_ts = std::max(_segments.back().last_ts, ts);
        auto n = std::make_shared<message>(m);
        stamp_stream_offset(*n, _next);
        _entries.push_back({_next, ts, std::string(filter), std::move(n)});
        ++_next;
        return 1;
    }
    std::vector<entry> read(uint64_t from, size_t max_records, size_t max_bytes) override {
        std::vector<entry> out;
        from = std::max(from, first_offset());
        size_t bytes = 0;
        for (uint64_t o = from; o < _next && out.size() < max_records && bytes < max_bytes; ++o) {
            out.push_back(_entries[o - first_offset()]);
            bytes += out.back().msg->body.size();
        }
        return out;
    }
    uint64_t first_offset() const override {
        return _segments.empty() ? _next : _segments.front().first;
    }
    uint64_t next_offset() const override { return _next; }
    uint64_t offset_at_time(uint64_t ts) override {
        for (auto& e : _entries)
            if (e.timestamp_ms >= ts) return e.offset;
        return _next;
    }
    uint64_t bytes() const override {
        uint64_t n = 0;
        for (auto& s : _segments) n += s.bytes;
        return n;
    }
    size_t segment_count() const override { return _segments.size(); }
    void retain(uint64_t max_bytes, uint64_t max_age, uint64_t now) override {
        uint64_t total = bytes();
        while (_segments.size() > 1) {
            const seg& s = _segments.front();
            const bool big = max_bytes && total > max_bytes;
            const bool old = max_age && now > max_age && s.last_ts < now - max_age;
            if (!big && !old) break;
            total -= s.bytes;
            const uint64_t until = _segments[1].first;
            while (!_entries.empty() && _entries.front().offset < until) _entries.pop_front();
            _segments.pop_front();
        }
    }
    void set_max_segment_bytes(uint64_t n) override { _max_segment = n; }
    void destroy() override {
        _entries.clear();
        _segments.clear();
    }

private:
    struct seg {
        uint64_t first = 0;
        uint64_t bytes = 0;
        uint64_t last_ts = 0;
    };
    uint64_t _max_segment;
    uint64_t _next = 0;
    std::deque<entry> _entries;
    std::deque<seg> _segments;
};
}  // namespace

std::unique_ptr<stream_storage> memory_stream_storage(uint64_t max_segment_bytes) {
    return std::make_unique<memory_storage>(max_segment_bytes);
}

// ---------------------------------------------------------------------------------------------
// The stream

stream::stream(queue& q, stream_settings settings) : _q(q), _settings(settings) {}

stream::~stream() = default;

stream_storage& stream::storage() {
    if (!_storage) {
        // Opened at first use: a recovered stream is declared before the store is attached.
        vhost* vh = _q.owner_vhost();
        if (message_log* log = vh ? vh->log() : nullptr)
            _storage = log->open_stream(_q.store_id(), _settings.max_segment_bytes);
        if (!_storage) _storage = memory_stream_storage(_settings.max_segment_bytes);
        _segments_seen = _storage->segment_count();
    }
    return *_storage;
}

// Reading a figure never opens the storage (that could happen before the store is attached,
// and would keep the stream in memory): an unopened stream reads as empty.
uint64_t stream::first_offset() const {
    return _storage ? _storage->first_offset() : 0;
}
uint64_t stream::next_offset() const {
    return _storage ? _storage->next_offset() : 0;
}
uint64_t stream::bytes() const {
    return _storage ? _storage->bytes() : 0;
}
size_t stream::segment_count() const {
    return _storage ? _storage->segment_count() : 0;
}

void stream::apply_settings(stream_settings s) {
    _settings = s;
    if (!_storage) return;  // opened later with these settings
    _storage->set_max_segment_bytes(s.max_segment_bytes);
    retain(_q.owner_vhost() ? _q.owner_vhost()->wall_ms() : 0);
}

bool stream::append(const message_ptr& m, uint64_t* store_seq) {
    stream_storage& st = storage();
    const uint64_t offset = st.next_offset();
    const uint64_t now = _q.owner_vhost() ? _q.owner_vhost()->wall_ms() : 0;
    // Stored as published (no copy here); stamped with its offset at its first delivery from
    // the tail cache, once for every consumer.
    std::string_view filter;
    if (m->props.headers)
        if (auto* f = find(*m->props.headers, "x-stream-filter-value"))
            if (auto* s = f->as_string()) filter = *s;
    const uint64_t seq = st.append(*m, now, filter);
    if (seq == 0) return false;
    if (store_seq) *store_seq = std::max(*store_seq, seq);
    _tail.push_back({offset, now, std::string(filter), m, false});
    _tail_bytes += _tail.back().msg->body.size() + 128;
    while (_tail.size() > 1 && _tail_bytes > tail_cache_bytes) {
        _tail_bytes -= _tail.front().msg->body.size() + 128;
        _tail.pop_front();
    }
    if (st.segment_count() != _segments_seen) retain(now);  // RabbitMQ: when a segment is full
    return true;
}

void stream::retain(uint64_t now_ms) {
    stream_storage& st = storage();
    st.retain(_settings.max_bytes.value_or(0), _settings.max_age_ms.value_or(0), now_ms);
    const uint64_t first = st.first_offset();
    while (!_tail.empty() && _tail.front().offset < first) {
        _tail_bytes -= _tail.front().msg->body.size() + 128;
        _tail.pop_front();
    }
    _segments_seen = st.segment_count();
    _last_retention = now_ms;
}

void stream::tick(uint64_t now_ms) {
    if (!_storage || now_ms < _last_retention + 1000) return;
    retain(now_ms);
}

std::optional<uint64_t> stream::next_tick() const {
    if (!_settings.max_age_ms) return std::nullopt;
    return _last_retention + 1000;
}

result<void> stream::attach(consumer* c) {
    const uint64_t now = _q.owner_vhost() ? _q.owner_vhost()->wall_ms() : 0;
    stream_start start;
    if (auto* v = find(c->args, "x-stream-offset")) {
        auto s = parse_stream_offset(*v, now);
        if (!s) return error{reply_code::precondition_failed, s.error()};
        start = *s;
    }
    reader r;
    r.id = _next_reader_id++;
    if (auto* f = find(c->args, "x-stream-filter")) {
        if (auto* s = f->as_string()) {
            r.filters.push_back(*s);
        } else if (auto* arr = f->as_array()) {
            for (auto& e : *arr)
                if (auto* s = e.as_string()) r.filters.push_back(*s);
        }
    }
    if (auto* u = find(c->args, "x-stream-match-unfiltered"))
        r.match_unfiltered = u->as_bool().value_or(false);
    stream_storage& st = storage();
    const uint64_t first = st.first_offset(), next = st.next_offset();
    switch (start.k) {
        case stream_start::first:
            r.next = first;
            break;
        case stream_start::last:
            r.next = next > first ? next - 1 : next;
            break;
        case stream_start::next:
            r.next = next;
            break;
        // Beyond the end: wait there, and deliver only from that offset on (RabbitMQ).
        case stream_start::offset:
            r.next = std::max(start.value, first);
            break;
        case stream_start::timestamp:
            r.next = st.offset_at_time(start.value);
            break;
    }
    _readers[c] = std::move(r);
    return {};
}

void stream::detach(consumer* c) {
    _readers.erase(c);
}

bool stream::wanted(const reader& r, const stream_storage::entry& e) const {
    if (r.filters.empty()) return true;
    if (e.filter.empty()) return r.match_unfiltered;
    return std::find(r.filters.begin(), r.filters.end(), e.filter) != r.filters.end();
}

stream_storage::entry* stream::peek(reader& r) {
    for (;;) {
        while (!r.batch.empty() && r.batch.front().offset < r.next) r.batch.pop_front();
        if (!r.batch.empty()) {
            // A batch read earlier; if a gap appears (retention), jump with it.
            r.next = r.batch.front().offset;
            // Keep the next batch coming while this one is delivered.
            if (!r.reading && r.batch.size() <= read_batch / 4 && _storage->reads_async()) {
                const uint64_t after = r.batch.back().offset + 1;
                if (after < _storage->next_offset() &&
                    (_tail.empty() || after < _tail.front().offset))
                    read_ahead(r, after);
            }
            return &r.batch.front();
        }
        if (!_tail.empty() && r.next >= _tail.front().offset) {
            if (r.next > _tail.back().offset) return nullptr;
            return &_tail[r.next - _tail.front().offset];
        }
        stream_storage& st = storage();
        if (r.next >= st.next_offset()) return nullptr;
        r.next = std::max(r.next, st.first_offset());
        if (st.reads_async()) {
            // From disk, off the broker thread: dispatch resumes when it lands (on_read).
            if (!r.reading) read_ahead(r, r.next);
            return nullptr;
        }
        auto got = st.read(r.next, read_batch, 1u << 20);
        if (got.empty()) return nullptr;
        for (auto& e : got) r.batch.push_back(std::move(e));
    }
}

void stream::read_ahead(reader& r, uint64_t from) {
    r.reading = true;
    _storage->read_async(
        from, read_batch, 1u << 20,
        [this, id = r.id](std::vector<stream_storage::entry> got) { on_read(id, std::move(got)); });
}

void stream::on_read(uint64_t reader_id, std::vector<stream_storage::entry> got) {
    auto it = std::find_if(_readers.begin(), _readers.end(),
                           [&](const auto& kv) { return kv.second.id == reader_id; });
    if (it == _readers.end()) return;  // the consumer left meanwhile
    reader& r = it->second;
    r.reading = false;
    if (got.empty()) return;  // an error (logged) or nothing: the next dispatch tries again
    for (auto& e : got)
        if (r.batch.empty() || e.offset > r.batch.back().offset) r.batch.push_back(std::move(e));
    _q.dispatch();
}

void stream::dispatch(std::span<consumer* const> consumers) {
    // Not re-entered: queue::dispatch folds nested calls into its own loop.
    for (consumer* c : consumers) {
        auto it = _readers.find(c);
        if (it == _readers.end()) continue;
        reader& r = it->second;
        while (c->can_accept()) {
            stream_storage::entry* e = peek(r);
            if (!e) break;
            ++r.next;
            if (!wanted(r, *e)) continue;
            if (!e->stamped) {
                auto n = std::make_shared<message>(*e->msg);
                stamp_stream_offset(*n, e->offset);
                e->msg = std::move(n);
                e->stamped = true;
            }
            message_ptr msg = e->msg;
            _q.count_stream_delivery();
            c->deliver(delivery{_q.shared_from_this(), std::move(msg), ++_seq, false});
            // deliver() may have cancelled this consumer (and erased the reader).
            if (_readers.find(c) == _readers.end()) break;
        }
    }
}

void stream::close_storage() {
    for (auto& [c, r] : _readers) r.batch.clear();
    _tail.clear();
    _tail_bytes = 0;
    _storage.reset();
}

void stream::destroy() {
    _readers.clear();
    _tail.clear();
    _tail_bytes = 0;
    if (_storage) _storage->destroy();
}

}  // namespace warren::core

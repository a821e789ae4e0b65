#include "core/queue.h"

#include <algorithm>

#include "base/log.h"
#include "core/clock.h"
#include "core/dedup.h"
#include "core/features.h"
#include "core/vhost.h"

namespace warren::core {

namespace {
std::string resource_name(const std::string& qname, const vhost* vh) {
    return "queue '" + qname + "' in vhost '" + (vh ? vh->name() : std::string("/")) + "'";
}
}  // namespace

queue_features queue_features::parse(const field_table& args) {
    queue_features f;
    auto non_negative = [&](std::string_view key) -> std::optional<uint64_t> {
        auto* v = find(args, key);
        if (!v) return std::nullopt;
        auto i = v->as_int();
        if (!i || *i < 0) return std::nullopt;
        return static_cast<uint64_t>(*i);
    };
    f.message_ttl = non_negative("x-message-ttl");
    f.max_length = non_negative("x-max-length");
    f.max_length_bytes = non_negative("x-max-length-bytes");
    f.expires = non_negative("x-expires");
    if (f.expires && *f.expires == 0) f.expires.reset();
    if (auto p = non_negative("x-max-priority"))
        f.max_priority = static_cast<uint8_t>(std::min<uint64_t>(*p, 255));
    if (auto* v = find(args, "x-dead-letter-exchange"))
        if (auto* s = v->as_string()) f.dlx = *s;
    if (auto* v = find(args, "x-dead-letter-routing-key"))
        if (auto* s = v->as_string()) f.dl_routing_key = *s;
    if (auto* v = find(args, "x-single-active-consumer"))
        f.single_active_consumer = v->as_bool().value_or(false);
    f.delivery_limit = non_negative("x-delivery-limit");
    f.deduplication = queue_dedup_enabled(args);
    if (f.deduplication) f.dedup_header = queue_dedup_header(args);
    if (auto* v = find(args, "x-overflow")) {
        if (auto* s = v->as_string()) {
            if (*s == "reject-publish")
                f.overflow = overflow_mode::reject_publish;
            else if (*s == "reject-publish-dlx")
                f.overflow = overflow_mode::reject_publish_dlx;
        }
    }
    return f;
}

std::string_view to_string(death_reason r) {
    switch (r) {
        case death_reason::rejected:
            return "rejected";
        case death_reason::expired:
            return "expired";
        case death_reason::maxlen:
            return "maxlen";
        case death_reason::delivery_limit:
            return "delivery_limit";
    }
    return "rejected";
}

namespace {
// A per-message `expiration` property: a non-negative decimal integer of milliseconds.
std::optional<uint64_t> parse_expiration(const std::optional<std::string>& s) {
    if (!s || s->empty() || s->size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : *s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}
}  // namespace

queue::queue(queue_decl d, vhost* owner_vhost, uint64_t owner_connection)
    : _decl(std::move(d)),
      _vhost(owner_vhost),
      _owner(owner_connection),
      _features(queue_features::parse(_decl.args)) {
    if (_features.expires) _last_used = now();
    if (is_stream_decl(_decl.args))
        _stream = std::make_unique<stream>(*this, stream_settings::parse(_decl.args, nullptr));
}

queue::~queue() = default;

uint64_t queue::now() const {
    return _vhost ? _vhost->now_ms() : system_steady_ms();
}

message_log* queue::log() const {
    return _vhost ? _vhost->log() : nullptr;
}

void queue::settle_disk(uint64_t disk_id, bool spilled) {
    if (!disk_id) return;
    if (auto* p = log())
        p->settle(spilled ? spill_queue_id(_decl.store_id) : _decl.store_id, disk_id);
}

void queue::hold_key(uint64_t seq, const message& m) {
    auto key = dedup_key(m, _features.dedup_header);
    if (!key) return;
    _dedup_keys.emplace(*key, seq);
    _dedup_seqs.emplace(seq, std::move(*key));
}

void queue::release_key_slow(uint64_t seq) {
    auto it = _dedup_seqs.find(seq);
    if (it == _dedup_seqs.end()) return;
    _dedup_keys.erase(it->second);
    _dedup_seqs.erase(it);
}

void queue::watch_timers_slow() {
    _timers_watched = true;
    _vhost->watch_timers(shared_from_this());
}

void queue::page_out(ready_entry& e) {
    auto* p = log();
    if (!p || !e.msg) return;
    const uint64_t limit = p->queue_memory_limit();
    if (limit == 0 || _mem_bytes + mem_cost(e) <= limit) return;
    if (!e.disk_id) {
        e.disk_id = p->spill(*e.msg, spill_queue_id(_decl.store_id));
        if (!e.disk_id) return;  // the store refused: keep it in memory
        e.spilled = true;
    }
    e.msg.reset();
}

bool queue::check_stub(ready_entry& e, uint64_t published_ms) {
    // A recovered message read for the first time: its own TTL may have run out.
    e.stub = false;
    e.size = e.msg->size_bytes();
    if (auto exp = parse_expiration(e.msg->props.expiration); exp && published_ms) {
        const uint64_t wall = _vhost ? _vhost->wall_ms() : system_wall_ms();
        if (published_ms + *exp <= wall) {
            ++_stats.expired;
            drop(std::move(e), death_reason::expired);
            return false;
        }
    }
    return true;
}

bool queue::page_in(ready_entry& e) {
    if (e.msg) return true;
    auto* p = log();
    uint64_t published = 0;
    if (p) e.msg = p->read(e.disk_id, &published);
    if (!e.msg) {
        settle_disk(e.disk_id, e.spilled);  // unreadable (the store logged why): never served
        release_key(e.seq);
        return false;
    }
    return !e.stub || check_stub(e, published);
}

namespace {
// Asynchronous page-in works in batches of up to this many entries or bytes, and asks for the
// next batch once the head is this many entries from the last one asked for.
constexpr size_t page_in_batch_entries = 1024;
constexpr uint64_t page_in_batch_bytes = 4 << 20;
constexpr size_t page_in_read_ahead = 1024;
}  // namespace

bool queue::head_in_memory() {
    if (_ready.front().msg) {
        if (_reads_in_flight == 0) {
            const size_t at = find_ready(_read_frontier.first, _read_frontier.second);
            if (at < page_in_read_ahead) page_in_from(at);
        }
        return true;
    }
    if (!_ready.front().loading) page_in_from(0);
    return !_ready.empty() && _ready.front().msg;  // a synchronous log has answered already
}

void queue::page_in_from(size_t index) {
    auto* p = log();
    if (!p || index >= _ready.size()) return;
    std::vector<uint64_t> ids;
    std::vector<std::pair<uint8_t, uint64_t>> keys;
    uint64_t bytes = 0;
    const size_t end = std::min(_ready.size(), index + 2 * page_in_batch_entries);
    size_t i = index;
    for (; i < end && ids.size() < page_in_batch_entries && bytes < page_in_batch_bytes; ++i) {
        ready_entry& e = _ready[i];
        if (e.msg || e.loading) continue;
        e.loading = true;
        ids.push_back(e.disk_id);
        keys.emplace_back(e.priority, e.seq);
        bytes += e.size;
    }
    _read_frontier = {_ready[i - 1].priority, _ready[i - 1].seq};
    if (ids.empty()) return;
    ++_reads_in_flight;
    p->read_async(std::move(ids), [self = weak_from_this(), keys = std::move(keys)](
                                      std::vector<message_log::read_result> results) mutable {
        if (auto q = self.lock()) q->page_in_done(std::move(keys), std::move(results));
    });
}

void queue::page_in_done(std::vector<std::pair<uint8_t, uint64_t>> keys,
                         std::vector<message_log::read_result> results) {
    --_reads_in_flight;
    if (_deleted) return;
    for (size_t k = 0; k < keys.size() && k < results.size(); ++k) {
        const auto [prio, seq] = keys[k];
        const size_t at = find_ready(prio, seq);
        // Gone meanwhile (delivered by basic.get, expired, purged): nothing to do.
        if (at == _ready.size() || _ready[at].seq != seq || !_ready[at].loading) continue;
        ready_entry& e = _ready[at];
        e.loading = false;
        auto& r = results[k];
        if (!r.msg || e.stub) {
            ready_entry out = remove_ready(at);
            if (!r.msg) {
                WLOG_ERROR("message store: cannot read message {} of queue '{}': {}", out.disk_id,
                           name(), r.error);
                settle_disk(out.disk_id, out.spilled);  // never served
                release_key(out.seq);
                continue;
            }
            out.msg = std::move(r.msg);
            if (check_stub(out, r.published_ms)) insert_ready(std::move(out));
            continue;
        }
        e.msg = std::move(r.msg);
        --_paged;
        _paged_bytes -= e.size;
        _mem_bytes += mem_cost(e);
    }
    dispatch();
    if (_vhost) _vhost->drain_dead_letters();
}

void queue::drop(ready_entry e, death_reason why) {
    release_key(e.seq);
    if (_features.dlx && _vhost) {
        if (!page_in(e)) return;  // unreadable: page_in settled it
        dead_letter(std::move(e.msg), why);
    }
    settle_disk(e.disk_id, e.spilled);
}

void queue::recover_stub(uint64_t disk_id, uint64_t size) {
    if (_deleted) return;
    ++_stats.published;
    ready_entry entry{_next_seq++, nullptr, true, 0, 0, disk_id, size};
    entry.stub = true;
    insert_ready(std::move(entry));
}

void queue::recover(message_ptr m, uint64_t disk_id, uint64_t age_ms) {
    if (_deleted || !m) return;
    const uint8_t prio = priority_of(*m);
    uint64_t expires_at = 0;
    if (const auto ttl = ttl_of(*m)) {
        const uint64_t left = *ttl > age_ms ? *ttl - age_ms : 0;
        expires_at = std::max<uint64_t>(now() + left, 1);
    }
    ++_stats.published;
    const uint64_t size = m->size_bytes();
    if (_features.deduplication) hold_key(_next_seq, *m);
    ready_entry entry{_next_seq++, std::move(m), true, expires_at, prio, disk_id, size};
    page_out(entry);
    insert_ready(std::move(entry));
}

uint8_t queue::priority_of(const message& m) const {
    if (!_features.max_priority) return 0;
    return std::min<uint8_t>(m.props.priority.value_or(0), _features.max_priority);
}

std::optional<uint64_t> queue::ttl_of(const message& m) const {
    std::optional<uint64_t> ttl = _features.message_ttl;
    if (auto per = parse_expiration(m.props.expiration)) ttl = ttl ? std::min(*ttl, *per) : *per;
    return ttl;
}

size_t queue::trim_to_max_length() {
    const auto& f = _features;
    size_t n = 0;
    while (!_ready.empty() && ((f.max_length && _ready.size() > *f.max_length) ||
                               (f.max_length_bytes && _ready_bytes > *f.max_length_bytes))) {
        ready_entry e = pop_ready_front();
        ++_stats.dropped_maxlen;
        ++n;
        drop(std::move(e), death_reason::maxlen);
    }
    return n;
}

void queue::forget_ready(const ready_entry& e) {
    _ready_bytes -= e.size;
    if (e.msg) {
        _mem_bytes -= mem_cost(e);
    } else {
        --_paged;
        _paged_bytes -= e.size;
    }
}

void queue::insert_ready(ready_entry e) {
    _ready_bytes += e.size;
    if (e.msg) {
        _mem_bytes += mem_cost(e);
    } else {
        ++_paged;
        _paged_bytes += e.size;
    }
    if (e.expires_at) {
        _expiry.emplace(e.expires_at, e.priority, e.seq);
        watch_timers();
    }
    if (_ready.empty() || before(_ready.back(), e.priority, e.seq)) {
        _ready.push_back(std::move(e));
    } else if (!before(_ready.front(), e.priority, e.seq)) {
        _ready.push_front(std::move(e));
    } else {
        _ready.insert(find_ready(e.priority, e.seq), std::move(e));
    }
}

size_t queue::find_ready(uint8_t prio, uint64_t seq) const {
    // First position not ordered before (prio, seq): binary search over the ring.
    size_t lo = 0, hi = _ready.size();
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (before(_ready[mid], prio, seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

queue::ready_entry queue::pop_ready_front() {
    ready_entry e = std::move(_ready.front());
    _ready.pop_front();
    forget_ready(e);
    if (e.expires_at) _expiry.erase({e.expires_at, e.priority, e.seq});
    return e;
}

queue::ready_entry queue::remove_ready(size_t i) {
    ready_entry e = std::move(_ready[i]);
    _ready.erase(i);
    forget_ready(e);
    if (e.expires_at) _expiry.erase({e.expires_at, e.priority, e.seq});
    return e;
}

void queue::drop_expired_head(uint64_t now_ms) {
    while (!_ready.empty()) {
        auto& f = _ready.front();
        if (f.expires_at == 0 || f.expires_at > now_ms || f.seq == _fresh_seq) return;
        ready_entry e = pop_ready_front();
        ++_stats.expired;
        drop(std::move(e), death_reason::expired);
    }
}

size_t queue::expire(uint64_t now_ms) {
    if (_stream) {
        if (_vhost) _stream->tick(_vhost->wall_ms());
        _stream_tick_at = now_ms + 1000;
        return 0;
    }
    size_t n = 0;
    while (!_expiry.empty()) {
        auto [at, prio, seq] = *_expiry.begin();
        if (at > now_ms) break;
        _expiry.erase(_expiry.begin());
        size_t i = find_ready(prio, seq);
        if (i == _ready.size() || _ready[i].seq != seq) continue;  // stale
        ready_entry e = remove_ready(i);
        ++_stats.expired;
        ++n;
        drop(std::move(e), death_reason::expired);
    }
    if (n && _vhost) _vhost->drain_dead_letters();
    return n;
}

std::optional<uint64_t> queue::next_expiry() const {
    if (_stream)
        return _stream->next_tick() ? std::optional<uint64_t>(_stream_tick_at) : std::nullopt;
    if (_expiry.empty()) return std::nullopt;
    return std::get<0>(*_expiry.begin());
}

void queue::apply_policy(const policy* p, const policy* op) {
    const bool had_expires = _features.expires.has_value();
    queue_features f = queue_features::parse(_decl.args);
    if (p) merge_policy(f, _decl.args, p->definition);
    if (op) merge_policy(f, _decl.args, op->definition);  // its keys all take the lower value
    _features = std::move(f);
    _policy = p ? p->name : std::string();
    _operator_policy = op ? op->name : std::string();
    if (_stream) {
        const field_table def = effective_definition(p, op);
        _stream->apply_settings(stream_settings::parse(_decl.args, &def));
    }
    if (_features.expires && !had_expires) _last_used = now();
    if (_deleted) return;
    watch_timers();
    if (trim_to_max_length() && _vhost) _vhost->drain_dead_letters();
}

void queue::touch() {
    if (_features.expires) _last_used = now();
}

std::optional<uint64_t> queue::expires_at() const {
    if (!_features.expires || _consumer_count != 0 || _deleted) return std::nullopt;
    return _last_used + *_features.expires;
}

void queue::dead_letter(message_ptr m, death_reason why) {
    if (!_features.dlx || !_vhost || !m) return;
    ++_stats.dead_lettered;
    auto n = std::make_shared<message>(*m);
    n->id = 0;
    n->props_raw.clear();
    if (!n->props.headers) n->props.headers.emplace();
    field_table& h = *n->props.headers;
    const std::string_view reason = to_string(why);

    // routing-keys: the routing key plus any CC header values.
    field_array keys;
    keys.emplace_back(m->routing_key);
    if (auto* cc = find(h, "CC"))
        if (auto* arr = cc->as_array())
            for (auto& v : *arr)
                if (auto* s = v.as_string()) keys.emplace_back(*s);

    field_array deaths;
    std::optional<field_value> same;
    if (auto* xd = find(h, "x-death")) {
        if (auto* arr = xd->as_array()) {
            for (auto& e : *arr) {
                auto* t = e.as_table();
                if (!same && t) {
                    auto* q = find(*t, "queue");
                    auto* r = find(*t, "reason");
                    if (q && r && q->as_string() && r->as_string() && *q->as_string() == name() &&
                        *r->as_string() == reason) {
                        field_table copy = *t;
                        int64_t count = 1;
                        if (auto* c = find(copy, "count"))
                            if (auto ci = c->as_int()) count = *ci + 1;
                        set(copy, "count", field_value{count});
                        same = field_value::table(std::move(copy));
                        continue;
                    }
                }
                deaths.push_back(e);
            }
        }
    }
    if (!same) {
        field_table t;
        t.emplace_back("count", field_value{int64_t{1}});
        t.emplace_back("reason", field_value{std::string(reason)});
        t.emplace_back("queue", field_value{name()});
        t.emplace_back("time", field_value{timestamp_value{_vhost->wall_seconds()}});
        t.emplace_back("exchange", field_value{m->exchange});
        t.emplace_back("routing-keys", field_value::array(keys));
        if (m->props.expiration)
            t.emplace_back("original-expiration", field_value{*m->props.expiration});
        same = field_value::table(std::move(t));
    }
    deaths.insert(deaths.begin(), std::move(*same));
    set(h, "x-death", field_value::array(std::move(deaths)));
    if (!find(h, "x-first-death-reason")) {
        set(h, "x-first-death-reason", field_value{std::string(reason)});
        set(h, "x-first-death-queue", field_value{name()});
        set(h, "x-first-death-exchange", field_value{m->exchange});
    }
    set(h, "x-last-death-reason", field_value{std::string(reason)});
    set(h, "x-last-death-queue", field_value{name()});
    set(h, "x-last-death-exchange", field_value{m->exchange});

    n->props.expiration.reset();
    if (_features.dl_routing_key) {
        n->routing_key = *_features.dl_routing_key;
        core::erase(h, "CC");
        core::erase(h, "BCC");
    }
    n->exchange = *_features.dlx;
    _vhost->dead_letter(*_features.dlx, std::move(n));
}

enqueue_result queue::enqueue(message_ptr m, bool written, uint64_t* store_seq) {
    if (_deleted || !m) return enqueue_result::accepted;
    if (_stream) {
        if (!_stream->append(m, store_seq)) return enqueue_result::rejected;
        ++_stats.published;
        dispatch();
        return enqueue_result::accepted;
    }
    const uint64_t disk_id = written ? m->id : 0;
    const auto& f = _features;
    if (f.deduplication) {
        // A message whose key is already in the queue is accepted and dropped (the plugin's
        // is_duplicate): confirmed, not returned.
        if (auto key = dedup_key(*m, f.dedup_header); key && _dedup_keys.contains(*key)) {
            ++_stats.deduplicated;
            settle_disk(disk_id, false);
            return enqueue_result::accepted;
        }
    }
    const uint8_t prio = priority_of(*m);
    if (f.overflow != overflow_mode::drop_head) {
        bool full = (f.max_length && _ready.size() >= *f.max_length) ||
                    (f.max_length_bytes && _ready_bytes + m->size_bytes() > *f.max_length_bytes);
        if (full) {
            ++_stats.rejected_publish;
            if (f.overflow == overflow_mode::reject_publish_dlx)
                dead_letter(std::move(m), death_reason::maxlen);
            settle_disk(disk_id, false);
            return enqueue_result::rejected;
        }
    }
    uint64_t expires_at = 0;
    uint64_t now_ms = 0;
    const std::optional<uint64_t> ttl = ttl_of(*m);
    if (ttl) {
        now_ms = now();
        expires_at = std::max<uint64_t>(now_ms + *ttl, 1);
    }
    ++_stats.published;
    const uint64_t seq = _next_seq++;
    const uint64_t size = m->size_bytes();
    if (f.deduplication) hold_key(seq, *m);
    ready_entry entry{seq, std::move(m), false, expires_at, prio, disk_id, size};
    page_out(entry);
    insert_ready(std::move(entry));
    trim_to_max_length();
    if (_consumer_count != 0) {
        _fresh_seq = seq;  // a TTL-0 message may still go to a consumer that is ready now
        dispatch();
        _fresh_seq = 0;
    }
    if (ttl && *ttl == 0) expire(now_ms);
    return enqueue_result::accepted;
}

// Inlined into hand_out, the delivery hot path (and get).
[[gnu::always_inline]] inline delivery queue::take(ready_entry& e, bool no_ack) {
    ++_stats.delivered;
    if (e.redelivered) ++_stats.redelivered;
    if (no_ack) {
        ++_stats.acked;
        settle_disk(e.disk_id, e.spilled);
        release_key(e.seq);
    } else {
        _unacked.insert(e.seq, unacked_entry{e.msg, e.redelivered, e.expires_at, e.priority,
                                             e.disk_id, e.delivery_count, e.spilled});
    }
    if (e.delivery_count) e.msg = with_delivery_count(e.msg, e.delivery_count);
    return delivery{weak_from_this().lock(), std::move(e.msg), e.seq, e.redelivered};
}

std::optional<delivery> queue::get(bool no_ack) {
    if (_deleted || _stream) return std::nullopt;  // the front ends refuse basic.get on streams
    touch();
    if (!_expiry.empty()) drop_expired_head(now());
    if (_ready.empty()) {
        if (_vhost) _vhost->drain_dead_letters();
        return std::nullopt;
    }
    if (head_held()) return std::nullopt;  // get-empty until its key is on disk
    ready_entry e = pop_ready_front();
    while (!page_in(e)) {
        if (_ready.empty()) return std::nullopt;
        e = pop_ready_front();
    }
    auto out = take(e, no_ack);
    if (_vhost) _vhost->drain_dead_letters();
    return out;
}

void queue::settle(uint64_t seq, bool acked) {
    auto e = _unacked.take(seq);
    if (!e) return;
    release_key(seq);
    if (acked) {
        ++_stats.acked;
    } else {
        ++_stats.discarded;
        if (_features.dlx && !_deleted) {
            dead_letter(std::move(e->msg), death_reason::rejected);
            if (_vhost) _vhost->drain_dead_letters();
        }
    }
    if (!_deleted) settle_disk(e->disk_id, e->spilled);
}

void queue::ack(uint64_t seq) {
    settle(seq, true);
}
void queue::discard(uint64_t seq) {
    settle(seq, false);
}

void queue::requeue(std::vector<uint64_t> seqs) {
    if (_deleted) return;
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    // Highest seq first, so the common case (all older than the ready head) is push_front.
    for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
        auto e = _unacked.take(*it);
        if (!e) continue;
        ++_stats.requeued;
        uint32_t count = e->delivery_count;
        if (_features.delivery_limit && ++count > *_features.delivery_limit) {
            // Quorum-queue semantics: a return beyond x-delivery-limit dead-letters it.
            ++_stats.dropped_delivery_limit;
            release_key(*it);
            dead_letter(std::move(e->msg), death_reason::delivery_limit);
            settle_disk(e->disk_id, e->spilled);
            continue;
        }
        const uint64_t size = e->msg->size_bytes();
        insert_ready(ready_entry{*it, std::move(e->msg), true, e->expires_at, e->priority,
                                 e->disk_id, size, count, e->spilled});
    }
    dispatch();
    if (_vhost) _vhost->drain_dead_letters();
}

void queue::dispatch() {
    if (_dispatching) {
        _dispatch_again = true;
        return;
    }
    if (_stream) {
        if (_consumer_count == 0 || _deleted) return;
        auto self = weak_from_this().lock();
        std::vector<consumer*> all;
        _dispatching = true;
        do {
            _dispatch_again = false;
            all.clear();
            for (auto& g : _groups) all.insert(all.end(), g.members.begin(), g.members.end());
            _stream->dispatch(all);
        } while (_dispatch_again && !_deleted);
        _dispatching = false;
        return;
    }
    if (_consumer_count == 0 || _ready.empty() || _deleted) return;
    auto self = weak_from_this().lock();  // a consumer may delete the queue under us
    _dispatching = true;
    do {
        _dispatch_again = false;
        while (!_deleted && dispatch_one()) {
        }
    } while (_dispatch_again && !_deleted);
    _dispatching = false;
    release_flow_waiters_if_caught_up();
    if (_vhost) _vhost->drain_dead_letters();
}

bool queue::head_held() {
    const message* m = _ready[0].msg.get();
    if (!m || !m->hold_seq || !_vhost || _vhost->durable_reached(m->hold_seq)) return false;
    if (!_awaiting_durable) {
        _awaiting_durable = true;
        _vhost->dispatch_when_durable(*this);
    }
    return true;
}

bool queue::dispatch_one() {
    if (!_expiry.empty()) drop_expired_head(now());
    if (_ready.empty()) return false;
    if (head_held()) return false;  // dispatched again once the store is durable
    if (_features.single_active_consumer) {
        consumer* c = single_active();
        if (!c || !c->can_accept()) return false;
        if (_paged != 0 && !head_in_memory()) return false;  // page_in_done dispatches again
        hand_out(c, pop_ready_front());
        return true;
    }
    for (auto& g : _groups) {
        const size_t n = g.members.size();
        for (size_t k = 0; k < n; ++k) {
            size_t idx = (g.cursor + k) % n;
            consumer* c = g.members[idx];
            if (!c->can_accept()) continue;
            if (_paged != 0 && !head_in_memory()) return false;  // page_in_done dispatches again
            g.cursor = (idx + 1) % n;
            hand_out(c, pop_ready_front());  // may change _groups: return at once
            return true;
        }
    }
    return false;
}

void queue::hand_out(consumer* c, ready_entry e) {
    c->deliver(take(e, c->no_ack));
}

result<void> queue::add_consumer(consumer* c) {
    if (_deleted)
        return error{reply_code::not_found, "no " + resource_name(name(), _vhost),
                     resource_name(name(), _vhost)};
    if (_exclusive_consumer || (c->exclusive && _consumer_count > 0))
        return error{reply_code::access_refused,
                     resource_name(name(), _vhost) + " in exclusive use",
                     resource_name(name(), _vhost)};
    if (_stream)
        if (auto r = _stream->attach(c); !r) return r;
    auto it = std::find_if(_groups.begin(), _groups.end(),
                           [&](const priority_group& g) { return g.priority <= c->priority; });
    if (it == _groups.end() || it->priority != c->priority)
        it = _groups.insert(it, priority_group{c->priority, {}, 0});
    it->members.push_back(c);
    ++_consumer_count;
    _had_consumer = true;
    touch();
    if (c->exclusive) _exclusive_consumer = true;
    if (_features.single_active_consumer) single_active();
    return {};
}

void queue::remove_consumer(consumer* c) {
    for (auto g = _groups.begin(); g != _groups.end(); ++g) {
        auto m = std::find(g->members.begin(), g->members.end(), c);
        if (m == g->members.end()) continue;
        size_t idx = static_cast<size_t>(m - g->members.begin());
        g->members.erase(m);
        if (idx < g->cursor) --g->cursor;
        if (g->cursor >= g->members.size()) g->cursor = 0;
        if (g->members.empty()) _groups.erase(g);
        --_consumer_count;
        if (_stream) _stream->detach(c);
        if (c->exclusive) _exclusive_consumer = false;
        touch();
        release_flow_waiters_if_caught_up();
        if (_active == c) {
            // Single active consumer: the next one (by priority, then registration) takes
            // over, with whatever is ready (requeued messages first, in their old places).
            _active = nullptr;
            if (_consumer_count != 0 && single_active()) dispatch();
        }
        maybe_auto_delete();
        return;
    }
}

consumer* queue::single_active() {
    if (!_active && !_groups.empty() && !_groups.front().members.empty())
        _active = _groups.front().members.front();
    return _active;
}

consumer* queue::find_consumer(std::string_view tag, uint64_t connection_id) const {
    for (auto& g : _groups)
        for (auto* c : g.members)
            if (c->tag == tag && c->connection_id == connection_id) return c;
    return nullptr;
}

void queue::maybe_auto_delete() {
    if (!_decl.auto_delete || _consumer_count != 0 || !_had_consumer || _deleted) return;
    if (_vhost)
        _vhost->queue_auto_delete(this);
    else
        mark_deleted();
}

size_t queue::purge() {
    size_t n = _ready.size();
    if (log())
        for (size_t i = 0; i < _ready.size(); ++i)
            settle_disk(_ready[i].disk_id, _ready[i].spilled);
    if (!_dedup_seqs.empty())
        for (size_t i = 0; i < _ready.size(); ++i) release_key(_ready[i].seq);
    _ready.reset();
    _ready_bytes = 0;
    _mem_bytes = 0;
    _paged = 0;
    _paged_bytes = 0;
    _expiry.clear();
    _stats.purged += n;
    release_flow_waiters_if_caught_up();
    return n;
}

size_t queue::mark_deleted() {
    if (_deleted) return 0;
    _deleted = true;
    size_t n = _ready.size();
    if (auto* p = log()) {
        std::vector<uint64_t> ids, spilled;
        auto add = [&](uint64_t id, bool s) {
            if (id) (s ? spilled : ids).push_back(id);
        };
        for (size_t i = 0; i < _ready.size(); ++i) add(_ready[i].disk_id, _ready[i].spilled);
        _unacked.for_each([&](uint64_t, const unacked_entry& e) { add(e.disk_id, e.spilled); });
        if (!ids.empty()) p->queue_deleted(_decl.store_id, ids);
        if (!spilled.empty()) p->queue_deleted(spill_queue_id(_decl.store_id), spilled);
    }
    _ready.reset();
    _ready_bytes = 0;
    _mem_bytes = 0;
    _paged = 0;
    _paged_bytes = 0;
    _expiry.clear();
    _unacked = seq_map<unacked_entry>{};
    _dedup_keys = {};
    _dedup_seqs = {};
    std::vector<consumer*> cancelled;
    cancelled.reserve(_consumer_count);
    for (auto& g : _groups)
        for (auto* c : g.members) cancelled.push_back(c);
    _groups.clear();
    _active = nullptr;
    _consumer_count = 0;
    _exclusive_consumer = false;
    if (_stream) _stream->destroy();
    for (auto* c : cancelled) c->cancelled_by_broker();
    release_flow_waiters(true);
    return n;
}

// ---------------------------------------------------------------------------------------------
// Credit flow (core/flow.h)

void queue::add_flow_waiter(flow_waiter* w) {
    if (std::find(_flow_waiters.begin(), _flow_waiters.end(), w) == _flow_waiters.end())
        _flow_waiters.push_back(w);
}

void queue::remove_flow_waiter(flow_waiter* w) {
    std::erase(_flow_waiters, w);
}

bool queue::has_consumer_on(uint64_t connection_id) const {
    for (auto& g : _groups)
        for (auto* c : g.members)
            if (c->connection_id == connection_id) return true;
    return false;
}

void queue::release_flow_waiters(bool all) {
    const bool caught_up =
        _deleted || _consumer_count == 0 ||
        (_ready.size() <= flow_mark.messages / 2 && _ready_bytes <= flow_mark.bytes / 2);
    if (!all && !caught_up) return;
    // A waiter resumes its connection, which may publish here again (on a later read, not
    // from inside this call), so the list is taken first.
    std::vector<flow_waiter*> waiters;
    waiters.swap(_flow_waiters);
    auto self = weak_from_this().lock();
    for (auto* w : waiters) w->queue_caught_up(*this);
}

}  // namespace warren::core

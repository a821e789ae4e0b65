#include "core/queue.h"

#include <algorithm>

#include "core/vhost.h"

namespace warren::core {

namespace {
std::string resource_name(const std::string& qname, const vhost* vh) {
    return "queue '" + qname + "' in vhost '" + (vh ? vh->name() : std::string("/")) + "'";
}
}  // namespace

queue::queue(queue_decl d, vhost* owner_vhost, uint64_t owner_connection)
    : _decl(std::move(d)), _vhost(owner_vhost), _owner(owner_connection) {}

queue::~queue() = default;

void queue::enqueue(message_ptr m) {
    if (_deleted || !m) return;
    ++_stats.published;
    _ready_bytes += m->size_bytes();
    _ready.push_back(ready_entry{_next_seq++, std::move(m), false});
    if (_consumer_count != 0) dispatch();
}

std::optional<delivery> queue::get(bool no_ack) {
    if (_deleted || _ready.empty()) return std::nullopt;
    ready_entry e = std::move(_ready.front());
    _ready.pop_front();
    _ready_bytes -= e.msg->size_bytes();
    ++_stats.delivered;
    if (e.redelivered) ++_stats.redelivered;
    if (no_ack)
        ++_stats.acked;
    else
        _unacked.insert(e.seq, unacked_entry{e.msg, e.redelivered});
    return delivery{weak_from_this().lock(), std::move(e.msg), e.seq, e.redelivered};
}

void queue::settle(uint64_t seq, bool acked) {
    auto e = _unacked.take(seq);
    if (!e) return;
    if (acked)
        ++_stats.acked;
    else
        ++_stats.discarded;
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
        _ready_bytes += e->msg->size_bytes();
        ready_entry r{*it, std::move(e->msg), true};
        if (_ready.empty() || _ready.front().seq > r.seq) {
            _ready.push_front(std::move(r));
        } else {
            // First position whose seq is greater (binary search over the ring).
            size_t lo = 0, hi = _ready.size();
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (_ready[mid].seq < r.seq)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            _ready.insert(lo, std::move(r));
        }
    }
    dispatch();
}

void queue::dispatch() {
    if (_dispatching) {
        _dispatch_again = true;
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
}

bool queue::dispatch_one() {
    if (_ready.empty()) return false;
    for (auto& g : _groups) {
        const size_t n = g.members.size();
        for (size_t k = 0; k < n; ++k) {
            size_t idx = (g.cursor + k) % n;
            consumer* c = g.members[idx];
            if (!c->can_accept()) continue;
            g.cursor = (idx + 1) % n;
            ready_entry e = std::move(_ready.front());
            _ready.pop_front();
            hand_out(c, std::move(e));  // may change _groups: return at once
            return true;
        }
    }
    return false;
}

void queue::hand_out(consumer* c, ready_entry e) {
    _ready_bytes -= e.msg->size_bytes();
    ++_stats.delivered;
    if (e.redelivered) ++_stats.redelivered;
    if (c->no_ack)
        ++_stats.acked;
    else
        _unacked.insert(e.seq, unacked_entry{e.msg, e.redelivered});
    c->deliver(delivery{weak_from_this().lock(), std::move(e.msg), e.seq, e.redelivered});
}

result<void> queue::add_consumer(consumer* c) {
    if (_deleted)
        return error{reply_code::not_found, "NOT_FOUND - no " + resource_name(name(), _vhost)};
    if (_exclusive_consumer || (c->exclusive && _consumer_count > 0))
        return error{reply_code::access_refused,
                     "ACCESS_REFUSED - " + resource_name(name(), _vhost) + " in exclusive use"};
    auto it = std::find_if(_groups.begin(), _groups.end(),
                           [&](const priority_group& g) { return g.priority <= c->priority; });
    if (it == _groups.end() || it->priority != c->priority)
        it = _groups.insert(it, priority_group{c->priority, {}, 0});
    it->members.push_back(c);
    ++_consumer_count;
    _had_consumer = true;
    if (c->exclusive) _exclusive_consumer = true;
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
        if (c->exclusive) _exclusive_consumer = false;
        maybe_auto_delete();
        return;
    }
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
    _ready.reset();
    _ready_bytes = 0;
    _stats.purged += n;
    return n;
}

size_t queue::mark_deleted() {
    if (_deleted) return 0;
    _deleted = true;
    size_t n = _ready.size();
    _ready.reset();
    _ready_bytes = 0;
    _unacked = seq_map<unacked_entry>{};
    std::vector<consumer*> cancelled;
    cancelled.reserve(_consumer_count);
    for (auto& g : _groups)
        for (auto* c : g.members) cancelled.push_back(c);
    _groups.clear();
    _consumer_count = 0;
    _exclusive_consumer = false;
    for (auto* c : cancelled) c->cancelled_by_broker();
    return n;
}

}  // namespace warren::core

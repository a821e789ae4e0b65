#include "core/flow.h"

#include <algorithm>

#include "core/queue.h"

namespace warren::core {

publisher_flow::publisher_flow(uint64_t connection_id, std::function<void()> changed)
    : _conn(connection_id), _changed(std::move(changed)) {}

publisher_flow::~publisher_flow() {
    forget_waits();
}

void publisher_flow::note(queue_ptr q) {
    // A batch reaches few queues; one publisher to one queue notes it once per message.
    if (!_noted.empty() && _noted.back() == q) return;
    if (std::find(_noted.begin(), _noted.end(), q) != _noted.end()) return;
    _noted.push_back(std::move(q));
}

bool publisher_flow::exempt(const queue& q) const {
    if (q.has_consumer_on(_conn)) return true;
    for (auto& s : _stalled)
        if (auto sq = s.q.lock(); sq.get() == &q) return q.stats().delivered == s.delivered;
    return false;
}

void publisher_flow::end_of_batch(uint64_t now_ms) {
    if (_noted.empty()) return;
    std::erase_if(_stalled, [](const stalled& s) {
        auto q = s.q.lock();
        return !q || q->stats().delivered != s.delivered;  // moving again: holds again
    });
    for (auto& q : _noted) {
        if (!q->behind() || exempt(*q)) continue;
        const bool known = std::any_of(_waiting.begin(), _waiting.end(),
                                       [&](const wait& w) { return w.q.lock() == q; });
        if (known) continue;
        q->add_flow_waiter(this);
        _waiting.push_back(wait{q, q->stats().delivered, now_ms});
    }
    _noted.clear();
    if (!_waiting.empty() && !_held) {
        _held = true;
        ++_stats.holds;
        _changed();
    }
}

void publisher_flow::on_timer(uint64_t now_ms) {
    if (!_held) return;
    std::erase_if(_waiting, [&](wait& w) {
        auto q = w.q.lock();
        if (!q || !q->behind()) {
            if (q) q->remove_flow_waiter(this);
            return true;
        }
        const uint64_t d = q->stats().delivered;
        if (d != w.delivered) {
            w.delivered = d;
            w.since_ms = now_ms;
            return false;
        }
        if (now_ms - w.since_ms < flow_stall_ms) return false;
        ++_stats.stalls;  // its consumers took nothing for flow_stall_ms
        _stalled.push_back(stalled{q, d});
        q->remove_flow_waiter(this);
        return true;
    });
    if (_waiting.empty()) release();
}

void publisher_flow::queue_caught_up(queue& q) {
    // The queue has already dropped us from its list.
    std::erase_if(_waiting, [&](const wait& w) {
        auto wq = w.q.lock();
        return !wq || wq.get() == &q;
    });
    if (_waiting.empty()) release();
}

void publisher_flow::release() {
    if (!_held) return;
    _held = false;
    _changed();
}

void publisher_flow::forget_waits() {
    for (auto& w : _waiting)
        if (auto q = w.q.lock()) q->remove_flow_waiter(this);
    _waiting.clear();
    _noted.clear();
}

void publisher_flow::reset() {
    forget_waits();
    _stalled.clear();
    _held = false;
}

}  // namespace warren::core

#include "core/router.h"

#include <algorithm>
#include <span>

#include "core/features.h"
#include "core/queue.h"
#include "core/vhost.h"

namespace warren::core {

namespace {

// RabbitMQ's cycle rule: dead-lettering into a queue the message already died in is dropped,
// unless a rejection happened since (x-death is most recent first).
bool is_cycle(const message& m, std::string_view qname) {
    if (!m.props.headers) return false;
    auto* xd = find(*m.props.headers, "x-death");
    auto* arr = xd ? xd->as_array() : nullptr;
    if (!arr) return false;
    for (auto& e : *arr) {
        auto* t = e.as_table();
        if (!t) continue;
        auto* r = find(*t, "reason");
        if (r && r->as_string() && *r->as_string() == "rejected") return false;
        auto* q = find(*t, "queue");
        if (q && q->as_string() && *q->as_string() == qname) return true;
    }
    return false;
}

}  // namespace

router::router(vhost& owner) : _vh(owner) {
    auto s = std::make_unique<scratch>();
    s->route.queues.reserve(64);
    s->route.exchanges.reserve(16);
    s->targets.reserve(64);
    s->frontier.reserve(16);
    s->store_ids.reserve(64);
    _frames.push_back(std::move(s));
}

router::~router() = default;

result<size_t> router::route(exchange& x, message_ptr m, publish_info* info, route_origin origin) {
    if (m->id == 0) m->id = next_message_id();
    auto& stats = x.mutable_stats();
    ++stats.published;

    // Sender-selected distribution: CC and BCC routing keys (BCC is removed before delivery).
    std::vector<std::string> extra_keys;
    if (m->props.headers && !m->props.headers->empty())
        m = sender_selected(std::move(m), extra_keys);

    // The default exchange: the queue named by the routing key, no graph to walk.
    if (x.name().empty() && extra_keys.empty())
        return route_default(std::move(m), stats, info, origin);

    // A nested publish (from a consumer callback below) gets the next frame; frames are kept,
    // and each lives behind a pointer, so growing _frames moves none in use.
    if (_depth == _frames.size()) _frames.push_back(std::make_unique<scratch>());
    scratch& s = *_frames[_depth];
    struct depth_guard {
        router* r;
        scratch& s;
        ~depth_guard() {
            s.targets.clear();
            s.keys.clear();
            --r->_depth;
        }
    } guard{this, s};
    ++_depth;

    s.targets.clear();
    s.keys.clear();
    const size_t held = walk(x, m, extra_keys, s, info);
    if (s.targets.empty() && !held) ++stats.unroutable;
    if (origin == route_origin::dead_letter) {
        std::erase_if(s.targets, [&](const queue_ptr& q) { return is_cycle(*m, q->name()); });
    }

    auto written = persist(*m, s, info);
    if (!written) return written.error();
    // Keys after the message: a key on disk always has its message before it in the log.
    // A message whose key was written is delivered only once the key is durable: delivered
    // earlier, a kill -9 could lose the key after a consumer had the message, and the
    // publisher's retry (it never got the confirm) would then be delivered again.
    uint64_t key_seq = 0;
    for (auto& [e, key] : s.keys) _vh.remember_key(*e, *m, std::move(key), &key_seq);
    s.keys.clear();
    if (key_seq) {
        m->hold_seq = key_seq;
        if (info) info->store_seq = std::max(info->store_seq, key_seq);
    }
    size_t n = 0;
    const size_t last = s.targets.size() - 1;
    for (size_t i = 0; i < s.targets.size(); ++i) {
        queue& q = *s.targets[i];  // kept alive by s.targets
        // enqueue may call consumers, which may publish (next frame) or delete this queue. The
        // last queue gets our reference (one refcount round trip less per publish).
        const bool w = *written && q.writes_to_log();
        if (q.enqueue(i == last ? std::move(m) : m, w, info ? &info->store_seq : nullptr) ==
            enqueue_result::rejected) {
            if (info) ++info->rejected;
        } else {
            ++n;
            if (info && !info->behind && q.behind()) info->behind = s.targets[i];
        }
    }
    return n + held;
}

// route() for the default exchange without CC/BCC keys (most publishes): one queue found by
// name, so no scratch frame, no target list and no graph walk; the same rules otherwise.
result<size_t> router::route_default(message_ptr m, exchange_stats& stats, publish_info* info,
                                     route_origin origin) {
    auto& queues = _vh.queues();
    auto qi = queues.find(std::string_view(m->routing_key));
    if (qi == queues.end()) {
        ++stats.unroutable;
        return size_t{0};
    }
    queue_ptr q = qi->second;  // enqueue may delete it (consumer callbacks)
    if (origin == route_origin::dead_letter && is_cycle(*m, q->name())) return size_t{0};
    bool written = false;
    if (message_log* log = _vh.log(); log && m->persistent() && q->writes_to_log()) {
        const uint64_t id = q->store_id();
        const uint64_t seq = log->write_message(*m, std::span<const uint64_t>(&id, 1));
        if (seq == 0) return error{reply_code::internal_error, "the message store cannot write"};
        written = true;
        if (info) info->store_seq = std::max(info->store_seq, seq);
    }
    ++_depth;  // routing(): dead letters wait until this enqueue is done
    const auto res = q->enqueue(std::move(m), written, info ? &info->store_seq : nullptr);
    --_depth;
    if (res == enqueue_result::rejected) {
        if (info) ++info->rejected;
        return size_t{0};
    }
    if (info && q->behind()) info->behind = std::move(q);
    return size_t{1};
}

size_t router::walk(exchange& x, const message_ptr& m, const std::vector<std::string>& extra_keys,
                    scratch& s, publish_info* info) {
    const uint64_t epoch = ++_epoch;
    s.frontier.clear();
    s.frontier.push_back(&x);
    x.route_mark = epoch;
    size_t held = 0;
    for (size_t i = 0; i < s.frontier.size(); ++i) {
        s.route.clear();
        exchange* e = s.frontier[i];
        if (const dedup_options* d = e->dedup()) {
            if (auto key = dedup_key(*m, d->header)) {
                if (_vh.is_duplicate(*e, *key)) continue;  // dropped here, not passed to the AE
                s.keys.emplace_back(e, std::move(*key));
            }
        }
        if (e->delayed() && _vh.delayed().hold(*e, m, info ? &info->store_seq : nullptr)) {
            ++held;
            continue;
        }
        if (e->name().empty()) {  // the default exchange with CC/BCC keys: queues by name
            auto& queues = _vh.queues();
            for (size_t k = 0; k <= extra_keys.size(); ++k) {
                auto qi =
                    queues.find(std::string_view(k == 0 ? m->routing_key : extra_keys[k - 1]));
                if (qi != queues.end()) s.route.queues.push_back(qi->second.get());
            }
        } else {
            e->route(*m, s.route);
            for (auto& key : extra_keys) e->route_key(*m, key, s.route);
        }
        if (s.route.queues.empty() && s.route.exchanges.empty()) {
            // Unroutable here: follow the alternate exchange, if it has one (RabbitMQ's AE).
            if (auto* ae_name = e->alternate_exchange())
                if (exchange* alt = _vh.find_exchange(*ae_name)) s.route.exchanges.push_back(alt);
        }
        for (queue* q : s.route.queues) {
            if (q->route_mark == epoch) continue;
            q->route_mark = epoch;
            s.targets.push_back(q->shared_from_this());
        }
        for (exchange* next : s.route.exchanges) {
            if (next->route_mark == epoch) continue;
            next->route_mark = epoch;
            s.frontier.push_back(next);
        }
    }
    s.frontier.clear();
    return held;
}

result<bool> router::persist(const message& m, scratch& s, publish_info* info) {
    message_log* log = _vh.log();
    if (!log || !m.persistent()) return false;
    s.store_ids.clear();
    for (auto& q : s.targets)
        if (q->writes_to_log()) s.store_ids.push_back(q->store_id());
    if (s.store_ids.empty()) return false;
    const uint64_t seq = log->write_message(m, s.store_ids);
    if (seq == 0) {
        s.targets.clear();
        return error{reply_code::internal_error, "the message store cannot write"};
    }
    if (info) info->store_seq = std::max(info->store_seq, seq);
    return true;
}

}  // namespace warren::core

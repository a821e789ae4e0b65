#include "core/delayed.h"

#include <algorithm>
#include <cstdint>

#include "core/router.h"
#include "core/vhost.h"

namespace warren::core {

result<exchange_type> delayed_exchange_type(const field_table& args) {
    auto* v = find(args, "x-delayed-type");
    const std::string* s = v ? v->as_string() : nullptr;
    if (s && *s == k_delayed_exchange_type)
        return error{reply_code::precondition_failed,
                     "Invalid argument, 'x-delayed-message' can't be used "
                     "for 'x-delayed-type'"};
    if (s)
        if (auto t = parse_exchange_type(*s)) return *t;
    return error{reply_code::precondition_failed,
                 "Invalid argument, 'x-delayed-type' must be an existing "
                 "exchange type"};
}

std::optional<uint64_t> positive_delay(const message& m) {
    if (!m.props.headers) return std::nullopt;
    auto* v = find(*m.props.headers, "x-delay");
    if (!v) return std::nullopt;
    auto d = v->as_int();
    if (!d || *d <= 0) return std::nullopt;
    return static_cast<uint64_t>(*d);
}

void delayed_index::hold(std::string exchange, message_ptr m, uint64_t due, uint64_t delay,
                         uint64_t disk_id) {
    _by_due.emplace(due, entry{std::move(exchange), std::move(m), delay, disk_id});
}

std::optional<uint64_t> delayed_index::next_due() const {
    if (_by_due.empty()) return std::nullopt;
    return _by_due.begin()->first;
}

std::vector<delayed_index::released> delayed_index::take_due(uint64_t now) {
    std::vector<released> out;
    while (!_by_due.empty() && _by_due.begin()->first <= now) {
        auto node = _by_due.extract(_by_due.begin());
        entry& e = node.mapped();
        auto n = std::make_shared<message>(*e.msg);
        n->id = 0;
        n->props_raw.clear();
        // As the plugin: x-delay = -delay, a signedint when it fits (pika decodes a negative
        // long wrongly).
        const int64_t neg = -static_cast<int64_t>(e.delay);
        if (neg >= INT32_MIN)
            set(*n->props.headers, "x-delay", field_value{static_cast<int32_t>(neg)});
        else
            set(*n->props.headers, "x-delay", field_value{neg});
        out.push_back(released{std::move(e.exchange), std::move(n), e.disk_id});
    }
    return out;
}

size_t delayed_index::drop_exchange(std::string_view exchange, std::vector<uint64_t>* disk_ids) {
    size_t n = 0;
    for (auto it = _by_due.begin(); it != _by_due.end();) {
        if (it->second.exchange == exchange) {
            if (disk_ids && it->second.disk_id) disk_ids->push_back(it->second.disk_id);
            it = _by_due.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

size_t delayed_index::pending(std::string_view exchange) const {
    size_t n = 0;
    for (auto& [due, e] : _by_due)
        if (e.exchange == exchange) ++n;
    return n;
}

bool delayed_holds::hold(const exchange& e, const message_ptr& m, uint64_t* store_seq) {
    if (!e.delayed()) return false;
    auto delay = positive_delay(*m);
    if (!delay) return false;
    uint64_t disk_id = 0;
    message_log* log = _vh.log();
    topology_store* topology = _vh.topology();
    if (log && topology && m->persistent() && e.durable() && ensure_store_id()) {
        const uint64_t seq = log->write_held(*m, e.name(), _store_id, &disk_id);
        if (seq && store_seq) *store_seq = std::max(*store_seq, seq);
    }
    // +1: now_ms() is truncated to the millisecond, so this is the first millisecond at which
    // `delay` has surely passed (never early).
    _index.hold(e.name(), m, _vh.now_ms() + *delay + 1, *delay, disk_id);
    return true;
}

uint64_t delayed_holds::ensure_store_id() {
    if (_store_id) return _store_id;
    topology_store* topology = _vh.topology();
    if (!topology) return 0;
    _store_id = topology->next_queue_id();
    topology->topology_changed(_vh);  // the vhost's record carries the delayed store id
    return _store_id;
}

void delayed_holds::release(uint64_t now, router& r) {
    if (!_index.next_due() || *_index.next_due() > now) return;
    for (auto& d : _index.take_due(now)) {
        if (d.disk_id)
            if (message_log* log = _vh.log()) log->settle(_store_id, d.disk_id);
        exchange* x = _vh.find_exchange(d.exchange);
        if (!x) continue;
        auto res = r.route(*x, std::move(d.msg), nullptr, route_origin::publish);
        (void)res;  // unroutable when due: dropped, as the plugin does
    }
}

bool delayed_holds::restore(message_ptr m, uint64_t disk_id, uint64_t published_wall_ms,
                            uint64_t now_wall_ms) {
    exchange* x = _vh.find_exchange(m->exchange);
    auto delay = positive_delay(*m);
    if (!x || !x->delayed() || !delay) return false;
    const uint64_t due_wall = published_wall_ms + *delay;
    const uint64_t left = due_wall > now_wall_ms ? due_wall - now_wall_ms : 0;
    _index.hold(x->name(), std::move(m), _vh.now_ms() + left + 1, *delay, disk_id);
    return true;
}

void delayed_holds::exchange_deleted(const exchange& x) {
    if (!x.delayed()) return;
    std::vector<uint64_t> ids;
    _index.drop_exchange(x.name(), &ids);
    if (message_log* log = _vh.log())
        for (uint64_t id : ids) log->settle(_store_id, id);
}

}  // namespace warren::core

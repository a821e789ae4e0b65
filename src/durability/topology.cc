#include "durability/topology.h"

#include <algorithm>
#include <tuple>

#include "base/log.h"
#include "core/vhost.h"
#include "durability/access.h"
#include "store/metadata_log.h"

namespace warren::durability {

namespace {

bool builtin_exchange(const std::string& name) {
    return name.empty() || name.starts_with("amq.");
}

using change = store::topology_change;

auto binding_key(const store::binding_def& b) {
    return std::tie(b.source, b.destination, b.destination_is_exchange, b.routing_key);
}

}  // namespace

void diff_vhost(const store::vhost_def& before, const store::vhost_def& after,
                std::vector<change>& out) {
    const std::string& vh = after.name;
    if (before.name != after.name || before.delayed_store_id != after.delayed_store_id ||
        before.limits != after.limits)
        out.push_back(change{.kind = change::op::put_vhost,
                             .vhost = vh,
                             .value = after.delayed_store_id,
                             .limits = after.limits});
    // Exchanges and queues are sorted by name (capture() sorts; so does a loaded snapshot
    // after sort_vhost()).
    auto by_name = [&](const auto& b, const auto& a, change::op put, change::op del, auto member) {
        size_t i = 0, j = 0;
        while (i < b.size() || j < a.size()) {
            if (j == a.size() || (i < b.size() && b[i].name < a[j].name)) {
                change c{.kind = del, .vhost = vh};
                (c.*member).name = b[i].name;
                out.push_back(std::move(c));
                ++i;
            } else if (i == b.size() || a[j].name < b[i].name) {
                change c{.kind = put, .vhost = vh};
                c.*member = a[j];
                out.push_back(std::move(c));
                ++j;
            } else {
                if (!(b[i] == a[j])) {
                    change c{.kind = put, .vhost = vh};
                    c.*member = a[j];
                    out.push_back(std::move(c));
                }
                ++i;
                ++j;
            }
        }
    };
    by_name(before.exchanges, after.exchanges, change::op::put_exchange,
            change::op::delete_exchange, &change::exchange);
    by_name(before.queues, after.queues, change::op::put_queue, change::op::delete_queue,
            &change::queue);
    by_name(before.policies, after.policies, change::op::put_policy, change::op::delete_policy,
            &change::policy);
    by_name(before.operator_policies, after.operator_policies, change::op::put_operator_policy,
            change::op::delete_operator_policy, &change::policy);
    // Bindings: sorted by (source, destination, kind, key); equal keys differ by arguments.
    std::vector<bool> kept(before.bindings.size(), false);
    size_t i = 0;
    for (const auto& a : after.bindings) {
        while (i < before.bindings.size() && binding_key(before.bindings[i]) < binding_key(a)) ++i;
        bool found = false;
        for (size_t k = i;
             k < before.bindings.size() && binding_key(before.bindings[k]) == binding_key(a); ++k)
            if (!kept[k] && before.bindings[k] == a) {
                kept[k] = true;
                found = true;
                break;
            }
        if (!found)
            out.push_back(change{.kind = change::op::put_binding, .vhost = vh, .binding = a});
    }
    for (size_t k = 0; k < before.bindings.size(); ++k)
        if (!kept[k])
            out.push_back(change{
                .kind = change::op::delete_binding, .vhost = vh, .binding = before.bindings[k]});
}

namespace {

void sort_vhost(store::vhost_def& vd) {
    std::sort(vd.exchanges.begin(), vd.exchanges.end(),
              [](auto& a, auto& b) { return a.name < b.name; });
    std::sort(vd.queues.begin(), vd.queues.end(), [](auto& a, auto& b) { return a.name < b.name; });
    for (auto* ps : {&vd.policies, &vd.operator_policies})
        std::sort(ps->begin(), ps->end(), [](auto& a, auto& b) { return a.name < b.name; });
    std::stable_sort(vd.bindings.begin(), vd.bindings.end(),
                     [](auto& a, auto& b) { return binding_key(a) < binding_key(b); });
}

}  // namespace

topology_saver::topology_saver(store::metadata_store& meta, const core::broker& b,
                               uint64_t compact_min_bytes)
    : _meta(meta), _broker(b), _compact_min_bytes(compact_min_bytes) {}

store::vhost_def topology_saver::capture(const core::vhost& vh) const {
    ++_captures;
    store::vhost_def vd;
    vd.name = vh.name();
    vd.delayed_store_id = vh.delayed_store_id();
    vd.limits = {vh.get_limits().max_connections, vh.get_limits().max_queues};
    for (auto& [xn, x] : vh.exchanges()) {
        if (!x->durable()) continue;
        if (!builtin_exchange(x->name()))
            vd.exchanges.push_back(store::exchange_def{x->name(), std::string(x->type_name()),
                                                       x->auto_delete(), x->internal(), x->args()});
        if (x->name().empty()) continue;  // the default exchange's bindings are implicit
        for (auto& b : x->bindings()) {
            if (b.dest.q && !b.dest.q->keeps_persistent()) continue;
            if (b.dest.x && !b.dest.x->durable()) continue;
            store::binding_def bd;
            bd.source = x->name();
            bd.destination = b.dest.q ? b.dest.q->name() : b.dest.x->name();
            bd.destination_is_exchange = b.dest.x != nullptr;
            bd.routing_key = b.key;
            bd.args = b.args;
            vd.bindings.push_back(std::move(bd));
        }
    }
    for (auto& [qn, q] : vh.queues()) {
        if (!q->keeps_persistent()) continue;
        vd.queues.push_back(
            store::queue_def{q->name(), q->store_id(), q->auto_delete(), q->args()});
    }
    auto policy_def = [](const core::policy& p) {
        return store::policy_def{p.name, p.pattern, p.apply_to, p.priority,
                                 store::policy_definition_json(p.definition)};
    };
    for (const auto& p : vh.policies()) vd.policies.push_back(policy_def(p));
    for (const auto& p : vh.operator_policies()) vd.operator_policies.push_back(policy_def(p));
    sort_vhost(vd);  // deterministic: an unchanged vhost diffs to nothing
    return vd;
}

store::topology topology_saver::capture() const {
    store::topology t;
    t.next_queue_id = _next_queue_id;
    for (auto& name : _broker.vhost_names())
        if (const core::vhost* vh = _broker.find_vhost(name)) t.vhosts.push_back(capture(*vh));
    if (_users) {
        capture_access(*_users, t);
    } else {
        t.users = _saved.users;
        t.permissions = _saved.permissions;
        t.topic_permissions = _saved.topic_permissions;
    }
    return t;
}

bool topology_saver::access_changed() {
    if (_replaying || !_users) return true;
    store::topology now;
    capture_access(*_users, now);
    std::vector<change> changes;
    diff_access(_saved, now, changes);
    if (changes.empty()) return true;
    const bool compacting = needs_compaction();
    if (!save(std::move(changes))) return false;
    if (compacting) return true;
    _saved.users = std::move(now.users);
    _saved.permissions = std::move(now.permissions);
    _saved.topic_permissions = std::move(now.topic_permissions);
    return true;
}

bool topology_saver::vhost_deleted(const std::string& name) {
    if (_replaying) return true;
    std::vector<change> changes{change{.kind = change::op::delete_vhost, .vhost = name}};
    const bool compacting = needs_compaction();
    if (!save(changes)) return false;
    if (compacting) return true;
    store::apply_change(_saved, changes.front());
    return true;
}

void topology_saver::start(const store::topology& loaded) {
    _saved = loaded;
    for (auto& v : _saved.vhosts) sort_vhost(v);
    _replaying = false;
    _started = true;
    compact();
}

void topology_saver::stop() {
    if (!_started) return;
    _started = false;
    if (_meta.can_append() && _meta.log_bytes() <= store::metadata_log::header_size) return;
    compact();
}

bool topology_saver::needs_compaction() const {
    const uint64_t limit = std::max<uint64_t>(_compact_min_bytes, 2 * _meta.snapshot_bytes());
    return !_meta.can_append() || _meta.log_bytes() > limit;
}

bool topology_saver::compact() {
    store::topology t = capture();
    if (auto r = _meta.compact(t); !r) {
        WLOG_ERROR("cannot save topology to {}: {}", _meta.path(), r.error().text);
        _pending = true;
        return false;
    }
    _saved = std::move(t);
    _pending = false;
    return true;
}

bool topology_saver::save(std::vector<change> changes) {
    if (needs_compaction()) return compact();
    if (auto r = _meta.append(changes); !r) {
        WLOG_ERROR("cannot save topology to {}: {}", _meta.log_path(), r.error().text);
        _pending = true;
        return false;
    }
    _pending = false;
    return true;
}

bool topology_saver::save_addition(core::vhost& vh, change c) {
    if (_replaying) return true;
    store::vhost_def* saved = _saved.find_vhost(vh.name());
    if (_pending || !saved || needs_compaction()) return topology_changed(vh);
    std::vector<change> changes;
    changes.push_back(c);
    if (_next_queue_id > _saved.next_queue_id)
        changes.push_back(change{.kind = change::op::next_queue_id, .value = _next_queue_id});
    if (!save(std::move(changes))) return false;
    if (c.kind == change::op::put_binding)
        saved->bindings.push_back(std::move(c.binding));
    else
        saved->queues.push_back(std::move(c.queue));
    if (std::find(_unsorted.begin(), _unsorted.end(), vh.name()) == _unsorted.end())
        _unsorted.push_back(vh.name());
    _saved.next_queue_id = std::max(_saved.next_queue_id, _next_queue_id);
    return true;
}

bool topology_saver::binding_added(core::vhost& vh, const std::string& source,
                                   const std::string& destination, bool to_exchange,
                                   std::string_view key, const core::field_table& args) {
    if (source.empty()) return topology_changed(vh);  // default exchange: nothing to save
    return save_addition(vh, change{.kind = change::op::put_binding,
                                    .vhost = vh.name(),
                                    .binding = store::binding_def{source, destination, to_exchange,
                                                                  std::string(key), args}});
}

bool topology_saver::queue_added(core::vhost& vh, const core::queue& q) {
    return save_addition(
        vh, change{.kind = change::op::put_queue,
                   .vhost = vh.name(),
                   .queue = store::queue_def{q.name(), q.store_id(), q.auto_delete(), q.args()}});
}

bool topology_saver::topology_changed(core::vhost& vh) {
    if (_replaying) return true;
    // Additions appended since the last diff: sort them in, as diff_vhost expects.
    for (auto& name : _unsorted)
        if (store::vhost_def* v = _saved.find_vhost(name)) sort_vhost(*v);
    _unsorted.clear();
    std::vector<change> changes;
    std::vector<store::vhost_def> captured;
    auto diff_one = [&](const core::vhost& v) {
        store::vhost_def now = capture(v);
        if (const store::vhost_def* before = _saved.find_vhost(v.name())) {
            diff_vhost(*before, now, changes);
        } else {  // new to the store: recorded even when empty
            changes.push_back(change{.kind = change::op::put_vhost,
                                     .vhost = v.name(),
                                     .value = now.delayed_store_id,
                                     .limits = now.limits});
            diff_vhost(store::vhost_def{.name = v.name(),
                                        .limits = now.limits,
                                        .delayed_store_id = now.delayed_store_id},
                       now, changes);
        }
        captured.push_back(std::move(now));
    };
    if (_pending) {
        // An earlier save failed: what it missed may be in any vhost.
        for (auto& name : _broker.vhost_names())
            if (const core::vhost* v = _broker.find_vhost(name)) diff_one(*v);
    } else {
        diff_one(vh);
    }
    if (_next_queue_id > _saved.next_queue_id)
        changes.push_back(change{.kind = change::op::next_queue_id, .value = _next_queue_id});
    if (changes.empty()) {
        _pending = false;
        return true;
    }
    const bool compacting = needs_compaction();
    if (!save(std::move(changes))) return false;
    if (compacting) return true;  // compact() replaced _saved with the whole broker
    // What is on disk now, per vhost: exactly what was captured (sorted, ready to diff).
    for (auto& now : captured) {
        if (store::vhost_def* v = _saved.find_vhost(now.name))
            *v = std::move(now);
        else
            _saved.vhosts.push_back(std::move(now));
    }
    _saved.next_queue_id = std::max(_saved.next_queue_id, _next_queue_id);
    return true;
}

}  // namespace warren::durability

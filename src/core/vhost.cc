#include "core/vhost.h"

#include <algorithm>
#include <cstdint>

#include "base/containers.h"
#include "core/clock.h"
#include "core/features.h"

namespace warren::core {

namespace {

// Message counts go on the wire as uint32.
uint32_t saturate(size_t n) {
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

bool has_amq_prefix(std::string_view s) {
    return s.substr(0, 4) == "amq.";
}

// Queue arguments RabbitMQ compares on redeclare; others are accepted and ignored.
constexpr std::string_view k_queue_equivalence_args[] = {
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-queue-version",
    "x-single-active-consumer",
    "x-delivery-limit",
    "x-queue-master-locator",
    "x-queue-leader-locator",
    "x-initial-cluster-size",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
};
constexpr std::string_view k_exchange_equivalence_args[] = {"alternate-exchange"};

// RabbitMQ's type names, as they appear in equivalence errors.
std::string_view type_name(const field_value& v) {
    switch (v.v.index()) {
        case 0:
            return "void";
        case 1:
            return "bool";
        case 2:
            return "byte";
        case 3:
            return "unsignedbyte";
        case 4:
            return "short";
        case 5:
            return "unsignedshort";
        case 6:
            return "signedint";
        case 7:
            return "unsignedint";
        case 8:
            return "long";
        case 9:
            return "float";
        case 10:
            return "double";
        case 11:
            return "decimal";
        case 12:
            return "longstr";
        case 13:
            return "binary";
        case 14:
            return "timestamp";
        case 15:
            return "array";
        case 16:
            return "table";
    }
    return "void";
}

std::string format_value(const field_value& v) {
    if (auto i = v.as_int()) return std::to_string(*i);
    if (auto b = v.as_bool()) return *b ? "true" : "false";
    if (auto* s = v.as_string()) return *s;
    if (auto* b = std::get_if<bytes_value>(&v.v)) return b->data;
    if (auto* f = std::get_if<float>(&v.v)) return std::to_string(*f);
    if (auto* d = std::get_if<double>(&v.v)) return std::to_string(*d);
    if (auto* t = std::get_if<timestamp_value>(&v.v)) return std::to_string(t->seconds);
    return "...";
}

std::string describe(const field_value* v) {
    if (!v) return "none";
    return "the value '" + format_value(*v) + "' of type '" + std::string(type_name(*v)) + "'";
}

bool same_class_equal(const field_value& a, const field_value& b) {
    auto ia = a.as_int(), ib = b.as_int();
    if (ia && ib) return *ia == *ib;  // RabbitMQ compares integer types as one class
    return a == b;
}

error inequivalent(std::string_view key, std::string_view resource, std::string_view received,
                   std::string_view current) {
    return error{reply_code::precondition_failed,
                 "inequivalent arg '" + std::string(key) + "' for " + std::string(resource) +
                     ": received " + std::string(received) + " but current is " +
                     std::string(current),
                 std::string(resource)};
}

std::string quoted_bool(bool b) {
    return b ? "'true'" : "'false'";
}

template <size_t N>
result<void> check_args(const field_table& current, const field_table& received,
                        const std::string_view (&keys)[N], std::string_view resource) {
    for (auto key : keys) {
        auto* c = find(current, key);
        auto* r = find(received, key);
        if (!c && !r) continue;
        if (c && r && same_class_equal(*c, *r)) continue;
        // rabbit_misc:assert_args_equivalence: both present, the bare values; one missing,
        // "the value '...' of type '...'" against "none".
        if (c && r)
            return inequivalent(key, resource, "'" + format_value(*r) + "'",
                                "'" + format_value(*c) + "'");
        return inequivalent(key, resource, describe(r), describe(c));
    }
    return {};
}

}  // namespace

vhost::vhost(std::string name) : _name(std::move(name)), _rng(std::random_device{}()) {
    auto add = [&](const char* n, exchange_type t) {
        exchange_decl d;
        d.name = n;
        d.type = std::string(to_string(t));
        d.durable = true;
        auto x = make_exchange(std::move(d), t);
        exchange* p = x.get();
        _exchanges.emplace(n, std::move(x));
        return p;
    };
    _default = add("", exchange_type::direct);
    add("amq.direct", exchange_type::direct);
    add("amq.fanout", exchange_type::fanout);
    add("amq.topic", exchange_type::topic);
    add("amq.headers", exchange_type::headers);
    add("amq.match", exchange_type::headers);
}

vhost::~vhost() {
    if (_held.waiting && _storage.confirms) _storage.confirms->cancel_wait(&_held);
    // Consumers may outlive us in the front ends' view; mark queues deleted without callbacks
    // into a half-destroyed vhost.
    for (auto& [n, q] : _queues) {
        q->inbound_bindings().clear();
        q->detach_vhost();
    }
}

void vhost::set_storage(const storage& s) {
    if (_held.waiting && _storage.confirms) _storage.confirms->cancel_wait(&_held);
    _held.waiting = false;
    _storage = s;
    _held.failed = false;
    _held.redispatch();  // whatever waited on the old store need not wait on the new one
}

void vhost::dispatch_when_durable(queue& q) {
    _held.vh = this;
    _held.queues.push_back(q.weak_from_this());
    if (!_held.waiting && _storage.confirms) {
        _held.waiting = true;
        _storage.confirms->wait(&_held);
    }
}

void vhost::held_dispatch::durable_advanced(uint64_t) {
    waiting = false;
    redispatch();
}

void vhost::held_dispatch::durable_failed() {
    // Nothing more will become durable: stop holding (the publishers are told by the store).
    waiting = false;
    failed = true;
    redispatch();
}

void vhost::held_dispatch::redispatch() {
    std::vector<std::weak_ptr<queue>> qs;
    qs.swap(queues);
    // Each queue still held registers again (dispatch_when_durable).
    for (auto& w : qs)
        if (queue_ptr q = w.lock(); q && !q->deleted()) {
            q->durable_wait_over();
            q->dispatch();
        }
}

std::string vhost::exchange_resource(std::string_view name) const {
    return "exchange '" + std::string(name) + "' in vhost '" + _name + "'";
}

std::string vhost::queue_resource(std::string_view name) const {
    return "queue '" + std::string(name) + "' in vhost '" + _name + "'";
}

error vhost::no_exchange(std::string_view name) const {
    std::string res = exchange_resource(name);
    return error{reply_code::not_found, "no " + res, res};
}

error vhost::no_queue(std::string_view name) const {
    std::string res = queue_resource(name);
    return error{reply_code::not_found, "no " + res, res};
}

namespace {
error default_exchange_refused() {
    return error{reply_code::access_refused, "operation not permitted on the default exchange"};
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Exchanges

result<exchange*> vhost::declare_exchange(const exchange_decl& d, const access* who) {
    if (d.passive) {
        if (d.name.empty()) return default_exchange_refused();
        exchange* x = find_exchange(d.name);
        if (!x) return no_exchange(d.name);
        return x;
    }
    auto type = parse_exchange_type(d.type);
    const bool delayed = !type && d.type == k_delayed_exchange_type;
    if (!type && d.type == k_dedup_exchange_type) type = exchange_type::fanout;
    if (!type && !delayed)
        return error{reply_code::command_invalid, "invalid exchange type '" + d.type + "'"};
    if (d.name.empty()) return default_exchange_refused();
    if (auto r = check_access(who, permission::configure, resource_kind::exchange, d.name); !r)
        return r.error();
    if (exchange* x = find_exchange(d.name)) {
        std::string res = exchange_resource(d.name);
        if (x->type_name() != d.type)
            return inequivalent("type", res, "'" + d.type + "'",
                                "'" + std::string(x->type_name()) + "'");
        if (x->durable() != d.durable)
            return inequivalent("durable", res, quoted_bool(d.durable), quoted_bool(x->durable()));
        if (x->auto_delete() != d.auto_delete)
            return inequivalent("auto_delete", res, quoted_bool(d.auto_delete),
                                quoted_bool(x->auto_delete()));
        if (x->internal() != d.internal)
            return inequivalent("internal", res, quoted_bool(d.internal),
                                quoted_bool(x->internal()));
        if (auto r = check_args(x->args(), d.args, k_exchange_equivalence_args, res); !r)
            return r.error();
        if (x->durable() && !durable_current()) return topology_error();
        return x;
    }
    if (has_amq_prefix(d.name))
        return error{reply_code::access_refused,
                     "exchange name '" + d.name + "' contains reserved prefix 'amq.*'"};
    if (auto r = validate_exchange_args(d.args, exchange_resource(d.name)); !r) return r.error();
    if (const auto* ae = find(d.args, "alternate-exchange"); ae && who && ae->as_string()) {
        if (auto r = who->check(permission::read, resource_kind::exchange, d.name); !r)
            return r.error();
        if (auto r = who->check(permission::write, resource_kind::exchange, *ae->as_string()); !r)
            return r.error();
    }
    if (delayed) {
        auto t = delayed_exchange_type(d.args);
        if (!t) return t.error();
        type = *t;
    }
    auto dedup = exchange_dedup_options(d.type, d.args);
    if (!dedup) return dedup.error();
    auto x = make_exchange(d, *type);
    exchange* p = x.get();
    if (*dedup) p->enable_dedup(std::move(**dedup));
    if (!_policies.empty()) apply_policy(p);
    _exchanges.emplace(d.name, std::move(x));
    if (p->durable() && !durable_changed()) {
        _exchanges.erase(d.name);
        return topology_error();
    }
    return p;
}

result<void> vhost::delete_exchange(std::string_view name, bool if_unused, const access* who) {
    if (name.empty()) return default_exchange_refused();
    if (has_amq_prefix(name))
        return error{reply_code::access_refused,
                     "deletion of system " + exchange_resource(name) + " not allowed",
                     exchange_resource(name)};
    if (auto r = check_access(who, permission::configure, resource_kind::exchange, name); !r)
        return r.error();
    exchange* x = find_exchange(name);
    if (!x) return {};
    if (if_unused && x->binding_count() != 0)
        return error{reply_code::precondition_failed, exchange_resource(name) + " in use",
                     exchange_resource(name)};
    delete_exchange_now(x);
    return {};
}

void vhost::delete_exchange_now(exchange* x) {
    auto it = _exchanges.find(std::string_view(x->name()));
    if (it == _exchanges.end() || it->second.get() != x) return;
    std::unique_ptr<exchange> owned = std::move(it->second);
    _exchanges.erase(it);
    _delayed.exchange_deleted(*x);
    if (dedup_cache* c = x->dedup_keys()) {
        std::vector<uint64_t> gone;
        c->clear(gone);
        settle_held(gone);
    }
    struct save_after {
        vhost* v;
        bool durable;
        ~save_after() {
            if (durable) v->durable_changed();
        }
    } save{this, x->durable()};
    // Outgoing bindings: forget them at their destinations.
    for (auto& b : x->bindings()) {
        auto& in = b.dest.q ? b.dest.q->inbound_bindings() : b.dest.x->inbound_bindings();
        auto rec = std::find_if(in.begin(), in.end(), [&](const inbound_binding& r) {
            return r.source == x->name() && r.key == b.key && args_equal(r.args, b.args);
        });
        if (rec != in.end()) in.erase(rec);
    }
    // Incoming exchange-to-exchange bindings: remove them at their sources (which may then
    // auto-delete).
    std::vector<inbound_binding> inbound = std::move(x->inbound_bindings());
    x->inbound_bindings().clear();
    for (auto& r : inbound) {
        exchange* src = find_exchange(r.source);
        if (!src) continue;
        if (src->remove_binding(binding_dest{nullptr, x}, r.key, r.args) && src->auto_delete() &&
            src->binding_count() == 0)
            delete_exchange_now(src);
    }
}

void vhost::remove_binding(exchange* source, const binding_dest& d, std::string_view key,
                           const field_table& args, bool allow_auto_delete) {
    if (!source->remove_binding(d, key, args)) return;
    auto& in = d.q ? d.q->inbound_bindings() : d.x->inbound_bindings();
    auto rec = std::find_if(in.begin(), in.end(), [&](const inbound_binding& r) {
        return r.source == source->name() && r.key == key && args_equal(r.args, args);
    });
    if (rec != in.end()) in.erase(rec);
    if (allow_auto_delete && source->auto_delete() && source->binding_count() == 0)
        delete_exchange_now(source);
}

// ---------------------------------------------------------------------------------------------
// Queues

std::string vhost::generate_queue_name() {
    static constexpr char k_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (;;) {
        // 16 random bytes in url-safe base64 without padding: 22 characters.
        uint64_t a = _rng(), b = _rng();
        unsigned char bytes[16];
        for (int i = 0; i < 8; ++i) {
            bytes[i] = static_cast<unsigned char>(a >> (8 * i));
            bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
        }
        std::string out = "amq.gen-";
        out.reserve(30);
        uint32_t acc = 0;
        int bits = 0;
        for (unsigned char c : bytes) {
            acc = (acc << 8) | c;
            bits += 8;
            while (bits >= 6) {
                bits -= 6;
                out.push_back(k_alphabet[(acc >> bits) & 0x3f]);
            }
        }
        if (bits > 0) out.push_back(k_alphabet[(acc << (6 - bits)) & 0x3f]);
        if (!_queues.count(out)) return out;
    }
}

result<vhost::declared_queue> vhost::declare_queue(const queue_decl& d, uint64_t connection_id,
                                                   const access* who) {
    auto counts = [](const queue_ptr& q) {
        // A stream: its length, and (as RabbitMQ's stream stat/1) 0 consumers.
        if (auto* s = q->stream_state()) return declared_queue{q, saturate(s->message_count()), 0};
        return declared_queue{q, saturate(q->message_count()), saturate(q->consumer_count())};
    };
    if (d.passive) {
        auto q = queue_for(d.name, connection_id);
        if (!q) return q.error();
        return counts(*q);
    }
    std::string name = d.name;
    const bool stream = is_stream_decl(d.args);
    if (stream && name.empty())
        return error{reply_code::precondition_failed,
                     "Cannot declare a server-named queue for type rabbit_stream_queue"};
    if (name.empty()) {
        name = generate_queue_name();
    } else if (has_amq_prefix(name)) {
        return error{reply_code::access_refused,
                     "queue name '" + name + "' contains reserved prefix 'amq.*'"};
    }
    if (auto r = check_access(who, permission::configure, resource_kind::queue, name); !r)
        return r.error();
    uint64_t owner = d.exclusive ? connection_id : 0;
    if (queue_ptr q = find_queue(name)) {
        if (q->owner() != owner) return locked(name);
        std::string res = queue_resource(name);
        if (q->durable() != d.durable)
            return inequivalent("durable", res, quoted_bool(d.durable), quoted_bool(q->durable()));
        if (q->auto_delete() != d.auto_delete)
            return inequivalent("auto_delete", res, quoted_bool(d.auto_delete),
                                quoted_bool(q->auto_delete()));
        auto r = q->is_stream() ? check_args(q->args(), d.args, stream_equivalence_args, res)
                                : check_args(q->args(), d.args, k_queue_equivalence_args, res);
        if (!r) return r.error();
        if (q->keeps_persistent() && !durable_current()) return topology_error();
        q->touch();  // x-expires: a redeclare counts as use
        return counts(q);
    }
    // The limit holds for new queues only (RabbitMQ's check_vhost_queue_limit).
    if (_limits.max_queues >= 0 && _queues.size() >= static_cast<uint64_t>(_limits.max_queues))
        return error{reply_code::precondition_failed,
                     "cannot declare queue '" + name + "': queue limit in vhost '" + _name + "' (" +
                         std::to_string(_limits.max_queues) + ") is reached"};
    if (auto r = stream ? validate_stream_declare(d.args, d.durable, d.exclusive, d.auto_delete,
                                                  queue_resource(name))
                        : validate_queue_args(d.args, queue_resource(name));
        !r)
        return r.error();
    if (const auto* dlx = find(d.args, "x-dead-letter-exchange"); dlx && who && dlx->as_string()) {
        if (auto r = who->check(permission::read, resource_kind::queue, name); !r) return r.error();
        if (auto r = who->check(permission::write, resource_kind::exchange, *dlx->as_string()); !r)
            return r.error();
    }
    queue_decl nd = d;
    nd.name = name;
    nd.passive = false;
    if (_storage.topology && nd.store_id == 0) nd.store_id = _storage.topology->next_queue_id();
    auto q = std::make_shared<queue>(std::move(nd), this, owner);
    if (!_policies.empty() || !_operator_policies.empty()) apply_policy(*q);
    _queues.emplace(name, q);
    q->watch_timers();  // x-expires
    if (q->keeps_persistent() && !durable_queue_added(*q)) {
        _queues.erase(name);
        q->detach_vhost();
        return topology_error();
    }
    return declared_queue{q, 0, 0};
}

error vhost::locked(std::string_view name) const {
    std::string res = queue_resource(name);
    return error{reply_code::resource_locked,
                 "cannot obtain exclusive access to locked " + res +
                     ". It could be originally declared on another connection or the exclusive "
                     "property value does not match that of the original declaration.",
                 res};
}

queue_ptr vhost::find_queue(std::string_view name) {
    auto it = _queues.find(name);
    return it == _queues.end() ? nullptr : it->second;
}

exchange* vhost::find_exchange(std::string_view name) {
    auto it = _exchanges.find(name);
    return it == _exchanges.end() ? nullptr : it->second.get();
}

result<queue_ptr> vhost::queue_for(std::string_view name, uint64_t conn) {
    auto it = _queues.find(name);
    if (it == _queues.end()) return no_queue(name);
    const queue_ptr& q = it->second;
    if (q->exclusive() && q->owner() != conn) return locked(name);
    return q;
}

result<uint32_t> vhost::delete_queue(std::string_view name, bool if_unused, bool if_empty,
                                     uint64_t connection_id, const access* who) {
    if (auto r = check_access(who, permission::configure, resource_kind::queue, name); !r)
        return r.error();
    auto it = _queues.find(name);
    if (it == _queues.end()) return uint32_t{0};
    queue_ptr q = it->second;
    if (q->exclusive() && q->owner() != connection_id) return locked(name);
    if (if_unused && !q->is_stream() && q->consumer_count() != 0)
        return error{reply_code::precondition_failed, queue_resource(name) + " in use",
                     queue_resource(name)};
    if (if_empty && !q->is_stream() && q->message_count() != 0)
        return error{reply_code::precondition_failed, queue_resource(name) + " not empty",
                     queue_resource(name)};
    return saturate(delete_queue_now(q));
}

size_t vhost::delete_queue_now(const queue_ptr& qp) {
    queue_ptr q = qp;  // keep alive through the callbacks below
    auto it = _queues.find(std::string_view(q->name()));
    if (it != _queues.end() && it->second == q) _queues.erase(it);
    std::vector<inbound_binding> inbound = std::move(q->inbound_bindings());
    q->inbound_bindings().clear();
    for (auto& r : inbound) {
        exchange* src = find_exchange(r.source);
        if (!src) continue;
        if (src->remove_binding(binding_dest{q.get(), nullptr}, r.key, r.args) &&
            src->auto_delete() && src->binding_count() == 0)
            delete_exchange_now(src);
    }
    size_t n = q->mark_deleted();
    if (q->keeps_persistent()) durable_changed();
    const queue_stats& s = q->stats();
    queue_stats& d = _totals.deleted_queues;
    d.published += s.published;
    d.delivered += s.delivered;
    d.redelivered += s.redelivered;
    d.acked += s.acked;
    d.discarded += s.discarded;
    d.requeued += s.requeued;
    d.purged += s.purged;
    d.expired += s.expired;
    d.dropped_maxlen += s.dropped_maxlen;
    d.rejected_publish += s.rejected_publish;
    d.dead_lettered += s.dead_lettered;
    d.dropped_delivery_limit += s.dropped_delivery_limit;
    return n;
}

void vhost::queue_auto_delete(queue* q) {
    auto it = _queues.find(std::string_view(q->name()));
    if (it != _queues.end() && it->second.get() == q) {
        delete_queue_now(it->second);
    } else {
        q->mark_deleted();
    }
}

result<uint32_t> vhost::purge_queue(std::string_view name, uint64_t connection_id,
                                    const access* who) {
    if (auto r = check_access(who, permission::read, resource_kind::queue, name); !r)
        return r.error();
    auto q = queue_for(name, connection_id);
    if (!q) return q.error();
    if ((*q)->is_stream())
        return error{reply_code::not_implemented,
                     "queue.purge not supported by stream queues " + queue_resource(name)};
    return saturate((*q)->purge());
}

void vhost::connection_closed(uint64_t connection_id) {
    if (connection_id == 0) return;
    std::erase_if(_connections, [&](const auto& c) { return c.id == connection_id; });
    shrink_when_sparse(_connections);
    std::vector<queue_ptr> doomed;
    for (auto& [n, q] : _queues)
        if (q->exclusive() && q->owner() == connection_id) doomed.push_back(q);
    for (auto& q : doomed) delete_queue_now(q);
}

// ---------------------------------------------------------------------------------------------
// Bindings

result<exchange*> vhost::exchange_for_binding(std::string_view name) {
    if (name.empty()) return default_exchange_refused();
    exchange* x = find_exchange(name);
    if (!x) return no_exchange(name);
    return x;
}

namespace {
// RabbitMQ's headers exchange validates x-match when binding.
result<void> validate_binding(const exchange& x, const field_table& args) {
    if (x.type() != exchange_type::headers) return {};
    auto* m = find(args, "x-match");
    if (!m) return {};
    auto* s = m->as_string();
    if (!s)
        return error{reply_code::precondition_failed, "Invalid x-match field type " +
                                                          std::string(type_name(*m)) + " (value " +
                                                          format_value(*m) + "); expected longstr"};
    if (*s == "all" || *s == "any" || *s == "all-with-x" || *s == "any-with-x") return {};
    return error{reply_code::precondition_failed,
                 "Invalid x-match field value <<\"" + *s +
                     "\">>; expected all, any, all-with-x, or any-with-x"};
}
}  // namespace

// RabbitMQ's binding_action: write on the destination, the default exchange refused at either
// end, read on the source, and a topic read on the key if the source is a topic exchange.
result<void> vhost::check_binding(resource_kind dest_kind, std::string_view dest,
                                  std::string_view source, std::string_view key,
                                  const access* who) {
    if (!who) return {};
    if (auto r = who->check(permission::write, dest_kind, dest); !r) return r.error();
    if ((dest_kind == resource_kind::exchange && dest.empty()) || source.empty())
        return default_exchange_refused();
    if (auto r = who->check(permission::read, resource_kind::exchange, source); !r)
        return r.error();
    if (exchange* x = find_exchange(source); x && x->type() == exchange_type::topic)
        return who->check_topic(permission::read, source, key);
    return {};
}

result<void> vhost::bind_queue(std::string_view queue, std::string_view exchange,
                               std::string_view key, const field_table& args, uint64_t conn,
                               const access* who) {
    if (auto r = check_binding(resource_kind::queue, queue, exchange, key, who); !r)
        return r.error();
    auto x = exchange_for_binding(exchange);
    if (!x) return x.error();
    auto q = queue_for(queue, conn);
    if (!q) return q.error();
    if (auto v = validate_binding(**x, args); !v) return v.error();
    binding_dest d{q->get(), nullptr};
    if ((*x)->add_binding(d, key, args)) {
        (*q)->inbound_bindings().push_back(inbound_binding{(*x)->name(), std::string(key), args});
        if ((*x)->durable() && (*q)->keeps_persistent() &&
            !durable_binding_added(**x, (*q)->name(), false, key, args)) {
            remove_binding(*x, d, key, args, false);
            return topology_error();
        }
    } else if ((*x)->durable() && (*q)->keeps_persistent() && !durable_current()) {
        return topology_error();
    }
    return {};
}

namespace {
bool has_inbound(const std::vector<inbound_binding>& in, std::string_view source,
                 std::string_view key, const field_table& args) {
    return std::any_of(in.begin(), in.end(), [&](const inbound_binding& r) {
        return r.source == source && r.key == key && args_equal(r.args, args);
    });
}
}  // namespace

// Unbinding is idempotent, as in RabbitMQ 3.10 (rabbit_binding:remove): a missing source,
// destination or binding answers unbind-ok. Only the default exchange is refused, and removing
// a binding that exists needs exclusive access to its queue.
result<void> vhost::unbind_queue(std::string_view queue, std::string_view exchange,
                                 std::string_view key, const field_table& args, uint64_t conn,
                                 const access* who) {
    if (auto r = check_binding(resource_kind::queue, queue, exchange, key, who); !r)
        return r.error();
    if (exchange.empty()) return default_exchange_refused();
    auto* x = find_exchange(exchange);
    queue_ptr q = find_queue(queue);
    if (!x || !q || !has_inbound(q->inbound_bindings(), x->name(), key, args)) return {};
    if (q->exclusive() && q->owner() != conn) return locked(queue);
    // Removing the last binding of an auto-delete exchange frees it: read what we need first.
    bool persist = x->durable() && q->keeps_persistent();
    remove_binding(x, binding_dest{q.get(), nullptr}, key, args);
    if (persist) durable_changed();
    return {};
}

result<void> vhost::bind_exchange(std::string_view dest, std::string_view source,
                                  std::string_view key, const field_table& args,
                                  const access* who) {
    if (auto r = check_binding(resource_kind::exchange, dest, source, key, who); !r)
        return r.error();
    auto src = exchange_for_binding(source);
    if (!src) return src.error();
    auto dst = exchange_for_binding(dest);
    if (!dst) return dst.error();
    if (auto v = validate_binding(**src, args); !v) return v.error();
    binding_dest d{nullptr, *dst};
    if ((*src)->add_binding(d, key, args)) {
        (*dst)->inbound_bindings().push_back(
            inbound_binding{(*src)->name(), std::string(key), args});
        if ((*src)->durable() && (*dst)->durable() &&
            !durable_binding_added(**src, (*dst)->name(), true, key, args)) {
            remove_binding(*src, d, key, args, false);
            return topology_error();
        }
    } else if ((*src)->durable() && (*dst)->durable() && !durable_current()) {
        return topology_error();
    }
    return {};
}

result<void> vhost::unbind_exchange(std::string_view dest, std::string_view source,
                                    std::string_view key, const field_table& args,
                                    const access* who) {
    if (auto r = check_binding(resource_kind::exchange, dest, source, key, who); !r)
        return r.error();
    if (source.empty() || dest.empty()) return default_exchange_refused();
    exchange* src = find_exchange(source);
    exchange* dst = find_exchange(dest);
    if (!src || !dst || !has_inbound(dst->inbound_bindings(), src->name(), key, args)) return {};
    bool persist = src->durable() && dst->durable();  // src may be auto-deleted below
    remove_binding(src, binding_dest{nullptr, dst}, key, args);
    if (persist) durable_changed();
    return {};
}

// ---------------------------------------------------------------------------------------------
// Publishing

result<size_t> vhost::publish(std::string_view exchange_name, message_ptr m, publish_info* info,
                              const access* who) {
    if (who) {
        if (auto r = who->check(permission::write, resource_kind::exchange, exchange_name); !r)
            return r.error();
    }
    auto it = _exchanges.find(exchange_name);
    if (it == _exchanges.end()) return no_exchange(exchange_name);
    exchange* x = it->second.get();
    if (x->internal())
        return error{reply_code::access_refused,
                     "cannot publish to internal " + exchange_resource(exchange_name),
                     exchange_resource(exchange_name)};
    if (who && x->type() == exchange_type::topic) {
        if (auto r = who->check_topic(permission::write, exchange_name, m->routing_key); !r)
            return r.error();
    }
    auto r = _router.route(*x, std::move(m), info, route_origin::publish);
    if (!_dead_letters.empty()) drain_dead_letters();
    ++_totals.received;
    if (r) ++(*r > 0 ? _totals.routed : _totals.unroutable);
    return r;
}

// ---------------------------------------------------------------------------------------------
// Connections and deletion

void vhost::connection_opened(uint64_t connection_id, std::string user, close_fn close,
                              info_fn info, io_fn io) {
    _connections.push_back(
        {connection_id, std::move(user), std::move(close), std::move(info), std::move(io)});
}

bool vhost::close_connection(uint64_t connection_id, std::string_view reason) {
    for (auto& c : _connections) {
        if (c.id != connection_id) continue;
        close_fn close = c.close;  // the close forgets the connection here (connection_closed)
        if (close) close(reason);
        return true;
    }
    return false;
}

std::optional<int64_t> vhost::connection_limit_reached() const {
    if (_limits.max_connections < 0) return std::nullopt;
    if (_connections.size() < static_cast<uint64_t>(_limits.max_connections)) return std::nullopt;
    return _limits.max_connections;
}

void vhost::close_connections(std::string_view reason) {
    // A close may call back into connection_closed(): work on a copy.
    auto conns = std::move(_connections);
    _connections.clear();
    for (auto& c : conns)
        if (c.close) c.close(reason);
}

void vhost::close_connections_of(std::string_view user, std::string_view reason) {
    std::vector<close_fn> doomed;
    for (auto& c : _connections)
        if (c.user == user) doomed.push_back(c.close);
    for (auto& close : doomed)  // each close forgets its connection here (connection_closed)
        if (close) close(reason);
}

void vhost::delete_everything() {
    std::vector<queue_ptr> qs;
    for (auto& [n, q] : _queues) qs.push_back(q);
    for (auto& q : qs) delete_queue_now(q);
    // By name: deleting one may auto-delete another.
    std::vector<std::string> xs;
    for (auto& [n, x] : _exchanges)
        if (x.get() != _default && !has_amq_prefix(n)) xs.push_back(n);
    for (const auto& n : xs)
        if (exchange* x = find_exchange(n)) delete_exchange_now(x);
}

void vhost::dead_letter(std::string dlx, message_ptr m) {
    _dead_letters.emplace_back(std::move(dlx), std::move(m));
}

void vhost::drain_dead_letters() {
    if (_draining || _router.routing() || _dead_letters.empty()) return;
    _draining = true;
    for (size_t i = 0; i < _dead_letters.size(); ++i) {
        auto [dlx, m] = std::move(_dead_letters[i]);
        auto it = _exchanges.find(dlx);
        if (it == _exchanges.end()) continue;  // missing DLX: dropped, as RabbitMQ does
        auto r = _router.route(*it->second, std::move(m), nullptr, route_origin::dead_letter);
        (void)r;  // a store failure is reported by the confirm gate; nothing to answer here
    }
    _dead_letters.clear();
    _draining = false;
}

void vhost::set_clock(clock_fn steady_ms, clock_fn wall_seconds) {
    _clock = std::move(steady_ms);
    _wall = std::move(wall_seconds);
}

uint64_t vhost::now_ms() const {
    return _clock ? _clock() : system_steady_ms();
}

uint64_t vhost::wall_seconds() const {
    return _wall ? _wall() : system_wall_ms() / 1000;
}

uint64_t vhost::wall_ms() const {
    return _wall ? _wall() * 1000 : system_wall_ms();
}

result<void> vhost::set_in(policy_set& set, policy p) {
    std::optional<policy> before;
    if (const policy* old = set.find(p.name)) before = *old;
    const std::string name = p.name;
    if (auto r = set.set(std::move(p)); !r) return r;
    if (!durable_changed()) {
        if (before)
            (void)set.set(std::move(*before));
        else
            set.clear(name);
        return topology_error();
    }
    apply_policies();
    return {};
}

result<bool> vhost::clear_in(policy_set& set, std::string_view name) {
    const policy* old = set.find(name);
    if (!old) return false;
    policy before = *old;
    set.clear(name);
    if (!durable_changed()) {
        (void)set.set(std::move(before));
        return topology_error();
    }
    apply_policies();
    return true;
}

result<void> vhost::set_policy(policy p) {
    return set_in(_policies, std::move(p));
}
result<bool> vhost::clear_policy(std::string_view name) {
    return clear_in(_policies, name);
}
result<void> vhost::set_operator_policy(policy p) {
    return set_in(_operator_policies, std::move(p));
}
result<bool> vhost::clear_operator_policy(std::string_view name) {
    return clear_in(_operator_policies, name);
}

void vhost::apply_policy(queue& q) const {
    q.apply_policy(_policies.match_queue(q.name()), _operator_policies.match_queue(q.name()));
}

void vhost::apply_policy(exchange* x) {
    if (x == _default) return;
    const policy* p = _policies.match_exchange(x->name());
    std::optional<std::string> ae;
    if (p)
        if (auto* v = find(p->definition, "alternate-exchange"))
            if (auto* s = v->as_string()) ae = *s;
    x->set_policy(p ? p->name : std::string(), std::move(ae));
}

void vhost::apply_policies() {
    std::vector<queue_ptr> qs;
    for (auto& [n, q] : _queues) qs.push_back(q);
    for (auto& q : qs)
        if (!q->deleted()) apply_policy(*q);
    for (auto& [n, x] : _exchanges) apply_policy(x.get());
    drain_dead_letters();
}

// ---------------------------------------------------------------------------------------------
// Exchange deduplication (dedup.h)

namespace {
constexpr std::string_view k_dedup_record_key = "x-warren-dedup-key";
constexpr std::string_view k_dedup_record_expires = "x-warren-dedup-expires";  // wall ms, 0: never
}  // namespace

void vhost::settle_held(const std::vector<uint64_t>& disk_ids) {
    if (disk_ids.empty()) return;
    message_log* l = log();
    if (!l) return;
    for (uint64_t id : disk_ids) l->settle(_delayed.store_id(), id);
}

bool vhost::is_duplicate(exchange& x, std::string_view key) {
    dedup_cache* c = x.dedup_keys();
    if (!c) return false;
    std::vector<uint64_t> gone;
    const bool dup = c->contains(key, now_ms(), gone);
    settle_held(gone);
    return dup;
}

void vhost::remember_key(exchange& x, const message& m, std::string key, uint64_t* store_seq) {
    dedup_cache* c = x.dedup_keys();
    if (!c) return;
    const std::optional<uint64_t> ttl = key_ttl(*x.dedup(), m);
    const uint64_t now = now_ms();
    const uint64_t expires_at = ttl ? now + *ttl : 0;
    uint64_t disk_id = 0;
    message_log* l = log();
    if (l && x.durable() && m.persistent() && _delayed.ensure_store_id()) {
        // The record: the exchange's name, and the key and its wall-clock expiry as headers.
        message rec;
        rec.exchange = x.name();
        rec.props.delivery_mode = 2;
        rec.props.headers.emplace();
        rec.props.headers->emplace_back(std::string(k_dedup_record_key), bytes_value{key});
        rec.props.headers->emplace_back(std::string(k_dedup_record_expires),
                                        int64_t(ttl ? wall_ms() + *ttl : 0));
        const uint64_t seq = l->write_held(rec, x.name(), _delayed.store_id(), &disk_id);
        if (seq && store_seq) *store_seq = std::max(*store_seq, seq);
    }
    std::vector<uint64_t> gone;
    c->insert(std::move(key), expires_at, disk_id, now, gone);
    settle_held(gone);
}

bool vhost::is_dedup_record(const message& m) {
    return m.props.headers && find(*m.props.headers, k_dedup_record_key);
}

bool vhost::restore_dedup(const message& record, uint64_t disk_id, uint64_t now_wall_ms) {
    exchange* x = find_exchange(record.exchange);
    dedup_cache* c = x ? x->dedup_keys() : nullptr;
    if (!c || !record.props.headers) return false;
    auto* k = find(*record.props.headers, k_dedup_record_key);
    auto* e = find(*record.props.headers, k_dedup_record_expires);
    const bytes_value* key = k ? std::get_if<bytes_value>(&k->v) : nullptr;
    const std::string* skey = k ? k->as_string() : nullptr;
    auto expires_wall = e ? e->as_int() : std::nullopt;
    if ((!key && !skey) || !expires_wall || *expires_wall < 0) return false;
    uint64_t expires_at = 0;
    const uint64_t now = now_ms();
    if (*expires_wall) {
        if (uint64_t(*expires_wall) <= now_wall_ms) return false;
        expires_at = now + (uint64_t(*expires_wall) - now_wall_ms);
    }
    std::vector<uint64_t> gone;
    c->insert(key ? key->data : *skey, expires_at, disk_id, now, gone);
    settle_held(gone);
    return true;
}

size_t vhost::recover_keys_of(const message& m, uint64_t published_wall_ms, uint64_t now_wall_ms) {
    exchange* x = find_exchange(m.exchange);
    dedup_cache* c = x ? x->dedup_keys() : nullptr;
    if (!c || !x->durable() || !m.persistent()) return 0;
    auto key = dedup_key(m, x->dedup()->header);
    if (!key) return 0;
    std::vector<uint64_t> gone;
    if (c->contains(*key, now_ms(), gone)) {
        settle_held(gone);
        return 0;
    }
    const std::optional<uint64_t> ttl = key_ttl(*x->dedup(), m);
    if (ttl && published_wall_ms && published_wall_ms + *ttl <= now_wall_ms) return 0;
    remember_key(*x, m, std::move(*key), nullptr);
    return 1;
}

void vhost::release_delayed(uint64_t now) {
    _delayed.release(now, _router);
    drain_dead_letters();
}

void vhost::tick(uint64_t now) {
    release_delayed(now);
    // Collect first: expiring dead-letters and delivers, and consumers may declare or delete
    // queues from their callbacks.
    std::vector<queue_ptr> due, doomed;
    // Only the queues with timers; those that have none any more leave the list (a queue
    // registers again when it gets one: queue::watch_timers).
    std::vector<std::weak_ptr<queue>> timed;
    timed.swap(_timed);
    for (auto& w : timed) {
        queue_ptr q = w.lock();
        if (!q || q->deleted()) continue;
        if (!q->has_timers()) {
            q->timers_unwatched();
            continue;
        }
        _timed.push_back(q);
        if (auto t = q->next_expiry(); t && *t <= now) due.push_back(q);
        if (auto t = q->expires_at(); t && *t <= now) doomed.push_back(q);
    }
    for (auto& q : due)
        if (!q->deleted()) q->expire(now);
    for (auto& q : doomed) {
        auto t = q->expires_at();  // may have been used meanwhile
        if (t && *t <= now) delete_queue_now(q);
    }
    drain_dead_letters();
}

std::optional<uint64_t> vhost::next_expiry() const {
    std::optional<uint64_t> best = _delayed.next_due();
    for (auto& w : _timed) {
        queue_ptr q = w.lock();
        if (!q || q->deleted()) continue;
        for (auto t : {q->next_expiry(), q->expires_at()})
            if (t && (!best || *t < *best)) best = t;
    }
    return best;
}

}  // namespace warren::core

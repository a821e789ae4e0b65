#include "server/durability.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "core/vhost.h"
#include "proto/amqp091/codec/content.h"

namespace warren::server {

namespace {
uint64_t wall_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

bool builtin_exchange(const std::string& name) {
    return name.empty() || name.starts_with("amq.");
}
}  // namespace

durability::durability(boost::asio::io_context& io, core::broker& b, durability_options opts)
    : _io(io),
      _broker(b),
      _opts(std::move(opts)),
      _notify_posted(std::make_shared<std::atomic<bool>>(false)),
      _alive(std::make_shared<std::atomic<bool>>(true)) {}

durability::~durability() {
    detach();
    _alive->store(false);
    _log.reset();  // flushes what is buffered, joins the flusher
}

basic_result<std::unique_ptr<durability>, std::string> durability::open(
    boost::asio::io_context& io, core::broker& b, durability_options opts) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<durability> d(new durability(io, b, std::move(opts)));
    auto dd = store::data_dir::open(d->_opts.dir);
    if (!dd) return std::string("data_dir '" + d->_opts.dir + "': " + dd.error().text);
    d->_dir = std::move(*dd);
    d->_meta = std::make_unique<store::metadata_store>(store::posix_env(), d->_dir->meta_dir());
    auto topo = d->_meta->load();
    if (!topo)
        return std::string("cannot load " + d->_meta->path() + ": " + topo.error().text +
                           " (refusing to start with an empty topology)");
    store::topology t = topo->value_or(store::topology{});
    d->_next_queue_id = std::max<uint64_t>(t.next_queue_id, 1);
    if (auto e = d->replay_topology(t); !e.empty()) return e;

    store::segment_log_options lo;
    lo.segment_size = d->_opts.segment_size;
    lo.background_flush = true;
    auto posted = d->_notify_posted;
    auto alive = d->_alive;
    durability* self = d.get();
    lo.on_durable = [&io, posted, alive, self](uint64_t) {
        if (posted->exchange(true)) return;  // one notification in flight is enough
        boost::asio::post(io, [posted, alive, self] {
            posted->store(false);
            if (alive->load()) self->notify();
        });
    };
    lo.on_failed = [&io, alive, self](const store::error& e) {
        boost::asio::post(io, [alive, self, text = e.text] {
            if (alive->load()) self->store_failed(text);
        });
    };
    store::recovery_result rec;
    auto log = store::segment_log::open(store::posix_env(), d->_dir->msgs_dir(), lo, &rec);
    if (!log) return std::string("message store: " + log.error().text);
    d->_log = std::move(*log);
    WLOG_INFO("store recovered {}", rec.stats.summary());
    if (rec.stats.torn_tails || rec.stats.corrupt_regions || rec.stats.corrupt_segments)
        WLOG_WARN("store cut damaged data: torn_tails={} bytes_truncated={} corrupt_regions={} "
                  "bytes_skipped={} corrupt_segments={}",
                  rec.stats.torn_tails, rec.stats.bytes_truncated, rec.stats.corrupt_regions,
                  rec.stats.bytes_skipped, rec.stats.corrupt_segments);

    d->_attached = true;
    d->_replaying = true;
    b.set_persistence(d.get());
    if (auto e = d->recover_messages(rec); !e.empty()) return e;
    d->_replaying = false;
    d->save_topology();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
    WLOG_INFO("recovery done in {} ms: {} queues, {} messages, next queue id {}", ms,
              rec.stats.queues, rec.stats.messages, d->_next_queue_id);
    return d;
}

std::string durability::replay_topology(const store::topology& t) {
    for (auto& vd : t.vhosts) {
        core::vhost* vh = _broker.add_vhost(vd.name);
        if (vd.delayed_store_id) {
            vh->set_delayed_store_id(vd.delayed_store_id);
            _next_queue_id = std::max(_next_queue_id, vd.delayed_store_id + 1);
        }
        for (auto& x : vd.exchanges) {
            core::exchange_decl d{.name = x.name, .type = x.type, .durable = true,
                                  .auto_delete = x.auto_delete, .internal = x.internal,
                                  .args = x.args};
            if (auto r = vh->declare_exchange(d); !r)
                WLOG_WARN("recovery: exchange '{}' in vhost '{}' not restored: {}", x.name,
                          vd.name, r.error().text);
        }
        for (auto& q : vd.queues) {
            core::queue_decl d{.name = q.name, .durable = true, .auto_delete = q.auto_delete,
                               .args = q.args, .store_id = q.id};
            if (auto r = vh->declare_queue(d, 0); !r)
                WLOG_WARN("recovery: queue '{}' in vhost '{}' not restored: {}", q.name, vd.name,
                          r.error().text);
            _next_queue_id = std::max(_next_queue_id, q.id + 1);
        }
        for (auto& bd : vd.bindings) {
            auto r = bd.destination_is_exchange
                         ? vh->bind_exchange(bd.destination, bd.source, bd.routing_key, bd.args)
                         : vh->bind_queue(bd.destination, bd.source, bd.routing_key, bd.args, 0);
            if (!r)
                WLOG_WARN("recovery: binding {} -> {} ('{}') in vhost '{}' not restored: {}",
                          bd.source, bd.destination, bd.routing_key, vd.name, r.error().text);
        }
    }
    return {};
}

std::string durability::recover_messages(store::recovery_result& rec) {
    std::unordered_map<uint64_t, core::queue_ptr> by_id;
    std::unordered_map<uint64_t, core::vhost*> delayed_ids;
    for (auto& name : _broker.vhost_names()) {
        core::vhost* vh = _broker.find_vhost(name);
        for (auto& [qn, q] : vh->queues())
            if (q->keeps_persistent()) by_id.emplace(q->store_id(), q);
        if (vh->delayed_store_id()) delayed_ids.emplace(vh->delayed_store_id(), vh);
    }
    uint64_t restored = 0, dropped = 0, unreadable = 0, delayed = 0;
    for (auto& [qid, msgs] : rec.queues) {
        if (!(qid & core::spill_queue_bit)) _next_queue_id = std::max(_next_queue_id, qid + 1);
        if (auto d = delayed_ids.find(qid); d != delayed_ids.end()) {
            // Messages held by durable delayed exchanges: back into the delay index with the
            // time they still have to wait (published + x-delay - now).
            std::vector<uint64_t> settle;
            for (auto& m : msgs) {
                uint64_t published = 0;
                auto msg = read(m.message_id, &published);
                if (!msg || !d->second->restore_delayed(msg, m.message_id, published, wall_ms())) {
                    settle.push_back(m.message_id);
                    continue;
                }
                ++delayed;
            }
            if (!settle.empty())
                if (auto r = _log->ack(qid, settle); !r) return "message store: " + r.error().text;
            continue;
        }
        auto it = by_id.find(qid);  // spill ids are never found: their messages are dropped
        if (it == by_id.end()) {
            std::vector<uint64_t> ids;
            ids.reserve(msgs.size());
            for (auto& m : msgs) ids.push_back(m.message_id);
            dropped += ids.size();
            if (auto r = _log->queue_deleted(qid, ids); !r)
                return "message store: " + r.error().text;
            continue;
        }
        core::queue& q = *it->second;
        std::vector<uint64_t> settle;
        const auto& f = q.features();
        if (!f.max_priority && !f.message_ttl && !f.max_length_bytes) {
            // Nothing to decide from the properties now: enqueue index entries only and read
            // each body when a consumer reaches it (recovery then costs the log scan alone).
            for (auto& m : msgs) q.recover_stub(m.message_id, m.size);
            restored += msgs.size();
            continue;
        }
        for (auto& m : msgs) {
            uint64_t published = 0;
            auto msg = read(m.message_id, &published);
            if (!msg) {
                ++unreadable;
                settle.push_back(m.message_id);
                continue;
            }
            if (!msg->persistent()) {  // a spilled transient message: gone, as in RabbitMQ
                ++dropped;
                settle.push_back(m.message_id);
                continue;
            }
            // Time already spent counts against a TTL (0: unknown, version 1 record).
            const uint64_t now = wall_ms();
            const uint64_t age = published < now && published ? now - published : 0;
            q.recover(std::move(msg), m.message_id, age);
            ++restored;
        }
        if (!settle.empty())
            if (auto r = _log->ack(qid, settle); !r) return "message store: " + r.error().text;
    }
    core::advance_message_ids(rec.max_message_id);
    WLOG_INFO("recovered messages: restored={} delayed={} dropped_transient_or_orphan={} "
              "unreadable={}",
              restored, delayed, dropped, unreadable);
    return {};
}

void durability::detach() {
    if (!_attached) return;
    flush_acks();
    _broker.set_persistence(nullptr);
    _attached = false;
}

void durability::failed(const std::string& what, const std::string& text) {
    if (_healthy) WLOG_ERROR("message store failed ({}): {}", what, text);
    _healthy = false;
}

uint64_t durability::append(uint64_t id, std::span<const uint64_t> queue_ids,
                            const core::message& m, std::string_view exchange) {
    std::string_view props = m.props_raw;
    if (props.empty()) {
        _scratch.clear();
        amqp::encode_properties(_scratch, m.props);
        props = _scratch;
    }
    store::message_fields f{exchange, m.routing_key, props, m.body};
    f.published_ms = wall_ms();
    auto r = _log->append_message(id, queue_ids, f);
    if (!r) {
        failed("append", r.error().text);
        return 0;
    }
    return r->seq;
}

uint64_t durability::write_message(const core::message& m, std::span<const uint64_t> queue_ids) {
    if (!_healthy) return 0;
    return append(m.id, queue_ids, m, m.exchange);
}

uint64_t durability::write_held(const core::message& m, std::string_view exchange,
                                uint64_t store_id, uint64_t* disk_id) {
    if (!_healthy) return 0;
    const uint64_t id = core::next_message_id();
    const uint64_t seq = append(id, std::span<const uint64_t>(&store_id, 1), m, exchange);
    if (seq) *disk_id = id;
    return seq;
}

uint64_t durability::spill(const core::message& m, uint64_t queue_id) {
    if (!_healthy) return 0;
    const uint64_t id = core::next_message_id();
    return append(id, std::span<const uint64_t>(&queue_id, 1), m, m.exchange) ? id : 0;
}

core::message_ptr durability::read(uint64_t disk_id, uint64_t* published_ms) {
    auto bytes = _log->read_message(disk_id);
    if (!bytes) {
        WLOG_ERROR("message store: cannot read message {}: {}", disk_id, bytes.error().text);
        return nullptr;
    }
    auto f = store::decode_message(*bytes);
    if (!f) {
        WLOG_ERROR("message store: message {} does not decode: {}", disk_id, f.error().text);
        return nullptr;
    }
    auto props = amqp::decode_properties(f->properties);
    if (!props) {
        WLOG_ERROR("message store: message {} has bad properties: {}", disk_id,
                   props.error().text);
        return nullptr;
    }
    auto m = std::make_shared<core::message>();
    m->exchange = std::string(f->exchange);
    m->routing_key = std::string(f->routing_key);
    m->props = std::move(*props);
    m->props_raw = std::string(f->properties);
    m->body = std::string(f->body);
    m->id = disk_id;
    if (published_ms) *published_ms = f->published_ms;
    return m;
}

void durability::settle(uint64_t queue_id, uint64_t disk_id) {
    _acks[queue_id].push_back(disk_id);
    if (_ack_flush_posted) return;
    _ack_flush_posted = true;
    auto alive = _alive;
    boost::asio::post(_io, [this, alive] {
        if (alive->load()) flush_acks();
    });
}

void durability::flush_acks() {
    _ack_flush_posted = false;
    if (!_log) return;
    for (auto& [qid, ids] : _acks) {
        if (ids.empty()) continue;
        if (auto r = _log->ack(qid, ids); !r) failed("ack", r.error().text);
        ids.clear();
    }
    if (_acks.size() > 1024) _acks.clear();
}

void durability::queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) {
    auto it = _acks.find(queue_id);
    if (it != _acks.end()) _acks.erase(it);  // the marker releases them all
    if (auto r = _log->queue_deleted(queue_id, disk_ids); !r) failed("delete", r.error().text);
}

store::topology durability::snapshot() const {
    store::topology t;
    t.next_queue_id = _next_queue_id;
    for (auto& name : _broker.vhost_names()) {
        const core::vhost* vh = const_cast<core::broker&>(_broker).find_vhost(name);
        store::vhost_def vd;
        vd.name = name;
        vd.delayed_store_id = vh->delayed_store_id();
        for (auto& [xn, x] : vh->exchanges()) {
            if (!x->durable()) continue;
            if (!builtin_exchange(x->name()))
                vd.exchanges.push_back(store::exchange_def{x->name(), std::string(x->type_name()),
                                                           x->auto_delete(), x->internal(),
                                                           x->args()});
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
        for (auto& [qn, q] : vh->queues()) {
            if (!q->keeps_persistent()) continue;
            vd.queues.push_back(store::queue_def{q->name(), q->store_id(), q->auto_delete(),
                                                 q->args()});
        }
        // Deterministic order, so an unchanged topology encodes to the same bytes.
        std::sort(vd.exchanges.begin(), vd.exchanges.end(),
                  [](auto& a, auto& b) { return a.name < b.name; });
        std::sort(vd.queues.begin(), vd.queues.end(),
                  [](auto& a, auto& b) { return a.name < b.name; });
        std::sort(vd.bindings.begin(), vd.bindings.end(), [](auto& a, auto& b) {
            return std::tie(a.source, a.destination, a.routing_key) <
                   std::tie(b.source, b.destination, b.routing_key);
        });
        t.vhosts.push_back(std::move(vd));
    }
    return t;
}

bool durability::save_topology() {
    if (!_meta) return true;
    store::topology t = snapshot();
    std::string json = store::encode_topology(t);
    if (json == _saved) {
        _save_failed = false;
        return true;
    }
    if (auto r = _meta->save(t); !r) {
        WLOG_ERROR("cannot save topology to {}: {}", _meta->path(), r.error().text);
        _save_failed = true;
        return false;
    }
    _saved = std::move(json);
    _save_failed = false;
    return true;
}

bool durability::topology_changed(core::vhost&) {
    if (_replaying) return true;
    return save_topology();
}

uint64_t durability::durable_seq() const {
    return _log ? _log->durable_seq() : 0;
}

void durability::wait(core::durable_waiter* w) {
    if (std::find(_waiters.begin(), _waiters.end(), w) == _waiters.end()) _waiters.push_back(w);
}

void durability::cancel_wait(core::durable_waiter* w) {
    auto it = std::find(_waiters.begin(), _waiters.end(), w);
    if (it != _waiters.end()) _waiters.erase(it);
    if (_notifying) std::replace(_notifying->begin(), _notifying->end(), w,
                                 static_cast<core::durable_waiter*>(nullptr));
}

template <typename F>
void durability::take_waiters(F&& call) {
    std::vector<core::durable_waiter*> ws;
    ws.swap(_waiters);
    _notifying = &ws;  // a waiter destroyed meanwhile is nulled here by cancel_wait
    for (size_t i = 0; i < ws.size(); ++i)
        if (auto* w = ws[i]) call(*w);
    _notifying = nullptr;
}

void durability::store_failed(const std::string& why) {
    failed("flush", why);
    take_waiters([](core::durable_waiter& w) { w.durable_failed(); });
}

void durability::notify() {
    if (_waiters.empty()) return;
    const uint64_t seq = durable_seq();
    // A waiter still waiting after this re-registers itself.
    take_waiters([seq](core::durable_waiter& w) { w.durable_advanced(seq); });
}

}  // namespace warren::server

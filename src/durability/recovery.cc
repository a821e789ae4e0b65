#include "durability/recovery.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "core/vhost.h"

namespace warren::durability {

uint64_t replay_topology(core::broker& b, const store::topology& t) {
    uint64_t next_id = std::max<uint64_t>(t.next_queue_id, 1);
    // Limits last: max-queues must not refuse the queues being restored.
    struct limits_after {
        core::broker& b;
        const store::topology& t;
        ~limits_after() {
            for (auto& vd : t.vhosts)
                if (core::vhost* vh = b.find_vhost(vd.name))
                    vh->set_limits({vd.limits.max_connections, vd.limits.max_queues});
        }
    } set_limits{b, t};
    for (auto& vd : t.vhosts) {
        core::vhost* vh = b.add_vhost(vd.name);
        // Policies first: each queue and exchange declared below picks its own at once.
        auto restore = [&](const store::policy_def& p, bool op) {
            auto def = store::parse_policy_definition(p.definition);
            core::result<void> r;
            if (!def) {
                r = core::error{core::reply_code::internal_error, def.error().text};
            } else {
                core::policy cp{p.name, p.pattern, p.apply_to, p.priority, std::move(*def)};
                r = op ? vh->set_operator_policy(std::move(cp)) : vh->set_policy(std::move(cp));
            }
            if (!r)
                WLOG_WARN("recovery: {}policy '{}' in vhost '{}' not restored: {}",
                          op ? "operator " : "", p.name, vd.name, r.error().text);
        };
        for (auto& p : vd.policies) restore(p, false);
        for (auto& p : vd.operator_policies) restore(p, true);
        if (vd.delayed_store_id) {
            vh->set_delayed_store_id(vd.delayed_store_id);
            next_id = std::max(next_id, vd.delayed_store_id + 1);
        }
        for (auto& x : vd.exchanges) {
            core::exchange_decl d{.name = x.name,
                                  .type = x.type,
                                  .durable = true,
                                  .auto_delete = x.auto_delete,
                                  .internal = x.internal,
                                  .args = x.args};
            if (auto r = vh->declare_exchange(d); !r)
                WLOG_WARN("recovery: exchange '{}' in vhost '{}' not restored: {}", x.name, vd.name,
                          r.error().text);
        }
        for (auto& q : vd.queues) {
            core::queue_decl d{.name = q.name,
                               .durable = true,
                               .auto_delete = q.auto_delete,
                               .args = q.args,
                               .store_id = q.id};
            if (auto r = vh->declare_queue(d, 0); !r)
                WLOG_WARN("recovery: queue '{}' in vhost '{}' not restored: {}", q.name, vd.name,
                          r.error().text);
            next_id = std::max(next_id, q.id + 1);
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
    return next_id;
}

namespace {
// The durable queue holding message `id` in the recovered log, or null.
core::queue* find_message_queue(const std::unordered_map<uint64_t, core::queue_ptr>& by_id,
                                const store::recovery_result& rec, uint64_t id) {
    if (id == 0) return nullptr;
    for (auto& [qid, msgs] : rec.queues) {
        auto it = by_id.find(qid);
        if (it == by_id.end()) continue;
        for (auto& m : msgs)
            if (m.message_id == id) return it->second.get();
    }
    return nullptr;
}
}  // namespace

basic_result<recovered_messages, std::string> recover_messages(core::broker& b,
                                                               store::segment_log& log,
                                                               core::message_log& reader,
                                                               store::recovery_result& rec) {
    // First: recovery itself may write (a deduplication key put back below), and a new record
    // must never take the id of one still live in the log (the store refuses it and fails).
    core::advance_message_ids(rec.max_message_id);
    std::unordered_map<uint64_t, core::queue_ptr> by_id;
    std::unordered_map<uint64_t, core::vhost*> delayed_ids;
    for (auto& name : b.vhost_names()) {
        core::vhost* vh = b.find_vhost(name);
        for (auto& [qn, q] : vh->queues())
            if (q->writes_to_log()) by_id.emplace(q->store_id(), q);
        if (vh->delayed_store_id()) delayed_ids.emplace(vh->delayed_store_id(), vh);
    }
    recovered_messages out;
    const uint64_t now = b.wall_ms();
    // Streams keep their own logs: open (and recover) each now, not at its first use.
    for (auto& name : b.vhost_names())
        for (auto& [qn, q] : b.find_vhost(name)->queues())
            if (auto* s = q->stream_state()) {
                s->open_storage();
                ++out.streams;
            }
    for (auto& [qid, msgs] : rec.queues) {
        if (!(qid & core::spill_queue_bit))
            out.next_queue_id = std::max(out.next_queue_id, qid + 1);
        if (auto d = delayed_ids.find(qid); d != delayed_ids.end()) {
            // Messages held by durable delayed exchanges: back into the delay index with the
            // time they still have to wait (published + x-delay - now).
            std::vector<uint64_t> settle;
            for (auto& m : msgs) {
                uint64_t published = 0;
                auto msg = reader.read(m.message_id, &published);
                // Two kinds of record live here: keys cached by deduplicating exchanges, and
                // messages held by delayed exchanges.
                const bool key = msg && core::vhost::is_dedup_record(*msg);
                const bool kept =
                    msg && (key ? d->second->restore_dedup(*msg, m.message_id, now)
                                : d->second->restore_delayed(msg, m.message_id, published, now));
                if (!kept) {
                    settle.push_back(m.message_id);
                    continue;
                }
                ++(key ? out.dedup_keys : out.delayed);
            }
            if (!settle.empty())
                if (auto r = log.ack(qid, settle); !r) return "message store: " + r.error().text;
            continue;
        }
        auto it = by_id.find(qid);  // spill ids are never found: their messages are dropped
        if (it == by_id.end()) {
            std::vector<uint64_t> ids;
            ids.reserve(msgs.size());
            for (auto& m : msgs) ids.push_back(m.message_id);
            out.dropped += ids.size();
            if (auto r = log.queue_deleted(qid, ids); !r) return "message store: " + r.error().text;
            continue;
        }
        core::queue& q = *it->second;
        const auto& f = q.features();
        if (!f.max_priority && !f.message_ttl && !f.max_length_bytes && !f.deduplication) {
            // Nothing to decide from the properties now: enqueue index entries only and read
            // each body when a consumer reaches it (recovery then costs the log scan alone).
            for (auto& m : msgs) q.recover_stub(m.message_id, m.size);
            out.restored += msgs.size();
            continue;
        }
        std::vector<uint64_t> settle;
        for (auto& m : msgs) {
            uint64_t published = 0;
            auto msg = reader.read(m.message_id, &published);
            if (!msg) {
                ++out.unreadable;
                settle.push_back(m.message_id);
                continue;
            }
            if (!msg->persistent()) {  // a spilled transient message: gone, as in RabbitMQ
                ++out.dropped;
                settle.push_back(m.message_id);
                continue;
            }
            // Time already spent counts against a TTL (0: unknown, version 1 record).
            const uint64_t age = published < now && published ? now - published : 0;
            q.recover(std::move(msg), m.message_id, age);
            ++out.restored;
        }
        if (!settle.empty())
            if (auto r = log.ack(qid, settle); !r) return "message store: " + r.error().text;
    }
    // A crash between a message's record and the records of the keys it added to durable
    // deduplicating exchanges (core/dedup.h; written right after it) leaves that message as the
    // last record in the log without its keys: put them back, so a publisher retrying it after
    // the crash is deduplicated. Only the newest message can be in that state.
    if (core::queue* last = find_message_queue(by_id, rec, rec.max_message_id)) {
        uint64_t published = 0;
        if (auto msg = reader.read(rec.max_message_id, &published); msg && last->owner_vhost())
            out.dedup_keys += last->owner_vhost()->recover_keys_of(*msg, published, now);
    }
    return out;
}

}  // namespace warren::durability

// One handler per channel-level method: each validates, calls core, and replies.
// Errors are returned (result) and turned into channel.close / connection.close by the caller.

#include <random>

#include <fmt/format.h>

#include "base/log.h"
#include "core/features.h"
#include "proto/amqp091/channel.h"
#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/server.h"
#include "proto/amqp091/session.h"

namespace warren::amqp {

using rc = core::reply_code;
using result = core::result<void>;

namespace {

// "amq.ctag-" followed by 22 URL-safe base64 characters, like RabbitMQ's generated tags.
std::string generate_consumer_tag() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string tag = "amq.ctag-";
    uint64_t bits = 0;
    for (int i = 0; i < 22; ++i) {
        if (i % 10 == 0) bits = rng();
        tag += alphabet[bits & 63];
        bits >>= 6;
    }
    return tag;
}

}  // namespace

// ---- channel ----

result channel::on(const channel_open&) {
    return make_error(rc::channel_error, "second 'channel.open' seen");
}

result channel::on(const channel_flow& m) {
    if (!m.active) return make_error(rc::not_implemented, "active=false");
    send(channel_flow_ok{true});
    return {};
}

result channel::on(const channel_close& m) {
    WLOG_DEBUG("amqp connection id={} channel {} closed by client ({} {})", _conn.id(), _id,
               m.reply_code, m.reply_text);
    flush_confirms();
    release();
    send(channel_close_ok{});
    _state = state::closing;  // ignore anything else until the connection forgets us
    _conn.channel_finished(_id);
    return {};
}

result channel::on(const channel_close_ok&) {
    return {};  // nothing outstanding: ignore
}

result channel::on(const access_request&) {
    send(access_request_ok{1});
    return {};
}

// ---- exchange ----

result channel::on(const exchange_declare& m) {
    core::exchange_decl d;
    d.name = m.exchange;
    d.type = m.type;
    d.passive = m.passive;
    d.durable = m.durable;
    d.auto_delete = m.auto_delete;
    d.internal = m.internal;
    d.args = m.arguments;
    auto r = _conn.vhost().declare_exchange(d, _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(exchange_declare_ok{});
    return {};
}

result channel::on(const exchange_delete& m) {
    auto r = _conn.vhost().delete_exchange(m.exchange, m.if_unused, _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(exchange_delete_ok{});
    return {};
}

result channel::on(const exchange_bind& m) {
    auto r = _conn.vhost().bind_exchange(m.destination, m.source, m.routing_key, m.arguments,
                                         _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(exchange_bind_ok{});
    return {};
}

result channel::on(const exchange_unbind& m) {
    auto r = _conn.vhost().unbind_exchange(m.destination, m.source, m.routing_key, m.arguments,
                                           _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(exchange_unbind_ok{});
    return {};
}

// ---- queue ----

core::result<std::string_view> channel::expand_queue(std::string_view name) const {
    if (!name.empty()) return name;
    if (_last_queue.empty()) return make_error(rc::not_found, "no previously declared queue");
    return std::string_view(_last_queue);
}

result channel::on(const queue_declare& m) {
    core::queue_decl d;
    d.name = m.queue;
    d.passive = m.passive;
    d.durable = m.durable;
    d.exclusive = m.exclusive;
    d.auto_delete = m.auto_delete;
    d.args = m.arguments;
    if (d.passive && std::string_view(d.name).starts_with("amq.rabbitmq.reply-to")) {
        // The direct reply-to pseudo queue exists for every client (as in RabbitMQ).
        if (!m.nowait) send(queue_declare_ok{d.name, 0, 0});
        return {};
    }
    if (d.passive && d.name.empty()) {
        if (_last_queue.empty()) return make_error(rc::not_found, "no previously declared queue");
        d.name = _last_queue;
    }
    auto r = _conn.vhost().declare_queue(d, _conn.id(), _conn.access());
    if (!r) return r.error();
    _last_queue = r->q->name();
    if (!m.nowait) send(queue_declare_ok{_last_queue, r->message_count, r->consumer_count});
    return {};
}

result channel::on(const queue_bind& m) {
    auto q = expand_queue(m.queue);
    if (!q) return q.error();
    std::string_view key = m.routing_key;
    if (m.queue.empty() && key.empty()) key = *q;
    auto r = _conn.vhost().bind_queue(*q, m.exchange, key, m.arguments, _conn.id(), _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(queue_bind_ok{});
    return {};
}

result channel::on(const queue_unbind& m) {
    auto q = expand_queue(m.queue);
    if (!q) return q.error();
    std::string_view key = m.routing_key;
    if (m.queue.empty() && key.empty()) key = *q;
    auto r =
        _conn.vhost().unbind_queue(*q, m.exchange, key, m.arguments, _conn.id(), _conn.access());
    if (!r) return r.error();
    send(queue_unbind_ok{});
    return {};
}

result channel::on(const queue_purge& m) {
    auto q = expand_queue(m.queue);
    if (!q) return q.error();
    auto r = _conn.vhost().purge_queue(*q, _conn.id(), _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(queue_purge_ok{*r});
    return {};
}

result channel::on(const queue_delete& m) {
    auto q = expand_queue(m.queue);
    if (!q) return q.error();
    auto r = _conn.vhost().delete_queue(*q, m.if_unused, m.if_empty, _conn.id(), _conn.access());
    if (!r) return r.error();
    if (!m.nowait) send(queue_delete_ok{*r});
    return {};
}

// ---- basic ----

result channel::on(const basic_qos& m) {
    if (m.prefetch_size != 0)
        return make_error(rc::not_implemented,
                          fmt::format("prefetch_size!=0 ({})", m.prefetch_size));
    if (m.global) {
        uint16_t old = _global_prefetch;
        _global_prefetch = m.prefetch_count;
        send(basic_qos_ok{});
        if (old != 0 && (_global_prefetch == 0 || _global_prefetch > old)) kick_consumers(true);
    } else {
        _consumer_prefetch = m.prefetch_count;
        send(basic_qos_ok{});
    }
    return {};
}

result channel::consume_replies(const basic_consume& m) {
    if (_consumers.count(m.consumer_tag) ||
        (!m.consumer_tag.empty() && m.consumer_tag == _reply_tag))
        return make_error(rc::not_allowed,
                          fmt::format("attempt to reuse consumer tag '{}'", m.consumer_tag));
    if (!m.no_ack) return make_error(rc::precondition_failed, "reply consumer cannot acknowledge");
    if (!_reply_suffix.empty())
        return make_error(rc::precondition_failed, "reply consumer already set");
    _reply_tag = m.consumer_tag.empty() ? generate_consumer_tag() : m.consumer_tag;
    _reply_suffix = fmt::format("{}.{}", generate_consumer_tag().substr(9), _conn.id());
    _conn.owner().add_reply_channel(_reply_suffix, this);
    if (!m.nowait) send(basic_consume_ok{_reply_tag});
    return {};
}

result channel::on(const basic_consume& m) {
    // RabbitMQ's consumer_max_per_channel, checked first (a reused tag is another error).
    if (const uint64_t max = _conn.owner().config().consumer_max_per_channel;
        max && _consumers.size() >= max && !_consumers.count(m.consumer_tag))
        return make_error(rc::not_allowed,
                          fmt::format("reached maximum ({}) of consumers per channel", max));
    if (m.queue == "amq.rabbitmq.reply-to") return consume_replies(m);
    auto qn = expand_queue(m.queue);
    if (!qn) return qn.error();
    if (auto r = core::check_access(_conn.access(), core::permission::read,
                                    core::resource_kind::queue, *qn);
        !r)
        return r.error();
    auto q = _conn.vhost().queue_for(*qn, _conn.id());
    if (!q) return q.error();
    if ((*q)->is_stream()) {
        // rabbit_stream_queue:consume's checks, in its order.
        const std::string res = _conn.vhost().queue_resource(*qn);
        if (_consumer_prefetch == 0)
            return make_error(rc::precondition_failed,
                              fmt::format("consumer prefetch count is not set for '{}'", res));
        if (m.no_ack)
            return make_error(rc::not_implemented,
                              "automatic acknowledgement not supported by stream queues " + res);
        if (core::find(m.arguments, "x-priority"))
            return make_error(rc::precondition_failed, "invalid arg 'x-priority' for " + res +
                                                           " of queue type rabbit_stream_queue");
        if (auto* v = core::find(m.arguments, "x-stream-offset");
            v && !core::parse_stream_offset(*v, 0)) {
            // RabbitMQ prints the value as an Erlang term: <<"1x">> for a string.
            const std::string* s = v->as_string();
            const std::string term = s ? "<<\"" + *s + "\">>" : "...";
            return make_error(rc::precondition_failed,
                              fmt::format("invalid arg 'x-stream-offset' for {}: "
                                          "{{invalid_stream_offset_arg,{{{},{}}}}}",
                                          res, core::field_type_name(*v), term));
        }
    }
    std::string tag = m.consumer_tag.empty() ? generate_consumer_tag() : m.consumer_tag;
    if (_consumers.count(tag))
        return make_error(rc::not_allowed, fmt::format("attempt to reuse consumer tag '{}'", tag));
    auto c = std::make_unique<amqp_consumer>(*this, *q, m.no_ack ? 0 : _consumer_prefetch);
    c->tag = tag;
    c->no_ack = m.no_ack;
    c->exclusive = m.exclusive && !(*q)->is_stream();  // a stream ignores the flag
    c->connection_id = _conn.id();
    c->args = m.arguments;
    if (auto* p = core::find(m.arguments, "x-priority")) {
        auto v = p->as_int();
        if (!v)  // RabbitMQ's check_consume_arguments wording
            return make_error(
                rc::precondition_failed,
                fmt::format("invalid arg 'x-priority' for queue '{}' in vhost '{}': "
                            "{{unacceptable_type,{}}}",
                            (*q)->name(), _conn.vhost().name(), core::field_type_name(*p)));
        c->priority = static_cast<int>(*v);
    }
    auto added = (*q)->add_consumer(c.get());
    if (!added) return added.error();
    amqp_consumer* cp = c.get();
    _consumers.emplace(tag, std::move(c));
    if (!m.nowait) send(basic_consume_ok{tag});
    cp->q->dispatch();
    return {};
}

result channel::on(const basic_cancel& m) {
    if (!_reply_suffix.empty() && m.consumer_tag == _reply_tag) {
        _conn.owner().remove_reply_channel(_reply_suffix);
        _reply_suffix.clear();
        _reply_tag.clear();
    }
    auto it = _consumers.find(m.consumer_tag);
    if (it != _consumers.end()) {
        std::unique_ptr<amqp_consumer> c = std::move(it->second);
        _consumers.erase(it);
        for (auto& e : _unacked)
            if (e.c == c.get()) e.c = nullptr;
        // Keep the object alive until the end of the batch: removing the last consumer can
        // auto-delete the queue, which walks its consumers.
        c->q->remove_consumer(c.get());
        _dead.push_back(std::move(c));
    }
    if (!m.nowait) send(basic_cancel_ok{m.consumer_tag});
    return {};
}

result channel::on(const basic_get& m) {
    auto qn = expand_queue(m.queue);
    if (!qn) return qn.error();
    if (auto r = core::check_access(_conn.access(), core::permission::read,
                                    core::resource_kind::queue, *qn);
        !r)
        return r.error();
    auto q = _conn.vhost().queue_for(*qn, _conn.id());
    if (!q) return q.error();
    if ((*q)->is_stream())
        return make_error(rc::not_implemented, "basic.get not supported by stream queues " +
                                                   _conn.vhost().queue_resource(*qn));
    auto d = (*q)->get(m.no_ack);
    if (!d) {
        send(basic_get_empty{});
        return {};
    }
    uint64_t tag = _next_tag++;
    const core::message& msg = *d->msg;
    std::string_view props = wire_props(msg);
    append_get_ok(_conn.out(), _id, tag, d->redelivered, msg.exchange, msg.routing_key,
                  uint32_t((*q)->message_count()), props, msg.body, _conn.frame_max());
    _conn.output_appended();
    if (!m.no_ack) {
        _unacked.push_back({tag, std::move(d->q), d->seq, nullptr, unacked_entry::live});
        ++_held;
    }
    return {};
}

result channel::on(const basic_ack& m) {
    auto r = collect(m.delivery_tag, m.multiple, settle_op::ack);
    if (!r) return r;
    settle_collected();
    return {};
}

result channel::on(const basic_reject& m) {
    auto r = collect(m.delivery_tag, false, m.requeue ? settle_op::requeue : settle_op::discard);
    if (!r) return r;
    if (auto e = refuse_stream_settle(); !e) return e;
    settle_collected();
    return {};
}

result channel::on(const basic_nack& m) {
    auto r =
        collect(m.delivery_tag, m.multiple, m.requeue ? settle_op::requeue : settle_op::discard);
    if (!r) return r;
    if (auto e = refuse_stream_settle(); !e) return e;
    settle_collected();
    return {};
}

result channel::refuse_stream_settle() {
    // rabbit_stream_queue:settle refuses anything but an ack (a stream cannot requeue).
    for (auto& [e, op] : _settle)
        if (e->q && e->q->is_stream()) {
            std::string res = _conn.vhost().queue_resource(e->q->name());
            _settle.clear();
            return make_error(rc::not_implemented,
                              "basic.nack and basic.reject not supported by stream queues " + res);
        }
    return {};
}

result channel::on(const basic_recover_async& m) {
    if (!m.requeue) return make_error(rc::not_implemented, "requeue=false");
    _settle.clear();
    for (auto& e : _unacked)
        if (e.st == unacked_entry::live) _settle.emplace_back(&e, settle_op::requeue);
    settle_now();
    return {};
}

result channel::on(const basic_recover& m) {
    auto r = on(basic_recover_async{m.requeue});
    if (!r) return r;
    send(basic_recover_ok{});
    return {};
}

// ---- confirm / tx ----

result channel::on(const confirm_select& m) {
    if (_tx) return make_error(rc::precondition_failed, "cannot switch from tx to confirm mode");
    _confirm = true;
    if (!m.nowait) send(confirm_select_ok{});
    return {};
}

result channel::on(const tx_select&) {
    if (_confirm)
        return make_error(rc::precondition_failed, "cannot switch from confirm to tx mode");
    _tx = true;
    send(tx_select_ok{});
    return {};
}

result channel::on(const tx_commit&) {
    if (!_tx) return make_error(rc::precondition_failed, "channel is not transactional");
    auto publishes = std::move(_tx_publishes);
    _tx_publishes.clear();
    _tx_store_seq = 0;
    for (auto& p : publishes) {
        auto r = route(p.exchange, p.mandatory, p.msg);
        if (!r)
            WLOG_INFO("amqp connection id={} channel {}: tx.commit dropped a message: {}",
                      _conn.id(), _id, r.error().text);
    }
    _settle.clear();
    for (auto& s : _tx_settles) {
        auto it = std::lower_bound(_unacked.begin(), _unacked.end(), s.tag,
                                   [](const unacked_entry& e, uint64_t t) { return e.tag < t; });
        if (it != _unacked.end() && it->tag == s.tag && it->st == unacked_entry::in_tx)
            _settle.emplace_back(&*it, s.op);
    }
    _tx_settles.clear();
    settle_now();
    // commit-ok only once the committed persistent messages are on disk.
    reply_when_durable({held_reply::commit_ok, 0, 0, _tx_store_seq});
    return {};
}

result channel::on(const tx_rollback&) {
    if (!_tx) return make_error(rc::precondition_failed, "channel is not transactional");
    _tx_publishes.clear();
    for (auto& s : _tx_settles) {
        auto it = std::lower_bound(_unacked.begin(), _unacked.end(), s.tag,
                                   [](const unacked_entry& e, uint64_t t) { return e.tag < t; });
        if (it != _unacked.end() && it->tag == s.tag && it->st == unacked_entry::in_tx)
            it->st = unacked_entry::live;
    }
    _tx_settles.clear();
    send(tx_rollback_ok{});
    return {};
}

}  // namespace warren::amqp

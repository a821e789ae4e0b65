// Channel lifecycle, frame dispatch, content assembly, deliveries and acknowledgements.
// The per-method handlers live in channel_handlers.cc.

#include "proto/amqp091/channel.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.h"
#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/server.h"
#include "proto/amqp091/session.h"

namespace warren::amqp {

using rc = core::reply_code;

namespace {
constexpr std::string_view reply_queue = "amq.rabbitmq.reply-to";
}

// ---------------------------------------------------------------------------------------------
// amqp_consumer

bool amqp_consumer::can_accept() const {
    if (!_ch.deliverable()) return false;
    if (no_ack) return true;  // prefetch limits only deliveries that await an ack
    return (prefetch == 0 || unacked < prefetch) && !_ch.global_prefetch_reached();
}

void amqp_consumer::deliver(core::delivery d) {
    _ch.on_deliver(*this, d);
}

void amqp_consumer::cancelled_by_broker() {
    _ch.on_cancelled(*this);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

channel::channel(session& conn, uint16_t id) : _conn(conn), _id(id) {}

channel::~channel() {
    release();
    stop_waiting_durable();  // even if released earlier: never leave a dangling waiter
}

void channel::open() {
    send(channel_open_ok{});
}

void channel::release() {
    if (_released) return;
    _released = true;
    if (!_reply_suffix.empty()) {
        _conn.owner().remove_reply_channel(_reply_suffix);
        _reply_suffix.clear();
    }
    _content = content_state::none;
    _pub_msg.reset();
    auto consumers = std::move(_consumers);
    _consumers.clear();
    for (auto& e : _unacked) e.c = nullptr;
    for (auto& [tag, c] : consumers) c->q->remove_consumer(c.get());
    requeue_all_unacked();
    _tx_publishes.clear();
    _tx_settles.clear();
    stop_waiting_durable();
}

void channel::stop_waiting_durable() {
    _held_replies.clear();
    if (_waiting_durable) {
        if (auto* p = persist()) p->cancel_wait(this);
        _waiting_durable = false;
    }
}

core::persistence* channel::persist() {
    core::vhost* vh = _conn.vhost_if_open();
    return vh ? vh->persist() : nullptr;
}

void channel::wait_durable(core::persistence* p) {
    if (_waiting_durable || !p) return;
    _waiting_durable = true;
    p->wait(this);
}

void channel::send_held(const held_reply& r) {
    if (_state != state::open) return;
    switch (r.kind) {
        case held_reply::ack:
            send(basic_ack{r.publish_seq, r.count > 1});
            break;
        case held_reply::nack:
            send(basic_nack{r.publish_seq, false, false});
            break;
        case held_reply::commit_ok:
            send(tx_commit_ok{});
            break;
    }
}

void channel::reply_when_durable(held_reply r) {
    if (_released) return;  // closed: nobody to confirm to
    core::persistence* p = persist();
    if (_held_replies.empty() && (r.store_seq == 0 || !p || p->durable_seq() >= r.store_seq)) {
        send_held(r);
        return;
    }
    _held_replies.push_back(r);
    wait_durable(p);
}

void channel::durable_advanced(uint64_t durable_seq) {
    _waiting_durable = false;
    if (_released) {
        _held_replies.clear();
        return;
    }
    // Consecutive acks coalesce into one multiple ack.
    held_reply acks{held_reply::ack, 0, 0, 0};
    while (!_held_replies.empty() && _held_replies.front().store_seq <= durable_seq) {
        held_reply r = _held_replies.front();
        _held_replies.pop_front();
        if (r.kind == held_reply::ack) {
            acks.publish_seq = r.publish_seq;
            acks.count += r.count;
            continue;
        }
        if (acks.count) send_held(acks);
        acks.count = 0;
        send_held(r);
    }
    if (acks.count) send_held(acks);
    if (!_held_replies.empty()) wait_durable(persist());
}

void channel::durable_failed() {
    _waiting_durable = false;
    _held_replies.clear();
    if (_released) return;
    WLOG_ERROR("amqp connection id={} channel {}: message store failed with confirms pending",
               _conn.id(), _id);
    _conn.connection_error({core::error{core::reply_code::internal_error,
                                        "the message store failed; unconfirmed "
                                        "messages may be lost"},
                            0, 0});
}

void channel::end_of_batch() {
    flush_confirms();
    _dead.clear();
}

void channel::resume_consumers() {
    // Collect first: dispatch can cancel nothing, but keep iteration independent of the map.
    _kick.clear();
    for (auto& [tag, c] : _consumers) _kick.push_back(c.get());
    for (auto* c : _kick) c->q->dispatch();
    _kick.clear();
}

void channel::check_ack_timeout(uint64_t now_ms, uint64_t timeout_ms) {
    if (_state != state::open || _held == 0 || timeout_ms == 0) return;
    // New deliveries are at the back: stamp back to front until a stamped one.
    for (auto it = _unacked.rbegin(); it != _unacked.rend() && it->at_ms == 0; ++it)
        it->at_ms = now_ms;
    for (const auto& e : _unacked) {
        if (e.st != unacked_entry::live) continue;
        if (now_ms - e.at_ms <= timeout_ms) return;
        fail(make_error(rc::precondition_failed,
                        fmt::format("delivery acknowledgement on channel {} timed out. Timeout "
                                    "value used: {} ms. This timeout value can be configured, see "
                                    "consumers doc guide to learn more",
                                    _id, timeout_ms)),
             0, 0);
        return;
    }
}

void channel::fail(const core::error& e, uint16_t class_id, uint16_t method_id) {
    if (core::is_connection_error(e.code)) {
        _conn.connection_error({e, class_id, method_id});
        return;
    }
    WLOG_WARN("amqp connection id={} channel {}: channel error (class {} method {}): {}",
              _conn.id(), _id, class_id, method_id, e.text);
    flush_confirms();
    release();
    send(channel_close{uint16_t(e.code), reply_text(e), class_id, method_id});
    _state = state::closing;
}

// ---------------------------------------------------------------------------------------------
// Frames

void channel::handle_frame(const frame_view& f) {
    if (_state == state::closing) {
        // After our channel.close only close/close-ok matter.
        uint16_t cid = 0, mid = 0;
        if (f.type != frame_type::method || !peek_method_ids(f.payload, cid, mid)) return;
        if (cid == channel_close_ok::class_id && mid == channel_close_ok::method_id)
            _conn.channel_finished(_id);
        else if (cid == channel_close::class_id && mid == channel_close::method_id)
            send(channel_close_ok{});
        return;
    }

    // RabbitMQ's 505 for a frame that is not the one the content state expects.
    auto out_of_sequence = [](content_state expected) {
        switch (expected) {
            case content_state::header:
                return make_error(rc::unexpected_frame,
                                  "expected content header for class 60, got non content header "
                                  "frame instead");
            case content_state::body:
                return make_error(rc::unexpected_frame,
                                  "expected content body, got non content body frame instead");
            case content_state::none:
                break;
        }
        return make_error(rc::unexpected_frame,
                          "expected method frame, got non method frame instead");
    };
    core::result<void> r;
    uint16_t cid = 0, mid = 0;
    switch (f.type) {
        case frame_type::method: {
            if (_content != content_state::none) {
                cid = basic_publish::class_id;
                mid = basic_publish::method_id;
                r = out_of_sequence(_content);
                break;
            }
            peek_method_ids(f.payload, cid, mid);
            if (cid == basic_publish::class_id && mid == basic_publish::method_id) {
                publish_view pv;
                if (!decode_publish(f.payload, pv)) {
                    r = make_error(rc::frame_error, "cannot decode basic.publish arguments");
                    break;
                }
                start_content(pv.exchange, pv.routing_key, pv.mandatory, pv.immediate);
                break;
            }
            auto m = decode_method(f.payload);
            if (!m) {
                r = m.error();
                break;
            }
            r = handle_method(*m);
            break;
        }
        case frame_type::header:
        case frame_type::body: {
            const bool header = f.type == frame_type::header;
            cid = basic_publish::class_id;
            mid = basic_publish::method_id;
            if (_content == (header ? content_state::header : content_state::body)) {
                r = header ? handle_header(f) : handle_body(f);
            } else {
                if (_content == content_state::none) cid = mid = 0;
                r = out_of_sequence(_content);
            }
            break;
        }
        case frame_type::heartbeat:
            return;  // the connection handles these
    }
    if (!r) fail(r.error(), cid, mid);
}

core::result<void> channel::handle_method(const method& m) {
    return std::visit(
        [this](const auto& x) -> core::result<void> {
            if constexpr (requires { this->on(x); })
                return this->on(x);
            else
                return make_error(rc::command_invalid, "unimplemented method");
        },
        m);
}

// ---------------------------------------------------------------------------------------------
// Content assembly and publishing

void channel::start_content(std::string_view exchange, std::string_view routing_key, bool mandatory,
                            bool immediate) {
    _pub_exchange.assign(exchange);
    _pub_routing_key.assign(routing_key);
    _pub_mandatory = mandatory;
    _pub_immediate = immediate;
    _content = content_state::header;
}

core::result<void> channel::handle_header(const frame_view& f) {
    auto h = decode_content_header(f.payload, true);
    if (!h) return h.error();
    if (h->class_id != basic_publish::class_id)
        return make_error(rc::unexpected_frame,
                          fmt::format("expected content header for class 60, got one for class "
                                      "{} instead",
                                      h->class_id));
    const uint64_t max_size = _conn.owner().config().max_message_size;
    if (h->body_size > max_size) {
        // Refuse now, with rabbit_channel:check_msg_size's text; the body frames that follow are
        // ignored by the closing channel.
        return make_error(
            rc::precondition_failed,
            fmt::format("message size {} is larger than {}max size {}", h->body_size,
                        max_size == default_max_message_size ? "" : "configured ", max_size));
    }
    auto m = std::make_shared<core::message>();
    m->exchange = _pub_exchange;
    m->routing_key = _pub_routing_key;
    m->props = std::move(h->props);
    m->props_raw.assign(h->props_raw);
    // Reserve what is announced, but not more than a few frames' worth up front: a client could
    // announce large bodies on many channels and never send them.
    m->body.reserve(std::min<uint64_t>(h->body_size, 4u << 20));
    _pub_msg = std::move(m);
    _pub_remaining = h->body_size;
    if (_pub_remaining == 0) return publish_complete();
    _content = content_state::body;
    return {};
}

core::result<void> channel::handle_body(const frame_view& f) {
    if (f.payload.size() > _pub_remaining)
        return make_error(rc::unexpected_frame,
                          fmt::format("content body larger than declared: {} more bytes than the "
                                      "{} announced",
                                      f.payload.size() - _pub_remaining,
                                      (_pub_msg ? _pub_msg->body.size() : 0) + _pub_remaining));
    _pub_msg->body.append(f.payload);
    _pub_remaining -= f.payload.size();
    if (_pub_remaining == 0) return publish_complete();
    return {};
}

core::result<void> channel::publish_complete() {
    _content = content_state::none;
    _conn.publish_received();  // blocks the connection (after this publish) under an alarm
    if (_pub_immediate) return make_error(rc::not_implemented, "immediate=true");
    if (_pub_msg->props.reply_to && *_pub_msg->props.reply_to == reply_queue) {
        if (auto r = rewrite_reply_to(*_pub_msg); !r) return r;
    }
    core::message_ptr msg = std::move(_pub_msg);
    if (auto r = check_properties(*msg); !r) return r;
    if (_tx) {
        // Check the exchange now, like RabbitMQ; route at commit.
        core::exchange* x = _conn.vhost().find_exchange(_pub_exchange);
        if (!x)
            return make_error(rc::not_found, fmt::format("no exchange '{}' in vhost '{}'",
                                                         _pub_exchange, _conn.vhost().name()));
        if (x->internal())
            return make_error(rc::access_refused,
                              fmt::format("cannot publish to internal exchange '{}' in vhost "
                                          "'{}'",
                                          _pub_exchange, _conn.vhost().name()));
        _tx_publishes.push_back({_pub_exchange, _pub_mandatory, std::move(msg)});
        return {};
    }
    return route(_pub_exchange, _pub_mandatory, msg);
}

// The checks RabbitMQ makes on a publish's properties: user_id must name the authenticated user
// and expiration must be a non-negative integer (milliseconds).
core::result<void> channel::check_properties(const core::message& m) const {
    const auto& p = m.props;
    if (p.user_id && *p.user_id != _conn.user())
        return make_error(rc::precondition_failed,
                          fmt::format("user_id property set to '{}' but authenticated user was "
                                      "'{}'",
                                      *p.user_id, _conn.user()));
    if (p.expiration) {
        const std::string& e = *p.expiration;
        bool digits = !e.empty() && e.size() <= 19 &&
                      std::all_of(e.begin(), e.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) {
            bool negative =
                e.size() > 1 && e[0] == '-' &&
                std::all_of(e.begin() + 1, e.end(), [](char c) { return c >= '0' && c <= '9'; });
            return make_error(
                rc::precondition_failed,
                negative ? fmt::format("invalid expiration '{}': {{value_negative,{}}}", e, e)
                         : fmt::format("invalid expiration '{}': no_integer", e));
        }
    }
    return {};
}

core::result<void> channel::route(std::string_view exchange, bool mandatory,
                                  const core::message_ptr& msg) {
    size_t reached = 0;
    core::vhost::publish_info info;  // info.rejected: x-overflow reject-publish refused it
    std::string_view rk = msg->routing_key;
    if (exchange.empty() && rk.size() > reply_queue.size() && rk.starts_with(reply_queue) &&
        rk[reply_queue.size()] == '.') {
        // Direct reply-to: straight to the requesting channel, no queue.
        if (channel* to = _conn.owner().find_reply_channel(rk.substr(reply_queue.size() + 1))) {
            to->deliver_reply(*msg);
            reached = 1;
        }
    } else {
        auto r = _conn.vhost().publish(exchange, msg, &info, _conn.access());
        if (!r) return r.error();
        reached = *r;
        if (info.behind) _conn.note_flow(std::move(info.behind));
        _batch_store_seq = std::max(_batch_store_seq, info.store_seq);
        _tx_store_seq = std::max(_tx_store_seq, info.store_seq);
    }
    if (reached == 0 && info.rejected == 0 && mandatory) {
        std::string_view props = wire_props(*msg);
        append_return(_conn.out(), _id, uint16_t(rc::no_route), "NO_ROUTE", exchange,
                      msg->routing_key, props, msg->body, _conn.frame_max());
        _conn.output_appended();
    }
    if (_confirm) {
        if (info.rejected != 0) {
            // RabbitMQ nacks a publish refused by a full reject-publish queue. Confirm the
            // earlier ones first so acks and nacks stay in sequence order.
            flush_confirms();
            ++_publish_seq;
            reply_when_durable({held_reply::nack, _publish_seq, 1, 0});
        } else {
            ++_publish_seq;
            ++_confirm_pending;
        }
    }
    return {};
}

core::channel_info channel::info() const {
    core::channel_info i;
    i.number = _id;
    i.confirm = _confirm;
    i.transactional = _tx;
    i.messages_unacknowledged = _held;
    i.messages_unconfirmed = _confirm_pending + _held_replies.size();
    i.prefetch_count = _consumer_prefetch;
    i.global_prefetch_count = _global_prefetch;
    for (const auto& [tag, c] : _consumers)
        i.consumers.push_back({tag, c->q ? c->q->name() : std::string(), !c->no_ack, c->exclusive,
                               c->prefetch, c->priority, c->args});
    return i;
}

void channel::flush_confirms() {
    if (_confirm_pending == 0 || _state != state::open) {
        _confirm_pending = 0;
        return;
    }
    reply_when_durable({held_reply::ack, _publish_seq, _confirm_pending, _batch_store_seq});
    if (core::vhost* vh = _conn.vhost_if_open()) vh->counters().confirmed += _confirm_pending;
    _confirm_pending = 0;
    _batch_store_seq = 0;
}

// ---------------------------------------------------------------------------------------------
// Deliveries

bool channel::deliverable() const {
    if (_state != state::open || _released) return false;
    if (_conn.output_full()) {
        _conn.note_consumer_blocked();
        return false;
    }
    return true;
}

std::string_view channel::wire_props(const core::message& m) {
    if (!m.props_raw.empty()) return m.props_raw;
    auto& s = _conn.scratch();
    s.clear();
    encode_properties(s, m.props);
    return s;
}

void channel::on_deliver(amqp_consumer& c, core::delivery& d) {
    uint64_t tag = _next_tag++;
    const core::message& m = *d.msg;
    std::string_view props = wire_props(m);
    append_deliver(_conn.out(), _id, c.tag, tag, d.redelivered, m.exchange, m.routing_key, props,
                   m.body, _conn.frame_max());
    if (!c.no_ack) {
        _unacked.push_back({tag, std::move(d.q), d.seq, &c, unacked_entry::live});
        ++c.unacked;
        ++_held;
    }
    _conn.output_appended();
}

void channel::on_cancelled(amqp_consumer& c) {
    auto it = _consumers.find(c.tag);
    if (it == _consumers.end() || it->second.get() != &c) return;
    if (_state == state::open && _conn.client_capability("consumer_cancel_notify"))
        send(basic_cancel{c.tag, true});
    for (auto& e : _unacked)
        if (e.c == &c) e.c = nullptr;
    _dead.push_back(std::move(it->second));
    _consumers.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Direct reply-to

core::result<void> channel::rewrite_reply_to(core::message& m) {
    if (_reply_suffix.empty())
        return make_error(rc::precondition_failed, "fast reply consumer does not exist");
    m.props.reply_to = std::string(reply_queue) + "." + _reply_suffix;
    m.props_raw.clear();
    encode_properties(m.props_raw, m.props);
    return {};
}

void channel::deliver_reply(const core::message& m) {
    if (_state != state::open || _released || _reply_suffix.empty()) return;
    std::string_view props = wire_props(m);
    append_deliver(_conn.out(), _id, _reply_tag, _next_tag++, false, m.exchange, m.routing_key,
                   props, m.body, _conn.frame_max());
    _conn.output_appended();
}

// ---------------------------------------------------------------------------------------------
// Acknowledgements

channel::unacked_entry* channel::find_live(uint64_t tag) {
    auto it = std::lower_bound(_unacked.begin(), _unacked.end(), tag,
                               [](const unacked_entry& e, uint64_t t) { return e.tag < t; });
    if (it == _unacked.end() || it->tag != tag || it->st != unacked_entry::live) return nullptr;
    return &*it;
}

core::result<void> channel::collect(uint64_t tag, bool multiple, settle_op op) {
    _settle.clear();
    if (multiple && tag == 0) {
        for (auto& e : _unacked)
            if (e.st == unacked_entry::live) _settle.emplace_back(&e, op);
        return {};
    }
    auto it = std::lower_bound(_unacked.begin(), _unacked.end(), tag,
                               [](const unacked_entry& e, uint64_t t) { return e.tag < t; });
    if (it == _unacked.end() || it->tag != tag || it->st != unacked_entry::live)
        return core::unknown_delivery_tag(tag);
    if (multiple) {
        for (auto j = _unacked.begin(); j != it; ++j)
            if (j->st == unacked_entry::live) _settle.emplace_back(&*j, op);
    }
    _settle.emplace_back(&*it, op);
    return {};
}

void channel::settle_collected() {
    if (_tx) {
        for (auto& [e, op] : _settle) {
            e->st = unacked_entry::in_tx;
            _tx_settles.push_back({e->tag, op});
        }
        _settle.clear();
        return;
    }
    settle_now();
}

void channel::settle_now() {
    bool global_full = _global_prefetch && _held >= _global_prefetch;
    _kick.clear();
    // Mark first, then call into core: a requeue can dispatch straight back to this channel.
    for (auto& [e, op] : _settle) {
        if (e->c) {
            if (e->c->prefetch && e->c->unacked >= e->c->prefetch &&
                std::find(_kick.begin(), _kick.end(), e->c) == _kick.end())
                _kick.push_back(e->c);
            --e->c->unacked;
        }
        --_held;
        e->st = unacked_entry::settled;
    }
    for (auto& [e, op] : _settle) _settle_batch.add(*e->q, e->seq, op);
    _settle.clear();
    _settle_batch.flush();
    kick_consumers(global_full);
    trim_unacked();
}

void channel::kick_consumers(bool all) {
    if (_released) {
        _kick.clear();
        return;
    }
    if (all) {
        _kick.clear();
        for (auto& [tag, c] : _consumers) _kick.push_back(c.get());
    }
    // Copy: a dispatch may deliver to this channel, but never cancels a consumer.
    for (size_t i = 0; i < _kick.size(); ++i) _kick[i]->q->dispatch();
    _kick.clear();
}

void channel::trim_unacked() {
    while (!_unacked.empty() && _unacked.front().st == unacked_entry::settled) _unacked.pop_front();
    while (!_unacked.empty() && _unacked.back().st == unacked_entry::settled) _unacked.pop_back();
}

void channel::requeue_all_unacked() {
    _settle.clear();
    for (auto& e : _unacked)
        if (e.st != unacked_entry::settled) _settle.emplace_back(&e, settle_op::requeue);
    _tx_settles.clear();
    settle_now();
}

}  // namespace warren::amqp

#include "tools/perf/connection.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/wire.h"
#include "tools/perf/tls.h"

namespace warren::perf {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr uint16_t channel_id = 1;
// Bytes of publishes per write when the batch count would make it bigger.
constexpr size_t max_batch_bytes = 1 << 20;
// A fixed-rate producer stops appending while this much is waiting for the socket.
constexpr size_t max_pending_bytes = 16 << 20;

asio::steady_timer::time_point to_time_point(uint64_t ns) {
    return asio::steady_timer::time_point(std::chrono::nanoseconds(ns));
}

}  // namespace

perf_connection::perf_connection(asio::io_context& io, const perf_options& o, run_control& rc,
                                 shared_stats& st, conn_role role, int index,
                                 asio::ssl::context* tls)
    : _io(io),
      _o(o),
      _rc(rc),
      _stats(st),
      _role(role),
      _index(index),
      _socket(io),
      _timer(io),
      _close_timer(io),
      _hs(o.broker) {
    const char* what = role == conn_role::producer   ? "producer"
                       : role == conn_role::consumer ? "consumer"
                                                     : "connection";
    _name = fmt::format("{} {}", what, index);
    if (tls) {
        _tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(_socket, *tls);
        set_server_name(_tls->native_handle(), o.broker.host);
    }
    _rbuf.resize(role == conn_role::consumer   ? 256 * 1024
                 : role == conn_role::producer ? 64 * 1024
                                               : 4096);
    if (_o.multi_ack > 0) {
        _ack_every = _o.multi_ack;
        if (_o.prefetch > 0)
            _ack_every = std::min<uint64_t>(_ack_every, std::max(1, _o.prefetch / 2));
    }
}

void perf_connection::start(const tcp::endpoint& ep) {
    asio::post(_io, [self = shared_from_this(), ep] { self->do_start(ep); });
}

void perf_connection::begin_publishing() {
    asio::post(_io, [self = shared_from_this()] {
        if (self->_role != conn_role::producer || self->state() != status::ready) return;
        self->_publishing = true;
        if (self->_o.rate > 0) {
            self->_interval_ns = 1e9 * self->_o.producers / self->_o.rate;
            self->on_tick();
        } else {
            self->pump();
        }
    });
}

void perf_connection::finish() {
    asio::post(_io, [self = shared_from_this()] { self->do_finish(); });
}

void perf_connection::do_start(tcp::endpoint ep) {
    _socket.async_connect(ep, [self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return self->fail("connect: " + ec.message());
        boost::system::error_code ignored;
        self->_socket.set_option(tcp::no_delay(true), ignored);
        if (!self->_tls) return self->on_transport_ready();
        self->_writing = true;  // nothing is written until the handshake is done
        self->_tls->async_handshake(asio::ssl::stream_base::client,
                                    [self](boost::system::error_code ec) {
                                        self->_writing = false;
                                        if (ec) return self->fail("TLS handshake: " + ec.message());
                                        self->on_transport_ready();
                                    });
    });
}

void perf_connection::on_transport_ready() {
    _hs.begin(_pending);
    send_now();
    read_more();
}

void perf_connection::read_more() {
    if (!_socket.is_open()) return;
    auto buf = asio::buffer(_rbuf.data() + _rlen, _rbuf.size() - _rlen);
    auto done = [self = shared_from_this()](boost::system::error_code ec, size_t n) {
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            return self->fail(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                                  ? std::string("connection closed by the broker")
                                  : "read: " + ec.message());
        }
        self->on_read(n);
    };
    if (_tls)
        _tls->async_read_some(buf, std::move(done));
    else
        _socket.async_read_some(buf, std::move(done));
}

void perf_connection::on_read(size_t n) {
    _rlen += n;
    size_t pos = 0;
    const uint64_t now = now_ns();
    for (;;) {
        auto r = amqp::parse_frame(std::string_view(_rbuf.data() + pos, _rlen - pos), _frame_max);
        if (r.k == amqp::parse_result::need_more) break;
        if (r.k == amqp::parse_result::error)
            return fail("bad frame from the broker: " + r.err.text);
        pos += r.consumed;
        if (!on_frame(r.frame, now)) return;
    }
    if (pos > 0) {
        std::memmove(_rbuf.data(), _rbuf.data() + pos, _rlen - pos);
        _rlen -= pos;
    }
    if (_rlen == _rbuf.size()) _rbuf.resize(_rbuf.size() * 2);  // a frame bigger than the buffer

    if (_batch_received) {
        if (_received == 0) _first_delivery_ns.store(now, std::memory_order_release);
        _received += _batch_received;
        _received_pub.store(_received, std::memory_order_relaxed);
        if (_o.cmessages && _received >= _o.cmessages && _received - _batch_received < _o.cmessages)
            _count_reached_ns.store(now, std::memory_order_release);
        _stats.received.fetch_add(_batch_received, std::memory_order_relaxed);
        _batch_received = 0;
        _stats.record_latencies(_latencies);
        _latencies.clear();
    }
    if (!_confirm_latencies.empty()) {
        _stats.record_confirm_latencies(_confirm_latencies);
        _confirm_latencies.clear();
    }
    if (_role == conn_role::consumer && !_o.auto_ack && _ack_every == 0 && _unacked > 0 &&
        state() == status::ready) {
        amqp::append_method_frame(_pending, channel_id, amqp::basic_ack{_completed_tag, true});
        _stats.acks_sent.fetch_add(1, std::memory_order_relaxed);
        _unacked = 0;
    }
    send_now();
    read_more();
}

bool perf_connection::on_frame(const amqp::frame_view& f, uint64_t now) {
    switch (f.type) {
        case amqp::frame_type::method: {
            uint16_t cid = 0, mid = 0;
            if (!amqp::peek_method_ids(f.payload, cid, mid)) {
                fail("short method frame");
                return false;
            }
            if (state() == status::closing && !(cid == 10 && (mid == 50 || mid == 51))) return true;
            // Hot paths, decoded in place: basic.deliver and basic.ack / basic.nack.
            // basic.publish is accepted as a delivery too: warren-relay --mode splice copies
            // the publisher's frames to us unchanged (delivery tag 0, acks are ignored there).
            if (cid == 60 && (mid == 60 || mid == 40) && _role == conn_role::consumer) {
                amqp::wire_reader r(f.payload.substr(4));
                uint64_t tag = 0;
                if (mid == 60) {
                    r.shortstr_view();  // consumer tag
                    tag = r.u64();
                }
                if (!r.ok() || _cstate != content_state::method) {
                    fail("malformed or unexpected basic.deliver");
                    return false;
                }
                _delivery_tag = tag;
                _cstate = content_state::header;
                return true;
            }
            if (cid == 60 && (mid == 80 || mid == 120) && _role == conn_role::producer) {
                amqp::wire_reader r(f.payload.substr(4));
                uint64_t tag = r.u64();
                uint8_t bits = r.u8();
                if (!r.ok()) {
                    fail("malformed basic.ack");
                    return false;
                }
                on_confirm(tag, bits & 1, mid == 120, now);
                return true;
            }
            auto m = amqp::decode_method(f.payload);
            if (!m) {
                fail("undecodable method from the broker: " + m.error().text);
                return false;
            }
            return on_method(f.channel, *m);
        }
        case amqp::frame_type::header: {
            if (state() == status::closing) return true;
            if (_cstate != content_state::header) {
                fail("unexpected content header");
                return false;
            }
            amqp::wire_reader r(f.payload);
            r.u16();
            r.u16();
            _body_remaining = r.u64();
            if (!r.ok()) {
                fail("malformed content header");
                return false;
            }
            _body_seen = 0;
            _body_ts = 0;
            if (_body_remaining == 0) {
                _cstate = content_state::method;
                message_complete(now);
            } else {
                _cstate = content_state::body;
            }
            return true;
        }
        case amqp::frame_type::body: {
            if (state() == status::closing) return true;
            if (_cstate != content_state::body) {
                fail("unexpected body frame");
                return false;
            }
            if (_body_seen == 0 && f.payload.size() >= 8)
                std::memcpy(&_body_ts, f.payload.data(), 8);
            _body_seen += f.payload.size();
            if (_body_seen > _body_remaining) {
                fail("body longer than its header said");
                return false;
            }
            if (_body_seen == _body_remaining) {
                _cstate = content_state::method;
                message_complete(now);
            }
            return true;
        }
        case amqp::frame_type::heartbeat:
            return true;
    }
    return true;
}

bool perf_connection::on_method(uint16_t channel, const amqp::method& m) {
    if (auto* c = std::get_if<amqp::connection_close>(&m)) {
        amqp::append_method_frame(_pending, 0, amqp::connection_close_ok{});
        send_now();
        fail("broker closed the connection: " + describe_close(c->reply_code, c->reply_text,
                                                               c->failing_class_id,
                                                               c->failing_method_id));
        return false;
    }
    if (std::holds_alternative<amqp::connection_close_ok>(m)) {
        close_socket(status::closed);
        return false;
    }
    if (_handshaking) {
        auto step = _hs.on_method(m, _pending);
        if (step == client_handshake::step::failed) {
            send_now();
            fail(_hs.error());
            return false;
        }
        if (step == client_handshake::step::open) {
            _handshaking = false;
            _frame_max = _hs.frame_max();
            return on_handshake_done();
        }
        send_now();
        return true;
    }
    if (auto* c = std::get_if<amqp::channel_close>(&m)) {
        amqp::append_method_frame(_pending, channel, amqp::channel_close_ok{});
        fail("broker closed the channel: " + describe_close(c->reply_code, c->reply_text,
                                                            c->failing_class_id,
                                                            c->failing_method_id));
        return false;
    }
    if (std::holds_alternative<amqp::channel_open_ok>(m)) {
        if (_role == conn_role::producer) {
            if (_o.confirm > 0) {
                amqp::append_method_frame(_pending, channel_id, amqp::confirm_select{});
            } else {
                set_ready();
            }
        } else if (!_o.auto_ack && _o.prefetch > 0) {
            amqp::append_method_frame(_pending, channel_id, amqp::basic_qos{0, _o.prefetch, false});
        } else {
            send_consume();
        }
        send_now();
        return true;
    }
    if (std::holds_alternative<amqp::confirm_select_ok>(m)) {
        set_ready();
        return true;
    }
    if (std::holds_alternative<amqp::basic_qos_ok>(m)) {
        send_consume();
        return true;
    }
    if (std::holds_alternative<amqp::basic_consume_ok>(m)) {
        set_ready();
        return true;
    }
    if (auto* a = std::get_if<amqp::basic_ack>(&m)) {
        on_confirm(a->delivery_tag, a->multiple, false, now_ns());
        return true;
    }
    if (auto* a = std::get_if<amqp::basic_nack>(&m)) {
        on_confirm(a->delivery_tag, a->multiple, true, now_ns());
        return true;
    }
    if (std::holds_alternative<amqp::basic_cancel>(m)) {
        fail("the broker cancelled the consumer (queue deleted?)");
        return false;
    }
    if (std::holds_alternative<amqp::connection_blocked>(m)) {
        _stats.blocked.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    if (auto* d = std::get_if<amqp::basic_deliver>(&m)) {  // not reached: decoded in place
        _delivery_tag = d->delivery_tag;
        _cstate = content_state::header;
        return true;
    }
    return true;  // connection.unblocked, basic.return (not mandatory) and the like
}

void perf_connection::send_consume() {
    amqp::basic_consume c;
    c.queue = _o.queue_for(_index);
    c.consumer_tag = fmt::format("warren-perf-{}", _index);
    c.no_ack = _o.auto_ack;
    c.arguments = _o.consumer_args;
    amqp::append_method_frame(_pending, channel_id, c);
    _consume_sent_ns.store(now_ns(), std::memory_order_release);
    send_now();
}

bool perf_connection::on_handshake_done() {
    if (_role == conn_role::idle) {
        set_ready();
        return true;
    }
    amqp::append_method_frame(_pending, channel_id, amqp::channel_open{});
    send_now();
    return true;
}

void perf_connection::set_ready() {
    if (_role == conn_role::producer) build_template();
    _state.store(status::ready, std::memory_order_release);
}

void perf_connection::build_template() {
    _template.clear();
    amqp::basic_publish p;
    p.exchange = _o.exchange;
    p.routing_key = _o.routing_key_given ? _o.routing_key : _o.queue_for(_index);
    amqp::append_method_frame(_template, channel_id, p);
    core::basic_properties props;
    if (_o.persistent) props.delivery_mode = 2;
    std::string raw;
    amqp::encode_properties(raw, props);
    amqp::append_content_header_frame(_template, channel_id, _o.size, raw);
    _ts_offset = _template.size() + amqp::frame_header_size;
    std::string body(_o.size, 'w');
    amqp::append_body_frames(_template, channel_id, body, _frame_max);
}

void perf_connection::append_publishes(uint64_t n, uint64_t first_ts, double interval_ns) {
    const size_t t = _template.size();
    size_t at = _pending.size();
    _pending.resize(at + n * t);
    char* p = _pending.data() + at;
    for (uint64_t i = 0; i < n; ++i, p += t) {
        uint64_t ts =
            first_ts + static_cast<uint64_t>(std::llround(interval_ns * static_cast<double>(i)));
        std::memcpy(p, _template.data(), t);
        std::memcpy(p + _ts_offset, &ts, 8);
        if (_o.confirm > 0) _inflight.push_back(ts);
    }
    _published += n;
    if (_o.confirm > 0) _unconfirmed += n;
    _published_pub.store(_published, std::memory_order_relaxed);
    _stats.published.fetch_add(n, std::memory_order_relaxed);
}

void perf_connection::pump() {
    if (_role != conn_role::producer || !_publishing || _o.rate > 0 || state() != status::ready)
        return;
    if (_rc.stop_publishing.load(std::memory_order_relaxed)) {
        _publishing = false;
        _done.store(true, std::memory_order_release);
        return;
    }
    if (_writing) return;
    uint64_t n =
        std::min<uint64_t>(_o.batch, std::max<size_t>(1, max_batch_bytes / _template.size()));
    if (_o.pmessages) n = std::min(n, _o.pmessages - _published);
    if (_o.confirm)
        n = std::min<uint64_t>(n, _o.confirm > _unconfirmed ? _o.confirm - _unconfirmed : 0);
    if (n == 0) return check_done();
    append_publishes(n, now_ns(), 0);
    send_now();
    check_done();
}

void perf_connection::on_tick() {
    if (!_publishing || state() != status::ready) return;
    if (_rc.stop_publishing.load(std::memory_order_relaxed)) {
        _publishing = false;
        _done.store(true, std::memory_order_release);
        return;
    }
    const uint64_t now = now_ns();
    const uint64_t start = _rc.publish_start_ns;
    // Message k (from 0) is due at start + k * interval, whatever happened before: when the
    // broker or the network stalls us, late messages carry their intended send time, so the
    // stall shows in the latency instead of being omitted.
    uint64_t due = now >= start ? static_cast<uint64_t>((now - start) / _interval_ns) + 1 : 0;
    if (_o.pmessages) due = std::min(due, _o.pmessages);
    uint64_t n = due > _published ? due - _published : 0;
    bool window_full = false;
    if (_o.confirm) {
        uint64_t room = _o.confirm > _unconfirmed ? _o.confirm - _unconfirmed : 0;
        if (n > room) {
            n = room;
            window_full = true;
        }
    }
    bool backlog = _pending.size() > max_pending_bytes;
    if (n > 0 && !backlog) {
        const double first = _interval_ns * static_cast<double>(_published);
        append_publishes(n, start + static_cast<uint64_t>(std::llround(first)), _interval_ns);
        send_now();
    }
    if (_o.pmessages && _published >= _o.pmessages) return check_done();
    if (window_full) {
        _window_blocked = true;  // on_confirm ticks again
        return;
    }
    uint64_t next =
        start + static_cast<uint64_t>(std::llround(_interval_ns * static_cast<double>(_published)));
    if (backlog) next = now + 1000000;
    _timer.expires_at(to_time_point(std::max(next, now + 20000)));
    _timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->on_tick();
    });
}

void perf_connection::on_confirm(uint64_t tag, bool multiple, bool nack, uint64_t now) {
    if (_o.confirm == 0 || tag < _confirm_base) return;
    uint64_t first = multiple ? _confirm_base : tag;
    uint64_t newly = 0;
    for (uint64_t s = first; s <= tag; ++s) {
        uint64_t i = s - _confirm_base;
        if (i >= _inflight.size()) break;
        if (_inflight[i] != 0) {
            if (now >= _inflight[i]) _confirm_latencies.push_back(now - _inflight[i]);
            _inflight[i] = 0;
            ++newly;
        }
    }
    while (!_inflight.empty() && _inflight.front() == 0) {
        _inflight.pop_front();
        ++_confirm_base;
    }
    _unconfirmed -= std::min(newly, _unconfirmed);
    (nack ? _stats.nacked : _stats.confirmed).fetch_add(newly, std::memory_order_relaxed);
    check_done();
    if (_o.rate == 0) {
        pump();
    } else if (_window_blocked && newly > 0) {
        _window_blocked = false;
        on_tick();
    }
}

void perf_connection::check_done() {
    if (_role != conn_role::producer) return;
    if (_o.pmessages && _published >= _o.pmessages && _unconfirmed == 0)
        _done.store(true, std::memory_order_release);
}

void perf_connection::message_complete(uint64_t now) {
    ++_batch_received;
    _completed_tag = _delivery_tag;
    if (_body_ts >= _rc.epoch_ns && _body_ts <= now) _latencies.push_back(now - _body_ts);
    if (_o.auto_ack) return;
    ++_unacked;
    if (_ack_every && _unacked >= _ack_every) {
        amqp::append_method_frame(_pending, channel_id, amqp::basic_ack{_completed_tag, true});
        _stats.acks_sent.fetch_add(1, std::memory_order_relaxed);
        _unacked = 0;
    }
}

void perf_connection::send_now() {
    if (_writing || _pending.empty() || !_socket.is_open()) return;
    _out.swap(_pending);
    _pending.clear();
    _writing = true;
    auto done = [self = shared_from_this()](boost::system::error_code ec, size_t) {
        self->_writing = false;
        self->_out.clear();
        if (ec) {
            if (ec != asio::error::operation_aborted) self->fail("write: " + ec.message());
            return;
        }
        self->pump();
        self->send_now();
    };
    if (_tls)
        asio::async_write(*_tls, asio::buffer(_out), std::move(done));
    else
        asio::async_write(_socket, asio::buffer(_out), std::move(done));
}

void perf_connection::do_finish() {
    status s = state();
    if (s == status::closing || s == status::closed || s == status::failed) return;
    _publishing = false;
    _timer.cancel();
    if (_role == conn_role::producer) _done.store(true, std::memory_order_release);
    if (s == status::connecting && !_socket.is_open()) return close_socket(status::closed);
    if (_role == conn_role::consumer && !_o.auto_ack && _unacked > 0 && s == status::ready) {
        amqp::append_method_frame(_pending, channel_id, amqp::basic_ack{_completed_tag, true});
        _unacked = 0;
    }
    amqp::append_method_frame(_pending, 0, amqp::connection_close{200, "bye", 0, 0});
    _state.store(status::closing, std::memory_order_release);
    send_now();
    _close_timer.expires_after(std::chrono::seconds(3));
    _close_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->close_socket(status::closed);
    });
}

void perf_connection::fail(const std::string& why) {
    status s = state();
    if (s == status::closed || s == status::failed) return;
    if (s == status::closing) return close_socket(status::closed);  // EOF after our close
    _stats.add_error(_name + ": " + why);
    close_socket(status::failed);
}

void perf_connection::close_socket(status final_state) {
    boost::system::error_code ec;
    _socket.close(ec);
    _timer.cancel();
    _close_timer.cancel();
    _publishing = false;
    _done.store(true, std::memory_order_release);
    _state.store(final_state, std::memory_order_release);
}

}  // namespace warren::perf

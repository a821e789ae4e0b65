// warren-relay: the baseline for warren-perf. A single-threaded AMQP 0-9-1 endpoint that does
// the least a broker can do, so that a warren-perf run against it shows the ceiling of this
// machine (and that warren-perf itself is not the bottleneck):
//
//   --mode deliver (default)  parse every frame; turn each basic.publish into a basic.deliver to
//                             a consumer of the target queue (round robin), with no queue, no
//                             storage and no ack tracking; confirm publishes once per read.
//                             With no consumer the message is dropped: a trivial sink.
//   --mode splice             after set-up, copy the publisher's bytes to the consumer's socket
//                             unchanged (whole frames, so producers can share a consumer): a
//                             trivial TCP relay carrying the very bytes of the AMQP run.
//                             warren-perf's consumer accepts basic.publish frames as deliveries.
//
// Control methods (declare, bind, qos, consume, delete, close) get their -ok replies; declare-ok
// always reports 0 messages. Back-pressure: a producer is not read while its target consumer has
// more than 4 MB waiting to be written.
//
//   warren-relay --port 5699 [--mode splice]
//   warren-perf --port 5699 -a -z 10

#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/codec/wire.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace warren;

namespace {

constexpr uint32_t frame_max = 131072;
constexpr size_t max_backlog = 4 << 20;

struct relay;

class peer : public std::enable_shared_from_this<peer> {
public:
    peer(relay& r, tcp::socket s) : _r(r), _socket(std::move(s)), _rbuf(256 * 1024) {}
    void start();
    void send(std::string_view bytes) { _pending.append(bytes); }
    std::string& pending() { return _pending; }
    void flush();
    size_t backlog() const { return _pending.size() + _out.size(); }
    void add_waiter(std::shared_ptr<peer> p) { _waiters.push_back(std::move(p)); }
    void resume_reading();
    void close();
    const std::string& consumer_tag() const { return _ctag; }
    uint64_t next_delivery_tag() { return ++_delivery_tag; }
    bool consuming() const { return !_ctag.empty(); }

private:
    void read_more();
    void on_read(size_t n);
    bool on_frame(const amqp::frame_view& f, std::string_view raw);
    bool on_method(uint16_t ch, const amqp::method& m);
    void publish_complete();

    relay& _r;
    tcp::socket _socket;
    std::vector<char> _rbuf;
    size_t _rlen = 0;
    std::string _out, _pending;
    bool _writing = false;
    bool _paused = false;
    bool _closed = false;
    bool _confirm = false;
    uint64_t _publish_seq = 0;
    uint64_t _acked_seq = 0;
    bool _got_protocol_header = false;
    std::vector<std::shared_ptr<peer>> _waiters;  // producers paused on our backlog
    std::string _ctag, _consume_queue;
    uint64_t _delivery_tag = 0;
    // The publish being assembled (deliver mode).
    enum { idle, header, body } _content = idle;
    std::string _exchange, _rk, _props, _body;
    uint64_t _body_size = 0;
    bool _spliced = false;  // splice mode: now copying raw frames
    std::shared_ptr<peer> _splice_target;
    std::set<std::shared_ptr<peer>> _touched;  // consumers written to during this read
};

struct relay {
    bool splice = false;
    std::map<std::string, std::vector<std::weak_ptr<peer>>> consumers;  // queue -> consumers
    std::map<std::string, size_t> rr;
    std::map<std::string, std::string> exchange_types;
    std::map<std::string, std::vector<std::pair<std::string, std::string>>>
        bindings;  // ex -> (key, q)
    uint64_t published = 0, delivered = 0, dropped = 0;

    std::shared_ptr<peer> pick(const std::string& queue) {
        auto it = consumers.find(queue);
        if (it == consumers.end()) return nullptr;
        auto& v = it->second;
        for (size_t tries = 0; tries < v.size(); ++tries) {
            size_t i = rr[queue]++ % v.size();
            if (auto p = v[i].lock()) return p;
        }
        return nullptr;
    }
    std::vector<std::string> route(const std::string& exchange, const std::string& rk) {
        if (exchange.empty()) return {rk};
        std::vector<std::string> out;
        bool fan = exchange_types[exchange] == "fanout" || exchange_types[exchange] == "headers";
        for (auto& [key, q] : bindings[exchange])
            if (fan || key == rk || key == "#") out.push_back(q);
        return out;
    }
};

void peer::start() {
    boost::system::error_code ec;
    _socket.set_option(tcp::no_delay(true), ec);
    read_more();
}

void peer::read_more() {
    if (_closed || _paused) return;
    if (_rlen == _rbuf.size()) _rbuf.resize(_rbuf.size() * 2);
    _socket.async_read_some(asio::buffer(_rbuf.data() + _rlen, _rbuf.size() - _rlen),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                if (ec) return self->close();
                                self->on_read(n);
                            });
}

void peer::resume_reading() {
    if (!_paused) return;
    _paused = false;
    on_read(0);
}

void peer::on_read(size_t n) {
    _rlen += n;
    size_t pos = 0;
    if (!_got_protocol_header) {
        if (_rlen < 8) return read_more();
        if (std::string_view(_rbuf.data(), 8) != amqp::protocol_header) return close();
        _got_protocol_header = true;
        pos = 8;
        amqp::connection_start s;
        s.server_properties.emplace_back("product", core::field_value{std::string("warren-relay")});
        s.server_properties.emplace_back("version", core::field_value{std::string("baseline")});
        s.mechanisms = "PLAIN";
        s.locales = "en_US";
        amqp::append_method_frame(_pending, 0, s);
    }
    std::set<std::shared_ptr<peer>>& touched = _touched;
    for (;;) {
        std::string_view rest(_rbuf.data() + pos, _rlen - pos);
        if (_spliced) {
            // Copy every complete frame as is (only the 7-byte headers are looked at).
            size_t take = 0;
            while (rest.size() - take >= amqp::frame_header_size) {
                uint32_t size = 0;
                std::memcpy(&size, rest.data() + take + 3, 4);
                size = __builtin_bswap32(size);
                if (rest.size() - take < size + amqp::frame_overhead) break;
                take += size + amqp::frame_overhead;
            }
            if (take) {
                _splice_target->send(rest.substr(0, take));
                touched.insert(_splice_target);
                pos += take;
            }
            break;
        }
        auto r = amqp::parse_frame(rest, frame_max);
        if (r.k == amqp::parse_result::need_more) break;
        if (r.k == amqp::parse_result::error) return close();
        if (_r.splice && !_spliced && r.frame.type == amqp::frame_type::method) {
            uint16_t c = 0, m = 0;
            amqp::peek_method_ids(r.frame.payload, c, m);
            if (c == 60 && m == 40) {
                amqp::wire_reader w(r.frame.payload.substr(4));
                w.u16();
                std::string ex(w.shortstr_view()), rk(w.shortstr_view());
                auto queues = _r.route(ex, rk);
                _splice_target = queues.empty() ? nullptr : _r.pick(queues.front());
                if (_splice_target) {
                    _spliced = true;
                    continue;  // this frame is copied too
                }
            }
        }
        pos += r.consumed;
        if (!on_frame(r.frame, rest.substr(0, r.consumed))) return;
    }
    if (pos) {
        std::memmove(_rbuf.data(), _rbuf.data() + pos, _rlen - pos);
        _rlen -= pos;
    }
    if (_confirm && _publish_seq > _acked_seq) {
        amqp::append_method_frame(_pending, 1, amqp::basic_ack{_publish_seq, true});
        _acked_seq = _publish_seq;
    }
    flush();
    bool pause = false;
    for (auto& t : touched) {
        t->flush();
        if (t->backlog() > max_backlog) {
            t->add_waiter(shared_from_this());
            pause = true;
        }
    }
    touched.clear();
    if (pause) {
        _paused = true;
        return;
    }
    read_more();
}

bool peer::on_frame(const amqp::frame_view& f, std::string_view raw) {
    if (f.type == amqp::frame_type::method) {
        uint16_t c = 0, m = 0;
        amqp::peek_method_ids(f.payload, c, m);
        if (c == 60 && m == 40) {  // basic.publish, decoded in place
            amqp::wire_reader w(f.payload.substr(4));
            w.u16();
            _exchange.assign(w.shortstr_view());
            _rk.assign(w.shortstr_view());
            _content = header;
            ++_publish_seq;
            return true;
        }
        if (c == 60 && (m == 80 || m == 120 || m == 90)) return true;  // acks: nothing to track
        auto dm = amqp::decode_method(f.payload);
        if (!dm) {
            close();
            return false;
        }
        return on_method(f.channel, *dm);
    }
    if (f.type == amqp::frame_type::header && _content == header) {
        amqp::wire_reader w(f.payload);
        w.u16();
        w.u16();
        _body_size = w.u64();
        _props.assign(w.rest());
        _body.clear();
        _content = body;
        if (_body_size == 0) publish_complete();
        return true;
    }
    if (f.type == amqp::frame_type::body && _content == body) {
        _body.append(f.payload);
        if (_body.size() >= _body_size) publish_complete();
        return true;
    }
    return true;  // heartbeats
}

void peer::publish_complete() {
    _content = idle;
    ++_r.published;
    for (auto& q : _r.route(_exchange, _rk)) {
        auto c = _r.pick(q);
        if (!c) {
            ++_r.dropped;
            continue;
        }
        amqp::append_deliver(c->pending(), 1, c->consumer_tag(), c->next_delivery_tag(), false,
                             _exchange, _rk, _props, _body, frame_max);
        ++_r.delivered;
        _touched.insert(c);  // flushed once per read, not per message
    }
}

bool peer::on_method(uint16_t ch, const amqp::method& m) {
    auto reply = [&](uint16_t channel, const auto& r) {
        amqp::append_method_frame(_pending, channel, r);
    };
    if (std::holds_alternative<amqp::connection_start_ok>(m)) {
        reply(0, amqp::connection_tune{2047, frame_max, 0});
    } else if (std::holds_alternative<amqp::connection_tune_ok>(m)) {
    } else if (std::holds_alternative<amqp::connection_open>(m)) {
        reply(0, amqp::connection_open_ok{});
    } else if (std::holds_alternative<amqp::connection_close>(m)) {
        reply(0, amqp::connection_close_ok{});
        flush();
        _closed = true;  // the socket closes once the reply is written
        return false;
    } else if (std::holds_alternative<amqp::channel_open>(m)) {
        reply(ch, amqp::channel_open_ok{});
    } else if (std::holds_alternative<amqp::channel_close>(m)) {
        reply(ch, amqp::channel_close_ok{});
    } else if (std::holds_alternative<amqp::confirm_select>(m)) {
        _confirm = true;
        reply(ch, amqp::confirm_select_ok{});
    } else if (std::holds_alternative<amqp::basic_qos>(m)) {
        reply(ch, amqp::basic_qos_ok{});
    } else if (auto* d = std::get_if<amqp::queue_declare>(&m)) {
        reply(ch, amqp::queue_declare_ok{d->queue, 0, 0});
    } else if (auto* d = std::get_if<amqp::exchange_declare>(&m)) {
        _r.exchange_types[d->exchange] = d->type;
        reply(ch, amqp::exchange_declare_ok{});
    } else if (auto* b = std::get_if<amqp::queue_bind>(&m)) {
        _r.bindings[b->exchange].emplace_back(b->routing_key, b->queue);
        reply(ch, amqp::queue_bind_ok{});
    } else if (std::holds_alternative<amqp::queue_delete>(m)) {
        reply(ch, amqp::queue_delete_ok{0});
    } else if (std::holds_alternative<amqp::exchange_delete>(m)) {
        reply(ch, amqp::exchange_delete_ok{});
    } else if (auto* c = std::get_if<amqp::basic_consume>(&m)) {
        _ctag = c->consumer_tag.empty() ? "relay-ctag" : c->consumer_tag;
        _consume_queue = c->queue;
        _r.consumers[c->queue].push_back(weak_from_this());
        reply(ch, amqp::basic_consume_ok{_ctag});
    }
    return true;
}

void peer::flush() {
    if (_writing || _pending.empty() || !_socket.is_open()) return;
    _out.swap(_pending);
    _pending.clear();
    _writing = true;
    asio::async_write(_socket, asio::buffer(_out),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          self->_writing = false;
                          self->_out.clear();
                          if (ec) return self->close();
                          if (self->_closed && self->_pending.empty()) return self->close();
                          self->flush();
                          if (self->backlog() <= max_backlog / 2 && !self->_waiters.empty()) {
                              auto waiters = std::move(self->_waiters);
                              self->_waiters.clear();
                              for (auto& w : waiters) w->resume_reading();
                          }
                      });
}

void peer::close() {
    _closed = true;
    boost::system::error_code ec;
    _socket.close(ec);
    auto waiters = std::move(_waiters);
    _waiters.clear();
    for (auto& w : waiters) w->resume_reading();
}

void accept_loop(tcp::acceptor& acc, relay& r) {
    acc.async_accept([&acc, &r](boost::system::error_code ec, tcp::socket s) {
        if (!ec) std::make_shared<peer>(r, std::move(s))->start();
        accept_loop(acc, r);
    });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"warren-relay: trivial AMQP relay/sink, the baseline for warren-perf"};
    std::string bind = "127.0.0.1", mode = "deliver";
    uint16_t port = 5699;
    app.add_option("--bind", bind, "Address to listen on");
    app.add_option("--port", port, "Port to listen on");
    app.add_option("--mode", mode,
                   "deliver (re-frame publishes as deliveries) or splice (copy bytes)")
        ->check(CLI::IsMember({"deliver", "splice"}));
    CLI11_PARSE(app, argc, argv);
    std::signal(SIGPIPE, SIG_IGN);

    relay r;
    r.splice = mode == "splice";
    asio::io_context io(1);
    tcp::acceptor acc(io);
    tcp::endpoint ep(asio::ip::make_address(bind), port);
    acc.open(ep.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    acc.bind(ep);
    acc.listen(4096);
    accept_loop(acc, r);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { io.stop(); });
    std::cerr << fmt::format("warren-relay listening on {}:{} ({} mode)", bind, port, mode)
              << std::endl;
    io.run();
    std::cerr << fmt::format("warren-relay: {} published, {} delivered, {} dropped", r.published,
                             r.delivered, r.dropped)
              << std::endl;
    return 0;
}

#include "tools/perf/amqp_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/frame.h"
#include "tools/perf/tls.h"

namespace warren::perf {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string table_string(const core::field_table& t, std::string_view key) {
    if (auto* v = core::find(t, key)) {
        if (auto* s = v->as_string()) return *s;
        if (auto* b = std::get_if<core::bytes_value>(&v->v)) return b->data;
    }
    return {};
}

core::field_table client_properties() {
    core::field_table caps;
    caps.emplace_back("publisher_confirms", core::field_value{true});
    caps.emplace_back("consumer_cancel_notify", core::field_value{true});
    caps.emplace_back("basic.nack", core::field_value{true});
    caps.emplace_back("connection.blocked", core::field_value{true});
    caps.emplace_back("exchange_exchange_bindings", core::field_value{true});
    core::field_table t;
    t.emplace_back("product", core::field_value{std::string("warren-perf")});
    t.emplace_back("version", core::field_value{std::string("0.1.0")});
    t.emplace_back("platform", core::field_value{std::string("C++20/Boost.Asio")});
    t.emplace_back("capabilities", core::field_value::table(std::move(caps)));
    return t;
}

}  // namespace

void client_handshake::begin(std::string& out) const {
    out.append(amqp::protocol_header);
}

client_handshake::step client_handshake::on_method(const amqp::method& m, std::string& out) {
    if (auto* s = std::get_if<amqp::connection_start>(&m)) {
        _product = table_string(s->server_properties, "product");
        _version = table_string(s->server_properties, "version");
        if (s->mechanisms.find("PLAIN") == std::string::npos) {
            _error = "server does not offer the PLAIN mechanism (offers: " + s->mechanisms + ")";
            return step::failed;
        }
        amqp::connection_start_ok ok;
        ok.client_properties = client_properties();
        ok.mechanism = "PLAIN";
        ok.response = std::string(1, '\0') + _uri.user + std::string(1, '\0') + _uri.password;
        ok.locale = "en_US";
        amqp::append_method_frame(out, 0, ok);
        return step::more;
    }
    if (auto* t = std::get_if<amqp::connection_tune>(&m)) {
        _frame_max =
            t->frame_max == 0 ? wanted_frame_max : std::min(t->frame_max, wanted_frame_max);
        if (_frame_max < amqp::frame_min_size) _frame_max = amqp::frame_min_size;
        uint16_t channel_max = t->channel_max == 0 ? 16 : std::min<uint16_t>(t->channel_max, 16);
        amqp::append_method_frame(out, 0, amqp::connection_tune_ok{channel_max, _frame_max, 0});
        amqp::connection_open open;
        open.virtual_host = _uri.vhost;
        amqp::append_method_frame(out, 0, open);
        return step::more;
    }
    if (std::holds_alternative<amqp::connection_open_ok>(m)) return step::open;
    if (auto* c = std::get_if<amqp::connection_close>(&m)) {
        _error =
            describe_close(c->reply_code, c->reply_text, c->failing_class_id, c->failing_method_id);
        amqp::append_method_frame(out, 0, amqp::connection_close_ok{});
        return step::failed;
    }
    if (std::holds_alternative<amqp::connection_secure>(m)) {
        _error = "server sent connection.secure: only PLAIN is supported";
        return step::failed;
    }
    _error = "unexpected " + std::string(amqp::method_name(m)) + " during the handshake";
    return step::failed;
}

std::string describe_close(uint16_t code, std::string_view text, uint16_t class_id,
                           uint16_t method_id) {
    std::string s = fmt::format("{} {}", code, text);
    if (class_id || method_id) {
        auto name = amqp::method_name(class_id, method_id);
        s += fmt::format(" (in {})", name.empty() ? fmt::format("{}/{}", class_id, method_id)
                                                  : std::string(name));
    }
    return s;
}

sync_client::sync_client(const amqp_uri& uri, asio::ssl::context* tls, double timeout_s)
    : _socket(_io) {
    tcp::resolver resolver(_io);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(uri.host, std::to_string(uri.port), ec);
    if (ec) throw std::runtime_error("cannot resolve " + uri.host + ": " + ec.message());
    asio::connect(_socket, endpoints, ec);
    if (ec)
        throw std::runtime_error(
            fmt::format("cannot connect to {}:{}: {}", uri.host, uri.port, ec.message()));
    _socket.set_option(tcp::no_delay(true));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(_socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(_socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (tls) {
        _tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(_socket, *tls);
        set_server_name(_tls->native_handle(), uri.host);
        _tls->handshake(asio::ssl::stream_base::client, ec);
        if (ec)
            throw std::runtime_error(fmt::format("TLS handshake with {}:{} failed: {}", uri.host,
                                                 uri.port, ec.message()));
        _tls_description = describe_tls(_tls->native_handle());
    }

    client_handshake hs(uri);
    std::string out;
    hs.begin(out);
    for (;;) {
        if (!out.empty()) {
            write_all(out);
            out.clear();
        }
        amqp::method m = read_method(0);
        auto step = hs.on_method(m, out);
        if (step == client_handshake::step::failed) {
            if (!out.empty()) write_all(out, ec);
            throw std::runtime_error("connection refused by the broker: " + hs.error());
        }
        if (step == client_handshake::step::open) break;
    }
    _frame_max = hs.frame_max();
    _server_product = hs.server_product();
    _server_version = hs.server_version();
    _open = true;
    open_channel();
}

sync_client::~sync_client() {
    try {
        close();
    } catch (...) {
    }
}

void sync_client::write_all(std::string_view bytes) {
    if (_tls)
        asio::write(*_tls, asio::buffer(bytes));
    else
        asio::write(_socket, asio::buffer(bytes));
}

void sync_client::write_all(std::string_view bytes, boost::system::error_code& ec) {
    if (_tls)
        asio::write(*_tls, asio::buffer(bytes), ec);
    else
        asio::write(_socket, asio::buffer(bytes), ec);
}

size_t sync_client::read_some(char* buf, size_t size, boost::system::error_code& ec) {
    return _tls ? _tls->read_some(asio::buffer(buf, size), ec)
                : _socket.read_some(asio::buffer(buf, size), ec);
}

template <typename M>
void sync_client::send(uint16_t channel, const M& m) {
    std::string out;
    amqp::append_method_frame(out, channel, m);
    write_all(out);
}

amqp::method sync_client::read_method(uint16_t channel) {
    for (;;) {
        auto r = amqp::parse_frame(_rbuf, _frame_max);
        if (r.k == amqp::parse_result::error) throw std::runtime_error(r.err.text);
        if (r.k == amqp::parse_result::need_more) {
            char buf[65536];
            boost::system::error_code ec;
            size_t n = read_some(buf, sizeof buf, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again)
                throw std::runtime_error("timed out waiting for the broker");
            if (ec) throw std::runtime_error("connection lost: " + ec.message());
            _rbuf.append(buf, n);
            continue;
        }
        amqp::frame_view f = r.frame;
        if (f.type != amqp::frame_type::method) {
            _rbuf.erase(0, r.consumed);
            continue;  // heartbeats; no content is expected on this connection
        }
        auto m = amqp::decode_method(f.payload);
        uint16_t ch = f.channel;
        _rbuf.erase(0, r.consumed);
        if (!m) throw std::runtime_error("bad method from the broker: " + m.error().text);
        if (auto* c = std::get_if<amqp::connection_close>(&*m)) {
            send(0, amqp::connection_close_ok{});
            _open = false;
            throw std::runtime_error("broker closed the connection: " +
                                     describe_close(c->reply_code, c->reply_text,
                                                    c->failing_class_id, c->failing_method_id));
        }
        if (auto* c = std::get_if<amqp::channel_close>(&*m)) {
            send(ch, amqp::channel_close_ok{});
            std::string text = describe_close(c->reply_code, c->reply_text, c->failing_class_id,
                                              c->failing_method_id);
            if (ch == _channel) open_channel();
            throw std::runtime_error(text);
        }
        if (ch != channel) continue;
        return std::move(*m);
    }
}

template <typename R, typename M>
R sync_client::call(const M& m) {
    flush();
    send(_channel, m);
    for (;;) {
        amqp::method reply = read_method(_channel);
        if (auto* r = std::get_if<R>(&reply)) return std::move(*r);
        // anything else on the set-up channel (basic.ack of no one, etc.) is ignored
    }
}

void sync_client::open_channel() {
    _channel = static_cast<uint16_t>(_channel % 15 + 1);
    send(_channel, amqp::channel_open{});
    for (;;) {
        amqp::method reply = read_method(_channel);
        if (std::holds_alternative<amqp::channel_open_ok>(reply)) return;
    }
}

uint32_t sync_client::declare_queue(const std::string& name, bool durable,
                                    const core::field_table& args, bool passive) {
    amqp::queue_declare d;
    d.queue = name;
    d.passive = passive;
    d.durable = durable;
    d.arguments = args;
    return call<amqp::queue_declare_ok>(d).message_count;
}

void sync_client::declare_exchange(const std::string& name, const std::string& type, bool durable,
                                   const core::field_table& args) {
    amqp::exchange_declare d;
    d.exchange = name;
    d.type = type;
    d.durable = durable;
    d.arguments = args;
    call<amqp::exchange_declare_ok>(d);
}

void sync_client::bind_queue(const std::string& queue, const std::string& exchange,
                             const std::string& key) {
    amqp::queue_bind b;
    b.queue = queue;
    b.exchange = exchange;
    b.routing_key = key;
    call<amqp::queue_bind_ok>(b);
}

void sync_client::declare_queue_nowait(const std::string& name, bool durable,
                                       const core::field_table& args) {
    amqp::queue_declare d;
    d.queue = name;
    d.durable = durable;
    d.arguments = args;
    d.nowait = true;
    amqp::append_method_frame(_wbuf, _channel, d);
}

void sync_client::bind_queue_nowait(const std::string& queue, const std::string& exchange,
                                    const std::string& key) {
    amqp::queue_bind b;
    b.queue = queue;
    b.exchange = exchange;
    b.routing_key = key;
    b.nowait = true;
    amqp::append_method_frame(_wbuf, _channel, b);
}

void sync_client::sync() {
    flush();
    // exchange.declare of amq.direct, passive: a no-op whose reply orders after the queued
    // methods on this channel.
    amqp::exchange_declare d;
    d.exchange = "amq.direct";
    d.passive = true;
    call<amqp::exchange_declare_ok>(d);
}

uint32_t sync_client::delete_queue(const std::string& name) {
    amqp::queue_delete d;
    d.queue = name;
    return call<amqp::queue_delete_ok>(d).message_count;
}

void sync_client::delete_exchange(const std::string& name) {
    amqp::exchange_delete d;
    d.exchange = name;
    call<amqp::exchange_delete_ok>(d);
}

void sync_client::confirm_select() {
    call<amqp::confirm_select_ok>(amqp::confirm_select{});
    _published = _confirmed = 0;
    _acked_ahead.clear();
}

uint64_t sync_client::publish(std::string_view exchange, std::string_view routing_key,
                              const core::basic_properties& props, std::string_view body) {
    amqp::basic_publish p;
    p.exchange = std::string(exchange);
    p.routing_key = std::string(routing_key);
    amqp::append_method_frame(_wbuf, _channel, p);
    std::string raw;
    amqp::encode_properties(raw, props);
    amqp::append_content_header_frame(_wbuf, _channel, body.size(), raw);
    amqp::append_body_frames(_wbuf, _channel, body, _frame_max);
    return ++_published;
}

void sync_client::flush() {
    if (_wbuf.empty()) return;
    write_all(_wbuf);
    _wbuf.clear();
}

void sync_client::wait_confirms(uint64_t seq) {
    flush();
    while (_confirmed < seq) {
        amqp::method m = read_method(_channel);
        if (auto* a = std::get_if<amqp::basic_ack>(&m)) {
            if (a->multiple) {
                _confirmed = std::max(_confirmed, a->delivery_tag);
            } else {
                _acked_ahead.insert(a->delivery_tag);
            }
            while (!_acked_ahead.empty() && *_acked_ahead.begin() <= _confirmed + 1) {
                _confirmed = std::max(_confirmed, *_acked_ahead.begin());
                _acked_ahead.erase(_acked_ahead.begin());
            }
        } else if (auto* n = std::get_if<amqp::basic_nack>(&m)) {
            throw std::runtime_error("the broker refused publish " +
                                     std::to_string(n->delivery_tag) + " (basic.nack)");
        }
    }
}

void sync_client::close() {
    if (!_open) return;
    _open = false;
    send(0, amqp::connection_close{200, "bye", 0, 0});
    for (;;) {
        try {
            amqp::method m = read_method(0);
            if (std::holds_alternative<amqp::connection_close_ok>(m)) break;
        } catch (const std::exception&) {
            break;
        }
    }
    boost::system::error_code ec;
    _socket.close(ec);
}

}  // namespace warren::perf

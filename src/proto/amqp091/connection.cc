#include "proto/amqp091/connection.h"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "base/log.h"
#include "proto/amqp091/channel.h"
#include "proto/amqp091/codec/field_table.h"
#include "proto/amqp091/server.h"

namespace warren::amqp {

namespace {

using rc = core::reply_code;
using boost::asio::ip::tcp;

// Reads go into one buffer per thread, shared by all its connections (a read is parsed
// completely before the next read starts); a connection keeps only a partial frame. So an idle
// connection holds no read buffer, and the buffer the hot path reads into stays in cache.
constexpr size_t shared_read_size = 128 * 1024;
constexpr size_t min_read_space = 16 * 1024;
// A connection's leftover-frame buffer above this size is freed once it is empty again.
constexpr size_t keep_in_capacity = 1024;
// Output buffers above this size are freed when a write drains the connection with a write much
// smaller than the buffer (the tail of a burst), so a connection does not keep a burst's memory.
constexpr size_t keep_out_capacity = 64 * 1024;
constexpr auto handshake_timeout = std::chrono::seconds(10);
constexpr auto closing_timeout = std::chrono::seconds(3);
constexpr auto shutdown_timeout = std::chrono::seconds(1);
// AMQP 0-9 header: RabbitMQ treats it as 0-9-1.
constexpr std::string_view protocol_header_0_9 = {"AMQP\x01\x01\x00\x09", 8};

const char* state_name(int s) {
    static const char* names[] = {"starting", "starting", "tuning", "opening",
                                  "running",  "closing",  "closed"};
    return names[s];
}

core::field_table server_properties(const settings& s) {
    core::field_table caps;
    caps.reserve(9);
    caps.emplace_back("publisher_confirms", true);
    caps.emplace_back("exchange_exchange_bindings", true);
    caps.emplace_back("basic.nack", true);
    caps.emplace_back("consumer_cancel_notify", true);
    caps.emplace_back("connection.blocked", false);
    caps.emplace_back("consumer_priorities", true);
    caps.emplace_back("authentication_failure_close", true);
    caps.emplace_back("per_consumer_qos", true);
    caps.emplace_back("direct_reply_to", true);
    core::field_table t;
    t.reserve(7);
    t.emplace_back("capabilities", core::field_value::table(std::move(caps)));
    t.emplace_back("cluster_name", std::string("warren@localhost"));
    t.emplace_back("copyright", std::string("Copyright (c) the Warren authors"));
    t.emplace_back("information", std::string("Warren message broker: AMQP 0-9-1 and STOMP"));
    t.emplace_back("platform", std::string("C++20/Boost.Asio"));
    t.emplace_back("product", s.product);
    t.emplace_back("version", s.version);
    return t;
}

// PLAIN: [authzid] NUL user NUL password.
bool parse_plain(std::string_view r, std::string& user, std::string& pass) {
    auto first = r.find('\0');
    if (first == std::string_view::npos) return false;
    auto second = r.find('\0', first + 1);
    if (second == std::string_view::npos) return false;
    user.assign(r.substr(first + 1, second - first - 1));
    pass.assign(r.substr(second + 1));
    return true;
}

// AMQPLAIN: a field table without its length prefix, holding LOGIN and PASSWORD.
bool parse_amqplain(std::string_view r, std::string& user, std::string& pass) {
    std::string buf;
    uint32_t n = static_cast<uint32_t>(r.size());
    char len[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    buf.append(len, 4);
    buf.append(r);
    std::string_view in = buf;
    core::field_table t;
    if (!decode_table(in, t)) return false;
    auto str = [](const core::field_value* v, std::string& out) {
        if (!v) return false;
        if (auto* s = v->as_string()) {
            out = *s;
            return true;
        }
        if (auto* b = std::get_if<core::bytes_value>(&v->v)) {
            out = b->data;
            return true;
        }
        return false;
    };
    return str(core::find(t, "LOGIN"), user) && str(core::find(t, "PASSWORD"), pass);
}

std::vector<char>& shared_read_buffer() {
    thread_local std::vector<char> buf;
    return buf;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Channel table

std::vector<channel_table::entry>::const_iterator channel_table::lower(uint16_t id) const {
    return std::lower_bound(_high.begin(), _high.end(), id,
                            [](const entry& e, uint16_t v) { return e.first < v; });
}

channel& channel_table::insert(uint16_t id, std::unique_ptr<channel> c) {
    channel& ref = *c;
    if (id < direct_limit) {
        if (_direct.size() <= id) _direct.resize(size_t(id) + 1);
        _direct[id] = std::move(c);
    } else {
        auto pos = _high.begin() + (lower(id) - _high.cbegin());
        if (pos != _high.end() && pos->first == id)
            pos->second = std::move(c);
        else
            _high.emplace(pos, id, std::move(c));
    }
    return ref;
}

void channel_table::erase(uint16_t id) {
    if (id < direct_limit) {
        if (id < _direct.size()) _direct[id].reset();
        return;
    }
    auto it = lower(id);
    if (it != _high.end() && it->first == id) _high.erase(it);
}

void channel_table::clear() {
    _direct.clear();
    _high.clear();
}

connection::connection(server& srv, tcp::socket s, uint64_t id)
    : _server(srv),
      _socket(std::move(s)),
      _timer(srv.io()),
      _id(id),
      _frame_max(srv.config().frame_max),
      _channel_max(srv.config().channel_max) {
    boost::system::error_code ec;
    auto ep = _socket.remote_endpoint(ec);
    _peer = ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    _socket.set_option(tcp::no_delay(true), ec);
    // Reads are synchronous and non-blocking after the socket reports readable (see read_now).
    _socket.non_blocking(true, ec);
}

connection::~connection() {
    release();
    _channels.clear();
}

core::broker& connection::broker() { return _server.broker(); }

void connection::start() {
    _started = _last_recv = _last_send = clock::now();
    WLOG_INFO("amqp connection accepted id={} peer={}", _id, _peer);
    start_timer();
    read_more();
}

// ---------------------------------------------------------------------------------------------
// Input

// Waits for input without holding a buffer: async_wait(wait_read), then read_now reads into the
// thread's shared buffer. After a read that filled the buffer, the next read is tried at once
// (from a posted handler, so other connections get their turn) before falling back to waiting,
// as asio's own speculative reads do.
void connection::read_more() {
    if (_reading || _read_paused || (_state == state::closed && !_lingering) ||
        !_socket.is_open())
        return;
    _reading = true;
    if (_read_speculative) {
        boost::asio::post(_server.io(), [self = shared_from_this()] {
            self->_reading = false;
            self->read_now();
        });
        return;
    }
    _socket.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           self->_reading = false;
                           if (ec)
                               self->on_read(ec, nullptr, 0);
                           else
                               self->read_now();
                       });
}

void connection::read_now() {
    if (_reading || _read_paused || (_state == state::closed && !_lingering) ||
        !_socket.is_open())
        return;
    std::vector<char>& buf = shared_read_buffer();
    // Room for the partial frame kept from the last read, the rest of that frame if its header
    // is in, and a good read's worth.
    size_t keep = _in.size();
    size_t need = std::max(shared_read_size, keep + min_read_space);
    if (_state != state::awaiting_header && keep >= frame_header_size) {
        auto* p = reinterpret_cast<const unsigned char*>(_in.data());
        size_t payload = (size_t(p[3]) << 24) | (size_t(p[4]) << 16) | (size_t(p[5]) << 8) | p[6];
        need = std::max(need, payload + frame_overhead + min_read_space);
    }
    if (buf.size() < need) buf.resize(need);
    if (keep) std::memcpy(buf.data(), _in.data(), keep);
    boost::system::error_code ec;
    size_t n = _socket.read_some(boost::asio::buffer(buf.data() + keep, buf.size() - keep), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        _read_speculative = false;
        read_more();
        return;
    }
    // A read that filled the buffer probably left more behind; a shorter one drained the socket
    // (asio's own heuristic), so the next read waits for epoll instead of trying first.
    _read_speculative = !ec && n == buf.size() - keep;
    on_read(ec, buf.data(), keep + n);
}

void connection::on_read(const boost::system::error_code& ec, char* data, size_t n) {
    if (_lingering) {  // closed on our side: discard input until the client closes
        if (ec)
            do_close_socket();
        else
            read_more();
        return;
    }
    if (_state == state::closed) return;
    if (ec) {
        if (_state == state::open)
            WLOG_WARN("amqp connection id={} peer={} closed by client without connection.close "
                      "({})", _id, _peer, ec.message());
        else if (_state != state::closing)
            WLOG_INFO("amqp connection id={} peer={} closed during handshake ({})", _id, _peer,
                      ec.message());
        release();
        close_socket(true);
        return;
    }
    _last_recv = clock::now();
    if (_input_dead) {
        std::vector<char>().swap(_in);
        read_more();
        return;
    }
    process_input(data, n);
    if (_state == state::closed && !_socket.is_open()) return;
    flush();
    if (_out.size() + _writing.size() > read_pause_limit)
        _read_paused = true;
    else
        read_more();
}

void connection::process_input(char* data, size_t n) {
    _in_batch = true;
    std::string_view buf(data, n);
    if (_state == state::awaiting_header) handle_header(buf);
    while (!buf.empty() && !_input_dead && _state != state::closed) {
        // Before tune-ok we accept frames up to our own frame_max.
        auto r = parse_frame(buf, _frame_max);
        if (r.k == parse_result::need_more) break;
        if (r.k == parse_result::error) {
            _input_dead = true;
            buf = {};
            if (_state == state::open) {
                connection_error({r.err, 0, 0});
            } else {
                WLOG_WARN("amqp connection id={} peer={} framing error: {}", _id, _peer,
                          r.err.text);
            }
            close_socket(false);
            break;
        }
        buf.remove_prefix(r.consumed);
        handle_frame(r.frame);
        if (!_finished.empty()) {
            for (uint16_t id : _finished) {
                if (_channels.find(id)) {
                    _channels.erase(id);
                    --_channel_count;
                    _active.erase(std::remove(_active.begin(), _active.end(), id), _active.end());
                }
            }
            _finished.clear();
        }
    }
    // Keep the partial frame (if any) for the next read; the shared buffer is reused by then.
    if (buf.empty()) {
        if (_in.capacity() > keep_in_capacity)
            std::vector<char>().swap(_in);
        else
            _in.clear();
    } else {
        _in.assign(buf.begin(), buf.end());
    }
    end_of_batch();
    _in_batch = false;
}

bool connection::handle_header(std::string_view& in) {
    if (in.size() < protocol_header.size()) {
        // Refuse early if what we have cannot be the start of an AMQP header.
        if (std::string_view("AMQP").substr(0, std::min<size_t>(4, in.size())) ==
            in.substr(0, std::min<size_t>(4, in.size())))
            return false;
    } else {
        auto h = in.substr(0, protocol_header.size());
        if (h == protocol_header || h == protocol_header_0_9) {
            in.remove_prefix(protocol_header.size());
            _state = state::awaiting_start_ok;
            send_start();
            return true;
        }
    }
    WLOG_WARN("amqp connection id={} peer={} refused: bad protocol header", _id, _peer);
    _out.append(protocol_header);
    in = {};
    _input_dead = true;
    close_socket(false);
    return false;
}

void connection::handle_frame(const frame_view& f) {
    switch (_state) {
        case state::awaiting_header:
        case state::closed:
            return;
        case state::closing: {
            if (f.channel != 0 || f.type != frame_type::method) return;
            auto m = decode_method(f.payload);
            if (!m) return;
            if (std::holds_alternative<connection_close_ok>(*m)) {
                close_socket(false);
            } else if (std::holds_alternative<connection_close>(*m)) {
                append_method_frame(_out, 0, connection_close_ok{});
                output_appended();
            }
            return;
        }
        case state::awaiting_start_ok:
        case state::awaiting_tune_ok:
        case state::awaiting_open: {
            if (f.type == frame_type::heartbeat) return;
            if (f.channel != 0 || f.type != frame_type::method) {
                handshake_failed(make_error(
                    rc::unexpected_frame,
                    fmt::format("type {} on channel {} in connection state {}", int(f.type),
                                f.channel, state_name(int(_state)))));
                return;
            }
            auto m = decode_method(f.payload);
            if (!m) {
                handshake_failed(m.error());
                return;
            }
            handle_connection_method(*m);
            return;
        }
        case state::open:
            break;
    }

    if (f.type == frame_type::heartbeat) {
        if (f.channel != 0)
            connection_error({make_error(rc::unexpected_frame,
                                         fmt::format("heartbeat frame on channel {}", f.channel)),
                              0, 0});
        return;
    }
    if (f.channel == 0) {
        handle_channel0(f);
        return;
    }
    channel* ch = _channels.find(f.channel);
    if (ch) {
        ch->handle_frame(f);
        return;
    }

    // A frame for a channel that is not open: only channel.open may come here.
    uint16_t cid = 0, mid = 0;
    if (f.type != frame_type::method) {
        connection_error({make_error(rc::unexpected_frame,
                                     "expected method frame, got non method frame instead"),
                          0, 0});
        return;
    }
    peek_method_ids(f.payload, cid, mid);
    // RabbitMQ counts open channels against channel_max; any channel number is fine. Its
    // error names no method (class 0, method 0).
    if (_channel_count >= _channel_max) {
        connection_error(
            {make_error(rc::not_allowed,
                        fmt::format("number of channels opened ({}) has reached the negotiated "
                                    "channel_max ({})",
                                    _channel_count, _channel_max)),
             0, 0});
        return;
    }
    auto m = decode_method(f.payload);
    if (!m) {
        connection_error({m.error(), cid, mid});
        return;
    }
    if (!std::holds_alternative<channel_open>(*m)) {
        connection_error({make_error(rc::channel_error, "expected 'channel.open'"), cid, mid});
        return;
    }
    channel& ch_new = _channels.insert(f.channel, std::make_unique<channel>(*this, f.channel));
    ++_channel_count;
    _active.push_back(f.channel);
    ch_new.open();
}

void connection::handle_channel0(const frame_view& f) {
    if (f.type != frame_type::method) {
        connection_error({make_error(rc::unexpected_frame,
                                     fmt::format("type {} on channel 0", int(f.type))),
                          0, 0});
        return;
    }
    uint16_t cid = 0, mid = 0;
    peek_method_ids(f.payload, cid, mid);
    auto m = decode_method(f.payload);
    if (!m) {
        connection_error({m.error(), cid, mid});
        return;
    }
    if (auto* c = std::get_if<connection_close>(&*m)) {
        on_close(*c);
        return;
    }
    if (std::holds_alternative<connection_update_secret>(*m)) {
        send(connection_update_secret_ok{});
        return;
    }
    if (std::holds_alternative<connection_blocked>(*m) ||
        std::holds_alternative<connection_unblocked>(*m))
        return;  // clients may tell us about their own blocking; nothing to do
    connection_error({make_error(rc::channel_error,
                                 "unexpected method in connection state running"),
                      cid, mid});
}

// ---------------------------------------------------------------------------------------------
// Handshake

void connection::send_start() {
    connection_start s;
    s.version_major = 0;
    s.version_minor = 9;
    s.server_properties = server_properties(_server.config());
    s.mechanisms = "PLAIN AMQPLAIN";
    s.locales = "en_US";
    send(s);
}

void connection::handle_connection_method(const method& m) {
    if (auto* c = std::get_if<connection_close>(&m)) {
        // A client giving up during the handshake.
        (void)c;
        append_method_frame(_out, 0, connection_close_ok{});
        close_socket(false);
        return;
    }
    switch (_state) {
        case state::awaiting_start_ok:
            if (auto* p = std::get_if<connection_start_ok>(&m)) return on_start_ok(*p);
            break;
        case state::awaiting_tune_ok:
            if (auto* p = std::get_if<connection_tune_ok>(&m)) return on_tune_ok(*p);
            break;
        case state::awaiting_open:
            if (auto* p = std::get_if<connection_open>(&m)) return on_open(*p);
            break;
        default:
            break;
    }
    handshake_failed(make_error(rc::channel_error,
                                fmt::format("unexpected method in connection state {}",
                                            state_name(int(_state)))));
}

void connection::on_start_ok(const connection_start_ok& m) {
    _client_properties = m.client_properties;
    std::string user, pass;
    bool parsed;
    if (m.mechanism == "PLAIN") {
        parsed = parse_plain(m.response, user, pass);
    } else if (m.mechanism == "AMQPLAIN") {
        parsed = parse_amqplain(m.response, user, pass);
    } else {
        handshake_failed(make_error(
            rc::command_invalid,
            fmt::format("unknown authentication mechanism '{}'", m.mechanism)));
        return;
    }
    if (!parsed) {
        handshake_failed(make_error(rc::syntax_error,
                                    fmt::format("{} response invalid", m.mechanism)));
        return;
    }
    if (!broker().authenticate(user, pass)) {
        WLOG_WARN("amqp connection id={} peer={}: {} login refused: user '{}' - invalid "
                  "credentials", _id, _peer, m.mechanism, user);
        if (client_capability("authentication_failure_close")) {
            auto e = make_error(rc::access_refused,
                                fmt::format("Login was refused using authentication mechanism "
                                            "{}. For details see the broker logfile.",
                                            m.mechanism));
            append_method_frame(_out, 0,
                                connection_close{uint16_t(e.code), e.text, 0, 0});
        }
        _input_dead = true;
        close_socket(false);
        return;
    }
    _user = user;
    _state = state::awaiting_tune_ok;
    const auto& cfg = _server.config();
    send(connection_tune{cfg.channel_max, cfg.frame_max, cfg.heartbeat_s});
}

void connection::on_tune_ok(const connection_tune_ok& m) {
    const auto& cfg = _server.config();
    auto refuse = [&](std::string text) {
        core::error e = make_error(rc::not_allowed, text);
        WLOG_WARN("amqp connection id={} peer={}: {}", _id, _peer, e.text);
        append_method_frame(_out, 0,
                            connection_close{uint16_t(e.code), e.text, connection_tune::class_id,
                                             connection_tune::method_id});
        _state = state::closing;
        _closing_deadline = clock::now() + closing_timeout;
    };
    if (m.frame_max != 0 && m.frame_max < frame_min_size)
        return refuse(fmt::format("negotiated frame_max = {} is lower than the minimum allowed "
                                  "value ({})",
                                  m.frame_max, frame_min_size));
    if (cfg.frame_max != 0 && m.frame_max > cfg.frame_max)
        return refuse(fmt::format("negotiated frame_max = {} is higher than the maximum allowed "
                                  "value ({})",
                                  m.frame_max, cfg.frame_max));
    if (cfg.channel_max != 0 && m.channel_max > cfg.channel_max)
        return refuse(fmt::format("negotiated channel_max = {} is higher than the maximum "
                                  "allowed value ({})",
                                  m.channel_max, cfg.channel_max));
    _frame_max = m.frame_max ? m.frame_max : cfg.frame_max;
    _channel_max = m.channel_max ? m.channel_max : (cfg.channel_max ? cfg.channel_max : 65535);
    _heartbeat = m.heartbeat;
    _state = state::awaiting_open;
}

void connection::on_open(const connection_open& m) {
    core::vhost* vh = broker().find_vhost(m.virtual_host);
    if (!vh) {
        core::error e = make_error(rc::not_allowed,
                                   fmt::format("vhost '{}' not found", m.virtual_host));
        WLOG_WARN("amqp connection id={} peer={} user '{}': {}", _id, _peer, _user, e.text);
        append_method_frame(_out, 0,
                            connection_close{uint16_t(e.code), e.text, connection_open::class_id,
                                             connection_open::method_id});
        _state = state::closing;
        _closing_deadline = clock::now() + closing_timeout;
        return;
    }
    _vhost = vh;
    _state = state::open;
    send(connection_open_ok{});
    WLOG_INFO("amqp connection id={} peer={}: user '{}' authenticated and granted access to "
              "vhost '{}'", _id, _peer, _user, vh->name());
    _last_recv = clock::now();
    _timer.cancel();  // re-arm with the heartbeat period
}

void connection::on_close(const connection_close& m) {
    WLOG_INFO("amqp connection id={} peer={} closed by client ({} {})", _id, _peer, m.reply_code,
              m.reply_text);
    release();
    append_method_frame(_out, 0, connection_close_ok{});
    _input_dead = true;
    close_socket(false);
}

void connection::handshake_failed(const core::error& e) {
    WLOG_WARN("amqp connection id={} peer={} handshake failed in state {}: {}", _id, _peer,
              state_name(int(_state)), e.text);
    if (_state == state::awaiting_tune_ok || _state == state::awaiting_open) {
        append_method_frame(_out, 0, connection_close{uint16_t(e.code), e.text, 0, 0});
    }
    _input_dead = true;
    close_socket(false);
}

// ---------------------------------------------------------------------------------------------
// Errors and closing

bool connection::client_capability(std::string_view name) const {
    auto* caps = core::find(_client_properties, "capabilities");
    if (!caps) return false;
    auto* t = caps->as_table();
    if (!t) return false;
    auto* v = core::find(*t, name);
    if (!v) return false;
    auto b = v->as_bool();
    return b && *b;
}

void connection::connection_error(const method_error& e) {
    if (_state == state::closing || _state == state::closed) return;
    WLOG_WARN("amqp connection id={} peer={} user '{}': connection error (class {} method {}): "
              "{}", _id, _peer, _user, e.class_id, e.method_id, e.err.text);
    if (_state != state::open) {
        handshake_failed(e.err);
        return;
    }
    release();
    append_method_frame(_out, 0,
                        connection_close{uint16_t(e.err.code), e.err.text, e.class_id,
                                         e.method_id});
    output_appended();
    _state = state::closing;
    _closing_deadline = clock::now() + closing_timeout;
    _timer.cancel();
    start_timer();
}

void connection::force_close(std::string_view reason) {
    if (_state == state::closed) return;
    if (_state != state::open) {
        release();
        close_socket(_state != state::closing);
        return;
    }
    WLOG_INFO("amqp connection id={} peer={} closing: broker shutdown", _id, _peer);
    release();
    auto e = make_error(rc::connection_forced,
                        fmt::format("broker forced connection closure with reason '{}'", reason));
    append_method_frame(_out, 0, connection_close{uint16_t(e.code), e.text, 0, 0});
    _state = state::closing;
    _closing_deadline = clock::now() + shutdown_timeout;
    flush();
    _timer.cancel();
    start_timer();
}

void connection::abandon() {
    _detached = true;
    release();
    _state = state::closed;
    boost::system::error_code ec;
    _timer.cancel();
    _socket.close(ec);
    _channels.clear();
}

void connection::release() {
    if (_released) return;
    _released = true;
    _channels.for_each([](channel& ch) { ch.release(); });
    if (_vhost) _vhost->connection_closed(_id);
}

// A graceful close (now == false) never resets the peer: closing a socket that still has unread
// input makes the kernel send RST, and a client still writing (amqplib puts connection.close on
// the wire before its last buffered publishes) would then lose our close-ok. So, as RabbitMQ's
// reader does, we write what is pending, shut down our sending side, and keep reading and
// discarding until the client closes or linger_timeout() passes.
void connection::close_socket(bool now) {
    _state = state::closed;
    _input_dead = true;
    if (now || !_socket.is_open()) {
        do_close_socket();
        return;
    }
    if (_lingering) return;
    _lingering = true;
    _closing_deadline = clock::now() + linger_timeout();
    std::vector<char>().swap(_in);
    if (_write_in_flight || !_out.empty()) {
        _close_after_flush = true;
        flush();
    } else {
        start_linger();
    }
    read_more();
}

// RabbitMQ waits for the client at most the heartbeat interval (if shorter than 30 s) or 30 s;
// a connection that never opened gets a short grace.
std::chrono::milliseconds connection::linger_timeout() const {
    if (_vhost == nullptr) return closing_timeout;
    if (_heartbeat > 0 && _heartbeat < 30) return std::chrono::seconds(_heartbeat);
    return std::chrono::seconds(30);
}

void connection::start_linger() {
    _close_after_flush = false;
    release();
    boost::system::error_code ec;
    _socket.shutdown(tcp::socket::shutdown_send, ec);
    _timer.cancel();  // re-armed with the one-second period of a closed connection
    start_timer();
}

void connection::do_close_socket() {
    _state = state::closed;
    _lingering = false;
    release();
    if (!_socket.is_open()) return;
    boost::system::error_code ec;
    _timer.cancel();
    _socket.shutdown(tcp::socket::shutdown_both, ec);
    _socket.close(ec);
    WLOG_INFO("amqp connection id={} peer={} closed", _id, _peer);
    if (_detached) return;
    // Channels may be on the stack right now: destroy them (and unregister) from a fresh handler.
    boost::asio::post(_server.io(), [self = shared_from_this()] {
        self->_channels.clear();
        self->_active.clear();
        if (!self->_detached) self->_server.remove(self->_id);
    });
}

void connection::channel_finished(uint16_t id) { _finished.push_back(id); }

// ---------------------------------------------------------------------------------------------
// Output

void connection::output_appended() {
    if (_in_batch || _flush_posted || _write_in_flight) return;
    _flush_posted = true;
    boost::asio::post(_server.io(), [self = shared_from_this()] {
        self->_flush_posted = false;
        self->flush();
    });
}

void connection::flush() {
    if (_write_in_flight || _out.empty()) return;
    if (!_socket.is_open()) {
        _out.clear();
        return;
    }
    _writing.swap(_out);
    _out.clear();
    _write_in_flight = true;
    _last_send = clock::now();
    boost::asio::async_write(
        _socket, boost::asio::buffer(_writing),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
            self->on_write(ec, n);
        });
}

void connection::on_write(const boost::system::error_code& ec, size_t n) {
    _write_in_flight = false;
    _writing.clear();
    if (_writing.capacity() > 4 * output_limit) std::string().swap(_writing);
    // A small write that drains the connection ends a burst: give back large buffers.
    if (_out.empty() && n < keep_out_capacity / 8) {
        if (_writing.capacity() > keep_out_capacity) std::string().swap(_writing);
        if (_out.capacity() > keep_out_capacity) std::string().swap(_out);
    }
    if (ec) {
        if (_socket.is_open()) {
            if (_state == state::open)
                WLOG_WARN("amqp connection id={} peer={} write failed: {}", _id, _peer,
                          ec.message());
            release();
            close_socket(true);
        }
        return;
    }
    if (!_out.empty()) {
        flush();
    } else if (_close_after_flush) {
        start_linger();
        return;
    }
    if (_consumers_blocked && !output_full() && _state == state::open) {
        _consumers_blocked = false;
        resume_consumers();
    }
    if (_read_paused && _out.size() < read_pause_limit / 2) {
        _read_paused = false;
        read_more();
    }
}

void connection::trim_idle_buffers() {
    if (_write_in_flight || !_out.empty()) return;
    std::string().swap(_out);
    std::string().swap(_writing);
    std::string().swap(_scratch);
    if (_in.empty()) std::vector<char>().swap(_in);
}

void connection::resume_consumers() {
    bool was = _in_batch;
    _in_batch = true;  // collect everything resumed into one write
    for (size_t i = 0; i < _active.size(); ++i) {
        uint16_t id = _active[i];
        if (channel* ch = _channels.find(id)) ch->resume_consumers();
    }
    _in_batch = was;
    flush();
}

void connection::end_of_batch() {
    for (size_t i = 0; i < _active.size(); ++i) {
        uint16_t id = _active[i];
        if (channel* ch = _channels.find(id)) ch->end_of_batch();
    }
}

// ---------------------------------------------------------------------------------------------
// Heartbeats and timeouts

void connection::start_timer() {
    if (_timer_running || (_state == state::closed && !_lingering)) return;
    std::chrono::milliseconds period(1000);
    if (_state == state::open) {
        if (_heartbeat == 0) return;
        period = std::chrono::milliseconds(std::max<int>(250, _heartbeat * 1000 / 4));
    }
    _timer_running = true;
    _timer.expires_after(period);
    _timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        self->_timer_running = false;
        if (ec == boost::asio::error::operation_aborted) {
            // Cancelled to re-arm with another period (or because we closed).
            self->start_timer();
            return;
        }
        self->on_tick();
    });
}

void connection::on_tick() {
    auto now = clock::now();
    if (_lingering) {
        if (now >= _closing_deadline) {
            WLOG_INFO("amqp connection id={} peer={}: client did not close its socket after "
                      "close-ok; closing it", _id, _peer);
            do_close_socket();
        } else {
            start_timer();
        }
        return;
    }
    if (_state == state::closed) return;
    switch (_state) {
        case state::awaiting_header:
        case state::awaiting_start_ok:
        case state::awaiting_tune_ok:
        case state::awaiting_open:
            if (now - _started > handshake_timeout) {
                WLOG_WARN("amqp connection id={} peer={} handshake timeout", _id, _peer);
                close_socket(true);
                return;
            }
            break;
        case state::closing:
            if (now >= _closing_deadline) {
                close_socket(true);
                return;
            }
            break;
        case state::open: {
            if (_heartbeat == 0) return;
            auto hb = std::chrono::seconds(_heartbeat);
            if (now - _last_recv > 2 * hb) {
                WLOG_WARN("amqp connection id={} peer={}: missed heartbeats from client, "
                          "timeout: {}s", _id, _peer, _heartbeat);
                release();
                close_socket(true);
                return;
            }
            // Nothing received or sent for a tick: give the output buffers back.
            auto tick = std::chrono::milliseconds(std::max<int>(250, _heartbeat * 1000 / 4));
            if (now - _last_recv >= tick && now - _last_send >= tick) trim_idle_buffers();
            if (now - _last_send >= hb / 2 && !_write_in_flight) {
                append_heartbeat(_out);
                flush();
            }
            break;
        }
        case state::closed:
            return;
    }
    start_timer();
}

}  // namespace warren::amqp

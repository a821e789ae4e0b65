#include "proto/amqp091/session.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/log.h"
#include "proto/amqp091/channel.h"
#include "proto/amqp091/codec/field_table.h"
#include "proto/amqp091/server.h"

namespace warren::amqp {

namespace {

using rc = core::reply_code;

// Output buffers above this size are given back when the connection goes idle.
constexpr size_t keep_out_capacity = 64 * 1024;
constexpr uint64_t handshake_timeout_ms = 10'000;
constexpr uint64_t closing_timeout_ms = 3'000;
constexpr uint64_t shutdown_timeout_ms = 1'000;
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
    caps.emplace_back("connection.blocked", true);
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

session::session(server& srv, net::session_io& io, const net::peer_info& peer, uint64_t id)
    : _server(srv),
      _io(io),
      _id(id),
      _peer(peer.websocket ? (peer.tls ? "wss:" : "ws:") + peer.address
                           : (peer.tls ? "tls:" + peer.address : peer.address)),
      _cert_login(peer.cert_login),
      _frame_max(srv.config().frame_max),
      _channel_max(srv.config().channel_max),
      _connected_at_ms(srv.broker().wall_ms()),
      _peer_address(peer.address),
      _local(peer.local_address),
      _tls(peer.tls),
      _websocket(peer.websocket) {}

core::connection_info session::info() {
    core::connection_info i;
    i.protocol = "AMQP 0-9-1";
    i.peer_address = _peer_address;
    i.local_address = _local;
    i.tls = _tls;
    i.websocket = _websocket;
    i.connected_at_ms = _connected_at_ms;
    i.frame_max = _frame_max;
    i.channel_max = _channel_max;
    i.heartbeat_s = _heartbeat;
    i.state = flow_state();
    i.io = io();
    for (const char* key : {"product", "version", "platform", "connection_name", "information"})
        if (auto* v = core::find(_client_properties, key))
            if (auto* str = v->as_string()) i.client_properties.emplace_back(key, *str);
    _channels.for_each([&](channel& ch) { i.channels.push_back(ch.info()); });
    return i;
}

session::~session() {
    release();
    _channels.clear();
}

core::broker& session::broker() {
    return _server.broker();
}

void session::on_start(uint64_t now_ms) {
    _now = _started = _last_recv = _last_send = now_ms;
    WLOG_INFO("amqp connection accepted id={} peer={}", _id, _peer);
}

// ---------------------------------------------------------------------------------------------
// Input

size_t session::on_bytes(std::string_view data, uint64_t now_ms) {
    _now = _last_recv = now_ms;
    if (_input_dead || _state == state::closed) return data.size();
    _in_batch = true;
    ++_recv_cnt;
    std::string_view buf = data;
    if (_state == state::awaiting_header && !handle_header(buf)) {
        _in_batch = false;
        // An incomplete header waits for more bytes; a bad one closed the session.
        return _state == state::awaiting_header ? 0 : data.size();
    }
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
                    if (_user_channels > 0 && !_released) {
                        --_user_channels;
                        _server.auth().users.channel_closed(_user);
                    }
                    _active.erase(std::remove(_active.begin(), _active.end(), id), _active.end());
                }
            }
            _finished.clear();
        }
    }
    end_of_batch();
    if (_state == state::open) _flow.end_of_batch(_now);
    _in_batch = false;
    if (_input_dead || _state == state::closed) return data.size();
    _recv_oct += data.size() - buf.size();
    return data.size() - buf.size();  // the rest is an incomplete frame: the transport keeps it
}

size_t session::read_size_hint(std::string_view pending) const {
    if (_state == state::awaiting_header || pending.size() < frame_header_size) return 0;
    auto* p = reinterpret_cast<const unsigned char*>(pending.data());
    size_t payload = (size_t(p[3]) << 24) | (size_t(p[4]) << 16) | (size_t(p[5]) << 8) | p[6];
    return payload + frame_overhead;
}

bool session::handle_header(std::string_view& in) {
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

void session::handle_frame(const frame_view& f) {
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
                handshake_failed(
                    make_error(rc::unexpected_frame,
                               fmt::format("type {} on channel {} in connection state {}",
                                           int(f.type), f.channel, state_name(int(_state)))));
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
    // The user's max-channels limit counts channels over all their connections.
    auth::user_db& users = _server.auth().users;
    if (auto limit = users.channel_limit_reached(_user)) {
        connection_error({make_error(rc::not_allowed,
                                     fmt::format("number of channels opened for user '{}' has "
                                                 "reached the maximum allowed user limit of ({})",
                                                 _user, *limit)),
                          0, 0});
        return;
    }
    users.channel_opened(_user);
    ++_user_channels;
    channel& ch_new = _channels.insert(f.channel, std::make_unique<channel>(*this, f.channel));
    ++_channel_count;
    _active.push_back(f.channel);
    ch_new.open();
}

void session::handle_channel0(const frame_view& f) {
    if (f.type != frame_type::method) {
        connection_error(
            {make_error(rc::unexpected_frame, fmt::format("type {} on channel 0", int(f.type))), 0,
             0});
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
    connection_error(
        {make_error(rc::channel_error, "unexpected method in connection state running"), cid, mid});
}

// ---------------------------------------------------------------------------------------------
// Handshake

void session::send_start() {
    connection_start s;
    s.version_major = 0;
    s.version_minor = 9;
    s.server_properties = server_properties(_server.config());
    // EXTERNAL only where it can succeed: TLS with a verified client certificate (RabbitMQ
    // offers it whenever rabbitmq_auth_mechanism_ssl is enabled).
    s.mechanisms = _cert_login.empty() ? "PLAIN AMQPLAIN" : "PLAIN AMQPLAIN EXTERNAL";
    s.locales = "en_US";
    send(s);
}

void session::handle_connection_method(const method& m) {
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
    handshake_failed(make_error(
        rc::channel_error,
        fmt::format("unexpected method in connection state {}", state_name(int(_state)))));
}

void session::on_start_ok(const connection_start_ok& m) {
    _client_properties = m.client_properties;
    std::string user, pass;
    bool parsed;
    if (m.mechanism == "EXTERNAL" && !_cert_login.empty()) {
        // The certificate names the user; the response (an authorization id) is ignored, as
        // RabbitMQ does. The user must exist; its password is not asked for.
        if (!_server.auth().users.find(_cert_login)) {
            WLOG_WARN(
                "amqp connection id={} peer={}: EXTERNAL login refused: user '{}' (from "
                "the client certificate) does not exist",
                _id, _peer, _cert_login);
            refuse_login(m.mechanism);
            return;
        }
        return logged_in(_cert_login, m.mechanism);
    }
    if (m.mechanism == "PLAIN") {
        parsed = parse_plain(m.response, user, pass);
    } else if (m.mechanism == "AMQPLAIN") {
        parsed = parse_amqplain(m.response, user, pass);
    } else {
        handshake_failed(
            make_error(rc::command_invalid,
                       fmt::format("unknown authentication mechanism '{}'", m.mechanism)));
        return;
    }
    if (!parsed) {
        handshake_failed(
            make_error(rc::syntax_error, fmt::format("{} response invalid", m.mechanism)));
        return;
    }
    auth::authority& a = _server.auth();
    if (auto wait = a.logins.locked_out(_peer, _now)) {
        WLOG_WARN(
            "amqp connection id={} peer={}: {} login refused: user '{}' - too many failed "
            "logins from this address, locked out for {} ms more",
            _id, _peer, m.mechanism, user, *wait);
        refuse_login(m.mechanism);
        return;
    }
    if (!a.users.authenticate(user, pass)) {
        uint64_t lock = a.logins.failed(_peer, _now);
        WLOG_WARN(
            "amqp connection id={} peer={}: {} login refused: user '{}' - invalid "
            "credentials{}",
            _id, _peer, m.mechanism, user,
            lock ? fmt::format(" (too many failures: address locked out for {} ms)", lock) : "");
        refuse_login(m.mechanism);
        return;
    }
    a.logins.succeeded(_peer);
    logged_in(user, m.mechanism);
}

void session::refuse_login(std::string_view mechanism) {
    if (client_capability("authentication_failure_close")) {
        auto e = make_error(rc::access_refused,
                            fmt::format("Login was refused using authentication mechanism "
                                        "{}. For details see the broker logfile.",
                                        mechanism));
        append_method_frame(_out, 0, connection_close{uint16_t(e.code), reply_text(e), 0, 0});
    }
    _input_dead = true;
    close_socket(false);
}

void session::logged_in(const std::string& user, std::string_view mechanism) {
    // RabbitMQ's loopback_users: guest may only log in from this host.
    if (!_server.auth().users.may_connect_from(user, _peer)) {
        WLOG_WARN(
            "amqp connection id={} peer={}: {} login refused: user '{}' can only connect "
            "via localhost",
            _id, _peer, mechanism, user);
        refuse_login(mechanism);
        return;
    }
    _user = user;
    _state = state::awaiting_tune_ok;
    const auto& cfg = _server.config();
    send(connection_tune{cfg.channel_max, cfg.frame_max, cfg.heartbeat_s});
}

void session::on_tune_ok(const connection_tune_ok& m) {
    const auto& cfg = _server.config();
    auto refuse = [&](std::string text) {
        core::error e = make_error(rc::not_allowed, text);
        WLOG_WARN("amqp connection id={} peer={}: {}", _id, _peer, e.text);
        append_method_frame(
            _out, 0,
            connection_close{uint16_t(e.code), reply_text(e), connection_tune::class_id,
                             connection_tune::method_id});
        _state = state::closing;
        _closing_deadline = _now + closing_timeout_ms;
    };
    if (m.frame_max != 0 && m.frame_max < frame_min_size)
        return refuse(
            fmt::format("negotiated frame_max = {} is lower than the minimum allowed "
                        "value ({})",
                        m.frame_max, frame_min_size));
    if (cfg.frame_max != 0 && m.frame_max > cfg.frame_max)
        return refuse(
            fmt::format("negotiated frame_max = {} is higher than the maximum allowed "
                        "value ({})",
                        m.frame_max, cfg.frame_max));
    if (cfg.channel_max != 0 && m.channel_max > cfg.channel_max)
        return refuse(
            fmt::format("negotiated channel_max = {} is higher than the maximum "
                        "allowed value ({})",
                        m.channel_max, cfg.channel_max));
    _frame_max = m.frame_max ? m.frame_max : cfg.frame_max;
    _channel_max = m.channel_max ? m.channel_max : (cfg.channel_max ? cfg.channel_max : 65535);
    _heartbeat = m.heartbeat;
    _state = state::awaiting_open;
}

void session::on_open(const connection_open& m) {
    auth::user_db& users = _server.auth().users;
    core::vhost* vh = broker().find_vhost(m.virtual_host);
    auto refuse = [&](std::string text) {
        core::error e = make_error(rc::not_allowed, std::move(text));
        WLOG_WARN("amqp connection id={} peer={} user '{}': {}", _id, _peer, _user, e.text);
        append_method_frame(
            _out, 0,
            connection_close{uint16_t(e.code), reply_text(e), connection_open::class_id,
                             connection_open::method_id});
        _state = state::closing;
        _closing_deadline = _now + closing_timeout_ms;
    };
    // In RabbitMQ's order (rabbit_reader, connection.open): the node's connection limit, the
    // vhost's (which also finds a missing vhost), the user's, then access to the vhost.
    const settings& cfg = _server.config();
    if (cfg.connection_max && cfg.node_connections && cfg.node_connections() > cfg.connection_max)
        return refuse(fmt::format("connection refused: node connection limit ({}) is reached",
                                  cfg.connection_max));
    if (!vh) return refuse(fmt::format("vhost '{}' not found", m.virtual_host));
    if (auto limit = vh->connection_limit_reached())
        return refuse(fmt::format(
            "access to vhost '{}' refused for user '{}': connection limit ({}) is reached",
            m.virtual_host, _user, *limit));
    if (auto limit = users.connection_limit_reached(_user))
        return refuse(
            fmt::format("Connection refused for user '{}': user connection limit ({}) is reached",
                        _user, *limit));
    if (!users.find(_user) || !users.may_access(_user, m.virtual_host))
        return refuse(
            fmt::format("access to vhost '{}' refused for user '{}'", m.virtual_host, _user));
    _vhost = vh;
    _opened = true;
    _access = std::make_unique<auth::user_access>(users, _user, vh->name());
    users.connection_opened(_user);
    _counted = true;
    vh->connection_opened(
        _id, _user,
        [this](std::string_view reason) {
            close_forced(reason);  // RabbitMQ: 320 "CONNECTION_FORCED - vhost 'v' is deleted"
            _vhost = nullptr;      // release() has forgotten us there; the vhost may be going away
        },
        [this] { return info(); }, [this] { return io(); });
    _state = state::open;
    send(connection_open_ok{});
    broker().add_alarm_listener(this);
    _alarm_listening = true;
    _alarms = broker().alarms();
    WLOG_INFO(
        "amqp connection id={} peer={}: user '{}' authenticated and granted access to "
        "vhost '{}'",
        _id, _peer, _user, vh->name());
    _last_recv = _now;  // the transport re-arms the timer with the heartbeat period
}

void session::on_close(const connection_close& m) {
    WLOG_INFO("amqp connection id={} peer={} closed by client ({} {})", _id, _peer, m.reply_code,
              m.reply_text);
    release();
    append_method_frame(_out, 0, connection_close_ok{});
    _input_dead = true;
    close_socket(false);
}

void session::handshake_failed(const core::error& e) {
    WLOG_WARN("amqp connection id={} peer={} handshake failed in state {}: {}", _id, _peer,
              state_name(int(_state)), e.text);
    if (_state == state::awaiting_tune_ok || _state == state::awaiting_open) {
        append_method_frame(_out, 0, connection_close{uint16_t(e.code), reply_text(e), 0, 0});
    }
    _input_dead = true;
    close_socket(false);
}

// ---------------------------------------------------------------------------------------------
// Errors and closing

bool session::client_capability(std::string_view name) const {
    auto* caps = core::find(_client_properties, "capabilities");
    if (!caps) return false;
    auto* t = caps->as_table();
    if (!t) return false;
    auto* v = core::find(*t, name);
    if (!v) return false;
    auto b = v->as_bool();
    return b && *b;
}

void session::connection_error(const method_error& e) {
    if (_state == state::closing || _state == state::closed) return;
    WLOG_WARN(
        "amqp connection id={} peer={} user '{}': connection error (class {} method {}): "
        "{}",
        _id, _peer, _user, e.class_id, e.method_id, e.err.text);
    if (_state != state::open) {
        handshake_failed(e.err);
        return;
    }
    release();
    append_method_frame(
        _out, 0,
        connection_close{uint16_t(e.err.code), reply_text(e.err), e.class_id, e.method_id});
    output_appended();
    _state = state::closing;
    _closing_deadline = _now + closing_timeout_ms;
}

void session::force_close(std::string_view reason) {
    close_forced(fmt::format("broker forced connection closure with reason '{}'", reason));
}

void session::close_forced(std::string_view explanation) {
    if (_state == state::closed) return;
    if (_state != state::open) {
        release();
        close_socket(_state != state::closing);
        return;
    }
    WLOG_INFO("amqp connection id={} peer={} closing: {}", _id, _peer, explanation);
    release();
    auto e = make_error(rc::connection_forced, std::string(explanation));
    append_method_frame(_out, 0, connection_close{uint16_t(e.code), reply_text(e), 0, 0});
    _state = state::closing;
    _closing_deadline = _now + shutdown_timeout_ms;
    signal_output();
}

void session::connection_closed() {
    _state = state::closed;
    _input_dead = true;
    release();
}

void session::release() {
    if (_released) return;
    _released = true;
    if (_alarm_listening) broker().remove_alarm_listener(this);
    _alarm_listening = false;
    _flow.reset();
    _channels.for_each([](channel& ch) { ch.release(); });
    if (_vhost) _vhost->connection_closed(_id);
    auth::user_db& users = _server.auth().users;
    for (; _user_channels > 0; --_user_channels) users.channel_closed(_user);
    if (_counted) users.connection_closed(_user);
    _counted = false;
}

// A graceful close (now == false) never resets the peer: the transport writes what is pending,
// shuts down its sending side and discards input until the client closes (amqplib puts
// connection.close on the wire before its last buffered publishes; a reset would lose our
// close-ok), as RabbitMQ's reader does. `now` drops pending output (timeouts).
void session::close_socket(bool now) {
    _state = state::closed;
    _input_dead = true;
    release();
    if (now)
        _io.close_now();
    else
        _io.close_requested();
}

// RabbitMQ waits for the client at most the heartbeat interval (if shorter than 30 s) or 30 s;
// a connection that never opened gets a short grace.
uint64_t session::close_grace_ms() const {
    if (!_opened) return closing_timeout_ms;
    if (_heartbeat > 0 && _heartbeat < 30) return uint64_t(_heartbeat) * 1000;
    return 30'000;
}

void session::channel_finished(uint16_t id) {
    _finished.push_back(id);
}

// ---------------------------------------------------------------------------------------------
// Output

void session::output_appended() {
    // The transport flushes after the batch; and once told, it takes the output (take_output)
    // before it needs telling again: one call per write, not one per delivery.
    if (_in_batch || _output_signalled) return;
    signal_output();
}

void session::signal_output() {
    _output_signalled = true;
    _io.output_ready();
}

net::output_batch session::take_output() {
    _output_signalled = false;
    net::output_batch b;
    b.bytes.swap(_out);
    if (!b.bytes.empty()) {
        ++_send_cnt;
        _send_oct += b.bytes.size();
    }
    if (_spare.capacity() > 0) _out.swap(_spare);  // reuse the buffer of the previous write
    _last_send = _now;
    return b;
}

void session::recycle(std::string&& written) {
    const size_t n = written.size();
    written.clear();
    // A small write that drains the connection ends a burst: give large buffers back, so an idle
    // connection does not keep a burst's memory. Under load keep the written buffer as the spare
    // for the next batch (no allocation, no regrowth per write).
    if (_out.empty() && n < keep_out_capacity / 8) {
        if (_out.capacity() > keep_out_capacity) std::string().swap(_out);
        if (_spare.capacity() > keep_out_capacity) std::string().swap(_spare);
        if (written.capacity() > keep_out_capacity) return;  // freed with `written`
    }
    if (written.capacity() <= 4 * output_limit && _spare.capacity() < written.capacity())
        _spare = std::move(written);
}

void session::on_output_drained() {
    if (_consumers_blocked && !output_full() && _state == state::open) {
        _consumers_blocked = false;
        resume_consumers();
    }
}

void session::trim_idle_buffers() {
    if (!_out.empty() || _io.bytes_in_flight() != 0) return;
    std::string().swap(_out);
    std::string().swap(_spare);
    std::string().swap(_scratch);
}

bool session::holds_unacked() const {
    for (uint16_t id : _active)
        if (const channel* ch = _channels.find(id); ch && ch->holds_unacked()) return true;
    return false;
}

void session::resume_consumers() {
    bool was = _in_batch;
    _in_batch = true;  // collect everything resumed into one write
    for (size_t i = 0; i < _active.size(); ++i) {
        uint16_t id = _active[i];
        if (channel* ch = _channels.find(id)) ch->resume_consumers();
    }
    _in_batch = was;
    if (!_out.empty()) signal_output();
}

void session::end_of_batch() {
    for (size_t i = 0; i < _active.size(); ++i) {
        uint16_t id = _active[i];
        if (channel* ch = _channels.find(id)) ch->end_of_batch();
    }
}

// ---------------------------------------------------------------------------------------------
// Resource alarms (RabbitMQ's rabbit_reader throttle: blocking, then blocked at a publish)

void session::block() {
    if (_blocked || _state != state::open) return;
    _blocked = true;
    _io.hold_input(net::input_hold::alarm, _blocked);
    const std::string reason = core::blocked_reason(_alarms);
    if (client_capability("connection.blocked")) {
        send(connection_blocked{reason});
        _blocked_sent = true;
    }
    WLOG_INFO("amqp connection id={} peer={} blocked: {}", _id, _peer, reason);
}

void session::unblock() {
    if (!_blocked) return;
    _blocked = false;
    _last_recv = _now;  // the heartbeat monitor starts again from now
    if (_state == state::open && _blocked_sent) send(connection_unblocked{});
    _blocked_sent = false;
    _io.hold_input(net::input_hold::alarm, _blocked);
    WLOG_INFO("amqp connection id={} peer={} unblocked", _id, _peer);
}

void session::flow_changed() {
    if (!_flow.held()) _last_recv = _now;  // not read while held: heartbeats count from now
    _io.hold_input(net::input_hold::flow, _flow.held());
}

void session::alarms_changed(core::alarm_set now) {
    _alarms = now;
    if (now.empty()) unblock();
}

std::string_view session::flow_state() const {
    if (_state == state::open && !_blocked && _flow.held()) return "flow";
    return core::flow_state(_state == state::open ? _alarms : core::alarm_set{}, _blocked);
}

// ---------------------------------------------------------------------------------------------
// Heartbeats and timeouts

uint64_t session::timer_interval_ms() const {
    switch (_state) {
        case state::open: {
            uint64_t iv = _heartbeat ? std::max<uint64_t>(250, uint64_t(_heartbeat) * 1000 / 4) : 0;
            // consumer_timeout: checked every second while any channel holds a delivery.
            if (_server.config().consumer_timeout_ms && (iv == 0 || iv > 1000) && holds_unacked())
                iv = 1000;
            if (const uint64_t f = _flow.timer_interval_ms(); f != 0 && (iv == 0 || iv > f)) iv = f;
            return iv;
        }
        case state::closed:
            return 0;
        default:
            return 1000;
    }
}

void session::on_timer(uint64_t now_ms) {
    _now = now_ms;
    switch (_state) {
        case state::awaiting_header:
        case state::awaiting_start_ok:
        case state::awaiting_tune_ok:
        case state::awaiting_open:
            if (_now - _started > handshake_timeout_ms) {
                WLOG_WARN("amqp connection id={} peer={} handshake timeout", _id, _peer);
                close_socket(true);
            }
            return;
        case state::closing:
            if (_now >= _closing_deadline) close_socket(true);
            return;
        case state::open: {
            _flow.on_timer(_now);
            if (const uint64_t t = _server.config().consumer_timeout_ms) {
                for (size_t i = 0; i < _active.size(); ++i)
                    if (channel* ch = _channels.find(_active[i])) ch->check_ack_timeout(_now, t);
            }
            if (_heartbeat == 0) return;
            uint64_t hb = uint64_t(_heartbeat) * 1000;
            if (_now - _last_recv > 2 * hb && !_io.input_held()) {
                WLOG_WARN(
                    "amqp connection id={} peer={}: missed heartbeats from client, "
                    "timeout: {}s",
                    _id, _peer, _heartbeat);
                close_socket(true);
                return;
            }
            // Nothing received or sent for a tick: give the output buffers back.
            uint64_t tick = timer_interval_ms();
            if (_now - _last_recv >= tick && _now - _last_send >= tick) trim_idle_buffers();
            if (_now - _last_send >= hb / 2 && _io.bytes_in_flight() == 0) {
                append_heartbeat(_out);
                signal_output();
            }
            return;
        }
        case state::closed:
            return;
    }
}

}  // namespace warren::amqp

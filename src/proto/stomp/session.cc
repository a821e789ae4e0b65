#include "proto/stomp/session.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <random>

#include <fmt/format.h>

#include "base/log.h"
#include "core/vhost.h"
#include "proto/stomp/properties.h"

namespace warren::stomp {

namespace {

bool parse_u64(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// A header RabbitMQ reads with list_to_integer (after trimming spaces): an optional sign, then
// digits. Anything else crashes its processor ("Processing error").
bool parse_erlang_integer(std::string_view s, int64_t& out) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "a@@b@@c" -> {"a", "b", "c"}; RabbitMQ's message-ids have exactly three parts.
std::vector<std::string_view> split_message_id(std::string_view s) {
    std::vector<std::string_view> parts;
    for (;;) {
        size_t at = s.find("@@");
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 2);
    }
}

// The consumer tag and description RabbitMQ gives a SUBSCRIBE/UNSUBSCRIBE frame.
struct subscription_key {
    std::string tag;          // T_<id> or Q_<destination>
    std::string description;  // id='<id>' or destination='<destination>'
};
std::optional<subscription_key> key_of(const frame& f) {
    if (const std::string* id = f.get("id"))
        return subscription_key{"T_" + *id, "id='" + *id + "'"};
    if (const std::string* d = f.get("destination")) {
        return subscription_key{"Q_" + *d, "destination='" + *d + "'"};
    }
    return std::nullopt;
}

// A `host` header that names this machine rather than a vhost (stomp.py and others send the
// host they dialled). Used only when no vhost of that name exists.
bool looks_like_hostname(std::string_view h) {
    if (h == "localhost") return true;
    if (h.find('.') != std::string_view::npos) return true;  // DNS names and IPv4 literals
    if (h.find(':') != std::string_view::npos) return true;  // IPv6 literals
    return false;
}

uint64_t fnv1a(std::string_view s, uint64_t h) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::mt19937_64& rng() {
    static thread_local std::mt19937_64 r{std::random_device{}()};
    return r;
}

constexpr std::string_view k_supported_versions = "1.0,1.1,1.2";
constexpr std::string_view k_temp_queue_prefix = "/temp-queue/";

constexpr std::array<std::string_view, 6> k_int_queue_args = {
    "x-expires",          "x-message-ttl",  "x-max-length",
    "x-max-length-bytes", "x-max-priority", "x-delivery-limit"};
constexpr std::array<std::string_view, 5> k_str_queue_args = {
    "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-overflow", "x-queue-type",
    "x-queue-mode"};

}  // namespace

// One SUBSCRIBE: a core consumer on one queue.
class session::subscription : public core::consumer {
public:
    subscription(session& s, std::string id, uint64_t serial)
        : _s(s), id(std::move(id)), serial(serial) {}

    bool can_accept() const override {
        if (cancelled || _s._closing) return false;
        if (mode != ack_mode::auto_ack && prefetch != 0 && outstanding >= prefetch) return false;
        if (_s._out.bytes.size() >= _s._settings.output_high_water) {
            _s._paused = true;
            return false;
        }
        return true;
    }
    void deliver(core::delivery d) override { _s.deliver(*this, std::move(d)); }
    void cancelled_by_broker() override { _s.subscription_cancelled(*this); }

    session& _s;
    std::string id;           // the id header (or the destination, for a SUBSCRIBE without id)
    std::string description;  // id='<id>' or destination='<destination>', for ERROR texts
    bool has_id = true;       // MESSAGE frames name the subscription only if it had an id
    uint64_t serial;
    ack_mode mode = ack_mode::auto_ack;
    uint64_t prefetch = 0;  // 0 = unlimited
    uint64_t outstanding = 0;
    core::queue_ptr q;
    bool durable = false;
    bool cancelled = false;  // the queue went away
};

session::session(core::broker& b, auth::authority& a, const session_settings& s, session_io& io,
                 std::string peer, std::string cert_login, std::string local_address)
    : _broker(b),
      _auth(a),
      _settings(s),
      _io(io),
      _peer(std::move(peer)),
      _cert_login(std::move(cert_login)),
      _local(std::move(local_address)),
      _connected_at_ms(b.wall_ms()),
      _parser(s.frame_limits) {
    _conn_id = _broker.next_connection_id();
    _flow.set_connection_id(_conn_id);
    _session_id = fmt::format("session-{}-{:08x}", _conn_id, static_cast<uint32_t>(rng()()));
}

core::connection_info session::info() const {
    core::connection_info i;
    i.protocol = fmt::format("STOMP {}", version_name(_version));
    i.state = !_blocked && _flow.held() ? "flow" : core::flow_state(_alarms, _blocked);
    std::string_view peer = _peer;
    for (std::string_view prefix : {"tls:", "wss:", "ws:"}) {
        if (peer.starts_with(prefix)) {
            peer.remove_prefix(prefix.size());
            i.tls = prefix != "ws:";
            i.websocket = prefix != "tls:";
            break;
        }
    }
    i.peer_address = std::string(peer);
    i.local_address = _local;
    i.connected_at_ms = _connected_at_ms;
    i.io = io();
    // RabbitMQ's STOMP plugin works through one channel per connection: show one.
    core::channel_info ch;
    ch.number = 1;
    ch.messages_unacknowledged = _unacked.size();
    for (const auto& [tag, sub] : _subs)
        ch.consumers.push_back({tag, sub->q ? sub->q->name() : std::string(),
                                sub->mode != ack_mode::auto_ack, sub->exclusive,
                                static_cast<uint32_t>(sub->prefetch), sub->priority});
    i.channels.push_back(std::move(ch));
    return i;
}

session::~session() {
    connection_closed();
}

// ---------------------------------------------------------------------------------------------
// input

size_t session::on_bytes(std::string_view data, uint64_t now_ms) {
    _graveyard.clear();
    const size_t all = data.size();  // the parser keeps what it has not finished
    // After DISCONNECT nothing more is read, even while its receipt waits for the store.
    if (_closing || _closed || _close_after_receipts) return all;
    _last_read_ms = now_ms;
    _now_ms = now_ms;
    ++_recv_cnt;
    _recv_oct += all;  // the parser consumes every byte (it buffers partial frames itself)
    while (!data.empty() && !_closing && !_close_after_receipts) {
        parse_result r = _parser.parse(data);
        data.remove_prefix(r.consumed);
        if (r.status == parse_status::frame_ready) {
            frame f = _parser.take_frame();
            handle(f);
        } else if (r.status == parse_status::error) {
            WLOG_INFO("stomp bad frame peer={} error=\"{}: {}\"", _peer, _parser.error().message,
                      _parser.error().detail);
            const parse_error& pe = _parser.error();
            send_error(pe.body_size ? errors::message_too_large(
                                          pe.body_size, _settings.frame_limits.max_body_size)
                                    : failure{pe.message, pe.detail},
                       nullptr);
            close();
        } else {
            break;
        }
    }
    if (_connected && !_closing) _flow.end_of_batch(_now_ms);
    return all;
}

void session::handle(frame& f) {
    status s = dispatch(f);
    if (!s) {
        WLOG_INFO("stomp error peer={} command={} message=\"{}\" detail=\"{}\"", _peer,
                  f.command_text, s.error().message, s.error().detail);
        send_error(s.error(), &f);
        close();
    }
}

status session::dispatch(frame& f) {
    if (!_connected && f.cmd != command::connect && f.cmd != command::stomp) {
        return errors::illegal_command();
    }
    switch (f.cmd) {
        case command::connect:
        case command::stomp:
            return handle_connect(f);
        case command::send: {
            status st = handle_send(f);
            if (!_alarms.empty() && !_blocked && !_closing) {
                _blocked = true;
                _io.hold_input(net::input_hold::alarm, _blocked);
                WLOG_INFO("stomp connection blocked peer={}: {}", _peer,
                          core::blocked_reason(_alarms));
            }
            return st;
        }
        case command::subscribe:
            return handle_subscribe(f);
        case command::unsubscribe:
            return handle_unsubscribe(f);
        case command::ack:
            return handle_ack(f, true);
        case command::nack:
            return handle_ack(f, false);
        case command::begin:
            return handle_begin(f);
        case command::commit:
            return handle_commit(f);
        case command::abort:
            return handle_abort(f);
        case command::disconnect:
            return handle_disconnect(f);
        case command::connected:
        case command::message:
        case command::receipt:
        case command::error:
        case command::unknown:
            break;
    }
    return errors::bad_command(f.command_text);
}

// ---------------------------------------------------------------------------------------------
// CONNECT / STOMP

status session::handle_connect(const frame& f) {
    if (_connected) return failure{"Already connected", "CONNECT sent on a connected session"};

    // Version: the highest both sides support; 1.0 when the client does not say.
    version v = version::v1_0;
    if (const std::string* av = f.get("accept-version")) {
        bool any = false;
        std::string_view rest = *av;
        while (!rest.empty()) {
            size_t comma = rest.find(',');
            std::string_view item = rest.substr(0, comma);
            while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
            while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
            version iv;
            bool known = true;
            if (item == "1.0")
                iv = version::v1_0;
            else if (item == "1.1")
                iv = version::v1_1;
            else if (item == "1.2")
                iv = version::v1_2;
            else
                known = false;
            if (known && (!any || iv > v)) v = iv;
            any = any || known;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        // The ERROR carries the version header listing what we speak, as the spec asks.
        if (!any) return errors::version_mismatch();
    }

    // Authentication (before heart-beats and the vhost, in RabbitMQ's order).
    const std::string* login = f.get("login");
    const std::string* passcode = f.get("passcode");
    std::string user = login ? *login : _settings.default_user;
    std::string pass = login ? (passcode ? *passcode : std::string()) : _settings.default_pass;
    if (!login && !_cert_login.empty()) {
        // A verified TLS client certificate names the user: no password (the user must exist).
        user = _cert_login;
        if (!_auth.users.find(user)) {
            WLOG_WARN(
                "stomp login refused peer={}: user '{}' (from the client certificate) "
                "does not exist",
                _peer, user);
            return errors::access_refused(user);
        }
    } else {
        if (user.empty()) return errors::missing_login();
        if (auto wait = _auth.logins.locked_out(_peer, _last_read_ms)) {
            WLOG_WARN(
                "stomp login refused peer={}: user '{}' - too many failed logins from this "
                "address, locked out for {} ms more",
                _peer, user, *wait);
            return errors::access_refused(user);
        }
        if (!_auth.users.authenticate(user, pass)) {
            uint64_t lock = _auth.logins.failed(_peer, _last_read_ms);
            WLOG_WARN("stomp login refused peer={}: user '{}' - invalid credentials{}", _peer, user,
                      lock ? fmt::format(" (too many failures: address locked out for {} ms)", lock)
                           : "");
            return errors::access_refused(user);
        }
        _auth.logins.succeeded(_peer);
    }

    // The node's connection limit, as RabbitMQ checks it before the vhost's.
    if (_settings.connection_max && _settings.node_connections &&
        _settings.node_connections() > _settings.connection_max) {
        WLOG_WARN("stomp login refused peer={}: user '{}' - node connection limit ({}) reached",
                  _peer, user, _settings.connection_max);
        return errors::node_connection_limit(_settings.connection_max);
    }

    // Virtual host.
    std::string host = _settings.default_vhost;
    if (const std::string* h = f.get("host")) host = *h;
    core::vhost* vh = _broker.find_vhost(host);
    if (!vh && f.get("host") && looks_like_hostname(host)) {
        host = _settings.default_vhost;
        vh = _broker.find_vhost(host);
    }
    if (!vh) return errors::vhost_access_denied(host);
    // RabbitMQ's direct connection: the vhost's and the user's connection limits, access to
    // the vhost, then loopback_users.
    bool over_limit = vh->connection_limit_reached().has_value() ||
                      _auth.users.connection_limit_reached(user).has_value();
    if (over_limit || !_auth.users.may_access(user, host)) {
        WLOG_WARN("stomp login refused peer={}: user '{}' - access to vhost '{}' not allowed{}",
                  _peer, user, host, over_limit ? " (connection limit)" : "");
        return errors::vhost_access_denied(host);
    }
    if (!_auth.users.may_connect_from(user, _peer)) {
        WLOG_WARN(
            "stomp login refused peer={}: user '{}' - this user's access is restricted to "
            "localhost",
            _peer, user);
        return errors::non_loopback();
    }

    // Heart-beats: cx = what the client can send, cy = what it wants to receive.
    uint64_t cx = 0, cy = 0;
    if (const std::string* hb = f.get("heart-beat")) {
        size_t comma = hb->find(',');
        if (comma == std::string::npos || !parse_u64(std::string_view(*hb).substr(0, comma), cx) ||
            !parse_u64(std::string_view(*hb).substr(comma + 1), cy)) {
            WLOG_INFO("stomp bad heart-beat header peer={} value=\"{}\"", _peer, *hb);
            return errors::processing_error();
        }
    }
    uint64_t sx = 0, sy = 0;
    if (cy) {
        sx = _settings.heartbeat_max_ms ? std::min<uint64_t>(cy, _settings.heartbeat_max_ms) : cy;
        sx = std::max<uint64_t>(sx, _settings.heartbeat_min_ms);
    }
    if (cx) sy = std::max<uint64_t>(cx, _settings.heartbeat_min_ms);

    _connected = true;
    _version = v;
    _parser.set_version(v);
    _user = user;
    _vhost = vh;
    _vhost_name = host;
    _access = std::make_unique<auth::user_access>(_auth.users, user, vh->name());
    _auth.users.connection_opened(user);
    _counted = true;
    vh->connection_opened(
        _conn_id, user,
        [this](std::string_view reason) {
            force_close(reason);
            _vhost = nullptr;  // the vhost is going away; connection_closed() forgot us there
        },
        [this] { return info(); }, [this] { return io(); });
    _broker.add_alarm_listener(this);
    _alarm_listening = true;
    _alarms = _broker.alarms();
    _send_interval = sx;
    _recv_interval = sy;
    _last_write_ms = _last_read_ms;

    begin_output();
    writer w(_out.bytes, _version);
    w.begin(command::connected)
        .header("session", _session_id)
        .header("heart-beat", fmt::format("{},{}", sx, sy))
        .header("server", _settings.server_name)
        .header("version", version_name(v));
    w.end();
    end_output();
    WLOG_INFO("stomp connection opened peer={} user={} vhost={} version={}", _peer, _user,
              _vhost_name, version_name(v));
    return {};
}

// ---------------------------------------------------------------------------------------------
// SEND

status session::handle_send(frame& f) {
    // RabbitMQ's order: forbidden header, destination, then the transaction.
    if (f.has("message-id")) return errors::header_not_allowed("message-id", "SEND");
    const std::string* dest = f.get("destination");
    if (!dest) return errors::missing_destination("SEND");
    auto d = parse_destination(*dest);
    if (!d) return d.error();
    if (d->kind == dest_kind::temp_queue) return errors::destination_not_allowed(*dest, "SEND");
    if (const std::string* tx = f.get("transaction")) {
        std::string name = *tx;
        return buffer_in_transaction(name, std::move(f));
    }
    status s = publish(f);
    if (!s) return s;
    send_receipt(f);
    return {};
}

status session::buffer_in_transaction(const std::string& tx, frame&& f) {
    auto it = _transactions.find(tx);
    if (it == _transactions.end()) return errors::bad_transaction(tx);
    // Applied, and its receipt sent, at COMMIT.
    std::erase_if(f.headers, [](const header& h) { return h.first == "transaction"; });
    it->second.push_back(std::move(f));
    return {};
}

status session::queue_args(const frame& f, core::field_table& args) const {
    for (std::string_view name : k_int_queue_args) {
        if (const std::string* v = f.get(name)) {
            int64_t n = 0;
            if (!parse_erlang_integer(*v, n)) {
                WLOG_INFO("stomp bad queue argument peer={} {}=\"{}\"", _peer, name, *v);
                return errors::processing_error();
            }
            args.emplace_back(std::string(name), core::field_value{n});
        }
    }
    for (std::string_view name : k_str_queue_args) {
        if (const std::string* v = f.get(name)) {
            args.emplace_back(std::string(name), core::field_value{*v});
        }
    }
    return {};
}

status session::ensure_temp_queue(const std::string& label, std::string& queue_name) {
    auto it = _temp_queues.find(label);
    if (it != _temp_queues.end()) {
        queue_name = it->second;
        return {};
    }
    core::queue_decl d;
    d.exclusive = true;
    d.auto_delete = true;
    auto r = _vhost->declare_queue(d, _conn_id, _access.get());
    if (!r) return render(r.error());
    queue_name = r->q->name();
    // The reply queue is consumed by an internal auto-ack subscription named after the label.
    std::string sub_id = "/temp-queue/" + label;
    auto sub = std::make_unique<subscription>(*this, sub_id, _next_sub_serial++);
    sub->tag = "T_" + sub_id;
    sub->description = "id='" + sub_id + "'";
    sub->no_ack = true;
    sub->connection_id = _conn_id;
    sub->q = r->q;
    if (auto a = r->q->add_consumer(sub.get()); !a) return render(a.error());
    subscription* raw = sub.get();
    _subs[raw->tag] = std::move(sub);
    _temp_queues[label] = queue_name;
    raw->q->dispatch();
    return {};
}

status session::publish(frame& f) {
    auto d = parse_destination(*f.get("destination"));
    if (!d) return d.error();

    std::string exchange, routing_key;
    switch (d->kind) {
        case dest_kind::queue:
            if (!_declared_queues.count(d->name)) {
                core::queue_decl decl;
                decl.name = d->name;
                decl.durable = f.boolean("durable", true);
                decl.auto_delete = f.boolean("auto-delete", false);
                decl.exclusive = f.boolean("exclusive", false);
                if (status a = queue_args(f, decl.args); !a) return a;
                auto r = _vhost->declare_queue(decl, _conn_id, _access.get());
                if (!r) return render(r.error());
                _declared_queues.insert(d->name);
            }
            routing_key = d->name;
            break;
        case dest_kind::amq_queue:
        case dest_kind::reply_queue:
            routing_key = d->name;
            break;
        case dest_kind::topic:
            exchange = "amq.topic";
            routing_key = d->key;
            break;
        case dest_kind::exchange:
            exchange = d->name;
            routing_key = d->key;
            break;
        case dest_kind::temp_queue:
            return errors::destination_not_allowed(*f.get("destination"), "SEND");
    }

    auto msg = std::make_shared<core::message>();
    if (status p = headers_to_properties(f, msg->props); !p) return p;
    if (msg->props.reply_to && msg->props.reply_to->rfind("/temp-queue/", 0) == 0) {
        std::string label = msg->props.reply_to->substr(12);
        std::string qname;
        status s = ensure_temp_queue(label, qname);
        if (!s) return s;
        msg->props.reply_to = "/reply-queue/" + qname;
    }
    if (msg->props.user_id && *msg->props.user_id != _user) {
        return render({core::reply_code::precondition_failed,
                       fmt::format("user_id property set to '{}' but authenticated user was "
                                   "'{}'",
                                   *msg->props.user_id, _user)});
    }
    msg->exchange = exchange;
    msg->routing_key = routing_key;
    msg->body = std::move(f.body);
    core::vhost::publish_info info;
    auto r = _vhost->publish(exchange, std::move(msg), &info, _access.get());
    if (!r) return render(r.error());
    if (info.behind) _flow.note(std::move(info.behind));
    _store_seq = std::max(_store_seq, info.store_seq);
    return {};
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE / UNSUBSCRIBE

// A SUBSCRIBE or UNSUBSCRIBE that asks for a durable subscription must name it.
status session::check_durable_id(const frame& f) const {
    bool durable = f.boolean("durable", false) || f.boolean("persistent", false);
    if (durable && !f.has("id")) return errors::durable_subscription_without_id();
    return {};
}

status session::handle_subscribe(const frame& f) {
    if (status s = check_durable_id(f); !s) return s;
    const std::string* dest_text = f.get("destination");
    if (!dest_text) return errors::missing_destination("SUBSCRIBE");
    auto d = parse_destination(*dest_text);
    if (!d) return d.error();

    // Headers RabbitMQ parses without checking: a bad value is a "Processing error".
    uint64_t prefetch = 0;
    if (const std::string* p = f.get("prefetch-count")) {
        int64_t n = 0;
        if (!parse_erlang_integer(*p, n)) {
            WLOG_INFO("stomp bad prefetch-count peer={} value=\"{}\"", _peer, *p);
            return errors::processing_error();
        }
        prefetch = n > 0 ? static_cast<uint64_t>(n) : 0;
    }
    ack_mode mode = ack_mode::auto_ack;
    if (const std::string* a = f.get("ack")) {
        if (*a == "auto") {
            mode = ack_mode::auto_ack;
        } else if (*a == "client") {
            mode = ack_mode::client;
        } else if (*a == "client-individual") {
            mode = ack_mode::client_individual;
        } else {
            WLOG_INFO("stomp bad ack mode peer={} value=\"{}\"", _peer, *a);
            return errors::processing_error();
        }
    }
    if (d->kind == dest_kind::temp_queue) {
        return errors::destination_not_allowed(*dest_text, "SUBSCRIBE");
    }
    const std::string* id_header = f.get("id");
    if (id_header && id_header->starts_with(k_temp_queue_prefix)) {
        return errors::processing_error();  // RabbitMQ reserves these for reply queues
    }
    subscription_key key = *key_of(f);
    if (_subs.count(key.tag)) return errors::duplicate_subscription(key.tag);
    if (_settings.consumer_max && _subs.size() >= _settings.consumer_max)
        return errors::consumer_limit(_settings.consumer_max);
    bool durable_sub = f.boolean("durable", false) || f.boolean("persistent", false);

    core::queue_ptr q;
    switch (d->kind) {
        case dest_kind::queue: {
            core::queue_decl decl;
            decl.name = d->name;
            decl.durable = f.boolean("durable", f.boolean("persistent", true));
            decl.auto_delete = f.boolean("auto-delete", false);
            decl.exclusive = f.boolean("exclusive", false);
            if (status a = queue_args(f, decl.args); !a) return a;
            auto r = _vhost->declare_queue(decl, _conn_id, _access.get());
            if (!r) return render(r.error());
            q = r->q;
            break;
        }
        case dest_kind::amq_queue:
        case dest_kind::reply_queue: {
            auto r = _vhost->queue_for(d->name, _conn_id);
            if (!r) return render(r.error());
            q = *r;
            break;
        }
        case dest_kind::topic:
        case dest_kind::exchange: {
            std::string exchange = d->kind == dest_kind::topic ? "amq.topic" : d->name;
            if (!_vhost->find_exchange(exchange)) {
                return render(_vhost->no_exchange(exchange));
            }
            core::queue_decl decl;
            if (const std::string* qn = f.get("x-queue-name")) {
                decl.name = *qn;
            } else if (durable_sub) {
                // Stable across reconnects: derived from the subscription id and destination.
                std::string stable = *id_header + "\n" + *dest_text;
                decl.name = fmt::format("stomp-subscription-{:016x}{:016x}",
                                        fnv1a(stable, 14695981039346656037ull),
                                        fnv1a(stable, 0x9e3779b97f4a7c15ull));
            } else {
                decl.name = fmt::format("stomp-subscription-{:016x}{:08x}", rng()(),
                                        static_cast<uint32_t>(_conn_id));
            }
            if (durable_sub) {
                decl.durable = true;
                decl.auto_delete = f.boolean("auto-delete", false);
                decl.exclusive = f.boolean("exclusive", false);
            } else {
                decl.durable = false;
                decl.auto_delete = f.boolean("auto-delete", true);
                decl.exclusive = f.boolean("exclusive", true);
            }
            if (status a = queue_args(f, decl.args); !a) return a;
            auto r = _vhost->declare_queue(decl, _conn_id, _access.get());
            if (!r) return render(r.error());
            q = r->q;
            auto b = _vhost->bind_queue(q->name(), exchange, d->key, {}, _conn_id, _access.get());
            if (!b) return render(b.error());
            break;
        }
        case dest_kind::temp_queue:
            return errors::destination_not_allowed(*dest_text, "SUBSCRIBE");
    }
    // basic.consume in RabbitMQ's adapter: read on the queue.
    if (auto r = core::check_access(_access.get(), core::permission::read,
                                    core::resource_kind::queue, q->name());
        !r)
        return render(r.error());

    core::field_table consume_args;
    if (q->is_stream()) {
        // RabbitMQ's adapter consumes with basic.qos(prefetch-count) and ack mode: a stream
        // needs credit and acks (rabbit_stream_queue:consume).
        if (prefetch == 0)
            return render(core::error{core::reply_code::precondition_failed,
                                      "consumer prefetch count is not set for '" +
                                          _vhost->queue_resource(q->name()) + "'"});
        if (mode == ack_mode::auto_ack) {
            WLOG_INFO("stomp auto-ack subscription to stream peer={} queue={}", _peer, q->name());
            return errors::processing_error();
        }
        // x-stream-offset: first | last | next | offset=<n> | timestamp=<seconds>; anything
        // else is ignored (next), as the adapter does.
        if (const std::string* o = f.get("x-stream-offset")) {
            std::string_view v = *o;
            int64_t n = 0;
            if (v == "first" || v == "last" || v == "next") {
                consume_args.emplace_back("x-stream-offset", core::field_value{std::string(v)});
            } else if (v.starts_with("offset=") || v.starts_with("timestamp=")) {
                const bool ts = v.starts_with("timestamp=");
                if (!parse_erlang_integer(std::string(v.substr(ts ? 10 : 7)), n)) {
                    WLOG_INFO("stomp bad x-stream-offset peer={} value=\"{}\"", _peer, v);
                    return errors::processing_error();
                }
                if (ts)
                    consume_args.emplace_back("x-stream-offset",
                                              core::field_value{core::timestamp_value{
                                                  static_cast<uint64_t>(std::max<int64_t>(n, 0))}});
                else
                    consume_args.emplace_back("x-stream-offset", core::field_value{n});
            }
        }
        if (const std::string* fv = f.get("x-stream-filter"))
            consume_args.emplace_back("x-stream-filter", core::field_value{*fv});
        if (const std::string* fv = f.get("x-stream-match-unfiltered"))
            consume_args.emplace_back("x-stream-match-unfiltered",
                                      core::field_value{*fv == "true"});
    }
    auto sub = std::make_unique<subscription>(*this, id_header ? *id_header : *dest_text,
                                              _next_sub_serial++);
    sub->args = std::move(consume_args);
    sub->tag = key.tag;
    sub->description = key.description;
    sub->has_id = id_header != nullptr;
    sub->mode = mode;
    sub->prefetch = prefetch;
    sub->no_ack = mode == ack_mode::auto_ack;
    sub->connection_id = _conn_id;
    sub->q = q;
    sub->durable = durable_sub;
    if (const std::string* pr = f.get("x-priority")) {
        uint64_t p = 0;
        if (parse_u64(*pr, p)) sub->priority = static_cast<int>(std::min<uint64_t>(p, 255));
    }
    if (auto a = q->add_consumer(sub.get()); !a) return render(a.error());
    subscription* raw = sub.get();
    _subs[key.tag] = std::move(sub);
    send_receipt(f);
    raw->q->dispatch();
    return {};
}

status session::handle_unsubscribe(const frame& f) {
    if (status s = check_durable_id(f); !s) return s;
    const std::string* id = f.get("id");
    if (id && id->starts_with(k_temp_queue_prefix)) return errors::unsubscribe_temp_queue_id();
    auto key = key_of(f);
    if (!key) return errors::unsubscribe_without_id();
    auto it = _subs.find(key->tag);
    if (it == _subs.end()) return errors::no_subscription_found(key->description);
    std::unique_ptr<subscription> sub = std::move(it->second);
    _subs.erase(it);
    core::queue_ptr q = sub->q;
    if (!sub->cancelled) q->remove_consumer(sub.get());
    // Deleting a durable subscription: UNSUBSCRIBE with the same durable header.
    bool durable = f.boolean("durable", false) || f.boolean("persistent", false);
    if (durable && sub->durable && !q->deleted()) {
        auto r = _vhost->delete_queue(q->name(), false, false, _conn_id, _access.get());
        if (!r) return render(r.error());
    }
    send_receipt(f);
    return {};
}

// ---------------------------------------------------------------------------------------------
// ACK / NACK

status session::settle(uint64_t tag, const subscription* sub, bool cumulative, bool ack,
                       bool requeue) {
    auto it = _unacked.find(tag);
    if (it == _unacked.end()) {
        return render(core::unknown_delivery_tag(tag));
    }
    uint64_t serial = it->second.sub_serial;
    std::vector<std::pair<core::queue_ptr, uint64_t>> settled;
    if (cumulative) {
        for (auto i = _unacked.begin(); i != _unacked.end() && i->first <= tag;) {
            if (i->second.sub_serial == serial) {
                settled.emplace_back(std::move(i->second.q), i->second.seq);
                i = _unacked.erase(i);
            } else {
                ++i;
            }
        }
    } else {
        settled.emplace_back(std::move(it->second.q), it->second.seq);
        _unacked.erase(it);
    }
    subscription* owner = nullptr;
    for (auto& [id, s] : _subs) {
        if (s->serial == serial) owner = s.get();
    }
    if (owner) owner->outstanding -= std::min<uint64_t>(owner->outstanding, settled.size());

    // `settled` keeps the queues alive until the batch is flushed.
    const core::settle_op op = ack       ? core::settle_op::ack
                               : requeue ? core::settle_op::requeue
                                         : core::settle_op::discard;
    std::vector<core::queue_ptr> touched;
    for (auto& [q, seq] : settled) {
        _settle_batch.add(*q, seq, op);
        if (std::find(touched.begin(), touched.end(), q) == touched.end()) touched.push_back(q);
    }
    _settle_batch.flush();
    (void)sub;
    // Credit came back: let queues hand out more.
    for (auto& q : touched) {
        if (!q->deleted()) q->dispatch();
    }
    return {};
}

status session::handle_ack(const frame& f, bool is_ack) {
    std::string_view what = is_ack ? "ACK" : "NACK";
    std::string_view header_name = _version == version::v1_2 ? "id" : "message-id";
    const std::string* id = f.get(header_name);
    if (!id) return errors::missing_ack_header(what, header_name);
    // <consumer tag>@@<session>@@<delivery tag>, as deliver() writes it.
    std::vector<std::string_view> parts = split_message_id(*id);
    if (parts.size() != 3) return errors::invalid_ack_header(what, header_name);
    int64_t tag = 0;
    if (!parse_erlang_integer(parts[2], tag)) {
        WLOG_INFO("stomp bad delivery tag peer={} {}=\"{}\"", _peer, header_name, *id);
        return errors::processing_error();
    }
    auto sub = _subs.find(std::string(parts[0]));
    if (sub == _subs.end()) return errors::ack_without_subscription(*id);
    if (const std::string* tx = f.get("transaction")) {
        std::string name = *tx;
        return buffer_in_transaction(name, frame(f));
    }
    if (tag < 0) {
        return render(core::unknown_delivery_tag(tag));
    }
    bool cumulative = sub->second->mode == ack_mode::client;
    bool requeue = f.boolean("requeue", true);
    status s = settle(static_cast<uint64_t>(tag), nullptr, cumulative, is_ack, requeue);
    if (!s) return s;
    send_receipt(f);
    return {};
}

// ---------------------------------------------------------------------------------------------
// Transactions

status session::handle_begin(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return errors::missing_transaction("BEGIN");
    _transactions[*tx].clear();  // as RabbitMQ: BEGIN of an open transaction starts it afresh
    send_receipt(f);
    return {};
}

status session::handle_commit(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return errors::missing_transaction("COMMIT");
    auto it = _transactions.find(*tx);
    if (it == _transactions.end()) return errors::bad_transaction(*tx);
    std::vector<frame> frames = std::move(it->second);
    _transactions.erase(it);
    for (frame& b : frames) {
        // Each sends its own receipt, if it asked for one, as it is applied.
        status s = b.cmd == command::send ? handle_send(b) : handle_ack(b, b.cmd == command::ack);
        if (!s) return s;
    }
    send_receipt(f);
    return {};
}

status session::handle_abort(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return errors::missing_transaction("ABORT");
    auto it = _transactions.find(*tx);
    if (it == _transactions.end()) return errors::bad_transaction(*tx);
    _transactions.erase(it);  // receipts the buffered frames asked for are never sent
    send_receipt(f);
    return {};
}

status session::handle_disconnect(const frame& f) {
    send_receipt(f);
    WLOG_INFO("stomp connection closing peer={} reason=disconnect", _peer);
    if (!_held_receipts.empty()) {
        _close_after_receipts = true;  // durable_advanced closes once they are out
        return {};
    }
    close();
    return {};
}

// ---------------------------------------------------------------------------------------------
// deliveries

void session::deliver(subscription& s, core::delivery d) {
    uint64_t tag = _next_tag++;
    std::string message_id = fmt::format("{}@@{}@@{}", s.tag, _session_id, tag);
    const core::message& m = *d.msg;

    begin_output();
    writer w(_out.bytes, _version);
    w.begin(command::message);
    if (s.has_id) w.header("subscription", s.id);
    w.header("destination", format_destination(m.exchange, m.routing_key))
        .header("message-id", message_id)
        .header("redelivered", d.redelivered ? "true" : "false");
    if (_version == version::v1_2 && s.mode != ack_mode::auto_ack) w.header("ack", message_id);
    properties_to_headers(m.props, w);
    w.header("content-length", std::to_string(m.body.size()));
    w.end(m.body);
    end_output();

    if (s.mode != ack_mode::auto_ack) {
        _unacked.emplace(tag, unacked{s.serial, std::move(d.q), d.seq});
        ++s.outstanding;
    }
}

void session::subscription_cancelled(subscription& s) {
    // The queue was deleted under us and has already forgotten this consumer. Tell the client
    // (as RabbitMQ does: an ERROR naming the subscription; the connection stays open), and
    // retire the subscription without freeing it while the queue may still be iterating.
    s.cancelled = true;
    WLOG_INFO("stomp subscription cancelled by broker peer={} id={}", _peer, s.id);
    if (_closing) return;
    header names{"subscription", s.id};
    send_error(
        {"Server cancelled subscription", errors::subscription_cancelled_detail(s.description)},
        nullptr, &names);
    auto it = _subs.find(s.tag);
    if (it != _subs.end() && it->second.get() == &s) {
        _graveyard.push_back(std::move(it->second));
        _subs.erase(it);
    }
}

void session::on_output_drained() {
    if (!_paused || _closing) return;
    _paused = false;
    std::vector<core::queue_ptr> qs;
    for (auto& [id, s] : _subs) {
        if (!s->cancelled) qs.push_back(s->q);
    }
    for (auto& q : qs) {
        if (!q->deleted()) q->dispatch();
    }
}

// ---------------------------------------------------------------------------------------------
// output, heart-beats, close

void session::begin_output() {}

void session::end_output() {
    _out.frame_ends.push_back(_out.bytes.size());
    _last_write_ms = std::max(_last_write_ms, _now_ms);
    if (_out.frame_ends.size() == 1) _io.output_ready();
}

output_batch session::take_output() {
    output_batch b = std::move(_out);
    if (!b.bytes.empty()) {
        ++_send_cnt;
        _send_oct += b.bytes.size();
    }
    _out = output_batch{};
    _out.bytes.swap(_spare);  // keep a warmed-up buffer: no regrowth per batch
    _out.bytes.clear();
    return b;
}

void session::recycle(std::string&& buffer) {
    if (buffer.capacity() > _spare.capacity() && buffer.capacity() <= (8u << 20)) {
        _spare = std::move(buffer);
    }
}

core::persistence* session::persist() const {
    return _vhost ? _vhost->persist() : nullptr;
}

void session::send_receipt(const frame& f) {
    const std::string* r = f.get("receipt");
    if (!r || f.cmd == command::connect || f.cmd == command::stomp || _closed) return;
    core::persistence* p = persist();
    if (_held_receipts.empty() && (!p || p->durable_seq() >= _store_seq)) {
        write_receipt(*r);
        return;
    }
    _held_receipts.push_back({*r, _store_seq});
    if (!_waiting_durable && p) {
        _waiting_durable = true;
        p->wait(this);
    }
}

void session::durable_failed() {
    _waiting_durable = false;
    _held_receipts.clear();
    if (_closed) return;
    force_close(failure{"internal_error",
                        "The message store failed; messages without a RECEIPT may be lost"});
}

void session::write_receipt(const std::string& id) {
    begin_output();
    writer w(_out.bytes, _version);
    w.begin(command::receipt).header("receipt-id", id);
    w.end();
    end_output();
}

void session::durable_advanced(uint64_t durable_seq) {
    _waiting_durable = false;
    if (_closed) return;
    while (!_held_receipts.empty() && _held_receipts.front().store_seq <= durable_seq) {
        write_receipt(_held_receipts.front().id);
        _held_receipts.pop_front();
    }
    if (!_held_receipts.empty()) {
        if (auto* p = persist()) {
            _waiting_durable = true;
            p->wait(this);
        }
    } else if (_close_after_receipts) {
        close();
    }
}

void session::send_error(const failure& e, const frame* cause, const header* extra) {
    begin_output();
    writer w(_out.bytes, _version);
    // RabbitMQ's ERROR headers, then the receipt-id the spec asks for when a frame wanted one.
    w.begin(command::error)
        .header("message", e.message)
        .header("content-type", "text/plain")
        .header("version", k_supported_versions);
    if (extra) w.header(extra->first, extra->second);
    if (cause) {
        if (const std::string* r = cause->get("receipt")) w.header("receipt-id", *r);
    }
    w.header("content-length", std::to_string(e.detail.size()));
    w.end(e.detail);
    end_output();
}

void session::force_close(const failure& why) {
    if (_closed) return;
    if (!_closing) send_error(why, nullptr);
    close();
    connection_closed();
}

void session::force_close(std::string_view reason) {
    force_close(failure{"connection_forced", std::string(reason)});
}

void session::on_message_too_large() {
    WLOG_INFO("stomp bad frame peer={}: WebSocket message exceeds the size limit", _peer);
    force_close(failure{"Frame too large", "WebSocket message exceeds the frame size limit"});
}

void session::close() {
    if (_closing) return;
    _closing = true;
    _io.close_requested();
}

void session::on_start(uint64_t now_ms) {
    _started_ms = _now_ms = _last_read_ms = now_ms;
}

uint64_t session::timer_interval_ms() const {
    if (!_connected && !_closing) return 1000;  // CONNECT timeout
    uint64_t i = 0;
    for (uint64_t v : {_send_interval, _recv_interval}) {
        if (v && (!i || v < i)) i = v;
    }
    if (i) i = std::max<uint64_t>(i / 2, 10);
    if (const uint64_t f = _flow.timer_interval_ms(); f && (!i || f < i)) i = f;
    return i;
}

void session::on_timer(uint64_t now_ms) {
    _graveyard.clear();
    _now_ms = now_ms;
    if (_closing || _closed) return;
    if (!_connected) {
        // A socket that never sends CONNECT is closed, as AMQP closes a silent handshake: idle
        // unauthenticated sockets must not pile up until file descriptors run out.
        if (_settings.connect_timeout_ms && now_ms - _started_ms >= _settings.connect_timeout_ms) {
            WLOG_INFO("stomp connection closing peer={} reason=\"no CONNECT within {} ms\"", _peer,
                      _settings.connect_timeout_ms);
            _io.close_now();
            _closing = true;
        }
        return;
    }
    _flow.on_timer(now_ms);
    if (_recv_interval && !_io.input_held() && now_ms > _last_read_ms &&
        now_ms - _last_read_ms > 2 * _recv_interval) {
        WLOG_INFO("stomp connection closing peer={} reason=\"missed heart-beats\" silent_ms={}",
                  _peer, now_ms - _last_read_ms);
        close();
        return;
    }
    if (_send_interval && now_ms >= _last_write_ms + _send_interval) {
        if (_out.bytes.empty()) {
            _out.bytes.push_back('\n');
            end_output();
        }
        _last_write_ms = now_ms;
    }
}

void session::alarms_changed(core::alarm_set now) {
    _alarms = now;
    if (!now.empty() || !_blocked) return;
    _blocked = false;
    _last_read_ms = _now_ms;  // heart-beats are expected again from now
    WLOG_INFO("stomp connection unblocked peer={}", _peer);
    _io.hold_input(net::input_hold::alarm, _blocked);
}

void session::flow_changed() {
    if (!_flow.held()) _last_read_ms = _now_ms;  // not read while held
    _io.hold_input(net::input_hold::flow, _flow.held());
}

void session::connection_closed() {
    if (_closed) return;
    _closed = true;
    _closing = true;
    if (_alarm_listening) _broker.remove_alarm_listener(this);
    _alarm_listening = false;
    _flow.reset();
    _held_receipts.clear();
    if (_waiting_durable) {
        if (auto* p = persist()) p->cancel_wait(this);
        _waiting_durable = false;
    }
    // Detach consumers first so requeued messages are not handed straight back to us.
    for (auto& [id, s] : _subs) {
        if (!s->cancelled && s->q) s->q->remove_consumer(s.get());
        s->cancelled = true;
    }
    // Requeue everything unacknowledged, per queue, in delivery order.
    std::vector<std::pair<core::queue_ptr, std::vector<uint64_t>>> per_queue;
    for (auto& [tag, u] : _unacked) {
        auto it = std::find_if(per_queue.begin(), per_queue.end(),
                               [&q = u.q](const auto& p) { return p.first == q; });
        if (it == per_queue.end()) {
            per_queue.emplace_back(u.q, std::vector<uint64_t>{u.seq});
        } else {
            it->second.push_back(u.seq);
        }
    }
    _unacked.clear();
    for (auto& [q, seqs] : per_queue) {
        if (!q->deleted()) q->requeue(std::move(seqs));
    }
    if (_vhost) _vhost->connection_closed(_conn_id);
    if (_counted) _auth.users.connection_closed(_user);
    _counted = false;
    _subs.clear();
    _graveyard.clear();
    _transactions.clear();
    if (_connected) WLOG_INFO("stomp connection closed peer={} user={}", _peer, _user);
}

}  // namespace warren::stomp

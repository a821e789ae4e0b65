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

// "true"/"false" header, with a default when absent or unrecognised.
bool flag(const frame& f, std::string_view name, bool dflt) {
    const std::string* v = f.get(name);
    if (!v) return dflt;
    if (*v == "true") return true;
    if (*v == "false") return false;
    return dflt;
}

std::string_view code_name(core::reply_code c) {
    switch (c) {
        case core::reply_code::access_refused:
            return "access_refused";
        case core::reply_code::not_found:
            return "not_found";
        case core::reply_code::resource_locked:
            return "resource_locked";
        case core::reply_code::precondition_failed:
            return "precondition_failed";
        case core::reply_code::frame_error:
            return "frame_error";
        case core::reply_code::syntax_error:
            return "syntax_error";
        case core::reply_code::command_invalid:
            return "command_invalid";
        case core::reply_code::not_allowed:
            return "not_allowed";
        case core::reply_code::not_implemented:
            return "not_implemented";
        case core::reply_code::resource_error:
            return "resource_error";
        case core::reply_code::connection_forced:
            return "connection_forced";
        default:
            return "internal_error";
    }
}

failure from_core(const core::error& e) {
    return {std::string(code_name(e.code)), e.text};
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
    std::string id;
    uint64_t serial;
    ack_mode mode = ack_mode::auto_ack;
    uint64_t prefetch = 0;  // 0 = unlimited
    uint64_t outstanding = 0;
    core::queue_ptr q;
    bool durable = false;
    bool cancelled = false;  // the queue went away
};

session::session(core::broker& b, const session_settings& s, session_io& io, std::string peer)
    : _broker(b), _settings(s), _io(io), _peer(std::move(peer)), _parser(s.frame_limits) {
    _conn_id = _broker.next_connection_id();
    _session_id = fmt::format("session-{}-{:08x}", _conn_id, static_cast<uint32_t>(rng()()));
}

session::~session() {
    connection_closed();
}

// ---------------------------------------------------------------------------------------------
// input

void session::on_bytes(std::string_view data, uint64_t now_ms) {
    _graveyard.clear();
    if (_closing || _closed) return;
    _last_read_ms = now_ms;
    _now_ms = now_ms;
    while (!data.empty() && !_closing) {
        parse_result r = _parser.parse(data);
        data.remove_prefix(r.consumed);
        if (r.status == parse_status::frame_ready) {
            frame f = _parser.take_frame();
            handle(f);
        } else if (r.status == parse_status::error) {
            WLOG_INFO("stomp bad frame peer={} error=\"{}: {}\"", _peer, _parser.error().message,
                      _parser.error().detail);
            send_error({_parser.error().message, _parser.error().detail}, nullptr);
            close();
        } else {
            break;
        }
    }
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
        if (f.cmd == command::unknown) {
            return failure{"Bad command",
                           fmt::format("Could not interpret command {}", f.command_text)};
        }
        return failure{"Illegal command", "You must log in using CONNECT first"};
    }
    switch (f.cmd) {
        case command::connect:
        case command::stomp:
            return handle_connect(f);
        case command::send:
            return handle_send(f);
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
    return failure{"Bad command", fmt::format("Could not interpret command {}", f.command_text)};
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
        if (!any) {
            // Reported with a version header listing what we speak, as the spec asks.
            begin_output();
            writer w(_out.bytes, version::v1_0);
            w.begin(command::error)
                .header("version", k_supported_versions)
                .header("content-type", "text/plain")
                .header("message", "Version mismatch");
            std::string body =
                fmt::format("Supported protocol versions are {}", k_supported_versions);
            w.header("content-length", std::to_string(body.size()));
            w.end(body);
            end_output();
            close();
            return {};
        }
    }

    // Heart-beats: cx = what the client can send, cy = what it wants to receive.
    uint64_t cx = 0, cy = 0;
    if (const std::string* hb = f.get("heart-beat")) {
        size_t comma = hb->find(',');
        if (comma == std::string::npos || !parse_u64(std::string_view(*hb).substr(0, comma), cx) ||
            !parse_u64(std::string_view(*hb).substr(comma + 1), cy)) {
            return failure{"Invalid heart-beat header",
                           fmt::format("heart-beat '{}' is not \"<cx>,<cy>\"", *hb)};
        }
    }
    uint64_t sx = 0, sy = 0;
    if (cy) {
        sx = _settings.heartbeat_max_ms ? std::min<uint64_t>(cy, _settings.heartbeat_max_ms) : cy;
        sx = std::max<uint64_t>(sx, _settings.heartbeat_min_ms);
    }
    if (cx) sy = std::max<uint64_t>(cx, _settings.heartbeat_min_ms);

    // Authentication.
    const std::string* login = f.get("login");
    const std::string* passcode = f.get("passcode");
    std::string user = login ? *login : _settings.default_user;
    std::string pass = login ? (passcode ? *passcode : std::string()) : _settings.default_pass;
    if (user.empty() || !_broker.authenticate(user, pass)) {
        return failure{"Access refused", fmt::format("Authentication failed for user '{}'", user)};
    }

    // Virtual host.
    std::string host = _settings.default_vhost;
    if (const std::string* h = f.get("host")) host = *h;
    core::vhost* vh = _broker.find_vhost(host);
    if (!vh && f.get("host") && looks_like_hostname(host)) {
        host = _settings.default_vhost;
        vh = _broker.find_vhost(host);
    }
    if (!vh) {
        return failure{"Virtual host access denied",
                       fmt::format("Virtual host '{}' does not exist or access was refused", host)};
    }

    _connected = true;
    _version = v;
    _parser.set_version(v);
    _user = user;
    _vhost = vh;
    _vhost_name = host;
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
    if (!f.get("destination")) {
        return failure{"Missing destination", "SEND must include a 'destination' header"};
    }
    if (const std::string* tx = f.get("transaction")) {
        auto it = _transactions.find(*tx);
        if (it == _transactions.end()) {
            return failure{"Bad transaction",
                           fmt::format("Invalid transaction identifier: {}", *tx)};
        }
        send_receipt(f);
        it->second.push_back(std::move(f));
        return {};
    }
    status s = publish(f);
    if (!s) return s;
    send_receipt(f);
    return {};
}

core::field_table session::queue_args(const frame& f) const {
    core::field_table args;
    for (std::string_view name : k_int_queue_args) {
        if (const std::string* v = f.get(name)) {
            uint64_t n = 0;
            if (parse_u64(*v, n)) {
                args.emplace_back(std::string(name), core::field_value{static_cast<int64_t>(n)});
            } else {
                args.emplace_back(std::string(name), core::field_value{*v});
            }
        }
    }
    for (std::string_view name : k_str_queue_args) {
        if (const std::string* v = f.get(name)) {
            args.emplace_back(std::string(name), core::field_value{*v});
        }
    }
    return args;
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
    auto r = _vhost->declare_queue(d, _conn_id);
    if (!r) return from_core(r.error());
    queue_name = r->q->name();
    // The reply queue is consumed by an internal auto-ack subscription named after the label.
    std::string sub_id = "/temp-queue/" + label;
    auto sub = std::make_unique<subscription>(*this, sub_id, _next_sub_serial++);
    sub->tag = "T_" + sub_id;
    sub->no_ack = true;
    sub->connection_id = _conn_id;
    sub->q = r->q;
    if (auto a = r->q->add_consumer(sub.get()); !a) return from_core(a.error());
    subscription* raw = sub.get();
    _subs[sub_id] = std::move(sub);
    _temp_queues[label] = queue_name;
    raw->q->dispatch();
    return {};
}

status session::publish(frame& f) {
    destination_error derr;
    auto d = parse_destination(*f.get("destination"), derr);
    if (!d) return failure{derr.message, derr.detail};

    std::string exchange, routing_key;
    switch (d->kind) {
        case dest_kind::queue:
            if (!_declared_queues.count(d->name)) {
                core::queue_decl decl;
                decl.name = d->name;
                decl.durable = flag(f, "durable", true);
                decl.auto_delete = flag(f, "auto-delete", false);
                decl.exclusive = flag(f, "exclusive", false);
                decl.args = queue_args(f);
                auto r = _vhost->declare_queue(decl, _conn_id);
                if (!r) return from_core(r.error());
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
            return failure{"Invalid destination",
                           "/temp-queue/ destinations are only valid in a reply-to header"};
    }

    auto msg = std::make_shared<core::message>();
    property_error perr;
    if (!headers_to_properties(f, msg->props, perr)) return failure{perr.message, perr.detail};
    if (msg->props.reply_to && msg->props.reply_to->rfind("/temp-queue/", 0) == 0) {
        std::string label = msg->props.reply_to->substr(12);
        std::string qname;
        status s = ensure_temp_queue(label, qname);
        if (!s) return s;
        msg->props.reply_to = "/reply-queue/" + qname;
    }
    if (msg->props.user_id && *msg->props.user_id != _user) {
        return failure{"precondition_failed",
                       fmt::format("PRECONDITION_FAILED - user_id property set to '{}' but "
                                   "authenticated user was '{}'",
                                   *msg->props.user_id, _user)};
    }
    msg->exchange = exchange;
    msg->routing_key = routing_key;
    msg->body = std::move(f.body);
    core::vhost::publish_info info;
    auto r = _vhost->publish(exchange, std::move(msg), &info);
    if (!r) return from_core(r.error());
    _store_seq = std::max(_store_seq, info.store_seq);
    return {};
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE / UNSUBSCRIBE

status session::handle_subscribe(const frame& f) {
    const std::string* dest_text = f.get("destination");
    if (!dest_text) {
        return failure{"Missing destination", "SUBSCRIBE must include a 'destination' header"};
    }
    const std::string* id_header = f.get("id");
    if (!id_header && _version != version::v1_0) {
        return failure{"Missing id", "SUBSCRIBE must include an 'id' header"};
    }
    std::string id = id_header ? *id_header : *dest_text;
    if (_subs.count(id)) {
        return failure{"Duplicated subscription identifier",
                       fmt::format("A subscription identified by '{}' already exists.", id)};
    }
    ack_mode mode = ack_mode::auto_ack;
    if (const std::string* a = f.get("ack")) {
        if (*a == "auto")
            mode = ack_mode::auto_ack;
        else if (*a == "client")
            mode = ack_mode::client;
        else if (*a == "client-individual")
            mode = ack_mode::client_individual;
        else {
            return failure{"Invalid ack mode",
                           fmt::format("ack '{}' is not auto, client or client-individual", *a)};
        }
    }
    uint64_t prefetch = 0;
    if (const std::string* p = f.get("prefetch-count")) {
        if (!parse_u64(*p, prefetch)) {
            return failure{"Invalid prefetch-count",
                           fmt::format("prefetch-count '{}' is not a number", *p)};
        }
    }

    destination_error derr;
    auto d = parse_destination(*dest_text, derr);
    if (!d) return failure{derr.message, derr.detail};
    bool durable_sub = flag(f, "durable", false) || flag(f, "persistent", false);

    core::queue_ptr q;
    switch (d->kind) {
        case dest_kind::queue: {
            core::queue_decl decl;
            decl.name = d->name;
            decl.durable = flag(f, "durable", flag(f, "persistent", true));
            decl.auto_delete = flag(f, "auto-delete", false);
            decl.exclusive = flag(f, "exclusive", false);
            decl.args = queue_args(f);
            auto r = _vhost->declare_queue(decl, _conn_id);
            if (!r) return from_core(r.error());
            q = r->q;
            break;
        }
        case dest_kind::amq_queue:
        case dest_kind::reply_queue: {
            auto r = _vhost->queue_for(d->name, _conn_id);
            if (!r) return from_core(r.error());
            q = *r;
            break;
        }
        case dest_kind::topic:
        case dest_kind::exchange: {
            std::string exchange = d->kind == dest_kind::topic ? "amq.topic" : d->name;
            if (!_vhost->find_exchange(exchange)) {
                return failure{"not_found", fmt::format("NOT_FOUND - no exchange '{}' in vhost "
                                                        "'{}'",
                                                        exchange, _vhost_name)};
            }
            if (durable_sub && !id_header) {
                return failure{"Missing id", "A durable subscription must include an 'id' header"};
            }
            core::queue_decl decl;
            if (const std::string* qn = f.get("x-queue-name")) {
                decl.name = *qn;
            } else if (durable_sub) {
                // Stable across reconnects: derived from the subscription id and destination.
                std::string key = id + "\n" + *dest_text;
                decl.name = fmt::format("stomp-subscription-{:016x}{:016x}",
                                        fnv1a(key, 14695981039346656037ull),
                                        fnv1a(key, 0x9e3779b97f4a7c15ull));
            } else {
                decl.name = fmt::format("stomp-subscription-{:016x}{:08x}", rng()(),
                                        static_cast<uint32_t>(_conn_id));
            }
            if (durable_sub) {
                decl.durable = true;
                decl.auto_delete = flag(f, "auto-delete", false);
                decl.exclusive = flag(f, "exclusive", false);
            } else {
                decl.durable = false;
                decl.auto_delete = flag(f, "auto-delete", true);
                decl.exclusive = flag(f, "exclusive", true);
            }
            decl.args = queue_args(f);
            auto r = _vhost->declare_queue(decl, _conn_id);
            if (!r) return from_core(r.error());
            q = r->q;
            auto b = _vhost->bind_queue(q->name(), exchange, d->key, {}, _conn_id);
            if (!b) return from_core(b.error());
            break;
        }
        case dest_kind::temp_queue:
            return failure{"Invalid destination",
                           "/temp-queue/ destinations are only valid in a reply-to header"};
    }

    auto sub = std::make_unique<subscription>(*this, id, _next_sub_serial++);
    sub->tag = "T_" + id;
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
    if (auto a = q->add_consumer(sub.get()); !a) return from_core(a.error());
    subscription* raw = sub.get();
    _subs[id] = std::move(sub);
    send_receipt(f);
    raw->q->dispatch();
    return {};
}

status session::handle_unsubscribe(const frame& f) {
    const std::string* id = f.get("id");
    if (!id && _version == version::v1_0) id = f.get("destination");
    if (!id) return failure{"Missing id", "UNSUBSCRIBE must include an 'id' header"};
    auto it = _subs.find(*id);
    if (it == _subs.end()) {
        return failure{"Subscription not found",
                       fmt::format("There is no subscription with id '{}'", *id)};
    }
    std::unique_ptr<subscription> sub = std::move(it->second);
    _subs.erase(it);
    core::queue_ptr q = sub->q;
    if (!sub->cancelled) q->remove_consumer(sub.get());
    // Deleting a durable subscription: UNSUBSCRIBE with the same durable header.
    bool durable = flag(f, "durable", false) || flag(f, "persistent", false);
    if (durable && sub->durable && !q->deleted()) {
        auto r = _vhost->delete_queue(q->name(), false, false, _conn_id);
        if (!r) return from_core(r.error());
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
        return failure{"precondition_failed",
                       fmt::format("PRECONDITION_FAILED - unknown delivery tag {}", tag)};
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

    std::vector<core::queue_ptr> touched;
    if (ack || !requeue) {
        for (auto& [q, seq] : settled) {
            if (ack)
                q->ack(seq);
            else
                q->discard(seq);
            if (std::find(touched.begin(), touched.end(), q) == touched.end()) touched.push_back(q);
        }
    } else {
        // Requeue per queue in one call, preserving order.
        while (!settled.empty()) {
            core::queue_ptr q = settled.front().first;
            std::vector<uint64_t> seqs;
            for (auto i = settled.begin(); i != settled.end();) {
                if (i->first == q) {
                    seqs.push_back(i->second);
                    i = settled.erase(i);
                } else {
                    ++i;
                }
            }
            q->requeue(std::move(seqs));
            touched.push_back(q);
        }
    }
    (void)sub;
    // Credit came back: let queues hand out more.
    for (auto& q : touched) {
        if (!q->deleted()) q->dispatch();
    }
    return {};
}

status session::handle_ack(const frame& f, bool is_ack) {
    std::string_view what = is_ack ? "ACK" : "NACK";
    const std::string* id = _version == version::v1_2 ? f.get("id") : f.get("message-id");
    if (!id) id = _version == version::v1_2 ? f.get("message-id") : f.get("id");
    if (!id) {
        return failure{"Missing id",
                       fmt::format("{} must include {} header", what,
                                   _version == version::v1_2 ? "an 'id'" : "a 'message-id'")};
    }
    if (const std::string* tx = f.get("transaction")) {
        auto it = _transactions.find(*tx);
        if (it == _transactions.end()) {
            return failure{"Bad transaction",
                           fmt::format("Invalid transaction identifier: {}", *tx)};
        }
        it->second.push_back(f);
        send_receipt(f);
        return {};
    }
    size_t at = id->rfind("@@");
    uint64_t tag = 0;
    if (at == std::string::npos || !parse_u64(std::string_view(*id).substr(at + 2), tag)) {
        return failure{"Invalid message-id",
                       fmt::format("'{}' is not a message-id issued by this session", *id)};
    }
    auto it = _unacked.find(tag);
    bool cumulative = false;
    if (it != _unacked.end()) {
        for (auto& [sid, s] : _subs) {
            if (s->serial == it->second.sub_serial) cumulative = s->mode == ack_mode::client;
        }
    }
    bool requeue = flag(f, "requeue", true);
    status s = settle(tag, nullptr, cumulative, is_ack, requeue);
    if (!s) return s;
    send_receipt(f);
    return {};
}

// ---------------------------------------------------------------------------------------------
// Transactions

status session::handle_begin(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return failure{"Missing transaction", "BEGIN must include a 'transaction' header"};
    if (_transactions.count(*tx)) {
        return failure{"Bad transaction", fmt::format("Transaction {} already started", *tx)};
    }
    _transactions[*tx];
    send_receipt(f);
    return {};
}

status session::handle_commit(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return failure{"Missing transaction", "COMMIT must include a 'transaction' header"};
    auto it = _transactions.find(*tx);
    if (it == _transactions.end()) {
        return failure{"Bad transaction", fmt::format("Invalid transaction identifier: {}", *tx)};
    }
    std::vector<frame> frames = std::move(it->second);
    _transactions.erase(it);
    for (frame& b : frames) {
        // Receipts for these were sent when they were buffered.
        std::erase_if(b.headers, [](const header& h) {
            return h.first == "transaction" || h.first == "receipt";
        });
        status s = b.cmd == command::send ? handle_send(b) : handle_ack(b, b.cmd == command::ack);
        if (!s) return s;
    }
    send_receipt(f);
    return {};
}

status session::handle_abort(const frame& f) {
    const std::string* tx = f.get("transaction");
    if (!tx) return failure{"Missing transaction", "ABORT must include a 'transaction' header"};
    auto it = _transactions.find(*tx);
    if (it == _transactions.end()) {
        return failure{"Bad transaction", fmt::format("Invalid transaction identifier: {}", *tx)};
    }
    _transactions.erase(it);
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
    std::string message_id = fmt::format("T_{}@@{}@@{}", s.id, _session_id, tag);
    const core::message& m = *d.msg;

    begin_output();
    writer w(_out.bytes, _version);
    w.begin(command::message)
        .header("subscription", s.id)
        .header("destination", format_destination(m.exchange, m.routing_key))
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
    std::string detail = fmt::format(
        "The server has cancelled subscription '{}' (its queue '{}' was deleted).\n"
        "No more messages will be delivered for it.",
        s.id, s.q ? s.q->name() : std::string());
    writer w(_out.bytes, _version);
    w.begin(command::error)
        .header("message", "Server cancelled subscription")
        .header("subscription", s.id)
        .header("content-type", "text/plain")
        .header("content-length", std::to_string(detail.size()));
    w.end(detail);
    end_output();
    auto it = _subs.find(s.id);
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

void session::send_error(const failure& e, const frame* cause) {
    begin_output();
    writer w(_out.bytes, _version);
    w.begin(command::error).header("message", e.message).header("content-type", "text/plain");
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

void session::close() {
    if (_closing) return;
    _closing = true;
    _io.close_requested();
}

uint64_t session::timer_interval_ms() const {
    uint64_t i = 0;
    for (uint64_t v : {_send_interval, _recv_interval}) {
        if (v && (!i || v < i)) i = v;
    }
    if (!i) return 0;
    return std::max<uint64_t>(i / 2, 10);
}

void session::on_timer(uint64_t now_ms) {
    _graveyard.clear();
    _now_ms = now_ms;
    if (_closing || _closed || !_connected) return;
    if (_recv_interval && now_ms > _last_read_ms && now_ms - _last_read_ms > 2 * _recv_interval) {
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

void session::connection_closed() {
    if (_closed) return;
    _closed = true;
    _closing = true;
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
                               [&](const auto& p) { return p.first == u.q; });
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
    _subs.clear();
    _graveyard.clear();
    _transactions.clear();
    if (_connected) WLOG_INFO("stomp connection closed peer={} user={}", _peer, _user);
}

}  // namespace warren::stomp

#include "mgmt/management_api.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/user_access.h"
#include "base/log.h"
#include "base/process.h"
#include "mgmt/list_query.h"
#include "mgmt/message_stats.h"
#include "mgmt/policy_api.h"
#include "server/version.h"

namespace warren::mgmt {

namespace {

// The management API version Warren implements: RabbitMQ 3.10's (rabbitmqadmin and client
// libraries look at these fields).
constexpr std::string_view api_version = "3.10.8";

core::field_value json_field(const json& j) {
    if (j.is_string()) return core::field_value(j.get<std::string>());
    if (j.is_boolean()) return core::field_value(j.get<bool>());
    if (j.is_number_integer()) return core::field_value(j.get<int64_t>());
    if (j.is_number_float()) return core::field_value(j.get<double>());
    if (j.is_array()) {
        core::field_array a;
        for (const auto& e : j) a.push_back(json_field(e));
        return core::field_value::array(std::move(a));
    }
    if (j.is_object()) {
        core::field_table t;
        for (auto it = j.begin(); it != j.end(); ++it)
            t.emplace_back(it.key(), json_field(it.value()));
        return core::field_value::table(std::move(t));
    }
    return core::field_value(core::void_value{});
}

// "arguments": an object (RabbitMQ also takes "" or null as none). nullopt: not an object.
std::optional<core::field_table> args_of(const json& body) {
    core::field_table t;
    auto it = body.find("arguments");
    if (it == body.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()))
        return t;
    if (!it->is_object()) return std::nullopt;
    for (auto a = it->begin(); a != it->end(); ++a) t.emplace_back(a.key(), json_field(a.value()));
    return t;
}

// ---- replies for core errors (rabbit_mgmt_util:direct_request) ----

response core_error(const request& req, const core::error& e) {
    switch (e.code) {
        case core::reply_code::not_found:
            return error_reply(req, http::status::not_found, "not_found", e.text);
        case core::reply_code::access_refused:
        case core::reply_code::not_allowed:
            return not_authorised(req, "Access refused.");
        default:
            return bad_request(req, e.text);
    }
}

// Names and routing keys travel as AMQP short strings (at most 255 bytes): refuse longer ones
// here rather than create objects AMQP clients cannot name (the codec would truncate them).
std::optional<response> too_long(const request& req, std::string_view what, std::string_view s) {
    if (s.size() <= 255) return std::nullopt;
    return bad_request(req, fmt::format("{} is longer than 255 bytes", what));
}

// RabbitMQ's URL name of the default exchange.
std::string exchange_id(const std::string& url_name) {
    return url_name == "amq.default" ? std::string() : url_name;
}

std::string hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

// rabbit_http_util:quote_plus, then '~' -> %7E (rabbit_mgmt_format:quote_binding).
std::string quote_binding(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
            out.push_back(static_cast<char>(c));
        } else if (c == ' ') {
            out.push_back('+');
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

// A binding's properties_key: the quoted routing key, plus "~" and a hash of the arguments when
// there are any ("~" alone for an empty key without arguments). RabbitMQ hashes the arguments
// with erlang:phash2; Warren uses FNV-1a over their JSON, so keys differ from RabbitMQ's for
// bindings with arguments (clients read them from the listing, never compute them).
std::string properties_key(std::string_view key, const core::field_table& args) {
    if (args.empty()) return key.empty() ? "~" : quote_binding(key);
    json j = table_json(args);  // sorted keys: the same arguments hash the same
    uint32_t h = 2166136261u;
    for (unsigned char c : j.dump()) h = (h ^ c) * 16777619u;
    static constexpr char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string enc;
    uint8_t bytes[4] = {uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)};
    uint32_t acc = (uint32_t(bytes[0]) << 16) | (uint32_t(bytes[1]) << 8) | bytes[2];
    for (int i = 3; i >= 0; --i) enc.push_back(b64[(acc >> (6 * i)) & 63]);
    acc = uint32_t(bytes[3]) << 16;
    enc.push_back(b64[(acc >> 18) & 63]);
    enc.push_back(b64[(acc >> 12) & 63]);
    return quote_binding(key) + "~" + quote_binding(enc);
}

std::string base64_encode(std::string_view in) {
    static constexpr char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int k = 3; k >= 0; --k) out.push_back(chars[(v >> (6 * k)) & 63]);
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += {chars[(v >> 18) & 63], chars[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += {chars[(v >> 18) & 63], chars[(v >> 12) & 63], chars[(v >> 6) & 63], '='};
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=' || c == '\n' || c == '\r')
            continue;
        else
            return std::nullopt;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += n;
    }
    return true;
}

json properties_json(const core::basic_properties& p) {
    json out = json::object();
    auto put = [&](const char* k, const auto& opt) {
        if (opt) out[k] = *opt;
    };
    put("content_type", p.content_type);
    put("content_encoding", p.content_encoding);
    if (p.headers) out["headers"] = table_json(*p.headers);
    put("delivery_mode", p.delivery_mode);
    put("priority", p.priority);
    put("correlation_id", p.correlation_id);
    put("reply_to", p.reply_to);
    put("expiration", p.expiration);
    put("message_id", p.message_id);
    put("timestamp", p.timestamp);
    put("type", p.type);
    put("user_id", p.user_id);
    put("app_id", p.app_id);
    put("cluster_id", p.cluster_id);
    return out;
}

// The "properties" of a publish (rabbit_mgmt_format:to_basic_properties). Empty string: ok.
std::string parse_properties(const json& j, core::basic_properties& p) {
    if (j.is_null()) return {};
    if (!j.is_object()) return "properties must be an object";
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        const json& v = it.value();
        auto str = [&](std::optional<std::string>& dst) {
            if (!v.is_string()) return false;
            dst = v.get<std::string>();
            return true;
        };
        auto small = [&](std::optional<uint8_t>& dst) {
            int64_t n = 0;
            if (v.is_number_integer())
                n = v.get<int64_t>();
            else if (v.is_string() && !v.get<std::string>().empty()) {
                auto s = v.get<std::string>();
                auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
                if (ec != std::errc() || ptr != s.data() + s.size()) return false;
            } else
                return false;
            if (n < 0 || n > 255) return false;
            dst = static_cast<uint8_t>(n);
            return true;
        };
        bool ok = true;
        if (k == "content_type")
            ok = str(p.content_type);
        else if (k == "content_encoding")
            ok = str(p.content_encoding);
        else if (k == "correlation_id")
            ok = str(p.correlation_id);
        else if (k == "reply_to")
            ok = str(p.reply_to);
        else if (k == "expiration")
            ok = str(p.expiration);
        else if (k == "message_id")
            ok = str(p.message_id);
        else if (k == "type")
            ok = str(p.type);
        else if (k == "user_id")
            ok = str(p.user_id);
        else if (k == "app_id")
            ok = str(p.app_id);
        else if (k == "cluster_id")
            ok = str(p.cluster_id);
        else if (k == "delivery_mode")
            ok = small(p.delivery_mode);
        else if (k == "priority")
            ok = small(p.priority);
        else if (k == "timestamp") {
            ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
            if (ok) p.timestamp = v.get<uint64_t>();
        } else if (k == "headers") {
            ok = v.is_object();
            if (ok) {
                core::field_table t;
                for (auto h = v.begin(); h != v.end(); ++h)
                    t.emplace_back(h.key(), json_field(h.value()));
                p.headers = std::move(t);
            }
        } else {
            return fmt::format("unknown property '{}'", k);
        }
        if (!ok) return fmt::format("invalid value for property '{}'", k);
    }
    return {};
}

// A JSON integer or a decimal string (rabbitmqadmin sends "count": "1").
std::optional<int64_t> int_value(const json& j) {
    if (j.is_number_integer()) return j.get<int64_t>();
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc() && p == s.data() + s.size()) return v;
    }
    return std::nullopt;
}

std::string missing_keys(const json& body, std::initializer_list<const char*> keys) {
    std::string out;
    for (const char* k : keys)
        if (!body.contains(k))
            out += fmt::format("{}{{key_missing,{}}}", out.empty() ? "" : ",", k);
    return out.empty() ? out : "[" + out + "]";
}

// ---- connections ----

struct conn_row {
    core::vhost* vh;
    uint64_t id;
    std::string user;
    core::connection_info info;
    std::string name;  // "peer -> local"
};

std::pair<std::string, uint16_t> split_address(std::string_view a) {
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos) return {std::string(a), 0};
    std::string_view host = a.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    uint16_t port = 0;
    auto p = a.substr(colon + 1);
    std::from_chars(p.data(), p.data() + p.size(), port);
    return {std::string(host), port};
}

}  // namespace

management_api::management_api(core::broker& b, auth::authority& a)
    : _broker(b), _auth(a), _login(b, a), _node("warren@" + hostname()), _started_ms(b.now_ms()) {}

void management_api::add(http_server& http, const char* method, const char* pattern,
                         tag_level level, handler_fn fn) {
    add_route(http, _login, this, method, pattern, level, fn);
}

void management_api::install(http_server& http) {
    using m = management_api;
    const auto mg = tag_level::management;
    const auto mon = tag_level::monitoring;
    add(http, "GET", "/api/overview", mg, &m::overview);
    add(http, "GET", "/api/definitions", tag_level::administrator, &m::definitions);
    add(http, "GET", "/api/definitions/{vhost}", tag_level::administrator, &m::definitions);
    add(http, "GET", "/api/nodes", mon, &m::nodes);
    add(http, "GET", "/api/nodes/{node}", mon, &m::node);
    add(http, "GET", "/api/extensions", mg, &m::extensions);
    add(http, "GET", "/api/connections", mg, &m::connections);
    add(http, "GET", "/api/vhosts/{vhost}/connections", mg, &m::connections);
    add(http, "GET", "/api/connections/{name}", mg, &m::connection);
    add(http, "DELETE", "/api/connections/{name}", mg, &m::close_connection);
    add(http, "GET", "/api/connections/{name}/channels", mg, &m::connection_channels);
    add(http, "GET", "/api/channels", mg, &m::channels);
    add(http, "GET", "/api/vhosts/{vhost}/channels", mg, &m::channels);
    add(http, "GET", "/api/channels/{name}", mg, &m::channel);
    add(http, "GET", "/api/consumers", mg, &m::consumers);
    add(http, "GET", "/api/consumers/{vhost}", mg, &m::consumers);
    add(http, "GET", "/api/exchanges", mg, &m::exchanges);
    add(http, "GET", "/api/exchanges/{vhost}", mg, &m::exchanges);
    add(http, "GET", "/api/exchanges/{vhost}/{name}", mg, &m::exchange);
    add(http, "PUT", "/api/exchanges/{vhost}/{name}", mg, &m::put_exchange);
    add(http, "DELETE", "/api/exchanges/{vhost}/{name}", mg, &m::delete_exchange);
    add(http, "POST", "/api/exchanges/{vhost}/{name}/publish", mg, &m::publish);
    add(http, "GET", "/api/exchanges/{vhost}/{name}/bindings/source", mg, &m::exchange_bindings);
    add(http, "GET", "/api/exchanges/{vhost}/{name}/bindings/destination", mg,
        &m::exchange_bindings);
    add(http, "GET", "/api/queues", mg, &m::queues);
    add(http, "GET", "/api/queues/{vhost}", mg, &m::queues);
    add(http, "GET", "/api/queues/{vhost}/{name}", mg, &m::queue);
    add(http, "PUT", "/api/queues/{vhost}/{name}", mg, &m::put_queue);
    add(http, "DELETE", "/api/queues/{vhost}/{name}", mg, &m::delete_queue);
    add(http, "DELETE", "/api/queues/{vhost}/{name}/contents", mg, &m::purge_queue);
    add(http, "POST", "/api/queues/{vhost}/{name}/get", mg, &m::get_messages);
    add(http, "GET", "/api/queues/{vhost}/{name}/bindings", mg, &m::queue_bindings);
    add(http, "POST", "/api/queues/{vhost}/{name}/actions", mg, &m::queue_actions);
    add(http, "GET", "/api/bindings", mg, &m::bindings);
    add(http, "GET", "/api/bindings/{vhost}", mg, &m::bindings);
    for (const char* kind : {"q", "e"}) {
        std::string between = fmt::format("/api/bindings/{{vhost}}/e/{{source}}/{}/{{dest}}", kind);
        add(http, "GET", between.c_str(), mg, &m::bindings_between);
        add(http, "POST", between.c_str(), mg, &m::create_binding);
        std::string one = between + "/{props}";
        add(http, "GET", one.c_str(), mg, &m::binding);
        add(http, "DELETE", one.c_str(), mg, &m::delete_binding);
    }
    add(http, "GET", "/api/aliveness-test/{vhost}", mg, &m::aliveness);
    add(http, "GET", "/api/health/checks/alarms", mg, &m::health_alarms);
    add(http, "GET", "/api/health/checks/local-alarms", mg, &m::health_alarms);
    add(http, "GET", "/api/health/checks/node-is-quorum-critical", mg, &m::health_ok);
    add(http, "GET", "/api/health/checks/node-is-mirror-sync-critical", mg, &m::health_ok);
    add(http, "GET", "/api/health/checks/port-listener/{port}", mg, &m::health_port);
    add(http, "GET", "/api/health/checks/virtual-hosts", mg, &m::health_vhosts);
}

bool management_api::sees_vhost(const auth::user& me, std::string_view vhost) const {
    return is_monitor(me) || _auth.users.may_access(me.name, vhost);
}

bool management_api::importing(const call& c, const auth::user& me) const {
    return c.req.find(import_marker) != c.req.end() && user_has(me, tag_level::administrator);
}

const core::access* management_api::acting(const call& c, const auth::user& me,
                                           const auth::user_access& who) const {
    return importing(c, me) ? nullptr : &who;
}

core::vhost* management_api::vhost_for(const call& c, const auth::user& me, response& out,
                                       bool read_only) {
    core::vhost* vh = _broker.find_vhost(c.param("vhost"));
    if (!vh) {
        out = error_reply(c.req, http::status::not_found, "not_found", "vhost_not_found");
        return nullptr;
    }
    if (importing(c, me)) return vh;  // definitions import: no vhost permission needed
    if (read_only ? !sees_vhost(me, vh->name()) : !_auth.users.may_access(me.name, vh->name())) {
        out = not_authorised(c.req, "User not authorised to access virtual host");
        return nullptr;
    }
    return vh;
}

namespace {

// Every vhost `me` may see, or just {vhost} (404 if it does not exist, none if not visible).
template <typename Sees>
std::vector<core::vhost*> visible_vhosts(core::broker& b, const call& c, Sees&& sees,
                                         bool& missing) {
    std::vector<core::vhost*> out;
    missing = false;
    const std::string& only = c.param("vhost");
    if (!only.empty()) {
        core::vhost* vh = b.find_vhost(only);
        if (!vh) {
            missing = true;
            return out;
        }
        if (sees(vh->name())) out.push_back(vh);
        return out;
    }
    for (const auto& [n, v] : b.vhosts())
        if (sees(v->name())) out.push_back(v.get());
    return out;
}

response vhost_missing(const request& req) {
    return error_reply(req, http::status::not_found, "not_found", "vhost_not_found");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Overview, nodes

response management_api::overview(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    uint64_t queues = 0, exchanges = 0, consumers = 0, connections = 0, channels = 0;
    counter_sample totals;
    std::vector<const core::vhost*> seen;
    for (const auto& [n, vh] : _broker.vhosts()) {
        if (!sees_vhost(me, vh->name())) continue;
        seen.push_back(vh.get());
        const counter_sample s = sample_of(*vh);
        for (size_t i = 0; i < max_counters; ++i) totals.v[i] += s.v[i];
        exchanges += vh->exchanges().size();
        queues += vh->queues().size();
        for (const auto& [qn, qp] : vh->queues()) consumers += qp->consumer_count();
        for (const auto& oc : vh->open_connections()) {
            if (!is_monitor(me) && oc.user != me.name) continue;
            ++connections;
            if (oc.info) channels += oc.info().channels.size();
        }
    }
    json message_stats = vhost_message_stats(totals), queue_total = queue_totals(totals);
    if (_rates) {
        _rates->add_rates(message_stats, seen);
        _rates->add_rates(queue_total, seen);
    }
    json listeners = json::array();
    json contexts = json::array();
    for (const auto& l : _listeners) {
        listeners.push_back({{"node", _node},
                             {"protocol", l.protocol},
                             {"ip_address", l.ip_address},
                             {"port", l.port},
                             {"socket_opts", json::object()}});
        if (l.protocol == "http" || l.protocol == "https")
            contexts.push_back({{"node", _node},
                                {"description", "RabbitMQ Management"},
                                {"path", "/"},
                                {"port", std::to_string(l.port)},
                                {"ssl", l.protocol == "https"}});
    }
    json exchange_types = json::array();
    for (const char* t : {"direct", "fanout", "headers", "topic", "x-delayed-message"})
        exchange_types.push_back({{"name", t}, {"description", ""}, {"enabled", true}});
    json out = {
        {"management_version", api_version},
        {"rabbitmq_version", api_version},
        {"product_name", "Warren"},
        {"product_version", server::version},
        {"erlang_version", "none (Warren is C++)"},
        {"erlang_full_version", "none (Warren is C++)"},
        {"rates_mode", "basic"},
        {"cluster_name", _node},
        {"node", _node},
        {"disable_stats", false},
        {"enable_queue_totals", true},
        {"is_op_policy_updating_enabled", true},
        {"statistics_db_event_queue", 0},
        {"exchange_types", exchange_types},
        {"message_stats", std::move(message_stats)},
        {"queue_totals", std::move(queue_total)},
        {"object_totals",
         {{"connections", connections},
          {"channels", channels},
          {"exchanges", exchanges},
          {"queues", queues},
          {"consumers", consumers}}},
        {"listeners", listeners},
        {"contexts", contexts},
    };
    return reply(c.req, http::status::ok, q.select_columns(std::move(out)));
}

namespace {

json node_json(const std::string& name, uint64_t uptime_ms, core::alarm_set alarms) {
    const uint64_t rss = process::resident_memory();
    uint64_t fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++fds;
    rlimit rl{};
    uint64_t fd_total = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 0;
    return {
        {"name", name},
        {"type", "disc"},
        {"running", true},
        {"being_drained", false},
        {"os_pid", std::to_string(getpid())},
        {"mem_used", rss},
        {"fd_used", fds},
        {"fd_total", fd_total},
        {"uptime", uptime_ms},
        {"processors", std::thread::hardware_concurrency()},
        {"run_queue", 0},
        {"partitions", json::array()},
        {"rates_mode", "basic"},
        {"mem_alarm", alarms.has(core::resource::memory)},
        {"disk_free_alarm", alarms.has(core::resource::disk) || alarms.has(core::resource::store)}};
}

}  // namespace

response management_api::nodes(const call& c, const auth::user&) {
    list_query q(c);
    if (q.error()) return *q.error();
    json out = json::array();
    out.push_back(node_json(_node, _broker.now_ms() - _started_ms, _broker.alarms()));
    return q.reply(std::move(out), {"name"});
}

response management_api::node(const call& c, const auth::user&) {
    if (c.param("node") != _node) return not_found(c.req);
    list_query q(c);
    if (q.error()) return *q.error();
    return reply(
        c.req, http::status::ok,
        q.select_columns(node_json(_node, _broker.now_ms() - _started_ms, _broker.alarms())));
}

response management_api::extensions(const call& c, const auth::user&) {
    return reply(c.req, http::status::ok, json::array());
}

// ---------------------------------------------------------------------------------------------
// Connections, channels, consumers

namespace {

std::vector<conn_row> connection_rows(core::broker& b, const auth::user& me,
                                      const std::string& only_vhost) {
    std::vector<conn_row> rows;
    for (const auto& [n, vh] : b.vhosts()) {
        if (!only_vhost.empty() && vh->name() != only_vhost) continue;
        for (const auto& oc : vh->open_connections()) {
            if (!is_monitor(me) && oc.user != me.name) continue;
            conn_row r{vh.get(), oc.id, oc.user, oc.info ? oc.info() : core::connection_info{}, {}};
            r.name = r.info.peer_address + " -> " + r.info.local_address;
            rows.push_back(std::move(r));
        }
    }
    return rows;
}

json connection_json(const conn_row& r, const std::string& node, const rate_sampler* rates) {
    auto [peer_host, peer_port] = split_address(r.info.peer_address);
    auto [host, port] = split_address(r.info.local_address);
    json props = json::object();
    for (const auto& [k, v] : r.info.client_properties) props[k] = v;
    json j = {{"name", r.name},
              {"node", node},
              {"vhost", r.vh->name()},
              {"user", r.user},
              {"user_who_performed_action", r.user},
              {"protocol", r.info.protocol},
              {"type", "network"},
              {"state", r.info.state},
              {"channels", r.info.channels.size()},
              {"channel_max", r.info.channel_max},
              {"frame_max", r.info.frame_max},
              {"timeout", r.info.heartbeat_s},
              {"peer_host", peer_host},
              {"peer_port", peer_port},
              {"host", host},
              {"port", port},
              {"ssl", r.info.tls},
              {"connected_at", r.info.connected_at_ms},
              {"recv_oct", r.info.io.recv_oct},
              {"recv_cnt", r.info.io.recv_cnt},
              {"send_oct", r.info.io.send_oct},
              {"send_cnt", r.info.io.send_cnt},
              {"client_properties", props}};
    if (rates) rates->add_connection_rates(j, r.id);
    return j;
}

std::string channel_name(const conn_row& r, uint16_t number) {
    return fmt::format("{} ({})", r.name, number);
}

json channel_json(const conn_row& r, const core::channel_info& ch, const std::string& node) {
    auto [peer_host, peer_port] = split_address(r.info.peer_address);
    return {{"name", channel_name(r, ch.number)},
            {"number", ch.number},
            {"node", node},
            {"vhost", r.vh->name()},
            {"user", r.user},
            {"user_who_performed_action", r.user},
            {"state", "running"},
            {"confirm", ch.confirm},
            {"transactional", ch.transactional},
            {"consumer_count", ch.consumers.size()},
            {"messages_unacknowledged", ch.messages_unacknowledged},
            {"messages_unconfirmed", ch.messages_unconfirmed},
            {"messages_uncommitted", 0},
            {"acks_uncommitted", 0},
            {"prefetch_count", ch.prefetch_count},
            {"global_prefetch_count", ch.global_prefetch_count},
            {"connection_details",
             {{"name", r.name}, {"peer_host", peer_host}, {"peer_port", peer_port}}}};
}

}  // namespace

response management_api::connections(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    const std::string& vhost = c.param("vhost");
    if (!vhost.empty() && !_broker.find_vhost(vhost)) return vhost_missing(c.req);
    auto rows = connection_rows(_broker, me, vhost);
    return q.reply(
        rows.size(), [&](size_t i) { return std::string_view(rows[i].name); },
        [&](size_t i) { return std::string_view(rows[i].vh->name()); },
        [&](size_t i) { return connection_json(rows[i], _node, _rates); }, {});
}

response management_api::connection(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    for (const auto& r : connection_rows(_broker, me, {}))
        if (r.name == c.param("name"))
            return reply(c.req, http::status::ok,
                         q.select_columns(connection_json(r, _node, _rates)));
    return not_found(c.req);
}

response management_api::close_connection(const call& c, const auth::user& me) {
    for (const auto& r : connection_rows(_broker, me, {})) {
        if (r.name != c.param("name")) continue;
        // Monitors see every connection but only administrators (or the owner) close them.
        if (r.user != me.name && !me.has_tag("administrator"))
            return not_authorised(c.req, "Not administrator user");
        auto reason = c.req.find("x-reason");
        std::string why = reason != c.req.end() ? std::string(reason->value())
                                                : std::string("Closed via management plugin");
        WLOG_INFO("connection '{}' closed via the management API by user '{}': {}", r.name, me.name,
                  why);
        r.vh->close_connection(r.id, why);
        return no_content(c.req);
    }
    return not_found(c.req);
}

response management_api::connection_channels(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    for (const auto& r : connection_rows(_broker, me, {})) {
        if (r.name != c.param("name")) continue;
        json out = json::array();
        for (const auto& ch : r.info.channels) out.push_back(channel_json(r, ch, _node));
        return q.reply(std::move(out), {});
    }
    return not_found(c.req);
}

response management_api::channels(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    const std::string& vhost = c.param("vhost");
    if (!vhost.empty() && !_broker.find_vhost(vhost)) return vhost_missing(c.req);
    json out = json::array();
    for (const auto& r : connection_rows(_broker, me, vhost))
        for (const auto& ch : r.info.channels) out.push_back(channel_json(r, ch, _node));
    return q.reply(std::move(out), {});
}

response management_api::channel(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    for (const auto& r : connection_rows(_broker, me, {}))
        for (const auto& ch : r.info.channels)
            if (channel_name(r, ch.number) == c.param("name")) {
                json j = channel_json(r, ch, _node);
                json consumers = json::array();
                for (const auto& cs : ch.consumers)
                    consumers.push_back({{"consumer_tag", cs.tag},
                                         {"queue", {{"name", cs.queue}, {"vhost", r.vh->name()}}},
                                         {"ack_required", cs.ack_required},
                                         {"exclusive", cs.exclusive},
                                         {"prefetch_count", cs.prefetch_count}});
                j["consumer_details"] = consumers;
                return reply(c.req, http::status::ok, q.select_columns(std::move(j)));
            }
    return not_found(c.req);
}

response management_api::consumers(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    const std::string& vhost = c.param("vhost");
    if (!vhost.empty() && !_broker.find_vhost(vhost)) return vhost_missing(c.req);
    json out = json::array();
    // RabbitMQ lists the consumers of the vhosts the user sees (not only the user's own).
    for (const auto& [n, vh] : _broker.vhosts()) {
        if ((!vhost.empty() && vh->name() != vhost) || !sees_vhost(me, vh->name())) continue;
        for (const auto& oc : vh->open_connections()) {
            if (!oc.info) continue;
            conn_row r{vh.get(), oc.id, oc.user, oc.info(), {}};
            r.name = r.info.peer_address + " -> " + r.info.local_address;
            auto [peer_host, peer_port] = split_address(r.info.peer_address);
            for (const auto& ch : r.info.channels)
                for (const auto& cs : ch.consumers) {
                    json args = json::object();
                    if (cs.priority != 0) args["x-priority"] = cs.priority;
                    out.push_back({{"consumer_tag", cs.tag},
                                   {"queue", {{"name", cs.queue}, {"vhost", vh->name()}}},
                                   {"channel_details",
                                    {{"name", channel_name(r, ch.number)},
                                     {"number", ch.number},
                                     {"connection_name", r.name},
                                     {"peer_host", peer_host},
                                     {"peer_port", peer_port},
                                     {"user", r.user},
                                     {"node", _node}}},
                                   {"ack_required", cs.ack_required},
                                   {"exclusive", cs.exclusive},
                                   {"prefetch_count", cs.prefetch_count},
                                   {"arguments", args},
                                   {"active", true},
                                   {"activity_status", "up"}});
                }
        }
    }
    return q.reply(std::move(out), {});
}

// ---------------------------------------------------------------------------------------------
// Exchanges

namespace {

json exchange_json(const core::vhost& vh, const core::exchange& x, const rate_sampler* rates) {
    json j = {{"name", x.name()},
              {"vhost", vh.name()},
              {"type", std::string(x.type_name())},
              {"durable", x.durable()},
              {"auto_delete", x.auto_delete()},
              {"internal", x.internal()},
              {"arguments", table_json(x.args())},
              {"user_who_performed_action", ""},
              {"message_stats", exchange_message_stats(x)}};
    if (rates) rates->add_rates(j["message_stats"], x);
    if (!x.policy_name().empty()) j["policy"] = x.policy_name();
    return j;
}

}  // namespace

response management_api::exchanges(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    bool missing = false;
    auto vhs = visible_vhosts(
        _broker, c, [&](std::string_view v) { return sees_vhost(me, v); }, missing);
    if (missing) return vhost_missing(c.req);
    std::vector<std::pair<core::vhost*, core::exchange*>> items;
    for (auto* vh : vhs)
        for (const auto& [n, x] : vh->exchanges()) items.emplace_back(vh, x.get());
    return q.reply(
        items.size(), [&](size_t i) { return std::string_view(items[i].second->name()); },
        [&](size_t i) { return std::string_view(items[i].first->name()); },
        [&](size_t i) { return exchange_json(*items[i].first, *items[i].second, _rates); },
        {"vhost", "name"});
}

response management_api::exchange(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    core::exchange* x = vh->find_exchange(exchange_id(c.param("name")));
    if (!x) return not_found(c.req);
    return reply(c.req, http::status::ok, q.select_columns(exchange_json(*vh, *x, _rates)));
}

response management_api::put_exchange(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    auto args = args_of(*body);
    if (!args) return bad_request(c.req, "arguments must be an object");
    core::exchange_decl d;
    d.name = exchange_id(c.param("name"));
    if (auto bad = too_long(c.req, "exchange name", d.name)) return *bad;
    d.type = str_field(*body, "type", "direct");
    d.durable = bool_field(*body, "durable", true);
    d.auto_delete = bool_field(*body, "auto_delete", false);
    d.internal = bool_field(*body, "internal", false);
    d.args = std::move(*args);
    const bool existed = vh->find_exchange(d.name) != nullptr;
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = vh->declare_exchange(d, acting(c, me, who));
    if (!r) return core_error(c.req, r.error());
    return no_content(c.req, existed ? http::status::no_content : http::status::created);
}

response management_api::delete_exchange(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    std::string name = exchange_id(c.param("name"));
    if (!vh->find_exchange(name)) return not_found(c.req);
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = vh->delete_exchange(name, c.query_value("if-unused") == "true", &who);
    if (!r) return core_error(c.req, r.error());
    return no_content(c.req);
}

response management_api::publish(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    std::string missing =
        missing_keys(*body, {"routing_key", "properties", "payload", "payload_encoding"});
    if (!missing.empty()) return bad_request(c.req, missing);
    auto msg = std::make_shared<core::message>();
    if (auto e = parse_properties((*body)["properties"], msg->props); !e.empty())
        return bad_request(c.req, e);
    std::string enc = str_field(*body, "payload_encoding");
    std::string payload = str_field(*body, "payload");
    if (enc == "base64") {
        auto d = base64_decode(payload);
        if (!d) return bad_request(c.req, "not_base64");
        msg->body = std::move(*d);
    } else if (enc == "string") {
        msg->body = std::move(payload);
    } else {
        return bad_request(c.req, fmt::format("unsupported_encoding: {}", enc));
    }
    msg->exchange = exchange_id(c.param("name"));
    msg->routing_key = str_field(*body, "routing_key");
    if (auto bad = too_long(c.req, "routing_key", msg->routing_key)) return *bad;
    auth::user_access who(_auth.users, me.name, vh->name());
    std::string exchange = msg->exchange;
    auto r = vh->publish(exchange, std::move(msg), nullptr, &who);
    if (!r) return core_error(c.req, r.error());
    return reply(c.req, http::status::ok, json{{"routed", *r > 0}});
}

// ---------------------------------------------------------------------------------------------
// Bindings

namespace {

struct binding_row {
    std::string source, destination;
    bool to_queue;
    std::string key;
    core::field_table args;
};

// Every binding of a vhost, with the default exchange's implicit one per queue first, as
// RabbitMQ lists them.
std::vector<binding_row> binding_rows(const core::vhost& vh) {
    std::vector<binding_row> out;
    for (const auto& [n, q] : vh.queues()) out.push_back({"", q->name(), true, q->name(), {}});
    for (const auto& [n, x] : vh.exchanges()) {
        if (x->name().empty()) continue;
        for (auto& b : x->bindings()) {
            if (b.dest.q)
                out.push_back({x->name(), b.dest.q->name(), true, b.key, b.args});
            else if (b.dest.x)
                out.push_back({x->name(), b.dest.x->name(), false, b.key, b.args});
        }
    }
    return out;
}

json binding_json(const core::vhost& vh, const binding_row& b) {
    return {{"source", b.source},
            {"vhost", vh.name()},
            {"destination", b.destination},
            {"destination_type", b.to_queue ? "queue" : "exchange"},
            {"routing_key", b.key},
            {"arguments", table_json(b.args)},
            {"properties_key", properties_key(b.key, b.args)}};
}

bool to_queue_path(const call& c) {
    std::string_view t(c.req.target().data(), c.req.target().size());
    // /api/bindings/{vhost}/e/{source}/q/{dest}...: the segment after the source.
    size_t slashes = 0;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '/') continue;
        if (++slashes == 6) return i + 1 < t.size() && t[i + 1] == 'q';
    }
    return false;
}

}  // namespace

response management_api::bindings(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    bool missing = false;
    auto vhs = visible_vhosts(
        _broker, c, [&](std::string_view v) { return sees_vhost(me, v); }, missing);
    if (missing) return vhost_missing(c.req);
    json out = json::array();
    for (auto* vh : vhs)
        for (const auto& b : binding_rows(*vh)) out.push_back(binding_json(*vh, b));
    return q.reply(std::move(out), {});
}

response management_api::exchange_bindings(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    std::string name = exchange_id(c.param("name"));
    if (!vh->find_exchange(name)) return not_found(c.req);
    std::string_view t(c.req.target().data(), c.req.target().size());
    const bool as_source = t.substr(0, t.find('?')).ends_with("/source");
    json list = json::array();
    for (const auto& b : binding_rows(*vh))
        if (as_source ? b.source == name : (!b.to_queue && b.destination == name))
            list.push_back(binding_json(*vh, b));
    return q.reply(std::move(list), {});
}

response management_api::queue_bindings(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    const std::string& name = c.param("name");
    if (!vh->find_queue(name)) return not_found(c.req);
    json list = json::array();
    for (const auto& b : binding_rows(*vh))
        if (b.to_queue && b.destination == name) list.push_back(binding_json(*vh, b));
    return q.reply(std::move(list), {});
}

response management_api::bindings_between(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    const bool to_queue = to_queue_path(c);
    std::string source = exchange_id(c.param("source"));
    const std::string& dest = c.param("dest");
    if (!vh->find_exchange(source)) return not_found(c.req);
    if (to_queue ? !vh->find_queue(dest) : !vh->find_exchange(dest)) return not_found(c.req);
    json list = json::array();
    for (const auto& b : binding_rows(*vh))
        if (b.source == source && b.to_queue == to_queue && b.destination == dest)
            list.push_back(binding_json(*vh, b));
    return q.reply(std::move(list), {});
}

response management_api::create_binding(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    auto args = args_of(*body);
    if (!args) return bad_request(c.req, "arguments must be an object");
    const bool to_queue = to_queue_path(c);
    std::string source = exchange_id(c.param("source"));
    const std::string& dest = c.param("dest");
    std::string key = str_field(*body, "routing_key");
    if (auto bad = too_long(c.req, "routing_key", key)) return *bad;
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = to_queue ? vh->bind_queue(dest, source, key, *args, 0, acting(c, me, who))
                      : vh->bind_exchange(dest, source, key, *args, acting(c, me, who));
    if (!r) return core_error(c.req, r.error());
    // RabbitMQ answers 201 with the new binding's URL (its last segment the properties key).
    response res = no_content(c.req, http::status::created);
    std::string_view t(c.req.target().data(), c.req.target().size());
    res.set(http::field::location,
            std::string(t.substr(0, t.find('?'))) + "/" + properties_key(key, *args));
    return res;
}

response management_api::binding(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    const bool to_queue = to_queue_path(c);
    std::string source = exchange_id(c.param("source"));
    for (const auto& b : binding_rows(*vh))
        if (b.source == source && b.to_queue == to_queue && b.destination == c.param("dest") &&
            properties_key(b.key, b.args) == c.param("props"))
            return reply(c.req, http::status::ok, q.select_columns(binding_json(*vh, b)));
    return not_found(c.req);
}

response management_api::delete_binding(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    const bool to_queue = to_queue_path(c);
    std::string source = exchange_id(c.param("source"));
    const std::string& dest = c.param("dest");
    for (const auto& b : binding_rows(*vh)) {
        if (b.source != source || b.to_queue != to_queue || b.destination != dest ||
            properties_key(b.key, b.args) != c.param("props"))
            continue;
        auth::user_access who(_auth.users, me.name, vh->name());
        auto r = to_queue ? vh->unbind_queue(dest, source, b.key, b.args, 0, &who)
                          : vh->unbind_exchange(dest, source, b.key, b.args, &who);
        if (!r) return core_error(c.req, r.error());
        return no_content(c.req);
    }
    return not_found(c.req);
}

// ---------------------------------------------------------------------------------------------
// Queues

namespace {

json queue_json(const core::vhost& vh, const core::queue& q, const std::string& node,
                const rate_sampler* rates) {
    std::string type = "classic";
    if (auto* t = core::find(q.args(), "x-queue-type"))
        if (auto* str = t->as_string()) type = *str;
    json j = {{"name", q.name()},
              {"vhost", vh.name()},
              {"node", node},
              {"type", type},
              {"state", "running"},
              {"durable", q.durable()},
              {"exclusive", q.exclusive()},
              {"auto_delete", q.auto_delete()},
              {"arguments", table_json(q.args())},
              {"policy", q.policy_name().empty() ? json(nullptr) : json(q.policy_name())},
              {"operator_policy",
               q.operator_policy_name().empty() ? json(nullptr) : json(q.operator_policy_name())},
              {"effective_policy_definition",
               table_json(core::effective_definition(
                   vh.policy_rules().find(q.policy_name()),
                   vh.operator_policy_rules().find(q.operator_policy_name())))},
              {"exclusive_consumer_tag", nullptr},
              {"consumers", q.consumer_count()},
              {"messages", q.message_count() + q.unacked_count()},
              {"messages_ready", q.message_count()},
              {"messages_unacknowledged", q.unacked_count()},
              {"messages_paged_out", q.paged_out()},
              {"message_bytes_paged_out", q.paged_out_bytes()},
              {"message_bytes_ready", q.ready_bytes()},
              {"memory", q.memory_bytes()},
              {"message_stats", queue_message_stats(q)}};
    if (const core::stream* s = q.stream_state()) {
        // RabbitMQ's stream fields (one node: it is the member, online, and has every reader),
        // and the log itself: offsets, segments, bytes (docs/streams.md).
        j["members"] = json::array({node});
        j["online"] = json::array({node});
        j["readers"] = {{node, q.consumer_count()}};
        const uint64_t first = s->first_offset(), next = s->next_offset();
        j["first_offset"] = first;
        j["last_offset"] = next > first ? json(next - 1) : json(nullptr);
        j["committed_offset"] = next > first ? json(next - 1) : json(nullptr);
        j["segments"] = s->segment_count();
        j["stream_bytes"] = s->bytes();
    }
    if (rates) {
        rates->add_rates(j, q);  // messages_details, messages_ready_details, ...
        rates->add_rates(j["message_stats"], q);
    }
    return j;
}

// The numeric columns of queue_json, for sorting 10,000 queues without building their JSON.
std::optional<double> queue_number(const core::queue& q, std::string_view col) {
    const auto& s = q.stats();
    if (col == "messages") return double(q.message_count() + q.unacked_count());
    if (col == "messages_ready") return double(q.message_count());
    if (col == "messages_unacknowledged") return double(q.unacked_count());
    if (col == "consumers") return double(q.consumer_count());
    if (col == "messages_paged_out") return double(q.paged_out());
    if (col == "message_bytes_ready") return double(q.ready_bytes());
    if (col == "memory") return double(q.memory_bytes());
    if (col == "message_stats.publish") return double(s.published);
    if (col == "message_stats.deliver_get") return double(s.delivered);
    if (col == "message_stats.ack") return double(s.acked);
    if (col == "message_stats.redeliver") return double(s.redelivered);
    return std::nullopt;
}

}  // namespace

response management_api::queues(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    bool missing = false;
    auto vhs = visible_vhosts(
        _broker, c, [&](std::string_view v) { return sees_vhost(me, v); }, missing);
    if (missing) return vhost_missing(c.req);
    std::vector<std::pair<core::vhost*, core::queue*>> items;
    for (auto* vh : vhs)
        for (const auto& [n, qp] : vh->queues()) items.emplace_back(vh, qp.get());
    return q.reply(
        items.size(), [&](size_t i) { return std::string_view(items[i].second->name()); },
        [&](size_t i) { return std::string_view(items[i].first->name()); },
        [&](size_t i) { return queue_json(*items[i].first, *items[i].second, _node, _rates); },
        {"vhost", "name"},
        [&](size_t i, std::string_view col) -> std::optional<double> {
            return queue_number(*items[i].second, col);
        });
}

response management_api::queue(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out, true);
    if (!vh) return out;
    list_query q(c);
    if (q.error()) return *q.error();
    auto qp = vh->find_queue(c.param("name"));
    if (!qp) return not_found(c.req);
    json j = queue_json(*vh, *qp, _node, _rates);
    json consumers = json::array();
    for (const auto& oc : vh->open_connections()) {
        if (!oc.info) continue;
        auto info = oc.info();
        for (const auto& ch : info.channels)
            for (const auto& cs : ch.consumers)
                if (cs.queue == qp->name())
                    consumers.push_back({{"consumer_tag", cs.tag},
                                         {"ack_required", cs.ack_required},
                                         {"exclusive", cs.exclusive},
                                         {"prefetch_count", cs.prefetch_count},
                                         {"arguments", table_json(cs.arguments)},
                                         {"queue", {{"name", qp->name()}, {"vhost", vh->name()}}}});
    }
    j["consumer_details"] = consumers;
    return reply(c.req, http::status::ok, q.select_columns(std::move(j)));
}

response management_api::put_queue(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    auto args = args_of(*body);
    if (!args) return bad_request(c.req, "arguments must be an object");
    core::queue_decl d;
    d.name = c.param("name");
    if (auto bad = too_long(c.req, "queue name", d.name)) return *bad;
    d.durable = bool_field(*body, "durable", true);
    d.auto_delete = bool_field(*body, "auto_delete", false);
    d.args = std::move(*args);
    const bool existed = vh->find_queue(d.name) != nullptr;
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = vh->declare_queue(d, 0, acting(c, me, who));
    if (!r) return core_error(c.req, r.error());
    return no_content(c.req, existed ? http::status::no_content : http::status::created);
}

response management_api::delete_queue(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    const std::string& name = c.param("name");
    if (!vh->find_queue(name)) return not_found(c.req);
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = vh->delete_queue(name, c.query_value("if-unused") == "true",
                              c.query_value("if-empty") == "true", 0, &who);
    if (!r) return core_error(c.req, r.error());
    return no_content(c.req);
}

response management_api::purge_queue(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    const std::string& name = c.param("name");
    if (!vh->find_queue(name)) return not_found(c.req);
    auth::user_access who(_auth.users, me.name, vh->name());
    auto r = vh->purge_queue(name, 0, &who);
    if (!r) return core_error(c.req, r.error());
    return no_content(c.req);
}

response management_api::get_messages(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    const std::string& name = c.param("name");
    if (!vh->find_queue(name)) return not_found(c.req);
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    std::string missing = missing_keys(*body, {"ackmode", "count", "encoding"});
    if (!missing.empty()) return bad_request(c.req, missing);
    auto count = int_value((*body)["count"]);
    if (!count || *count < 0) return bad_request(c.req, "count must be a non-negative integer");
    std::string ackmode = str_field(*body, "ackmode");
    const bool requeue = ackmode == "ack_requeue_true" || ackmode == "reject_requeue_true";
    const bool reject = ackmode == "reject_requeue_false";
    if (!requeue && !reject && ackmode != "ack_requeue_false")
        return bad_request(c.req, fmt::format("Invalid ackmode: {}", ackmode));
    std::string encoding = str_field(*body, "encoding");
    if (encoding != "auto" && encoding != "base64")
        return bad_request(c.req, "Unsupported encoding");
    std::optional<int64_t> truncate;
    if (auto it = body->find("truncate"); it != body->end() && !it->is_null()) {
        truncate = int_value(*it);
        if (!truncate || *truncate < 0) return bad_request(c.req, "truncate must be an integer");
    }
    auth::user_access who(_auth.users, me.name, vh->name());
    if (auto ok = who.check(core::permission::read, core::resource_kind::queue, name); !ok)
        return core_error(c.req, ok.error());
    auto qr = vh->queue_for(name, 0);
    if (!qr) return core_error(c.req, qr.error());
    core::queue_ptr qp = *qr;
    json list = json::array();
    std::vector<uint64_t> taken;
    for (int64_t i = 0; i < *count; ++i) {
        auto d = qp->get(false);
        if (!d) break;
        taken.push_back(d->seq);
        const core::message& m = *d->msg;
        std::string payload = m.body;
        if (truncate && payload.size() > static_cast<uint64_t>(*truncate))
            payload.resize(static_cast<size_t>(*truncate));
        const bool as_string = encoding == "auto" && valid_utf8(payload);
        list.push_back({{"payload_bytes", m.body.size()},
                        {"redelivered", d->redelivered},
                        {"exchange", m.exchange},
                        {"routing_key", m.routing_key},
                        {"message_count", qp->message_count()},
                        {"properties", properties_json(m.props)},
                        {"payload", as_string ? payload : base64_encode(payload)},
                        {"payload_encoding", as_string ? "string" : "base64"}});
    }
    if (requeue) {
        qp->requeue(std::move(taken));
    } else {
        for (uint64_t seq : taken) reject ? qp->discard(seq) : qp->ack(seq);
    }
    return reply(c.req, http::status::ok, list);
}

response management_api::queue_actions(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    if (!vh->find_queue(c.param("name"))) return not_found(c.req);
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    std::string action = str_field(*body, "action");
    // Mirror synchronisation: a single node has no mirrors, so there is nothing to do.
    if (action == "sync" || action == "cancel_sync") return no_content(c.req);
    return bad_request(c.req, "Unknown action");
}

// ---------------------------------------------------------------------------------------------
// Aliveness and health checks

response management_api::aliveness(const call& c, const auth::user& me) {
    response out;
    core::vhost* vh = vhost_for(c, me, out);
    if (!vh) return out;
    // As RabbitMQ does: declare aliveness-test, publish to it through the default exchange and
    // get the message back.
    auth::user_access who(_auth.users, me.name, vh->name());
    core::queue_decl d;
    d.name = "aliveness-test";
    auto q = vh->declare_queue(d, 0, &who);
    if (!q) return core_error(c.req, q.error());
    auto msg = std::make_shared<core::message>();
    msg->routing_key = "aliveness-test";
    msg->body = "test_message";
    auto r = vh->publish("", std::move(msg), nullptr, &who);
    if (!r) return core_error(c.req, r.error());
    auto got = q->q->get(true);
    if (!got || got->msg->body != "test_message")
        return error_reply(c.req, http::status::service_unavailable, "failed",
                           "aliveness test: the message did not come back");
    return reply(c.req, http::status::ok, json{{"status", "ok"}});
}

response management_api::definitions(const call& c, const auth::user&) {
    // rabbit_definitions' export: what would recreate the broker's durable state. Whole-broker
    // exports carry users, vhosts and permissions; a vhost's export leaves them and the
    // objects' "vhost" key out. Only durable, non-exclusive queues, durable exchanges other
    // than "" and amq.*, and bindings between exported objects are included, as in RabbitMQ.
    const std::string& only = c.param("vhost");
    std::vector<core::vhost*> vhs;
    if (!only.empty()) {
        core::vhost* vh = _broker.find_vhost(only);
        if (!vh) return vhost_missing(c.req);
        vhs.push_back(vh);
    } else {
        for (const auto& [n, v] : _broker.vhosts()) vhs.push_back(v.get());
    }
    const bool all = only.empty();
    json out = {{"rabbit_version", "3.10.8"},
                {"rabbitmq_version", "3.10.8"},
                {"product_name", "Warren"},
                {"product_version", std::string(server::version)}};
    if (all) {
        json users = json::array(), vhosts = json::array(), perms = json::array(),
             topics = json::array();
        for (const auto& [n, u] : _auth.users.users()) users.push_back(user_json(u));
        // As RabbitMQ 3.10 exports them: the name only (limits are parameters).
        for (const auto* vh : vhs) vhosts.push_back({{"name", vh->name()}});
        for (const auto& p : _auth.users.all_permissions())
            perms.push_back({{"user", p.user},
                             {"vhost", p.vhost},
                             {"configure", p.patterns.configure},
                             {"write", p.patterns.write},
                             {"read", p.patterns.read}});
        for (const auto& t : _auth.users.all_topic_permissions())
            topics.push_back({{"user", t.user},
                              {"vhost", t.vhost},
                              {"exchange", t.exchange},
                              {"write", t.write},
                              {"read", t.read}});
        out["users"] = std::move(users);
        out["vhosts"] = std::move(vhosts);
        out["permissions"] = std::move(perms);
        out["topic_permissions"] = std::move(topics);
        out["global_parameters"] = json::array({{{"name", "cluster_name"}, {"value", _node}}});
    }
    json policies = json::array(), queues = json::array(), exchanges = json::array(),
         bindings = json::array();
    auto in_vhost = [&](json j, const core::vhost& vh) {
        if (all) j["vhost"] = vh.name();
        return j;
    };
    auto exported_exchange = [](const core::exchange& x) {
        return x.durable() && !x.name().empty() && !x.name().starts_with("amq.");
    };
    for (auto* vh : vhs) {
        for (const auto& p : vh->policies())
            policies.push_back(in_vhost({{"name", p.name},
                                         {"pattern", p.pattern},
                                         {"apply-to", p.apply_to},
                                         {"definition", table_json(p.definition)},
                                         {"priority", p.priority}},
                                        *vh));
        for (const auto& [n, q] : vh->queues()) {
            if (!q->durable() || q->exclusive()) continue;
            queues.push_back(in_vhost({{"name", q->name()},
                                       {"durable", true},
                                       {"auto_delete", q->auto_delete()},
                                       {"arguments", table_json(q->args())}},
                                      *vh));
        }
        for (const auto& [n, x] : vh->exchanges()) {
            if (!exported_exchange(*x)) continue;
            exchanges.push_back(in_vhost({{"name", x->name()},
                                          {"type", std::string(x->type_name())},
                                          {"durable", true},
                                          {"auto_delete", x->auto_delete()},
                                          {"internal", x->internal()},
                                          {"arguments", table_json(x->args())}},
                                         *vh));
        }
        for (const auto& b : binding_rows(*vh)) {
            // Durable bindings only: from a durable exchange (not the default one, whose
            // bindings are implicit) to a durable queue or exchange.
            const core::exchange* src = vh->find_exchange(b.source);
            if (b.source.empty() || !src || !src->durable()) continue;
            if (b.to_queue) {
                auto q = vh->find_queue(b.destination);
                if (!q || !q->durable() || q->exclusive()) continue;
            } else {
                const core::exchange* d = vh->find_exchange(b.destination);
                if (!d || !d->durable()) continue;
            }
            bindings.push_back(in_vhost({{"source", b.source},
                                         {"destination", b.destination},
                                         {"destination_type", b.to_queue ? "queue" : "exchange"},
                                         {"routing_key", b.key},
                                         {"arguments", table_json(b.args)}},
                                        *vh));
        }
    }
    // Operator policies and vhost limits: runtime parameters, as RabbitMQ keeps them.
    json parameters = json::array();
    for (auto* vh : vhs)
        for (auto& p : runtime_parameters(*vh, "")) {
            if (!all) p.erase("vhost");
            parameters.push_back(std::move(p));
        }
    out["parameters"] = std::move(parameters);
    out["policies"] = std::move(policies);
    out["queues"] = std::move(queues);
    out["exchanges"] = std::move(exchanges);
    out["bindings"] = std::move(bindings);
    return reply(c.req, http::status::ok, out);
}

response management_api::health_ok(const call& c, const auth::user&) {
    // A single node has no quorum or mirror whose loss a shutdown would risk.
    return reply(c.req, http::status::ok, json{{"status", "ok"}});
}

response management_api::health_alarms(const call& c, const auth::user&) {
    // RabbitMQ's rabbit_mgmt_wm_health_check_(local_)alarms: 503 and the alarms in effect.
    const core::alarm_set a = _broker.alarms();
    if (a.empty()) return reply(c.req, http::status::ok, json{{"status", "ok"}});
    json alarms = json::array();
    if (a.has(core::resource::memory)) alarms.push_back({{"node", _node}, {"resource", "memory"}});
    if (a.has(core::resource::disk) || a.has(core::resource::store))
        alarms.push_back({{"node", _node}, {"resource", "disk"}});
    const bool local = c.req.target().find("local-alarms") != std::string_view::npos;
    return reply(c.req, http::status::service_unavailable,
                 json{{"status", "failed"},
                      {"reason", local ? "There are alarms in effect on the node"
                                       : "There are alarms in effect in the cluster"},
                      {"alarms", alarms}});
}

response management_api::health_port(const call& c, const auth::user&) {
    const std::string& raw = c.param("port");
    uint16_t port = 0;
    auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), port);
    if (ec != std::errc() || p != raw.data() + raw.size())
        return bad_request(c.req, fmt::format("Invalid port: {}", raw));
    json ports = json::array();
    for (const auto& l : _listeners) {
        ports.push_back(l.port);
        if (l.port == port)
            return reply(c.req, http::status::ok, json{{"status", "ok"}, {"port", port}});
    }
    return reply(c.req, http::status::service_unavailable,
                 json{{"status", "failed"},
                      {"reason", "No active listener"},
                      {"missing", port},
                      {"ports", ports}});
}

response management_api::health_vhosts(const call& c, const auth::user&) {
    // Every vhost runs on this node's one broker thread: none can be down alone.
    return reply(c.req, http::status::ok, json{{"status", "ok"}});
}

}  // namespace warren::mgmt

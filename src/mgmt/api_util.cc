#include "mgmt/api_util.h"

#include <fmt/format.h>

#include <cmath>

#include "base/log.h"
#include "core/topology_store.h"
#include "core/vhost.h"

namespace warren::mgmt {

namespace {

std::string base64_decode(std::string_view in) {
    static constexpr std::string_view chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        auto p = chars.find(c);
        if (p == std::string_view::npos) return {};
        acc = (acc << 6) | static_cast<uint32_t>(p);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

}  // namespace

response reply(const request& req, http::status s, const json& body) {
    return make_response(req, s, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

response no_content(const request& req, http::status s) {
    response res{s, req.version()};
    res.set(http::field::server, "Warren");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
}

response error_reply(const request& req, http::status s, std::string_view error,
                     std::string_view reason) {
    return reply(req, s, json{{"error", error}, {"reason", reason}});
}

response not_found(const request& req) {
    return error_reply(req, http::status::not_found, "Object Not Found", "Not Found");
}

response bad_request(const request& req, std::string_view reason) {
    return error_reply(req, http::status::bad_request, "bad_request", reason);
}

response save_failed(const request& req) {
    return error_reply(req, http::status::internal_server_error, "internal_error",
                       "could not save the change to the data directory");
}

response not_authorised(const request& req, std::string_view reason) {
    return error_reply(req, http::status::unauthorized, "not_authorised", reason);
}

std::optional<json> parse_body(const request& req) {
    if (req.body().empty() || req.body() == "null") return json::object();
    json j = json::parse(req.body(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

std::string str_field(const json& j, const char* key, std::string fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool bool_field(const json& j, const char* key, bool fallback) {
    auto it = j.find(key);
    if (it == j.end()) return fallback;
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_string()) return it->get<std::string>() == "true";
    return fallback;
}

bool is_management_tag(std::string_view t) {
    return t == "administrator" || t == "management" || t == "monitoring" || t == "policymaker";
}

bool user_has(const auth::user& u, tag_level level) {
    switch (level) {
        case tag_level::none:
            return true;
        case tag_level::management:
            for (auto& t : u.tags)
                if (is_management_tag(t)) return true;
            return false;
        case tag_level::policymaker:
            return u.has_tag("policymaker") || u.has_tag("administrator");
        case tag_level::monitoring:
            return is_monitor(u);
        case tag_level::administrator:
            return u.has_tag("administrator");
    }
    return false;
}

bool is_monitor(const auth::user& u) {
    return u.has_tag("monitoring") || u.has_tag("administrator");
}

const auth::user* api_login::check(const call& c, response& out, tag_level level) {
    auto unauthorised = [&](std::string_view reason) {
        out = not_authorised(c.req, reason);
        out.set(http::field::www_authenticate, "Basic realm=\"RabbitMQ Management\"");
        return nullptr;
    };
    auto it = c.req.find(http::field::authorization);
    if (it == c.req.end()) return unauthorised("Login failed");
    std::string_view v(it->value().data(), it->value().size());
    if (!v.starts_with("Basic ")) return unauthorised("Login failed");
    std::string creds = base64_decode(v.substr(6));
    size_t colon = creds.find(':');
    if (colon == std::string::npos) return unauthorised("Login failed");
    std::string name = creds.substr(0, colon);
    const uint64_t now = _broker.now_ms();
    if (auto wait = _auth.logins.locked_out(c.peer, now)) {
        WLOG_WARN(
            "HTTP access refused peer={}: user '{}' - too many failed logins from this "
            "address, locked out for {} ms more",
            c.peer, name, *wait);
        return unauthorised("Login failed");
    }
    auto u = _auth.users.authenticate(name, std::string_view(creds).substr(colon + 1));
    if (!u) {
        uint64_t lock = _auth.logins.failed(c.peer, now);
        WLOG_WARN(
            "HTTP access refused peer={}: user '{}' - invalid credentials{}", c.peer, name,
            lock ? fmt::format(" (too many failures: address locked out for {} ms)", lock) : "");
        return unauthorised("Login failed");
    }
    _auth.logins.succeeded(c.peer);
    const auth::user* me = *u;
    // RabbitMQ's loopback_users hold for the management API too (rabbit_mgmt_util).
    if (!_auth.users.may_connect_from(me->name, c.peer)) {
        WLOG_WARN("HTTP access denied peer={}: user '{}' - User can only log in via localhost",
                  c.peer, me->name);
        return unauthorised("User can only log in via localhost");
    }
    if (user_has(*me, level)) return me;
    // Known user, missing tag: 401 without a new challenge, as RabbitMQ answers.
    switch (level) {
        case tag_level::administrator:
            out = not_authorised(c.req, "Not administrator user");
            break;
        case tag_level::monitoring:
            out = not_authorised(c.req, "Not monitor user");
            break;
        case tag_level::policymaker:
            out = not_authorised(c.req, "Not policymaker user");
            break;
        default:
            out = not_authorised(c.req, "Not management user");
    }
    return nullptr;
}

json user_json(const auth::user& u) {
    json limits = json::object();
    if (u.limits.max_connections >= 0) limits["max-connections"] = u.limits.max_connections;
    if (u.limits.max_channels >= 0) limits["max-channels"] = u.limits.max_channels;
    return {{"name", u.name},
            {"password_hash", u.password.base64()},
            {"hashing_algorithm", auth::algorithm_name(u.password.algorithm)},
            {"tags", u.tags},
            {"limits", limits}};
}

bool set_vhost_limits(core::vhost& vh, const core::vhost::limits& l) {
    const auto before = vh.get_limits();
    vh.set_limits(l);
    if (vh.topology() && !vh.topology()->topology_changed(vh)) {
        vh.set_limits(before);
        return false;
    }
    return true;
}

// ---- AMQP field tables <-> JSON (RabbitMQ's rabbit_mgmt_format) ----

json table_json(const core::field_table& t) {
    json out = json::object();
    for (const auto& [k, v] : t) out[k] = field_json(v);
    return out;
}

json field_json(const core::field_value& f) {
    return std::visit(
        [](const auto& x) -> json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, core::void_value>) {
                return nullptr;
            } else if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T>) {
                return x;
            } else if constexpr (std::is_same_v<T, std::string>) {
                return x;
            } else if constexpr (std::is_same_v<T, core::bytes_value>) {
                return x.data;
            } else if constexpr (std::is_same_v<T, core::timestamp_value>) {
                return x.seconds;
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_array>>) {
                json a = json::array();
                if (x)
                    for (const auto& e : *x) a.push_back(field_json(e));
                return a;
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_table>>) {
                return x ? table_json(*x) : json::object();
            } else {
                return fmt::format("{}", static_cast<double>(x.value) / std::pow(10, x.scale));
            }
        },
        f.v);
}

}  // namespace warren::mgmt

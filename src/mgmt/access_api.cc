#include "mgmt/access_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "base/log.h"

namespace warren::mgmt {

using json = nlohmann::json;

namespace {

constexpr std::string_view prefix = "/api/";

std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

// "/api/users/a%2Fb/x" -> {"users", "a/b", "x"}.
std::vector<std::string> segments(std::string_view target) {
    target = target.substr(0, target.find('?'));
    target.remove_prefix(prefix.size());
    std::vector<std::string> out;
    while (!target.empty()) {
        size_t slash = target.find('/');
        out.push_back(url_decode(target.substr(0, slash)));
        if (slash == std::string_view::npos) break;
        target.remove_prefix(slash + 1);
    }
    return out;
}

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

response reply(const request& req, http::status s, const json& body) {
    return make_response(req, s, body.dump());
}

response no_content(const request& req, http::status s = http::status::no_content) {
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

// The change is applied but its record could not be written (the metadata log failed).
response save_failed(const request& req) {
    return error_reply(req, http::status::internal_server_error, "internal_error",
                       "could not save the change to the data directory");
}

response bad_request(const request& req, std::string_view reason) {
    return error_reply(req, http::status::bad_request, "bad_request", reason);
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

json vhost_json(const core::vhost& v) {
    return {{"name", v.name()},      {"description", ""},
            {"tags", json::array()}, {"metadata", {{"description", ""}, {"tags", json::array()}}},
            {"tracing", false},      {"cluster_state", {{"warren", "running"}}}};
}

// RabbitMQ accepts tags as "a,b" or ["a", "b"].
std::vector<std::string> parse_tags(const json& j) {
    std::vector<std::string> out;
    auto add = [&](std::string t) {
        while (!t.empty() && t.front() == ' ') t.erase(t.begin());
        while (!t.empty() && t.back() == ' ') t.pop_back();
        if (!t.empty()) out.push_back(std::move(t));
    };
    if (j.is_string()) {
        std::string s = j.get<std::string>();
        size_t at = 0;
        for (;;) {
            size_t comma = s.find(',', at);
            add(s.substr(at, comma == std::string::npos ? comma : comma - at));
            if (comma == std::string::npos) break;
            at = comma + 1;
        }
    } else if (j.is_array()) {
        for (const auto& t : j)
            if (t.is_string()) add(t.get<std::string>());
    }
    return out;
}

std::optional<json> parse_body(const request& req) {
    if (req.body().empty()) return json::object();
    json j = json::parse(req.body(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

std::string str_field(const json& j, const char* key, std::string fallback = {}) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool is_management_tag(std::string_view t) {
    return t == "administrator" || t == "management" || t == "monitoring" || t == "policymaker";
}

}  // namespace

access_api::access_api(core::broker& b, auth::authority& a, durability::topology_saver* saver)
    : _broker(b), _auth(a), _saver(saver) {}

void access_api::install(http_server& http) {
    for (const char* path :
         {"/api/whoami", "/api/users", "/api/users/*", "/api/vhosts", "/api/vhosts/*",
          "/api/permissions", "/api/permissions/*", "/api/topic-permissions",
          "/api/topic-permissions/*", "/api/vhost-limits", "/api/vhost-limits/*",
          "/api/user-limits", "/api/user-limits/*"})
        for (const char* method : {"GET", "PUT", "DELETE", "POST"})
            http.route(method, path, [this](const request& req) { return handle(req); });
}

bool access_api::save_access() {
    return _saver == nullptr || _saver->access_changed();
}

const auth::user* access_api::login(const request& req, response& out) {
    auto unauthorised = [&](std::string_view reason) {
        out = error_reply(req, http::status::unauthorized, "not_authorised", reason);
        out.set(http::field::www_authenticate, "Basic realm=\"RabbitMQ Management\"");
        return nullptr;
    };
    auto it = req.find(http::field::authorization);
    if (it == req.end()) return unauthorised("Login failed");
    std::string_view v(it->value().data(), it->value().size());
    if (!v.starts_with("Basic ")) return unauthorised("Login failed");
    std::string creds = base64_decode(v.substr(6));
    size_t colon = creds.find(':');
    if (colon == std::string::npos) return unauthorised("Login failed");
    std::string name = creds.substr(0, colon);
    auto u = _auth.users.authenticate(name, std::string_view(creds).substr(colon + 1));
    if (!u) {
        WLOG_WARN("HTTP access refused: user '{}' - invalid credentials", name);
        return unauthorised("Login failed");
    }
    // RabbitMQ's loopback_users hold for the management API too; the peer is not known here,
    // so a loopback-only user keeps its access (the listener binds where the config says).
    return *u;
}

basic_result<bool, access_api::failure> access_api::put_vhost(const std::string& name) {
    if (name.empty()) return failure{http::status::bad_request, "vhost name must not be empty"};
    if (_broker.find_vhost(name)) return false;
    core::vhost* vh = _broker.add_vhost(name);
    if (_saver && !_saver->topology_changed(*vh)) {
        _broker.remove_vhost(name);
        return failure{http::status::internal_server_error, "could not save the vhost"};
    }
    WLOG_INFO("vhost '{}' created", name);
    return true;
}

access_api::outcome access_api::delete_vhost(const std::string& name) {
    if (!_broker.find_vhost(name)) return failure{http::status::not_found, "Not Found"};
    _broker.delete_vhost(name, fmt::format("vhost '{}' is deleted", name));
    _auth.users.vhost_deleted(name);
    if (_saver) {
        (void)_saver->vhost_deleted(name);
        (void)_saver->access_changed();
    }
    WLOG_INFO("vhost '{}' deleted", name);
    return {};
}

response access_api::handle(const request& req) {
    response denied;
    const auth::user* me = login(req, denied);
    if (!me) return denied;
    std::string_view target(req.target().data(), req.target().size());
    auto seg = segments(target);
    const std::string method(req.method_string());
    const bool get = method == "GET", put = method == "PUT", del = method == "DELETE";

    if (seg.size() == 1 && seg[0] == "whoami" && get) {
        bool management = false;
        for (auto& t : me->tags) management |= is_management_tag(t);
        if (!management)
            return error_reply(req, http::status::unauthorized, "not_authorised",
                               "Not management user");
        return reply(req, http::status::ok, json{{"name", me->name}, {"tags", me->tags}});
    }
    if (!me->has_tag("administrator"))
        return error_reply(req, http::status::unauthorized, "not_authorised",
                           "Not administrator user");
    auth::user_db& users = _auth.users;
    const std::string& what = seg.empty() ? std::string() : seg[0];

    // ---- users ----
    if (what == "users") {
        if (seg.size() == 1 && get) {
            json out = json::array();
            for (const auto& [n, u] : users.users()) out.push_back(user_json(u));
            return reply(req, http::status::ok, out);
        }
        if (seg.size() == 2 && seg[1] == "bulk-delete" && method == "POST") {
            auto body = parse_body(req);
            if (!body || !body->contains("users") || !(*body)["users"].is_array())
                return bad_request(req, "users must be a list of user names");
            for (const auto& n : (*body)["users"])
                if (n.is_string()) users.delete_user(n.get<std::string>());
            if (!save_access()) return save_failed(req);
            return no_content(req);
        }
        if (seg.size() != 2) return not_found(req);
        const std::string& name = seg[1];
        if (get) {
            const auth::user* u = users.find(name);
            return u ? reply(req, http::status::ok, user_json(*u)) : not_found(req);
        }
        if (del) {
            if (!users.delete_user(name)) return not_found(req);
            // RabbitMQ closes a deleted user's connections.
            for (const auto& [vn, v] : _broker.vhosts())
                v->close_connections_of(name, fmt::format("user '{}' is deleted", name));
            if (!save_access()) return save_failed(req);
            WLOG_INFO("user '{}' deleted", name);
            return no_content(req);
        }
        if (put) {
            auto body = parse_body(req);
            if (!body) return bad_request(req, "body is not a JSON object");
            const auth::user* existing = users.find(name);
            auth::password_hash h;
            if (body->contains("password")) {
                h = auth::hash_password(str_field(*body, "password"));
            } else if (body->contains("password_hash")) {
                std::string b64 = str_field(*body, "password_hash");
                if (!b64.empty()) {
                    auto parsed =
                        auth::password_hash::parse(b64, str_field(*body, "hashing_algorithm"));
                    if (!parsed) return bad_request(req, "invalid password_hash");
                    h = std::move(*parsed);
                }
            } else if (existing) {
                h = existing->password;
            } else {
                return bad_request(req, "Must specify password or password_hash");
            }
            std::vector<std::string> tags = body->contains("tags") ? parse_tags((*body)["tags"])
                                            : existing             ? existing->tags
                                                                   : std::vector<std::string>{};
            bool created = existing == nullptr;
            users.put_user(name, std::move(h), std::move(tags));
            if (!save_access()) return save_failed(req);
            WLOG_INFO("user '{}' {}", name, created ? "created" : "updated");
            return no_content(req, created ? http::status::created : http::status::no_content);
        }
        return error_reply(req, http::status::method_not_allowed, "method_not_allowed", "");
    }

    // ---- vhosts ----
    if (what == "vhosts") {
        if (seg.size() == 1 && get) {
            json out = json::array();
            for (const auto& [n, v] : _broker.vhosts()) out.push_back(vhost_json(*v));
            return reply(req, http::status::ok, out);
        }
        if (seg.size() != 2) return not_found(req);
        const std::string& name = seg[1];
        if (get) {
            const core::vhost* v = _broker.find_vhost(name);
            return v ? reply(req, http::status::ok, vhost_json(*v)) : not_found(req);
        }
        if (put) {
            auto r = put_vhost(name);
            if (!r) return error_reply(req, r.error().status, "bad_request", r.error().reason);
            return no_content(req, *r ? http::status::created : http::status::no_content);
        }
        if (del) {
            auto r = delete_vhost(name);
            if (!r) return not_found(req);
            return no_content(req);
        }
        return error_reply(req, http::status::method_not_allowed, "method_not_allowed", "");
    }

    // ---- permissions ----
    if (what == "permissions" || what == "topic-permissions") {
        const bool topic = what == "topic-permissions";
        auto perm_json = [&](const auto& p) {
            return json{{"user", p.user},
                        {"vhost", p.vhost},
                        {"configure", p.patterns.configure},
                        {"write", p.patterns.write},
                        {"read", p.patterns.read}};
        };
        auto topic_json = [&](const auto& p) {
            return json{{"user", p.user},
                        {"vhost", p.vhost},
                        {"exchange", p.exchange},
                        {"write", p.write},
                        {"read", p.read}};
        };
        if (seg.size() == 1 && get) {
            json out = json::array();
            if (topic)
                for (const auto& p : users.all_topic_permissions()) out.push_back(topic_json(p));
            else
                for (const auto& p : users.all_permissions()) out.push_back(perm_json(p));
            return reply(req, http::status::ok, out);
        }
        if (seg.size() != 3) return not_found(req);
        const std::string &vhost = seg[1], &user = seg[2];
        if (get) {
            json out = json::array();
            if (topic) {
                for (const auto& p : users.all_topic_permissions())
                    if (p.user == user && p.vhost == vhost) out.push_back(topic_json(p));
                if (out.empty()) return not_found(req);
                return reply(req, http::status::ok, out);
            }
            for (const auto& p : users.all_permissions())
                if (p.user == user && p.vhost == vhost)
                    return reply(req, http::status::ok, perm_json(p));
            return not_found(req);
        }
        if (del) {
            if (topic)
                users.clear_topic_permissions(user, vhost);
            else
                users.clear_permissions(user, vhost);
            if (!save_access()) return save_failed(req);
            return no_content(req);
        }
        if (put) {
            if (!_broker.find_vhost(vhost)) return bad_request(req, "vhost_not_found");
            if (!users.find(user)) return bad_request(req, "user_not_found");
            auto body = parse_body(req);
            if (!body) return bad_request(req, "body is not a JSON object");
            core::result<void> r;
            if (topic) {
                std::string exchange = str_field(*body, "exchange");
                if (exchange.empty()) return bad_request(req, "exchange must be set");
                r = users.set_topic_permission(user, vhost, exchange, str_field(*body, "write"),
                                               str_field(*body, "read"));
            } else {
                r = users.set_permissions(user, vhost,
                                          {str_field(*body, "configure"), str_field(*body, "write"),
                                           str_field(*body, "read")});
            }
            if (!r) return bad_request(req, r.error().text);
            if (!save_access()) return save_failed(req);
            WLOG_INFO("{} of user '{}' on vhost '{}' set",
                      topic ? "topic permissions" : "permissions", user, vhost);
            return no_content(req, http::status::created);
        }
        return error_reply(req, http::status::method_not_allowed, "method_not_allowed", "");
    }

    // ---- limits ----
    if (what == "vhost-limits" || what == "user-limits") {
        const bool per_vhost = what == "vhost-limits";
        auto vhost_limits_json = [](const core::vhost& v) {
            json value = json::object();
            if (v.get_limits().max_connections >= 0)
                value["max-connections"] = v.get_limits().max_connections;
            if (v.get_limits().max_queues >= 0) value["max-queues"] = v.get_limits().max_queues;
            return json{{"vhost", v.name()}, {"value", value}};
        };
        auto user_limits_json = [](const auth::user& u) {
            json value = json::object();
            if (u.limits.max_connections >= 0) value["max-connections"] = u.limits.max_connections;
            if (u.limits.max_channels >= 0) value["max-channels"] = u.limits.max_channels;
            return json{{"user", u.name}, {"value", value}};
        };
        if (get && seg.size() <= 2) {
            json out = json::array();
            if (per_vhost) {
                for (const auto& [n, v] : _broker.vhosts())
                    if ((seg.size() == 1 || n == seg[1]) &&
                        v->get_limits() != core::vhost::limits{})
                        out.push_back(vhost_limits_json(*v));
            } else {
                for (const auto& [n, u] : users.users())
                    if ((seg.size() == 1 || n == seg[1]) && u.limits != auth::user_limits{})
                        out.push_back(user_limits_json(u));
            }
            return reply(req, http::status::ok, out);
        }
        if (seg.size() != 3 || !(put || del)) return not_found(req);
        const std::string &owner = seg[1], &limit = seg[2];
        int64_t value = -1;
        if (put) {
            auto body = parse_body(req);
            if (!body || !body->contains("value") || !(*body)["value"].is_number_integer())
                return bad_request(req, "value must be an integer");
            value = (*body)["value"].get<int64_t>();
            if (value < -1) return bad_request(req, "value must be -1 or more");
        }
        if (per_vhost) {
            core::vhost* v = _broker.find_vhost(owner);
            if (!v) return not_found(req);
            auto l = v->get_limits();
            if (limit == "max-connections")
                l.max_connections = value;
            else if (limit == "max-queues")
                l.max_queues = value;
            else
                return bad_request(req, "unknown limit: " + limit);
            v->set_limits(l);
            if (_saver && !_saver->topology_changed(*v)) return save_failed(req);
        } else {
            const auth::user* u = users.find(owner);
            if (!u) return not_found(req);
            auto l = u->limits;
            if (limit == "max-connections")
                l.max_connections = value;
            else if (limit == "max-channels")
                l.max_channels = value;
            else
                return bad_request(req, "unknown limit: " + limit);
            users.set_limits(owner, l);
            if (!save_access()) return save_failed(req);
        }
        WLOG_INFO("{} limit {} of '{}' set to {}", per_vhost ? "vhost" : "user", limit, owner,
                  value);
        return no_content(req);
    }
    return not_found(req);
}

}  // namespace warren::mgmt

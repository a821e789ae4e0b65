#include "mgmt/access_api.h"

#include <fmt/format.h>

#include <vector>

#include "base/log.h"
#include "mgmt/list_query.h"

namespace warren::mgmt {

namespace {

json vhost_json(const core::vhost& v) {
    uint64_t ready = 0, unacked = 0;
    for (const auto& [n, q] : v.queues()) {
        ready += q->message_count();
        unacked += q->unacked_count();
    }
    return {{"name", v.name()},
            {"description", ""},
            {"tags", json::array()},
            {"metadata", {{"description", ""}, {"tags", json::array()}}},
            {"tracing", false},
            {"cluster_state", {{"warren", "running"}}},
            {"messages", ready + unacked},
            {"messages_ready", ready},
            {"messages_unacknowledged", unacked}};
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

}  // namespace

access_api::access_api(core::broker& b, auth::authority& a, durability::topology_saver* saver)
    : _broker(b), _auth(a), _saver(saver), _login(b, a) {}

void access_api::add(http_server& http, const char* method, const char* pattern, tag_level level,
                     handler_fn fn) {
    add_route(http, _login, this, method, pattern, level, fn);
}

void access_api::install(http_server& http) {
    using a = access_api;
    const auto admin = tag_level::administrator;
    add(http, "GET", "/api/whoami", tag_level::management, &a::get_whoami);
    add(http, "GET", "/api/users", admin, &a::list_users);
    add(http, "POST", "/api/users/bulk-delete", admin, &a::bulk_delete_users);
    add(http, "GET", "/api/users/{user}", admin, &a::get_user);
    add(http, "PUT", "/api/users/{user}", admin, &a::put_user);
    add(http, "DELETE", "/api/users/{user}", admin, &a::delete_user);
    // As RabbitMQ: any management user lists the vhosts it may see.
    add(http, "GET", "/api/vhosts", tag_level::management, &a::list_vhosts);
    add(http, "GET", "/api/vhosts/{vhost}", tag_level::management, &a::get_vhost);
    add(http, "PUT", "/api/vhosts/{vhost}", admin, &a::put_vhost_call);
    add(http, "DELETE", "/api/vhosts/{vhost}", admin, &a::delete_vhost_call);
    for (const char* what : {"permissions", "topic-permissions"}) {
        add(http, "GET", fmt::format("/api/{}", what).c_str(), admin, &a::list_permissions);
        std::string one = fmt::format("/api/{}/{{vhost}}/{{user}}", what);
        add(http, "GET", one.c_str(), admin, &a::get_permissions);
        add(http, "PUT", one.c_str(), admin, &a::put_permissions);
        add(http, "DELETE", one.c_str(), admin, &a::delete_permissions);
    }
    add(http, "GET", "/api/vhost-limits", admin, &a::list_limits);
    add(http, "GET", "/api/vhost-limits/{owner}", admin, &a::list_limits);
    add(http, "PUT", "/api/vhost-limits/{owner}/{limit}", admin, &a::set_limit);
    add(http, "DELETE", "/api/vhost-limits/{owner}/{limit}", admin, &a::set_limit);
    add(http, "GET", "/api/user-limits", admin, &a::list_limits);
    add(http, "GET", "/api/user-limits/{owner}", admin, &a::list_limits);
    add(http, "PUT", "/api/user-limits/{owner}/{limit}", admin, &a::set_limit);
    add(http, "DELETE", "/api/user-limits/{owner}/{limit}", admin, &a::set_limit);
}

bool access_api::save_access() {
    return _saver == nullptr || _saver->access_changed();
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

response access_api::get_whoami(const call& c, const auth::user& me) {
    return reply(c.req, http::status::ok, json{{"name", me.name}, {"tags", me.tags}});
}

// ---- users ----

response access_api::list_users(const call& c, const auth::user&) {
    list_query q(c);
    if (q.error()) return *q.error();
    json out = json::array();
    for (const auto& [n, u] : _auth.users.users()) out.push_back(user_json(u));
    return q.reply(std::move(out), {"name"});
}

response access_api::bulk_delete_users(const call& c, const auth::user&) {
    auto body = parse_body(c.req);
    if (!body || !body->contains("users") || !(*body)["users"].is_array())
        return bad_request(c.req, "users must be a list of user names");
    for (const auto& n : (*body)["users"])
        if (n.is_string()) _auth.users.delete_user(n.get<std::string>());
    if (!save_access()) return save_failed(c.req);
    return no_content(c.req);
}

response access_api::get_user(const call& c, const auth::user&) {
    const auth::user* u = _auth.users.find(c.param("user"));
    return u ? reply(c.req, http::status::ok, user_json(*u)) : not_found(c.req);
}

response access_api::delete_user(const call& c, const auth::user&) {
    const std::string& name = c.param("user");
    if (!_auth.users.delete_user(name)) return not_found(c.req);
    // RabbitMQ closes a deleted user's connections.
    for (const auto& [vn, v] : _broker.vhosts())
        v->close_connections_of(name, fmt::format("user '{}' is deleted", name));
    if (!save_access()) return save_failed(c.req);
    WLOG_INFO("user '{}' deleted", name);
    return no_content(c.req);
}

response access_api::put_user(const call& c, const auth::user&) {
    const std::string& name = c.param("user");
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, "body is not a JSON object");
    const auth::user* existing = _auth.users.find(name);
    auth::password_hash h;
    if (body->contains("password")) {
        h = auth::hash_password(str_field(*body, "password"));
    } else if (body->contains("password_hash")) {
        std::string b64 = str_field(*body, "password_hash");
        if (!b64.empty()) {
            auto parsed = auth::password_hash::parse(b64, str_field(*body, "hashing_algorithm"));
            if (!parsed) return bad_request(c.req, "invalid password_hash");
            h = std::move(*parsed);
        }
    } else if (existing) {
        h = existing->password;
    } else {
        return bad_request(c.req, "Must specify password or password_hash");
    }
    std::vector<std::string> tags = body->contains("tags") ? parse_tags((*body)["tags"])
                                    : existing             ? existing->tags
                                                           : std::vector<std::string>{};
    bool created = existing == nullptr;
    _auth.users.put_user(name, std::move(h), std::move(tags));
    if (!save_access()) return save_failed(c.req);
    WLOG_INFO("user '{}' {}", name, created ? "created" : "updated");
    return no_content(c.req, created ? http::status::created : http::status::no_content);
}

// ---- vhosts ----

response access_api::list_vhosts(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    json out = json::array();
    for (const auto& [n, v] : _broker.vhosts())
        if (is_monitor(me) || _auth.users.may_access(me.name, v->name()))
            out.push_back(vhost_json(*v));
    return q.reply(std::move(out), {"name"});
}

response access_api::get_vhost(const call& c, const auth::user& me) {
    const core::vhost* v = _broker.find_vhost(c.param("vhost"));
    if (!v) return not_found(c.req);
    if (!is_monitor(me) && !_auth.users.may_access(me.name, v->name()))
        return not_authorised(c.req, "User not authorised to access virtual host");
    list_query q(c);
    if (q.error()) return *q.error();
    return reply(c.req, http::status::ok, q.select_columns(vhost_json(*v)));
}

response access_api::put_vhost_call(const call& c, const auth::user& me) {
    const std::string& name = c.param("vhost");
    auto r = put_vhost(name);
    if (!r) return error_reply(c.req, r.error().status, "bad_request", r.error().reason);
    // RabbitMQ's API gives the user who creates a vhost full permissions in it (a definitions
    // import does not: definitions_import.h marks its calls).
    if (*r && c.req.find(import_marker) == c.req.end()) {
        if (auto p = _auth.users.set_permissions(me.name, name, {".*", ".*", ".*"}); !p)
            WLOG_WARN("permissions of '{}' in new vhost '{}': {}", me.name, name, p.error().text);
        else if (!save_access())
            return save_failed(c.req);
    }
    return no_content(c.req, *r ? http::status::created : http::status::no_content);
}

response access_api::delete_vhost_call(const call& c, const auth::user&) {
    auto r = delete_vhost(c.param("vhost"));
    if (!r) return not_found(c.req);
    return no_content(c.req);
}

// ---- permissions and topic permissions ----

namespace {

bool is_topic(const call& c) {
    std::string_view t(c.req.target().data(), c.req.target().size());
    return t.starts_with("/api/topic-permissions");
}

json perm_json(const auth::user_db::permission_entry& p) {
    return json{{"user", p.user},
                {"vhost", p.vhost},
                {"configure", p.patterns.configure},
                {"write", p.patterns.write},
                {"read", p.patterns.read}};
}

json topic_json(const auth::user_db::topic_entry& p) {
    return json{{"user", p.user},
                {"vhost", p.vhost},
                {"exchange", p.exchange},
                {"write", p.write},
                {"read", p.read}};
}

}  // namespace

response access_api::list_permissions(const call& c, const auth::user&) {
    list_query q(c);
    if (q.error()) return *q.error();
    json out = json::array();
    if (is_topic(c))
        for (const auto& p : _auth.users.all_topic_permissions()) out.push_back(topic_json(p));
    else
        for (const auto& p : _auth.users.all_permissions()) out.push_back(perm_json(p));
    return q.reply(std::move(out), {});
}

response access_api::get_permissions(const call& c, const auth::user&) {
    const std::string &vhost = c.param("vhost"), &user = c.param("user");
    if (is_topic(c)) {
        json out = json::array();
        for (const auto& p : _auth.users.all_topic_permissions())
            if (p.user == user && p.vhost == vhost) out.push_back(topic_json(p));
        if (out.empty()) return not_found(c.req);
        return reply(c.req, http::status::ok, out);
    }
    for (const auto& p : _auth.users.all_permissions())
        if (p.user == user && p.vhost == vhost) return reply(c.req, http::status::ok, perm_json(p));
    return not_found(c.req);
}

response access_api::delete_permissions(const call& c, const auth::user&) {
    const std::string &vhost = c.param("vhost"), &user = c.param("user");
    if (is_topic(c))
        _auth.users.clear_topic_permissions(user, vhost);
    else
        _auth.users.clear_permissions(user, vhost);
    if (!save_access()) return save_failed(c.req);
    return no_content(c.req);
}

response access_api::put_permissions(const call& c, const auth::user&) {
    const std::string &vhost = c.param("vhost"), &user = c.param("user");
    const bool topic = is_topic(c);
    auth::user_db& users = _auth.users;
    if (!_broker.find_vhost(vhost)) return bad_request(c.req, "vhost_not_found");
    if (!users.find(user)) return bad_request(c.req, "user_not_found");
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, "body is not a JSON object");
    core::result<void> r;
    if (topic) {
        std::string exchange = str_field(*body, "exchange");
        if (exchange.empty()) return bad_request(c.req, "exchange must be set");
        r = users.set_topic_permission(user, vhost, exchange, str_field(*body, "write"),
                                       str_field(*body, "read"));
    } else {
        r = users.set_permissions(
            user, vhost,
            {str_field(*body, "configure"), str_field(*body, "write"), str_field(*body, "read")});
    }
    if (!r) return bad_request(c.req, r.error().text);
    if (!save_access()) return save_failed(c.req);
    WLOG_INFO("{} of user '{}' on vhost '{}' set", topic ? "topic permissions" : "permissions",
              user, vhost);
    return no_content(c.req, http::status::created);
}

// ---- vhost and user limits ----

namespace {

bool is_vhost_limits(const call& c) {
    std::string_view t(c.req.target().data(), c.req.target().size());
    return t.starts_with("/api/vhost-limits");
}

}  // namespace

response access_api::list_limits(const call& c, const auth::user&) {
    const std::string& owner = c.param("owner");
    json out = json::array();
    if (is_vhost_limits(c)) {
        for (const auto& [n, v] : _broker.vhosts()) {
            if ((!owner.empty() && n != owner) || v->get_limits() == core::vhost::limits{})
                continue;
            json value = json::object();
            if (v->get_limits().max_connections >= 0)
                value["max-connections"] = v->get_limits().max_connections;
            if (v->get_limits().max_queues >= 0) value["max-queues"] = v->get_limits().max_queues;
            out.push_back(json{{"vhost", v->name()}, {"value", value}});
        }
    } else {
        for (const auto& [n, u] : _auth.users.users()) {
            if ((!owner.empty() && n != owner) || u.limits == auth::user_limits{}) continue;
            json value = json::object();
            if (u.limits.max_connections >= 0) value["max-connections"] = u.limits.max_connections;
            if (u.limits.max_channels >= 0) value["max-channels"] = u.limits.max_channels;
            out.push_back(json{{"user", u.name}, {"value", value}});
        }
    }
    return reply(c.req, http::status::ok, out);
}

response access_api::set_limit(const call& c, const auth::user&) {
    const std::string &owner = c.param("owner"), &limit = c.param("limit");
    const bool per_vhost = is_vhost_limits(c);
    int64_t value = -1;
    if (c.req.method() == http::verb::put) {
        auto body = parse_body(c.req);
        if (!body || !body->contains("value") || !(*body)["value"].is_number_integer())
            return bad_request(c.req, "value must be an integer");
        value = (*body)["value"].get<int64_t>();
        if (value < -1) return bad_request(c.req, "value must be -1 or more");
    }
    if (per_vhost) {
        core::vhost* v = _broker.find_vhost(owner);
        if (!v) return not_found(c.req);
        auto l = v->get_limits();
        if (limit == "max-connections")
            l.max_connections = value;
        else if (limit == "max-queues")
            l.max_queues = value;
        else
            return bad_request(c.req, "unknown limit: " + limit);
        v->set_limits(l);
        if (_saver && !_saver->topology_changed(*v)) return save_failed(c.req);
    } else {
        const auth::user* u = _auth.users.find(owner);
        if (!u) return not_found(c.req);
        auto l = u->limits;
        if (limit == "max-connections")
            l.max_connections = value;
        else if (limit == "max-channels")
            l.max_channels = value;
        else
            return bad_request(c.req, "unknown limit: " + limit);
        _auth.users.set_limits(owner, l);
        if (!save_access()) return save_failed(c.req);
    }
    WLOG_INFO("{} limit {} of '{}' set to {}", per_vhost ? "vhost" : "user", limit, owner, value);
    return no_content(c.req);
}

}  // namespace warren::mgmt

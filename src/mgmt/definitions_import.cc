#include "mgmt/definitions_import.h"

#include <fmt/format.h>

#include <cctype>
#include <string>
#include <vector>

#include "base/log.h"

namespace warren::mgmt {

namespace {

// A path segment, percent-encoded (RFC 3986 unreserved characters stay as they are).
std::string segment(std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
            out += static_cast<char>(ch);
        else
            out += fmt::format("%{:02X}", ch);
    }
    return out;
}

std::string field(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One object of the file, as the API call that applies it.
struct step {
    http::verb method;
    std::string target;
    json body;
    std::string what;  // how the error names it: "queue 'q' in vhost '/'"
};

// The calls for one definitions file, in RabbitMQ's order. `only_vhost`: the per-vhost form.
std::vector<step> plan(const json& defs, const std::string* only_vhost) {
    std::vector<step> out;
    auto each = [&](const char* section, auto&& fn) {
        auto it = defs.find(section);
        if (it == defs.end() || !it->is_array()) return;
        for (const auto& o : *it)
            if (o.is_object()) fn(o);
    };
    auto vhost_of = [&](const json& o) { return only_vhost ? *only_vhost : field(o, "vhost"); };
    if (!only_vhost) {
        each("users", [&](const json& u) {
            json body = json::object();
            for (const char* k : {"password_hash", "hashing_algorithm", "tags", "password"})
                if (u.contains(k)) body[k] = u[k];
            if (!body.contains("password_hash") && !body.contains("password"))
                body["password_hash"] = "";  // a user without a password (login refused)
            out.push_back({http::verb::put, "/api/users/" + segment(field(u, "name")), body,
                           fmt::format("user '{}'", field(u, "name"))});
        });
        each("vhosts", [&](const json& v) {
            const std::string name = field(v, "name");
            out.push_back({http::verb::put, "/api/vhosts/" + segment(name), json::object(),
                           fmt::format("vhost '{}'", name)});
            if (auto l = v.find("limits"); l != v.end() && l->is_object())
                for (const auto& [k, val] : l->items())
                    out.push_back(
                        {http::verb::put,
                         fmt::format("/api/vhost-limits/{}/{}", segment(name), segment(k)),
                         json{{"value", val}}, fmt::format("limit {} of vhost '{}'", k, name)});
        });
        each("permissions", [&](const json& p) {
            out.push_back({http::verb::put,
                           fmt::format("/api/permissions/{}/{}", segment(field(p, "vhost")),
                                       segment(field(p, "user"))),
                           json{{"configure", field(p, "configure")},
                                {"write", field(p, "write")},
                                {"read", field(p, "read")}},
                           fmt::format("permissions of user '{}' in vhost '{}'", field(p, "user"),
                                       field(p, "vhost"))});
        });
        each("topic_permissions", [&](const json& p) {
            out.push_back({http::verb::put,
                           fmt::format("/api/topic-permissions/{}/{}", segment(field(p, "vhost")),
                                       segment(field(p, "user"))),
                           json{{"exchange", field(p, "exchange")},
                                {"write", field(p, "write")},
                                {"read", field(p, "read")}},
                           fmt::format("topic permissions of user '{}' in vhost '{}'",
                                       field(p, "user"), field(p, "vhost"))});
        });
    }
    each("parameters", [&](const json& p) {
        const std::string vh = vhost_of(p);
        out.push_back({http::verb::put,
                       fmt::format("/api/parameters/{}/{}/{}", segment(field(p, "component")),
                                   segment(vh), segment(field(p, "name"))),
                       json{{"value", p.contains("value") ? p["value"] : json()}},
                       fmt::format("parameter {} '{}' in vhost '{}'", field(p, "component"),
                                   field(p, "name"), vh)});
    });
    each("policies", [&](const json& p) {
        const std::string vh = vhost_of(p);
        json body = json::object();
        for (const char* k : {"pattern", "definition", "priority", "apply-to"})
            if (p.contains(k)) body[k] = p[k];
        out.push_back({http::verb::put,
                       fmt::format("/api/policies/{}/{}", segment(vh), segment(field(p, "name"))),
                       body, fmt::format("policy '{}' in vhost '{}'", field(p, "name"), vh)});
    });
    each("queues", [&](const json& q) {
        const std::string vh = vhost_of(q);
        json body = json::object();
        for (const char* k : {"durable", "auto_delete", "arguments"})
            if (q.contains(k)) body[k] = q[k];
        out.push_back({http::verb::put,
                       fmt::format("/api/queues/{}/{}", segment(vh), segment(field(q, "name"))),
                       body, fmt::format("queue '{}' in vhost '{}'", field(q, "name"), vh)});
    });
    each("exchanges", [&](const json& x) {
        const std::string vh = vhost_of(x);
        json body = json::object();
        for (const char* k : {"type", "durable", "auto_delete", "internal", "arguments"})
            if (x.contains(k)) body[k] = x[k];
        out.push_back({http::verb::put,
                       fmt::format("/api/exchanges/{}/{}", segment(vh), segment(field(x, "name"))),
                       body, fmt::format("exchange '{}' in vhost '{}'", field(x, "name"), vh)});
    });
    each("bindings", [&](const json& b) {
        const std::string vh = vhost_of(b);
        const bool to_exchange = field(b, "destination_type") == "exchange";
        json body = {{"routing_key", field(b, "routing_key")}};
        if (b.contains("arguments")) body["arguments"] = b["arguments"];
        out.push_back(
            {http::verb::post,
             fmt::format("/api/bindings/{}/e/{}/{}/{}", segment(vh), segment(field(b, "source")),
                         to_exchange ? "e" : "q", segment(field(b, "destination"))),
             body,
             fmt::format("binding {} -> {} '{}' in vhost '{}'", field(b, "source"),
                         field(b, "destination"), field(b, "routing_key"), vh)});
    });
    return out;
}

}  // namespace

void definitions_import::install(http_server& http) {
    _http = &http;
    using d = definitions_import;
    const auto admin = tag_level::administrator;
    add_route(http, _login, this, "POST", "/api/definitions", admin, &d::import);
    add_route(http, _login, this, "POST", "/api/definitions/{vhost}", admin, &d::import);
}

response definitions_import::import(const call& c, const auth::user&) {
    const std::string& vhost = c.param("vhost");
    if (!vhost.empty() && !_broker.find_vhost(vhost))
        return error_reply(c.req, http::status::not_found, "Object Not Found", "vhost_not_found");
    auto defs = parse_body(c.req);
    if (!defs) return bad_request(c.req, not_json);
    const auto steps = plan(*defs, vhost.empty() ? nullptr : &vhost);
    for (const auto& s : steps) {
        request sub{s.method, s.target, 11};
        sub.set(http::field::content_type, "application/json");
        sub.set(import_marker, "1");
        if (auto auth = c.req.find(http::field::authorization); auth != c.req.end())
            sub.set(http::field::authorization, auth->value());
        sub.body() = s.body.dump();
        sub.prepare_payload();
        response r = _http->dispatch(sub, c.peer);
        if (r.result_int() < 300) continue;
        std::string reason = r.body();
        auto j = json::parse(r.body(), nullptr, false);
        if (j.is_object() && j.contains("reason") && j["reason"].is_string())
            reason = j["reason"].get<std::string>();
        WLOG_WARN("definitions import stopped at {}: {}", s.what, reason);
        const auto status = r.result_int() >= 500 ? r.result() : http::status::bad_request;
        return error_reply(c.req, status, "bad_request", s.what + ": " + reason);
    }
    WLOG_INFO("definitions imported{}: {} objects",
              vhost.empty() ? std::string() : " into vhost '" + vhost + "'", steps.size());
    return no_content(c.req);
}

}  // namespace warren::mgmt

#include "mgmt/policy_api.h"

#include "base/log.h"
#include "mgmt/list_query.h"
#include "store/topology.h"

namespace warren::mgmt {

namespace {

bool is_operator(const call& c) {
    std::string_view t(c.req.target().data(), c.req.target().size());
    return t.starts_with("/api/operator-policies");
}

json policy_json(const core::vhost& vh, const core::policy& p) {
    return {{"vhost", vh.name()},
            {"name", p.name},
            {"pattern", p.pattern},
            {"apply-to", p.apply_to},
            {"definition", table_json(p.definition)},
            {"priority", p.priority}};
}

response vhost_not_found(const call& c) {
    return error_reply(c.req, http::status::not_found, "not_found", "vhost_not_found");
}

// RabbitMQ 3.10 HTML-escapes the reason of a refused policy or parameter (not of an operator
// policy): "&lt;&lt;\"x\"&gt;&gt; is not a valid message TTL".
std::string escape_tags(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (ch == '<')
            out += "&lt;";
        else if (ch == '>')
            out += "&gt;";
        else
            out += ch;
    }
    return out;
}

std::string erlang_term(const json& v) {
    if (v.is_string()) return "<<\"" + v.get<std::string>() + "\">>";
    return v.dump();
}

}  // namespace

policy_api::policy_api(core::broker& b, auth::authority& a, std::string node)
    : _broker(b), _auth(a), _login(b, a), _node(std::move(node)) {}

void policy_api::add(http_server& http, const char* method, const char* pattern, tag_level level,
                     handler_fn fn) {
    add_route(http, _login, this, method, pattern, level, fn);
}

void policy_api::install(http_server& http) {
    using p = policy_api;
    const auto pm = tag_level::policymaker;
    const auto admin = tag_level::administrator;
    for (auto [base, level] : {std::pair{"/api/policies", pm}, {"/api/operator-policies", admin}}) {
        const std::string b = base;
        add(http, "GET", b.c_str(), level, &p::list_policies);
        add(http, "GET", (b + "/{vhost}").c_str(), level, &p::list_policies);
        add(http, "GET", (b + "/{vhost}/{name}").c_str(), level, &p::get_policy);
        add(http, "PUT", (b + "/{vhost}/{name}").c_str(), level, &p::put_policy);
        add(http, "DELETE", (b + "/{vhost}/{name}").c_str(), level, &p::delete_policy);
    }
    add(http, "GET", "/api/parameters", pm, &p::list_parameters);
    add(http, "GET", "/api/parameters/{component}", pm, &p::list_parameters);
    add(http, "GET", "/api/parameters/{component}/{vhost}", pm, &p::list_parameters);
    add(http, "GET", "/api/parameters/{component}/{vhost}/{name}", pm, &p::list_parameters);
    add(http, "PUT", "/api/parameters/{component}/{vhost}/{name}", pm, &p::put_parameter);
    add(http, "DELETE", "/api/parameters/{component}/{vhost}/{name}", pm, &p::delete_parameter);
    add(http, "GET", "/api/global-parameters", admin, &p::global_parameters);
    add(http, "GET", "/api/global-parameters/{name}", admin, &p::global_parameters);
}

bool policy_api::sees(const auth::user& me, const core::vhost& vh) const {
    return user_has(me, tag_level::administrator) || _auth.users.may_access(me.name, vh.name());
}

core::vhost* policy_api::vhost_for(const call& c, const auth::user& me, response& out) {
    core::vhost* vh = _broker.find_vhost(c.param("vhost"));
    if (!vh) {
        out = vhost_not_found(c);
        return nullptr;
    }
    if (!sees(me, *vh)) {
        out = not_authorised(c.req, "User not authorised to access virtual host");
        return nullptr;
    }
    return vh;
}

response policy_api::list_policies(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    const bool op = is_operator(c);
    json out = json::array();
    auto add_vhost = [&](const core::vhost& vh) {
        for (const auto& p : op ? vh.operator_policies() : vh.policies())
            out.push_back(policy_json(vh, p));
    };
    if (!c.param("vhost").empty()) {
        response denied;
        const core::vhost* vh = vhost_for(c, me, denied);
        if (!vh) return denied;
        add_vhost(*vh);
    } else {
        for (const auto& [n, vh] : _broker.vhosts())
            if (sees(me, *vh)) add_vhost(*vh);
    }
    return q.reply(std::move(out), {"vhost", "name"});
}

response policy_api::get_policy(const call& c, const auth::user& me) {
    response denied;
    const core::vhost* vh = vhost_for(c, me, denied);
    if (!vh) return denied;
    const auto& rules = is_operator(c) ? vh->operator_policy_rules() : vh->policy_rules();
    const core::policy* p = rules.find(c.param("name"));
    return p ? reply(c.req, http::status::ok, policy_json(*vh, *p)) : not_found(c.req);
}

response policy_api::put_policy(const call& c, const auth::user& me) {
    response denied;
    core::vhost* vh = vhost_for(c, me, denied);
    if (!vh) return denied;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    const bool op = is_operator(c);
    auto r = set_policy(*vh, c.param("name"), *body, op);
    if (!r)
        return r.error().status == http::status::bad_request
                   ? bad_request(c.req, op ? r.error().reason : escape_tags(r.error().reason))
                   : error_reply(c.req, r.error().status, "bad_request", r.error().reason);
    return no_content(c.req, *r ? http::status::created : http::status::no_content);
}

basic_result<bool, policy_api::failure> policy_api::set_policy(core::vhost& vh,
                                                               const std::string& name,
                                                               const json& body, bool op) {
    auto bad = [](std::string why) { return failure{http::status::bad_request, std::move(why)}; };
    for (const char* key : {"pattern", "definition"})
        if (!body.contains(key)) return bad(std::string("[{key_missing,") + key + "}]");
    const json& pattern = body["pattern"];
    const json& def = body["definition"];
    if (!pattern.is_string())
        return bad("Validation failed\n\npattern should be a string, actually was " +
                   erlang_term(pattern) + "\n");
    if (!def.is_object())
        return bad("Validation failed\n\ndefinition must be a dictionary: " + erlang_term(def) +
                   "\n");
    int priority = 0;
    if (auto pr = body.find("priority"); pr != body.end() && !pr->is_null()) {
        if (!pr->is_number_integer())
            return bad("Validation failed\n\npriority should be a number, actually was " +
                       erlang_term(*pr) + "\n");
        priority = pr->get<int>();
    }
    auto definition = store::parse_policy_definition(def.dump());
    if (!definition) return bad("definition must be an object");
    core::policy p{name, pattern.get<std::string>(), str_field(body, "apply-to", "all"), priority,
                   std::move(*definition)};
    const auto& rules = op ? vh.operator_policy_rules() : vh.policy_rules();
    const bool created = rules.find(name) == nullptr;
    auto r = op ? vh.set_operator_policy(std::move(p)) : vh.set_policy(std::move(p));
    if (!r) {
        if (r.error().code == core::reply_code::internal_error)
            return failure{http::status::internal_server_error, "could not save the policy"};
        return bad(r.error().text + "\n");
    }
    WLOG_INFO("{}policy '{}' in vhost '{}' {}", op ? "operator " : "", name, vh.name(),
              created ? "set" : "updated");
    return created;
}

response policy_api::delete_policy(const call& c, const auth::user& me) {
    response denied;
    core::vhost* vh = vhost_for(c, me, denied);
    if (!vh) return denied;
    const bool op = is_operator(c);
    const std::string& name = c.param("name");
    auto r = op ? vh->clear_operator_policy(name) : vh->clear_policy(name);
    if (!r) return save_failed(c.req);
    if (!*r) return not_found(c.req);
    WLOG_INFO("{}policy '{}' in vhost '{}' cleared", op ? "operator " : "", name, vh->name());
    return no_content(c.req);
}

// ---- runtime parameters ----

json runtime_parameters(const core::vhost& vh, const std::string& component) {
    json out = json::array();
    if (component.empty() || component == "operator_policy")
        for (const auto& p : vh.operator_policies())
            out.push_back({{"value",
                            {{"pattern", p.pattern},
                             {"definition", table_json(p.definition)},
                             {"priority", p.priority},
                             {"apply-to", p.apply_to}}},
                           {"vhost", vh.name()},
                           {"component", "operator_policy"},
                           {"name", p.name}});
    const auto& l = vh.get_limits();
    if ((component.empty() || component == "vhost-limits") && l != core::vhost::limits{}) {
        json value = json::object();
        if (l.max_connections >= 0) value["max-connections"] = l.max_connections;
        if (l.max_queues >= 0) value["max-queues"] = l.max_queues;
        out.push_back({{"value", value},
                       {"vhost", vh.name()},
                       {"component", "vhost-limits"},
                       {"name", "limits"}});
    }
    return out;
}

response policy_api::list_parameters(const call& c, const auth::user& me) {
    list_query q(c);
    if (q.error()) return *q.error();
    const std::string& component = c.param("component");
    json out = json::array();
    if (!c.param("vhost").empty()) {
        response denied;
        const core::vhost* vh = vhost_for(c, me, denied);
        if (!vh) return denied;
        out = runtime_parameters(*vh, component);
    } else {
        for (const auto& [n, vh] : _broker.vhosts())
            if (sees(me, *vh))
                for (auto& p : runtime_parameters(*vh, component)) out.push_back(std::move(p));
    }
    if (const std::string& name = c.param("name"); !name.empty()) {
        for (auto& p : out)
            if (p["name"] == name) return reply(c.req, http::status::ok, p);
        return not_found(c.req);
    }
    return q.reply(std::move(out), {"vhost", "component", "name"});
}

response policy_api::put_parameter(const call& c, const auth::user& me) {
    response denied;
    core::vhost* vh = vhost_for(c, me, denied);
    if (!vh) return denied;
    auto body = parse_body(c.req);
    if (!body) return bad_request(c.req, not_json);
    if (!body->contains("value")) return bad_request(c.req, "[{key_missing,value}]");
    const std::string& component = c.param("component");
    const std::string& name = c.param("name");
    const json& v = (*body)["value"];
    auto invalid = [&](const std::string& why) {
        return bad_request(c.req, escape_tags("Validation failed\n\n" + why + "\n"));
    };
    if (component == "operator_policy") {
        // RabbitMQ keeps operator policies as this component; definitions files carry them so.
        if (!user_has(me, tag_level::administrator))
            return not_authorised(c.req, "Not administrator user");
        if (!v.is_object()) return invalid("value must be a dictionary");
        for (const char* key : {"pattern", "definition", "priority", "apply-to"})
            if (!v.contains(key))
                return invalid(std::string("Key \"") + key + "\" not found in " + name);
        auto r = set_policy(*vh, name, v, true);
        if (!r) return error_reply(c.req, r.error().status, "bad_request", r.error().reason);
        return no_content(c.req, *r ? http::status::created : http::status::no_content);
    }
    if (component != "vhost-limits") return invalid("component " + component + " not found");
    // RabbitMQ keeps vhost limits as this component (name "limits").
    if (!user_has(me, tag_level::administrator))
        return not_authorised(c.req, "Not administrator user");
    if (!v.is_object()) return invalid("value must be a dictionary");
    core::vhost::limits l;
    std::string unknown;
    for (const auto& [k, val] : v.items()) {
        if (k != "max-connections" && k != "max-queues") {
            unknown +=
                (unknown.empty() ? "{<<\"" : ",{<<\"") + k + "\">>," + erlang_term(val) + "}";
            continue;
        }
        if (!val.is_number_integer())
            return invalid(k + " should be a number, actually was " + erlang_term(val));
        (k == "max-connections" ? l.max_connections : l.max_queues) = val.get<int64_t>();
    }
    if (!unknown.empty()) return invalid("Unrecognised terms [" + unknown + "] in limits");
    const auto before = vh->get_limits();
    const bool created = before == core::vhost::limits{};
    vh->set_limits(l);
    if (vh->topology() && !vh->topology()->topology_changed(*vh)) {
        vh->set_limits(before);
        return save_failed(c.req);
    }
    WLOG_INFO("vhost limits of '{}' set", vh->name());
    return no_content(c.req, created ? http::status::created : http::status::no_content);
}

response policy_api::delete_parameter(const call& c, const auth::user& me) {
    response denied;
    core::vhost* vh = vhost_for(c, me, denied);
    if (!vh) return denied;
    const std::string& component = c.param("component");
    if (component == "operator_policy") {
        if (!user_has(me, tag_level::administrator))
            return not_authorised(c.req, "Not administrator user");
        auto r = vh->clear_operator_policy(c.param("name"));
        if (!r) return save_failed(c.req);
        return *r ? no_content(c.req) : not_found(c.req);
    }
    if (component != "vhost-limits" || vh->get_limits() == core::vhost::limits{})
        return not_found(c.req);
    if (!user_has(me, tag_level::administrator))
        return not_authorised(c.req, "Not administrator user");
    const auto before = vh->get_limits();
    vh->set_limits({});
    if (vh->topology() && !vh->topology()->topology_changed(*vh)) {
        vh->set_limits(before);
        return save_failed(c.req);
    }
    return no_content(c.req);
}

response policy_api::global_parameters(const call& c, const auth::user&) {
    json cluster = {{"name", "cluster_name"}, {"value", _node}};
    const std::string& name = c.param("name");
    if (name.empty()) return reply(c.req, http::status::ok, json::array({cluster}));
    if (name == "cluster_name") return reply(c.req, http::status::ok, cluster);
    return not_found(c.req);
}

}  // namespace warren::mgmt

#include "store/topology.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace warren::store {

using json = nlohmann::json;

namespace {

// ---- field values: {"type": "...", "value": ...} so every AMQP type comes back as itself ----

json encode_table(const core::field_table& t);
json encode_array(const core::field_array& a);

std::string hex(std::string_view s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() * 2);
    for (unsigned char c : s) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::optional<std::string> unhex(std::string_view s) {
    if (s.size() % 2) return std::nullopt;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (size_t i = 0; i < s.size(); i += 2) {
        int hi = nib(s[i]), lo = nib(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

// Strings that are not valid UTF-8 cannot be JSON strings; they are stored as hex instead.
bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = 0;
        if (c < 0x80)
            n = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if ((c >> 4) == 0x0e)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return false;
        if (s.size() - i - 1 < n) return false;
        for (size_t k = 1; k <= n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        if (n == 2) {  // no overlongs, no surrogates
            auto c1 = static_cast<unsigned char>(s[i + 1]);
            if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0)) return false;
        }
        if (n == 3) {
            auto c1 = static_cast<unsigned char>(s[i + 1]);
            if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90)) return false;
        }
        i += n + 1;
    }
    return true;
}

json encode_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    return d;
}

json encode_value(const core::field_value& fv) {
    json j;
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, core::void_value>) {
                j = {{"type", "void"}, {"value", nullptr}};
            } else if constexpr (std::is_same_v<T, bool>) {
                j = {{"type", "bool"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, int8_t>) {
                j = {{"type", "int8"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, uint8_t>) {
                j = {{"type", "uint8"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, int16_t>) {
                j = {{"type", "int16"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, uint16_t>) {
                j = {{"type", "uint16"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, int32_t>) {
                j = {{"type", "int32"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, uint32_t>) {
                j = {{"type", "uint32"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, int64_t>) {
                j = {{"type", "int64"}, {"value", x}};
            } else if constexpr (std::is_same_v<T, float>) {
                j = {{"type", "float"}, {"value", encode_float(x)}};
            } else if constexpr (std::is_same_v<T, double>) {
                j = {{"type", "double"}, {"value", encode_float(x)}};
            } else if constexpr (std::is_same_v<T, core::decimal_value>) {
                j = {{"type", "decimal"}, {"value", {{"scale", x.scale}, {"value", x.value}}}};
            } else if constexpr (std::is_same_v<T, std::string>) {
                // JSON strings must be UTF-8; arbitrary bytes go as hex.
                if (valid_utf8(x))
                    j = {{"type", "longstr"}, {"value", x}};
                else
                    j = {{"type", "longstr_hex"}, {"value", hex(x)}};
            } else if constexpr (std::is_same_v<T, core::bytes_value>) {
                j = {{"type", "bytes"}, {"value", hex(x.data)}};
            } else if constexpr (std::is_same_v<T, core::timestamp_value>) {
                j = {{"type", "timestamp"}, {"value", x.seconds}};
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_array>>) {
                j = {{"type", "array"}, {"value", x ? encode_array(*x) : json::array()}};
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_table>>) {
                j = {{"type", "table"}, {"value", x ? encode_table(*x) : json::array()}};
            }
        },
        fv.v);
    return j;
}

json encode_array(const core::field_array& a) {
    json out = json::array();
    for (const auto& v : a) out.push_back(encode_value(v));
    return out;
}

// Tables keep their order: an array of [key, value] pairs.
json encode_table(const core::field_table& t) {
    json out = json::array();
    for (const auto& [k, v] : t) out.push_back(json::array({k, encode_value(v)}));
    return out;
}

// Decoding reports the first problem through `err` (a path-like description).
struct decoder {
    std::string err;

    bool fail(std::string what) {
        if (err.empty()) err = std::move(what);
        return false;
    }

    template <typename T>
    bool integer(const json& v, T& out, const std::string& where) {
        if (!v.is_number_integer()) return fail(where + ": expected an integer");
        if (v.is_number_unsigned()) {
            auto u = v.get<uint64_t>();
            if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
                return fail(where + ": integer out of range");
            out = static_cast<T>(u);
            return true;
        }
        auto s = v.get<int64_t>();
        if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            (s > 0 &&
             static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
            return fail(where + ": integer out of range");
        out = static_cast<T>(s);
        return true;
    }

    bool floating(const json& v, double& out, const std::string& where) {
        if (v.is_number()) {
            out = v.get<double>();
            return true;
        }
        if (v.is_string()) {
            auto s = v.get<std::string>();
            if (s == "nan")
                out = std::nan("");
            else if (s == "inf")
                out = INFINITY;
            else if (s == "-inf")
                out = -INFINITY;
            else
                return fail(where + ": bad float");
            return true;
        }
        return fail(where + ": expected a number");
    }

    template <typename T>
    bool typed_int(const json& v, core::field_value& out, const std::string& where) {
        T x{};
        if (!integer(v, x, where)) return false;
        out = core::field_value{x};
        return true;
    }

    bool value(const json& j, core::field_value& out, const std::string& where) {
        if (!j.is_object() || !j.contains("type") || !j["type"].is_string() || !j.contains("value"))
            return fail(where + ": expected {\"type\", \"value\"}");
        std::string type = j["type"].get<std::string>();
        const json& v = j["value"];
        if (type == "void") {
            out = core::field_value{core::void_value{}};
        } else if (type == "bool") {
            if (!v.is_boolean()) return fail(where + ": expected a boolean");
            out = core::field_value{v.get<bool>()};
        } else if (type == "int8") {
            return typed_int<int8_t>(v, out, where);
        } else if (type == "uint8") {
            return typed_int<uint8_t>(v, out, where);
        } else if (type == "int16") {
            return typed_int<int16_t>(v, out, where);
        } else if (type == "uint16") {
            return typed_int<uint16_t>(v, out, where);
        } else if (type == "int32") {
            return typed_int<int32_t>(v, out, where);
        } else if (type == "uint32") {
            return typed_int<uint32_t>(v, out, where);
        } else if (type == "int64") {
            return typed_int<int64_t>(v, out, where);
        } else if (type == "float" || type == "double") {
            double d = 0;
            if (!floating(v, d, where)) return false;
            if (type == "float")
                out = core::field_value{static_cast<float>(d)};
            else
                out = core::field_value{d};
        } else if (type == "decimal") {
            core::decimal_value d;
            if (!v.is_object() || !v.contains("scale") || !v.contains("value") ||
                !integer(v["scale"], d.scale, where + ".scale") ||
                !integer(v["value"], d.value, where + ".value"))
                return fail(where + ": bad decimal");
            out = core::field_value{d};
        } else if (type == "longstr") {
            if (!v.is_string()) return fail(where + ": expected a string");
            out = core::field_value{v.get<std::string>()};
        } else if (type == "longstr_hex" || type == "bytes") {
            if (!v.is_string()) return fail(where + ": expected a hex string");
            auto raw = unhex(v.get<std::string>());
            if (!raw) return fail(where + ": bad hex");
            if (type == "bytes")
                out = core::field_value{core::bytes_value{std::move(*raw)}};
            else
                out = core::field_value{std::move(*raw)};
        } else if (type == "timestamp") {
            core::timestamp_value t;
            if (!integer(v, t.seconds, where)) return false;
            out = core::field_value{t};
        } else if (type == "array") {
            core::field_array a;
            if (!array(v, a, where)) return false;
            out = core::field_value::array(std::move(a));
        } else if (type == "table") {
            core::field_table t;
            if (!table(v, t, where)) return false;
            out = core::field_value::table(std::move(t));
        } else {
            return fail(where + ": unknown field type '" + type + "'");
        }
        return true;
    }

    bool array(const json& j, core::field_array& out, const std::string& where) {
        if (!j.is_array()) return fail(where + ": expected an array");
        for (size_t i = 0; i < j.size(); ++i) {
            core::field_value v;
            if (!value(j[i], v, fmt::format("{}[{}]", where, i))) return false;
            out.push_back(std::move(v));
        }
        return true;
    }

    bool table(const json& j, core::field_table& out, const std::string& where) {
        if (!j.is_array()) return fail(where + ": expected an array of [key, value]");
        for (size_t i = 0; i < j.size(); ++i) {
            const json& e = j[i];
            if (!e.is_array() || e.size() != 2 || !e[0].is_string())
                return fail(fmt::format("{}[{}]: expected [key, value]", where, i));
            core::field_value v;
            std::string key = e[0].get<std::string>();
            if (!value(e[1], v, where + "." + key)) return false;
            out.emplace_back(std::move(key), std::move(v));
        }
        return true;
    }

    bool str(const json& obj, const char* key, std::string& out, const std::string& where,
             bool required = true) {
        if (!obj.contains(key)) return required ? fail(where + ": missing '" + key + "'") : true;
        if (!obj[key].is_string()) return fail(where + "." + key + ": expected a string");
        out = obj[key].get<std::string>();
        return true;
    }

    bool boolean(const json& obj, const char* key, bool& out, const std::string& where) {
        if (!obj.contains(key)) return true;
        if (!obj[key].is_boolean()) return fail(where + "." + key + ": expected a boolean");
        out = obj[key].get<bool>();
        return true;
    }

    bool args(const json& obj, core::field_table& out, const std::string& where) {
        if (!obj.contains("arguments")) return true;
        return table(obj["arguments"], out, where + ".arguments");
    }

    bool list(const json& obj, const char* key, const std::string& where) {
        if (!obj.contains(key)) return true;
        if (!obj[key].is_array()) return fail(where + "." + key + ": expected an array");
        return true;
    }

    template <typename F>
    bool each(const json& obj, const char* key, const std::string& where, F f) {
        if (!obj.contains(key)) return true;
        if (!obj[key].is_array())
            return fail((where.empty() ? "" : where + ".") + key + ": expected an array");
        const json& a = obj[key];
        for (size_t i = 0; i < a.size(); ++i) {
            std::string w = where.empty() ? fmt::format("{}[{}]", key, i)
                                          : fmt::format("{}.{}[{}]", where, key, i);
            if (!a[i].is_object()) return fail(w + ": expected an object");
            if (!f(a[i], w)) return false;
        }
        return true;
    }
};

json exchange_json(const exchange_def& x) {
    return {{"name", x.name},
            {"type", x.type},
            {"auto_delete", x.auto_delete},
            {"internal", x.internal},
            {"arguments", encode_table(x.args)}};
}

json queue_json(const queue_def& q) {
    return {{"name", q.name},
            {"id", q.id},
            {"auto_delete", q.auto_delete},
            {"arguments", encode_table(q.args)}};
}

json binding_json(const binding_def& b) {
    return {{"source", b.source},
            {"destination", b.destination},
            {"destination_type", b.destination_is_exchange ? "exchange" : "queue"},
            {"routing_key", b.routing_key},
            {"arguments", encode_table(b.args)}};
}

bool decode_exchange(decoder& d, const json& j, const std::string& w, exchange_def& x) {
    return d.str(j, "name", x.name, w) && d.str(j, "type", x.type, w) &&
           d.boolean(j, "auto_delete", x.auto_delete, w) &&
           d.boolean(j, "internal", x.internal, w) && d.args(j, x.args, w);
}

bool decode_queue(decoder& d, const json& j, const std::string& w, queue_def& q) {
    return d.str(j, "name", q.name, w) &&
           (!j.contains("id") || d.integer(j["id"], q.id, w + ".id")) &&
           d.boolean(j, "auto_delete", q.auto_delete, w) && d.args(j, q.args, w);
}

bool decode_binding(decoder& d, const json& j, const std::string& w, binding_def& b) {
    std::string dtype = "queue";
    bool o = d.str(j, "source", b.source, w) && d.str(j, "destination", b.destination, w) &&
             d.str(j, "destination_type", dtype, w, false) &&
             d.str(j, "routing_key", b.routing_key, w, false) && d.args(j, b.args, w);
    if (o && dtype != "queue" && dtype != "exchange")
        o = d.fail(w + ".destination_type: expected queue or exchange");
    b.destination_is_exchange = dtype == "exchange";
    return o;
}

json limits_json(const vhost_limits& l) {
    return {{"max-connections", l.max_connections}, {"max-queues", l.max_queues}};
}

bool decode_limits(decoder& d, const json& j, const std::string& w, vhost_limits& l) {
    if (!j.is_object()) return d.fail(w + ": expected an object");
    return (!j.contains("max-connections") ||
            d.integer(j["max-connections"], l.max_connections, w + ".max-connections")) &&
           (!j.contains("max-queues") ||
            d.integer(j["max-queues"], l.max_queues, w + ".max-queues"));
}

json user_json(const user_def& u) {
    json j = {{"name", u.name},
              {"password_hash", u.password_hash},
              {"hashing_algorithm", u.hashing_algorithm},
              {"tags", u.tags}};
    if (u.max_connections >= 0 || u.max_channels >= 0)
        j["limits"] = {{"max-connections", u.max_connections}, {"max-channels", u.max_channels}};
    return j;
}

bool decode_user(decoder& d, const json& j, const std::string& w, user_def& u) {
    bool ok = d.str(j, "name", u.name, w) && d.str(j, "password_hash", u.password_hash, w) &&
              d.str(j, "hashing_algorithm", u.hashing_algorithm, w, false);
    if (ok && j.contains("tags")) {
        if (!j["tags"].is_array()) return d.fail(w + ".tags: expected an array");
        for (const auto& tag : j["tags"]) {
            if (!tag.is_string()) return d.fail(w + ".tags: expected strings");
            u.tags.push_back(tag.get<std::string>());
        }
    }
    if (ok && j.contains("limits")) {
        const json& l = j["limits"];
        if (!l.is_object()) return d.fail(w + ".limits: expected an object");
        ok = (!l.contains("max-connections") ||
              d.integer(l["max-connections"], u.max_connections, w + ".limits")) &&
             (!l.contains("max-channels") ||
              d.integer(l["max-channels"], u.max_channels, w + ".limits"));
    }
    return ok;
}

json permission_json(const permission_def& p) {
    return {{"user", p.user},
            {"vhost", p.vhost},
            {"configure", p.configure},
            {"write", p.write},
            {"read", p.read}};
}

bool decode_permission(decoder& d, const json& j, const std::string& w, permission_def& p) {
    return d.str(j, "user", p.user, w) && d.str(j, "vhost", p.vhost, w) &&
           d.str(j, "configure", p.configure, w, false) && d.str(j, "write", p.write, w, false) &&
           d.str(j, "read", p.read, w, false);
}

json topic_json(const topic_permission_def& p) {
    return {{"user", p.user},
            {"vhost", p.vhost},
            {"exchange", p.exchange},
            {"write", p.write},
            {"read", p.read}};
}

bool decode_topic(decoder& d, const json& j, const std::string& w, topic_permission_def& p) {
    return d.str(j, "user", p.user, w) && d.str(j, "vhost", p.vhost, w) &&
           d.str(j, "exchange", p.exchange, w) && d.str(j, "write", p.write, w, false) &&
           d.str(j, "read", p.read, w, false);
}

json policy_json(const policy_def& p) {
    json def = json::parse(p.definition, nullptr, false);
    if (def.is_discarded()) def = p.definition;  // keep the text rather than lose it
    return {{"name", p.name},
            {"pattern", p.pattern},
            {"apply_to", p.apply_to},
            {"priority", p.priority},
            {"definition", def}};
}

bool decode_policy(decoder& d, const json& j, const std::string& w, policy_def& p) {
    bool ok = d.str(j, "name", p.name, w) && d.str(j, "pattern", p.pattern, w) &&
              d.str(j, "apply_to", p.apply_to, w, false) &&
              (!j.contains("priority") || d.integer(j["priority"], p.priority, w));
    if (ok && j.contains("definition")) p.definition = j["definition"].dump();
    return ok;
}

json plain_value(const core::field_value& fv) {
    if (auto i = fv.as_int()) return *i;
    if (auto* s = fv.as_string()) return *s;
    if (auto b = fv.as_bool()) return *b;
    if (auto* d = std::get_if<double>(&fv.v)) return *d;
    if (auto* f = std::get_if<float>(&fv.v)) return *f;
    if (auto* a = fv.as_array()) {
        json out = json::array();
        for (const auto& v : *a) out.push_back(plain_value(v));
        return out;
    }
    if (auto* t = fv.as_table()) {
        json out = json::object();
        for (const auto& [k, v] : *t) out[k] = plain_value(v);
        return out;
    }
    return nullptr;
}

core::field_value from_plain(const json& j) {
    if (j.is_boolean()) return core::field_value{j.get<bool>()};
    if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(INT64_MAX))
        return core::field_value{j.get<double>()};
    if (j.is_number_integer()) return core::field_value{j.get<int64_t>()};
    if (j.is_number()) return core::field_value{j.get<double>()};
    if (j.is_string()) return core::field_value{j.get<std::string>()};
    if (j.is_array()) {
        core::field_array a;
        for (const auto& v : j) a.push_back(from_plain(v));
        return core::field_value::array(std::move(a));
    }
    if (j.is_object()) {
        core::field_table t;
        for (const auto& [k, v] : j.items()) t.emplace_back(k, from_plain(v));
        return core::field_value::table(std::move(t));
    }
    return core::field_value{core::void_value{}};
}

}  // namespace

vhost_def* topology::find_vhost(std::string_view name) {
    for (auto& v : vhosts)
        if (v.name == name) return &v;
    return nullptr;
}

std::string encode_topology(const topology& t) {
    json root;
    root["format_version"] = topology_format_version;
    root["next_queue_id"] = t.next_queue_id;
    if (t.log_generation) root["log_generation"] = t.log_generation;
    json vhosts = json::array();
    for (const auto& v : t.vhosts) {
        json jv;
        jv["name"] = v.name;
        if (v.delayed_store_id) jv["delayed_store_id"] = v.delayed_store_id;
        if (v.limits != vhost_limits{}) jv["limits"] = limits_json(v.limits);
        jv["exchanges"] = json::array();
        for (const auto& x : v.exchanges) jv["exchanges"].push_back(exchange_json(x));
        jv["queues"] = json::array();
        for (const auto& q : v.queues) jv["queues"].push_back(queue_json(q));
        jv["bindings"] = json::array();
        for (const auto& b : v.bindings) jv["bindings"].push_back(binding_json(b));
        jv["policies"] = json::array();
        for (const auto& p : v.policies) jv["policies"].push_back(policy_json(p));
        if (!v.operator_policies.empty()) {
            jv["operator_policies"] = json::array();
            for (const auto& p : v.operator_policies)
                jv["operator_policies"].push_back(policy_json(p));
        }
        vhosts.push_back(std::move(jv));
    }
    root["vhosts"] = std::move(vhosts);
    json users = json::array();
    for (const auto& u : t.users) users.push_back(user_json(u));
    root["users"] = std::move(users);
    json perms = json::array();
    for (const auto& p : t.permissions) perms.push_back(permission_json(p));
    root["permissions"] = std::move(perms);
    json topics = json::array();
    for (const auto& p : t.topic_permissions) topics.push_back(topic_json(p));
    root["topic_permissions"] = std::move(topics);
    // Names may hold any bytes: invalid UTF-8 is replaced rather than failing the save.
    return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

result<topology> decode_topology(std::string_view text) {
    json root = json::parse(text, nullptr, false);
    if (root.is_discarded() || !root.is_object())
        return make_error(errc::corruption, "topology.json is not a JSON object");
    if (!root.contains("format_version") || !root["format_version"].is_number_integer())
        return make_error(errc::corruption, "topology.json has no integer format_version");
    auto version = root["format_version"].get<int64_t>();
    if (version != topology_format_version)
        return make_error(errc::unsupported_version,
                          fmt::format("topology.json has format_version {}; this Warren reads "
                                      "version {} only. Refusing to start: upgrade Warren or "
                                      "move the data directory away.",
                                      version, topology_format_version));
    topology t;
    decoder d;
    if (root.contains("next_queue_id"))
        d.integer(root["next_queue_id"], t.next_queue_id, "next_queue_id");
    if (root.contains("log_generation"))
        d.integer(root["log_generation"], t.log_generation, "log_generation");
    d.each(root, "vhosts", "", [&](const json& jv, const std::string& w) {
        vhost_def v;
        bool ok = d.str(jv, "name", v.name, w);
        if (ok && jv.contains("delayed_store_id"))
            ok = d.integer(jv["delayed_store_id"], v.delayed_store_id, w + ".delayed_store_id");
        if (ok && jv.contains("limits"))
            ok = decode_limits(d, jv["limits"], w + ".limits", v.limits);
        ok = ok && d.each(jv, "exchanges", w, [&](const json& j, const std::string& w2) {
            exchange_def x;
            bool o = decode_exchange(d, j, w2, x);
            if (o) v.exchanges.push_back(std::move(x));
            return o;
        });
        ok = ok && d.each(jv, "queues", w, [&](const json& j, const std::string& w2) {
            queue_def q;
            bool o = decode_queue(d, j, w2, q);
            if (o) v.queues.push_back(std::move(q));
            return o;
        });
        ok = ok && d.each(jv, "bindings", w, [&](const json& j, const std::string& w2) {
            binding_def b;
            bool o = decode_binding(d, j, w2, b);
            if (o) v.bindings.push_back(std::move(b));
            return o;
        });
        ok = ok && d.each(jv, "policies", w, [&](const json& j, const std::string& w2) {
            policy_def p;
            bool o = decode_policy(d, j, w2, p);
            if (o) v.policies.push_back(std::move(p));
            return o;
        });
        if (jv.contains("operator_policies"))
            ok =
                ok && d.each(jv, "operator_policies", w, [&](const json& j, const std::string& w2) {
                    policy_def p;
                    bool o = decode_policy(d, j, w2, p);
                    if (o) v.operator_policies.push_back(std::move(p));
                    return o;
                });
        if (ok) t.vhosts.push_back(std::move(v));
        return ok;
    });
    d.each(root, "users", "", [&](const json& j, const std::string& w) {
        user_def u;
        bool ok = decode_user(d, j, w, u);
        if (ok) t.users.push_back(std::move(u));
        return ok;
    });
    d.each(root, "permissions", "", [&](const json& j, const std::string& w) {
        permission_def p;
        bool ok = decode_permission(d, j, w, p);
        if (ok) t.permissions.push_back(std::move(p));
        return ok;
    });
    if (root.contains("topic_permissions"))
        d.each(root, "topic_permissions", "", [&](const json& j, const std::string& w) {
            topic_permission_def p;
            bool ok = decode_topic(d, j, w, p);
            if (ok) t.topic_permissions.push_back(std::move(p));
            return ok;
        });
    if (!d.err.empty()) return make_error(errc::corruption, "topology.json: " + d.err);
    return t;
}

std::string policy_definition_json(const core::field_table& t) {
    json out = json::object();
    for (const auto& [k, v] : t) out[k] = plain_value(v);
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<core::field_table> parse_policy_definition(std::string_view text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return make_error(errc::corruption, "policy definition is not a JSON object");
    core::field_table t;
    for (const auto& [k, v] : j.items()) t.emplace_back(k, from_plain(v));
    return t;
}

// ---- change records (the metadata log's payloads) ----

namespace {

const char* op_name(topology_change::op o) {
    switch (o) {
        case topology_change::op::put_vhost:
            return "put_vhost";
        case topology_change::op::put_exchange:
            return "put_exchange";
        case topology_change::op::delete_exchange:
            return "delete_exchange";
        case topology_change::op::put_queue:
            return "put_queue";
        case topology_change::op::delete_queue:
            return "delete_queue";
        case topology_change::op::put_binding:
            return "put_binding";
        case topology_change::op::delete_binding:
            return "delete_binding";
        case topology_change::op::next_queue_id:
            return "next_queue_id";
        case topology_change::op::delete_vhost:
            return "delete_vhost";
        case topology_change::op::put_user:
            return "put_user";
        case topology_change::op::delete_user:
            return "delete_user";
        case topology_change::op::put_permission:
            return "put_permission";
        case topology_change::op::delete_permission:
            return "delete_permission";
        case topology_change::op::put_topic_permission:
            return "put_topic_permission";
        case topology_change::op::delete_topic_permission:
            return "delete_topic_permission";
        case topology_change::op::put_policy:
            return "put_policy";
        case topology_change::op::delete_policy:
            return "delete_policy";
        case topology_change::op::put_operator_policy:
            return "put_operator_policy";
        case topology_change::op::delete_operator_policy:
            return "delete_operator_policy";
    }
    return "?";
}

std::optional<topology_change::op> op_from(std::string_view s) {
    using o = topology_change::op;
    for (o v : {o::put_vhost, o::put_exchange, o::delete_exchange, o::put_queue, o::delete_queue,
                o::put_binding, o::delete_binding, o::next_queue_id, o::delete_vhost, o::put_user,
                o::delete_user, o::put_permission, o::delete_permission, o::put_topic_permission,
                o::delete_topic_permission, o::put_policy, o::delete_policy, o::put_operator_policy,
                o::delete_operator_policy})
        if (s == op_name(v)) return v;
    return std::nullopt;
}

template <typename T>
void erase_first(std::vector<T>& v, const T& x) {
    auto it = std::find(v.begin(), v.end(), x);
    if (it != v.end()) v.erase(it);
}

template <typename T>
void put_named(std::vector<T>& v, const T& x) {
    for (auto& e : v)
        if (e.name == x.name) {
            e = x;
            return;
        }
    v.push_back(x);
}

}  // namespace

std::string encode_changes(std::span<const topology_change> changes) {
    json out = json::array();
    for (const auto& c : changes) {
        json j = {{"op", op_name(c.kind)}};
        switch (c.kind) {
            case topology_change::op::put_vhost:
                j["vhost"] = c.vhost;
                j["delayed_store_id"] = c.value;
                if (c.limits != vhost_limits{}) j["limits"] = limits_json(c.limits);
                break;
            case topology_change::op::delete_vhost:
                j["vhost"] = c.vhost;
                break;
            case topology_change::op::put_user:
                j["user"] = user_json(c.user);
                break;
            case topology_change::op::delete_user:
                j["name"] = c.user.name;
                break;
            case topology_change::op::put_permission:
            case topology_change::op::delete_permission:
                j["vhost"] = c.permission.vhost;
                j["permission"] = permission_json(c.permission);
                break;
            case topology_change::op::put_topic_permission:
            case topology_change::op::delete_topic_permission:
                j["vhost"] = c.topic.vhost;
                j["topic"] = topic_json(c.topic);
                break;
            case topology_change::op::put_exchange:
                j["vhost"] = c.vhost;
                j["exchange"] = exchange_json(c.exchange);
                break;
            case topology_change::op::delete_exchange:
                j["vhost"] = c.vhost;
                j["name"] = c.exchange.name;
                break;
            case topology_change::op::put_queue:
                j["vhost"] = c.vhost;
                j["queue"] = queue_json(c.queue);
                break;
            case topology_change::op::delete_queue:
                j["vhost"] = c.vhost;
                j["name"] = c.queue.name;
                break;
            case topology_change::op::put_binding:
            case topology_change::op::delete_binding:
                j["vhost"] = c.vhost;
                j["binding"] = binding_json(c.binding);
                break;
            case topology_change::op::next_queue_id:
                j["value"] = c.value;
                break;
            case topology_change::op::put_policy:
            case topology_change::op::put_operator_policy:
                j["vhost"] = c.vhost;
                j["policy"] = policy_json(c.policy);
                break;
            case topology_change::op::delete_policy:
            case topology_change::op::delete_operator_policy:
                j["vhost"] = c.vhost;
                j["name"] = c.policy.name;
                break;
        }
        out.push_back(std::move(j));
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<std::vector<topology_change>> decode_changes(std::string_view text) {
    json root = json::parse(text, nullptr, false);
    if (root.is_discarded() || !root.is_array())
        return make_error(errc::corruption, "change record is not a JSON array");
    std::vector<topology_change> out;
    decoder d;
    for (size_t i = 0; i < root.size() && d.err.empty(); ++i) {
        const json& j = root[i];
        const std::string w = fmt::format("changes[{}]", i);
        if (!j.is_object() || !j.contains("op") || !j["op"].is_string()) {
            d.fail(w + ": expected an object with an \"op\"");
            break;
        }
        auto kind = op_from(j["op"].get<std::string>());
        if (!kind)
            return make_error(errc::unsupported_version,
                              fmt::format("{}: unknown operation '{}' (written by a newer Warren?)",
                                          w, j["op"].get<std::string>()));
        topology_change c;
        c.kind = *kind;
        using op = topology_change::op;
        bool ok = *kind == op::next_queue_id || *kind == op::put_user || *kind == op::delete_user ||
                  d.str(j, "vhost", c.vhost, w);
        auto obj = [&](const char* key) -> const json* {
            if (!j.contains(key) || !j[key].is_object()) {
                d.fail(w + "." + key + ": expected an object");
                return nullptr;
            }
            return &j[key];
        };
        switch (*kind) {
            case topology_change::op::put_vhost:
                ok = ok && (!j.contains("delayed_store_id") ||
                            d.integer(j["delayed_store_id"], c.value, w + ".delayed_store_id"));
                ok = ok && (!j.contains("limits") ||
                            decode_limits(d, j["limits"], w + ".limits", c.limits));
                break;
            case topology_change::op::delete_vhost:
                break;
            case topology_change::op::put_user:
                if (const json* o = obj("user"))
                    ok = decode_user(d, *o, w + ".user", c.user);
                else
                    ok = false;
                break;
            case topology_change::op::delete_user:
                ok = d.str(j, "name", c.user.name, w);
                break;
            case topology_change::op::put_permission:
            case topology_change::op::delete_permission:
                if (const json* o = ok ? obj("permission") : nullptr)
                    ok = decode_permission(d, *o, w + ".permission", c.permission);
                else
                    ok = false;
                break;
            case topology_change::op::put_topic_permission:
            case topology_change::op::delete_topic_permission:
                if (const json* o = ok ? obj("topic") : nullptr)
                    ok = decode_topic(d, *o, w + ".topic", c.topic);
                else
                    ok = false;
                break;
            case topology_change::op::put_exchange:
                if (const json* o = ok ? obj("exchange") : nullptr)
                    ok = decode_exchange(d, *o, w + ".exchange", c.exchange);
                else
                    ok = false;
                break;
            case topology_change::op::delete_exchange:
                ok = ok && d.str(j, "name", c.exchange.name, w);
                break;
            case topology_change::op::put_queue:
                if (const json* o = ok ? obj("queue") : nullptr)
                    ok = decode_queue(d, *o, w + ".queue", c.queue);
                else
                    ok = false;
                break;
            case topology_change::op::delete_queue:
                ok = ok && d.str(j, "name", c.queue.name, w);
                break;
            case topology_change::op::put_binding:
            case topology_change::op::delete_binding:
                if (const json* o = ok ? obj("binding") : nullptr)
                    ok = decode_binding(d, *o, w + ".binding", c.binding);
                else
                    ok = false;
                break;
            case topology_change::op::next_queue_id:
                ok = j.contains("value") && d.integer(j["value"], c.value, w + ".value");
                if (!j.contains("value")) d.fail(w + ".value: missing");
                break;
            case topology_change::op::put_policy:
            case topology_change::op::put_operator_policy:
                if (const json* o = ok ? obj("policy") : nullptr)
                    ok = decode_policy(d, *o, w + ".policy", c.policy);
                else
                    ok = false;
                break;
            case topology_change::op::delete_policy:
            case topology_change::op::delete_operator_policy:
                ok = ok && d.str(j, "name", c.policy.name, w);
                break;
        }
        if (ok) out.push_back(std::move(c));
    }
    if (!d.err.empty()) return make_error(errc::corruption, "change record: " + d.err);
    return out;
}

void apply_change(topology& t, const topology_change& c) {
    using o = topology_change::op;
    switch (c.kind) {
        case o::next_queue_id:
            t.next_queue_id = std::max(t.next_queue_id, c.value);
            return;
        case o::delete_vhost:
            std::erase_if(t.vhosts, [&](auto& v) { return v.name == c.vhost; });
            std::erase_if(t.permissions, [&](auto& p) { return p.vhost == c.vhost; });
            std::erase_if(t.topic_permissions, [&](auto& p) { return p.vhost == c.vhost; });
            return;
        case o::put_user:
            put_named(t.users, c.user);
            return;
        case o::delete_user:
            std::erase_if(t.users, [&](auto& u) { return u.name == c.user.name; });
            std::erase_if(t.permissions, [&](auto& p) { return p.user == c.user.name; });
            std::erase_if(t.topic_permissions, [&](auto& p) { return p.user == c.user.name; });
            return;
        case o::put_permission:
        case o::delete_permission: {
            std::erase_if(t.permissions, [&](auto& p) {
                return p.user == c.permission.user && p.vhost == c.permission.vhost;
            });
            if (c.kind == o::put_permission) t.permissions.push_back(c.permission);
            return;
        }
        case o::put_topic_permission:
        case o::delete_topic_permission: {
            std::erase_if(t.topic_permissions, [&](auto& p) {
                return p.user == c.topic.user && p.vhost == c.topic.vhost &&
                       p.exchange == c.topic.exchange;
            });
            if (c.kind == o::put_topic_permission) t.topic_permissions.push_back(c.topic);
            return;
        }
        default:
            break;
    }
    vhost_def* v = t.find_vhost(c.vhost);
    if (!v) {
        t.vhosts.push_back(vhost_def{.name = c.vhost});
        v = &t.vhosts.back();
    }
    switch (c.kind) {
        case o::put_vhost:
            v->delayed_store_id = c.value;
            v->limits = c.limits;
            break;
        case o::put_exchange:
            put_named(v->exchanges, c.exchange);
            break;
        case o::delete_exchange:
            std::erase_if(v->exchanges, [&](auto& x) { return x.name == c.exchange.name; });
            break;
        case o::put_queue:
            put_named(v->queues, c.queue);
            break;
        case o::delete_queue:
            std::erase_if(v->queues, [&](auto& q) { return q.name == c.queue.name; });
            break;
        case o::put_binding:
            if (std::find(v->bindings.begin(), v->bindings.end(), c.binding) == v->bindings.end())
                v->bindings.push_back(c.binding);
            break;
        case o::delete_binding:
            erase_first(v->bindings, c.binding);
            break;
        case o::put_policy:
            put_named(v->policies, c.policy);
            break;
        case o::delete_policy:
            std::erase_if(v->policies, [&](auto& p) { return p.name == c.policy.name; });
            break;
        case o::put_operator_policy:
            put_named(v->operator_policies, c.policy);
            break;
        case o::delete_operator_policy:
            std::erase_if(v->operator_policies, [&](auto& p) { return p.name == c.policy.name; });
            break;
        default:
            break;
    }
}

}  // namespace warren::store

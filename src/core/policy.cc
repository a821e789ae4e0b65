#include "core/policy.h"

#include <algorithm>

#include "core/queue.h"

namespace warren::core {

namespace {

std::string show(const field_value& v) {
    if (auto i = v.as_int()) return std::to_string(*i);
    if (auto* s = v.as_string()) return "<<\"" + *s + "\">>";
    if (auto b = v.as_bool()) return *b ? "true" : "false";
    return "<invalid>";
}

// How a key's value is checked (RabbitMQ's rabbit_policies and rabbit_mirror_queue_misc).
enum class value_rule { integer, string, one_of, max_age, any };

struct key_rule {
    std::string_view key;
    bool queue;                    // applies to queues (else exchanges)
    value_rule rule;               //
    int64_t min_int;               // integer keys: the smallest allowed value
    std::string_view what;         // "... is not a valid <what>"
    std::string_view values = {};  // one_of: the allowed strings, '|'-separated
    bool op = false;               // also an operator-policy key
    bool effect = true;            // false: accepted for compatibility, no effect in Warren
};
constexpr key_rule k_rules[] = {
    {"message-ttl", true, value_rule::integer, 0, "message TTL", {}, true},
    {"expires", true, value_rule::integer, 1, "queue expiry", {}, true},
    {"max-length", true, value_rule::integer, 0, "maximum length", {}, true},
    {"max-length-bytes", true, value_rule::integer, 0, "maximum length in bytes", {}, true},
    {"delivery-limit", true, value_rule::integer, 0, "delivery limit", {}, true},
    {"overflow", true, value_rule::one_of, 0, "overflow value",
     "drop-head|reject-publish|reject-publish-dlx"},
    {"dead-letter-exchange", true, value_rule::string, 0, "dead letter exchange name"},
    {"dead-letter-routing-key", true, value_rule::string, 0, "dead letter routing key"},
    {"alternate-exchange", false, value_rule::string, 0, "alternate exchange name"},
    // Accepted, no effect (see policy.h).
    {"max-in-memory-length",
     true,
     value_rule::integer,
     0,
     "maximum memory in bytes",
     {},
     true,
     false},
    {"max-in-memory-bytes",
     true,
     value_rule::integer,
     0,
     "maximum memory in bytes",
     {},
     true,
     false},
    {"queue-mode", true, value_rule::one_of, 0, "queue-mode value", "default|lazy", false, false},
    {"queue-version", true, value_rule::integer, 1, "queue version", {}, false, false},
    {"max-age", true, value_rule::max_age, 0, "max age", {}, false},  // streams
    {"stream-max-segment-size-bytes",
     true,
     value_rule::integer,
     0,
     "stream max segment size",
     {},
     false},
    {"max-segment-size", true, value_rule::integer, 0, "segment size", {}, false, false},
    {"queue-leader-locator", true, value_rule::one_of, 0, "queue leader locator value",
     "client-local|random|least-leaders", false, false},
    {"initial-cluster-size", true, value_rule::integer, 0, "cluster size", {}, false, false},
    {"queue-master-locator", true, value_rule::one_of, 0, "queue master locator value",
     "min-masters|client-local|random", false, false},
    {"ha-mode", true, value_rule::one_of, 0, "ha-mode value", "all|exactly|nodes", false, false},
    {"ha-params", true, value_rule::any, 0, "ha-params value", {}, false, false},
    {"ha-sync-mode", true, value_rule::one_of, 0, "ha-sync-mode value", "manual|automatic", false,
     false},
    {"ha-sync-batch-size",
     true,
     value_rule::integer,
     1,
     "ha-sync-batch-size value",
     {},
     false,
     false},
    {"ha-promote-on-shutdown", true, value_rule::one_of, 0, "ha-promote-on-shutdown value",
     "always|when-synced", false, false},
    {"ha-promote-on-failure", true, value_rule::one_of, 0, "ha-promote-on-failure value",
     "always|when-synced", false, false},
};

const key_rule* rule_for(std::string_view key) {
    for (auto& r : k_rules)
        if (r.key == key) return &r;
    return nullptr;
}

bool one_of(std::string_view values, std::string_view s) {
    while (!values.empty()) {
        size_t bar = values.find('|');
        if (values.substr(0, bar) == s) return true;
        if (bar == std::string_view::npos) break;
        values.remove_prefix(bar + 1);
    }
    return false;
}

// rabbit_amqqueue:check_max_age: digits then one of Y M D h m s.
bool valid_max_age(const std::string& s) {
    if (s.size() < 2 || std::string_view("YMDhms").find(s.back()) == std::string_view::npos)
        return false;
    return std::all_of(s.begin(), s.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_value(const key_rule& r, const field_value& v) {
    switch (r.rule) {
        case value_rule::integer: {
            auto i = v.as_int();
            return i && *i >= r.min_int && *i <= 4294967295LL;
        }
        case value_rule::string:
            return v.as_string() != nullptr;
        case value_rule::one_of:
            return v.as_string() && one_of(r.values, *v.as_string());
        case value_rule::max_age:
            return v.as_string() && valid_max_age(*v.as_string());
        case value_rule::any:
            return true;
    }
    return false;
}

bool applies_to_queues(const std::string& a) {
    return a == "all" || a == "queues" || a == "classic_queues";
}
bool applies_to_exchanges(const std::string& a) {
    return a == "all" || a == "exchanges";
}

std::optional<uint64_t> int_of(const field_table& t, std::string_view key) {
    auto* v = find(t, key);
    if (!v) return std::nullopt;
    auto i = v->as_int();
    if (!i || *i < 0) return std::nullopt;
    return static_cast<uint64_t>(*i);
}

const std::string* str_of(const field_table& t, std::string_view key) {
    auto* v = find(t, key);
    return v ? v->as_string() : nullptr;
}

}  // namespace

result<void> validate_policy(const policy& p, policy_kind kind) {
    auto invalid = [&](std::string why) {
        return error{reply_code::precondition_failed, "Validation failed\n\n" + why,
                     "policy '" + p.name + "'"};
    };
    if (p.name.empty()) return invalid("policy name is empty");
    if (!applies_to_queues(p.apply_to) && !applies_to_exchanges(p.apply_to))
        return invalid("apply-to '" + p.apply_to +
                       "' unrecognised; should be 'queues', 'exchanges' or 'all'");
    if (auto re = name_pattern::compile(p.pattern); !re)
        return invalid("pattern should be regular expression but is invalid: " + re.error());
    if (p.definition.empty()) return invalid("no policy provided");
    // Unknown keys are listed as RabbitMQ lists them: [{<<"key">>,value},...], sorted.
    std::vector<std::pair<std::string, std::string>> unknown;
    for (auto& [k, v] : p.definition) {
        const key_rule* r = rule_for(k);
        if (!r || (kind == policy_kind::operator_policy && !r->op)) {
            unknown.emplace_back(k, show(v));
            continue;
        }
        if (!valid_value(*r, v))
            return invalid(show(v) + " is not a valid " + std::string(r->what));
    }
    if (!unknown.empty()) {
        std::sort(unknown.begin(), unknown.end());
        std::string list;
        for (auto& [k, v] : unknown)
            list += (list.empty() ? "{<<\"" : ",{<<\"") + k + "\">>," + v + "}";
        return invalid("[" + list + "] are not recognised policy settings");
    }
    // Classic mirroring's own rule (rabbit_mirror_queue_misc): "exactly" needs a count.
    if (auto* mode = find(p.definition, "ha-mode"); mode && mode->as_string()) {
        auto* params = find(p.definition, "ha-params");
        if (*mode->as_string() == "exactly" && (!params || !params->as_int()))
            return invalid("ha-mode=\"exactly\" takes an integer, none given");
    }
    return {};
}

void merge_policy(queue_features& f, const field_table& args, const field_table& def) {
    auto lower = [](std::optional<uint64_t>& mine, std::optional<uint64_t> pol) {
        if (pol) mine = mine ? std::min(*mine, *pol) : *pol;
    };
    lower(f.message_ttl, int_of(def, "message-ttl"));
    lower(f.max_length, int_of(def, "max-length"));
    lower(f.max_length_bytes, int_of(def, "max-length-bytes"));
    lower(f.delivery_limit, int_of(def, "delivery-limit"));
    if (auto e = int_of(def, "expires"); e && *e > 0) lower(f.expires, e);
    // The argument wins for these.
    if (!find(args, "x-dead-letter-exchange"))
        if (auto* s = str_of(def, "dead-letter-exchange")) f.dlx = *s;
    if (!find(args, "x-dead-letter-routing-key"))
        if (auto* s = str_of(def, "dead-letter-routing-key")) f.dl_routing_key = *s;
    if (!find(args, "x-overflow")) {
        if (auto* s = str_of(def, "overflow")) {
            if (*s == "reject-publish")
                f.overflow = overflow_mode::reject_publish;
            else if (*s == "reject-publish-dlx")
                f.overflow = overflow_mode::reject_publish_dlx;
            else
                f.overflow = overflow_mode::drop_head;
        }
    }
}

field_table effective_definition(const policy* p, const policy* op) {
    field_table out = p ? p->definition : field_table{};
    if (!op) return out;
    for (auto& [key, v] : op->definition) {
        const std::string& k = key;  // clang 14 cannot capture a structured binding
        auto mine = std::find_if(out.begin(), out.end(), [&](auto& kv) { return kv.first == k; });
        if (mine == out.end()) {
            out.emplace_back(k, v);
            continue;
        }
        auto a = mine->second.as_int(), b = v.as_int();
        if (a && b && *b < *a) mine->second = v;
    }
    return out;
}

result<void> policy_set::set(policy p) {
    if (auto r = validate_policy(p, _kind); !r) return r;
    auto re = name_pattern::compile(p.pattern);  // validated above
    if (!re) return error{reply_code::internal_error, re.error()};
    item it{p, std::move(*re)};
    auto same = std::find_if(_items.begin(), _items.end(),
                             [&](const item& i) { return i.p.name == p.name; });
    if (same != _items.end())
        *same = std::move(it);
    else
        _items.push_back(std::move(it));
    return {};
}

const policy* policy_set::find(std::string_view name) const {
    for (auto& i : _items)
        if (i.p.name == name) return &i.p;
    return nullptr;
}

bool policy_set::clear(std::string_view name) {
    auto it =
        std::find_if(_items.begin(), _items.end(), [&](const item& i) { return i.p.name == name; });
    if (it == _items.end()) return false;
    _items.erase(it);
    return true;
}

const policy* policy_set::match(std::string_view name, bool queue) const {
    const policy* best = nullptr;
    for (auto& i : _items) {
        if (queue ? !applies_to_queues(i.p.apply_to) : !applies_to_exchanges(i.p.apply_to))
            continue;
        if (!i.re.search(name)) continue;
        if (!best || i.p.priority > best->priority ||
            (i.p.priority == best->priority && i.p.name < best->name))
            best = &i.p;
    }
    return best;
}

const policy* policy_set::match_queue(std::string_view name) const {
    return match(name, true);
}
const policy* policy_set::match_exchange(std::string_view name) const {
    return match(name, false);
}

std::vector<policy> policy_set::list() const {
    std::vector<policy> out;
    for (auto& i : _items) out.push_back(i.p);
    return out;
}

}  // namespace warren::core

#include "core/policy.h"

#include <algorithm>
#include <regex>

#include "core/queue.h"

namespace warren::core {

namespace {

std::string show(const field_value& v) {
    if (auto i = v.as_int()) return std::to_string(*i);
    if (auto* s = v.as_string()) return "<<\"" + *s + "\">>";
    if (auto b = v.as_bool()) return *b ? "true" : "false";
    return "<invalid>";
}

struct key_rule {
    std::string_view key;
    bool queue;       // applies to queues (else exchanges)
    int64_t min_int;  // integer keys: smallest allowed; -1: a string key
    std::string_view what;
};
constexpr key_rule k_rules[] = {
    {"message-ttl", true, 0, "message TTL"},
    {"expires", true, 1, "queue expiry"},
    {"max-length", true, 0, "maximum length"},
    {"max-length-bytes", true, 0, "maximum length in bytes"},
    {"delivery-limit", true, 0, "delivery limit"},
    {"overflow", true, -1, "overflow value"},
    {"dead-letter-exchange", true, -1, "dead letter exchange name"},
    {"dead-letter-routing-key", true, -1, "dead letter routing key"},
    {"alternate-exchange", false, -1, "alternate exchange name"},
};

const key_rule* rule_for(std::string_view key) {
    for (auto& r : k_rules)
        if (r.key == key) return &r;
    return nullptr;
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

result<void> validate_policy(const policy& p) {
    auto invalid = [&](std::string why) {
        return error{reply_code::precondition_failed, "Validation failed\n\n" + why,
                     "policy '" + p.name + "'"};
    };
    if (p.name.empty()) return invalid("policy name is empty");
    if (!applies_to_queues(p.apply_to) && !applies_to_exchanges(p.apply_to))
        return invalid("\"" + p.apply_to +
                       "\" is not a valid apply-to value (queues, exchanges, all)");
    try {  // std::regex reports a bad pattern only by throwing (policies are config, not data)
        std::regex re(p.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
        return invalid("\"" + p.pattern + "\" is not a valid regular expression");
    }
    std::vector<std::string> unknown;
    for (auto& [k, v] : p.definition) {
        const key_rule* r = rule_for(k);
        if (!r) {
            unknown.push_back("<<\"" + k + "\">>");
            continue;
        }
        bool ok = false;
        if (r->min_int >= 0) {
            auto i = v.as_int();
            ok = i && *i >= r->min_int && *i <= 4294967295LL;
        } else if (auto* s = v.as_string()) {
            ok = k != "overflow" || *s == "drop-head" || *s == "reject-publish" ||
                 *s == "reject-publish-dlx";
        }
        if (!ok) return invalid(show(v) + " is not a valid " + std::string(r->what));
    }
    if (!unknown.empty()) {
        std::string list;
        for (auto& u : unknown) list += (list.empty() ? "" : ",") + u;
        return invalid("[" + list + "] are not recognised policy settings");
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

struct policy_set::pattern {
    std::regex re;
};

result<void> policy_set::set(policy p) {
    if (auto r = validate_policy(p); !r) return r;
    item it{
        p, std::make_shared<const pattern>(pattern{std::regex(p.pattern, std::regex::ECMAScript)})};
    auto same = std::find_if(_items.begin(), _items.end(),
                             [&](const item& i) { return i.p.name == p.name; });
    if (same != _items.end())
        *same = std::move(it);
    else
        _items.push_back(std::move(it));
    return {};
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
        if (!std::regex_search(name.begin(), name.end(), i.re->re)) continue;
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

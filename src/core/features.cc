#include "core/features.h"

#include <cstdint>
#include <string>

namespace warren::core {

std::string_view field_type_name(const field_value& v) {
    static constexpr std::string_view names[] = {
        "void",      "bool",        "byte",      "unsignedbyte", "short",  "unsignedshort",
        "signedint", "unsignedint", "long",      "float",        "double", "decimal",
        "longstr",   "binary",      "timestamp", "array",        "table"};
    size_t i = v.v.index();
    return i < std::size(names) ? names[i] : "void";
}

namespace {

// RabbitMQ's ?MAX_EXPIRY_TIMER (erlang:send_after's limit) and ?MAX_SUPPORTED_PRIORITY.
constexpr int64_t k_max_expiry = 4294967295LL;
constexpr int64_t k_max_priority = 255;

// A check failure: the Erlang term RabbitMQ prints (~p) for it, as the error's text.
using check = result<void>;
using check_fn = check (*)(const field_value& v, const field_table& args);

check bad(std::string term) {
    return error{reply_code::precondition_failed, std::move(term), {}};
}

check unacceptable(const field_value& v) {
    return bad("{unacceptable_type," + std::string(field_type_name(v)) + "}");
}

check check_int(const field_value& v, const field_table&) {
    return v.as_int() ? check{} : unacceptable(v);
}

check check_non_neg_int(const field_value& v, const field_table& a) {
    if (auto e = check_int(v, a); !e) return e;
    int64_t i = *v.as_int();
    return i < 0 ? bad("{value_negative," + std::to_string(i) + "}") : check{};
}

check check_expiry(int64_t i) {
    if (i > k_max_expiry) return bad("{value_too_big," + std::to_string(i) + "}");
    if (i < 0) return bad("{value_negative," + std::to_string(i) + "}");
    return {};
}

check check_expires(const field_value& v, const field_table& a) {
    if (auto e = check_int(v, a); !e) return e;
    int64_t i = *v.as_int();
    if (i == 0) return bad("{value_zero,0}");
    return check_expiry(i);
}

check check_message_ttl(const field_value& v, const field_table& a) {
    if (auto e = check_int(v, a); !e) return e;
    return check_expiry(*v.as_int());
}

check check_max_priority(const field_value& v, const field_table& a) {
    if (auto e = check_non_neg_int(v, a); !e) return e;
    int64_t i = *v.as_int();
    return i > k_max_priority ? bad("{max_value_exceeded," + std::to_string(i) + "}") : check{};
}

check check_bool(const field_value& v, const field_table&) {
    return v.as_bool() ? check{} : unacceptable(v);
}

check check_dlx_name(const field_value& v, const field_table&) {
    return v.as_string() ? check{} : unacceptable(v);
}

check check_dlx_rk(const field_value& v, const field_table& a) {
    if (!v.as_string()) return unacceptable(v);
    return find(a, "x-dead-letter-exchange") ? check{} : bad("routing_key_but_no_dlx_defined");
}

check check_one_of(const field_value& v, std::initializer_list<std::string_view> ok,
                   std::string_view term) {
    auto* s = v.as_string();
    if (!s) return unacceptable(v);
    for (auto o : ok)
        if (*s == o) return {};
    return bad(std::string(term));
}

check check_overflow(const field_value& v, const field_table&) {
    return check_one_of(v, {"drop-head", "reject-publish", "reject-publish-dlx"},
                        "invalid_overflow");
}

check check_dlx_strategy(const field_value& v, const field_table&) {
    return check_one_of(v, {"at-most-once", "at-least-once"}, "invalid_dlx_strategy");
}

check check_queue_mode(const field_value& v, const field_table&) {
    return check_one_of(v, {"default", "lazy"}, "invalid_queue_mode");
}

check check_queue_version(const field_value& v, const field_table& a) {
    if (auto e = check_int(v, a); !e) return e;
    int64_t i = *v.as_int();
    return (i == 1 || i == 2) ? check{} : bad("invalid_queue_version");
}

// In RabbitMQ's declare_args() order: the first failing argument is the one reported.
struct validator {
    std::string_view key;
    check_fn fn;
};
constexpr validator k_validators[] = {
    {"x-expires", check_expires},
    {"x-message-ttl", check_message_ttl},
    {"x-dead-letter-exchange", check_dlx_name},
    {"x-dead-letter-routing-key", check_dlx_rk},
    {"x-dead-letter-strategy", check_dlx_strategy},
    {"x-max-length", check_non_neg_int},
    {"x-max-length-bytes", check_non_neg_int},
    {"x-max-in-memory-length", check_non_neg_int},
    {"x-max-in-memory-bytes", check_non_neg_int},
    {"x-max-priority", check_max_priority},
    {"x-overflow", check_overflow},
    {"x-queue-mode", check_queue_mode},
    {"x-queue-version", check_queue_version},
    {"x-single-active-consumer", check_bool},
    {"x-delivery-limit", check_non_neg_int},
};

}  // namespace

result<void> validate_queue_args(const field_table& args, std::string_view resource) {
    // rabbit_channel checks the DLX's type before the queue module's validators run.
    if (auto* dlx = find(args, "x-dead-letter-exchange"); dlx && !dlx->as_string())
        return error{reply_code::precondition_failed,
                     "invalid type '" + std::string(field_type_name(*dlx)) +
                         "' for arg 'x-dead-letter-exchange' in " + std::string(resource),
                     std::string(resource)};
    for (auto& [key, fn] : k_validators) {
        auto* v = find(args, key);
        if (!v) continue;
        auto r = fn(*v, args);
        if (r) continue;
        return error{reply_code::precondition_failed,
                     "invalid arg '" + std::string(key) + "' for " + std::string(resource) + ": " +
                         r.error().text,
                     std::string(resource)};
    }
    return {};
}

}  // namespace warren::core

namespace warren::core {
result<void> validate_exchange_args(const field_table& args, std::string_view resource) {
    if (auto* ae = find(args, "alternate-exchange"); ae && !ae->as_string())
        return error{reply_code::precondition_failed,
                     "invalid type '" + std::string(field_type_name(*ae)) +
                         "' for arg 'alternate-exchange' in " + std::string(resource),
                     std::string(resource)};
    return {};
}
}  // namespace warren::core

namespace warren::core {
message_ptr with_delivery_count(const message_ptr& m, uint32_t count) {
    auto n = std::make_shared<message>(*m);
    n->props_raw.clear();
    if (!n->props.headers) n->props.headers.emplace();
    set(*n->props.headers, "x-delivery-count", field_value{int64_t{count}});
    return n;
}
}  // namespace warren::core

namespace warren::core {
message_ptr sender_selected(message_ptr m, std::vector<std::string>& keys) {
    const field_table& h = *m->props.headers;
    bool has_bcc = false;
    for (auto& [k, v] : h) {
        const bool cc = k == "CC";
        if (!cc && k != "BCC") continue;
        if (!cc) has_bcc = true;
        if (auto* arr = v.as_array())
            for (auto& e : *arr)
                if (auto* s = e.as_string()) keys.push_back(*s);
    }
    if (!has_bcc) return m;
    auto n = std::make_shared<message>(*m);
    n->props_raw.clear();
    core::erase(*n->props.headers, "BCC");
    return n;
}
}  // namespace warren::core

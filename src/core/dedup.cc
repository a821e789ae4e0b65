#include "core/dedup.h"

#include <charconv>
#include <string>
#include <type_traits>
#include <variant>

namespace warren::core {

namespace {

std::string number_key(char tag, const auto& x) {
    return tag + std::to_string(x);
}

// A positive integer argument: any integer type, or a string of digits (the plugin accepts
// "5" as well as 5).
std::optional<uint64_t> positive(const field_value& v) {
    if (auto i = v.as_int()) return *i > 0 ? std::optional<uint64_t>(*i) : std::nullopt;
    const std::string* s = v.as_string();
    if (!s) {
        if (auto* b = std::get_if<bytes_value>(&v.v)) s = &b->data;
    }
    if (!s || s->empty()) return std::nullopt;
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec != std::errc{} || p != s->data() + s->size() || n == 0) return std::nullopt;
    return n;
}

error precondition(std::string text) {
    return error{reply_code::precondition_failed, std::move(text)};
}

}  // namespace

std::optional<std::string> dedup_key(const message& m, std::string_view header) {
    if (!m.props.headers) return std::nullopt;
    const field_value* v = find(*m.props.headers, header);
    if (!v) return std::nullopt;
    return std::visit(
        [](const auto& x) -> std::optional<std::string> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return 'S' + x;
            } else if constexpr (std::is_same_v<T, bytes_value>) {
                return 'S' + x.data;
            } else if constexpr (std::is_same_v<T, bool>) {
                return std::string(x ? "B1" : "B0");
            } else if constexpr (std::is_integral_v<T>) {
                return number_key('I', static_cast<int64_t>(x));
            } else if constexpr (std::is_floating_point_v<T>) {
                return number_key('F', static_cast<double>(x));
            } else if constexpr (std::is_same_v<T, decimal_value>) {
                return 'D' + std::to_string(x.scale) + ':' + std::to_string(x.value);
            } else if constexpr (std::is_same_v<T, timestamp_value>) {
                return number_key('T', x.seconds);
            } else {
                return std::nullopt;  // void, array, table
            }
        },
        v->v);
}

std::optional<uint64_t> message_cache_ttl(const message& m) {
    if (!m.props.headers) return std::nullopt;
    const field_value* v = find(*m.props.headers, "x-cache-ttl");
    return v ? positive(*v) : std::nullopt;
}

std::optional<uint64_t> key_ttl(const dedup_options& o, const message& m) {
    if (auto t = message_cache_ttl(m)) return t;
    return o.ttl;
}

result<std::optional<dedup_options>> exchange_dedup_options(std::string_view type,
                                                            const field_table& args) {
    const bool plugin = type == k_dedup_exchange_type;
    bool lavin = false;
    if (auto* v = find(args, "x-message-deduplication")) lavin = v->as_bool().value_or(false);
    if (!plugin && !lavin) return std::optional<dedup_options>{};
    dedup_options o;
    // The plugin's checks and texts (its validate/1); x-cache-size is optional on LavinMQ's
    // argument form only.
    const field_value* size = find(args, "x-cache-size");
    if (size || plugin) {
        auto n = size ? positive(*size) : std::nullopt;
        if (!n)
            return precondition(
                "Missing or invalid argument, 'x-cache-size' must be an integer greater than 0");
        o.size = *n;
    }
    if (auto* ttl = find(args, "x-cache-ttl")) {
        auto n = positive(*ttl);
        if (!n)
            return precondition(
                "Invalid argument, 'x-cache-ttl' must be an integer greater than 0");
        o.ttl = *n;
    }
    if (auto* p = find(args, "x-cache-persistence")) {
        auto* s = p->as_string();
        if (!s || (*s != "disk" && *s != "memory"))
            return precondition(
                "Invalid argument, 'x-cache-persistence' must be either 'disk' or 'memory'");
    }
    if (auto* h = find(args, "x-deduplication-header"))
        if (auto* s = h->as_string(); s && !s->empty()) o.header = *s;
    return std::optional<dedup_options>{std::move(o)};
}

bool queue_dedup_enabled(const field_table& args) {
    auto* v = find(args, "x-message-deduplication");
    return v && v->as_bool().value_or(false);
}

std::string queue_dedup_header(const field_table& args) {
    if (auto* h = find(args, "x-deduplication-header"))
        if (auto* s = h->as_string(); s && !s->empty()) return *s;
    return std::string(k_dedup_header);
}

// ---------------------------------------------------------------------------------------------
// dedup_cache

void dedup_cache::erase(std::list<entry>::iterator it, std::vector<uint64_t>& gone) {
    if (it->disk_id) gone.push_back(it->disk_id);
    _index.erase(std::string_view(it->key));
    _order.erase(it);
}

bool dedup_cache::contains(std::string_view key, uint64_t now, std::vector<uint64_t>& gone) {
    auto it = _index.find(key);
    if (it == _index.end()) return false;
    if (it->second->expires_at && it->second->expires_at <= now) {
        erase(it->second, gone);
        return false;
    }
    return true;
}

void dedup_cache::insert(std::string key, uint64_t expires_at, uint64_t disk_id, uint64_t now,
                         std::vector<uint64_t>& gone) {
    if (auto it = _index.find(std::string_view(key)); it != _index.end()) erase(it->second, gone);
    // Expired entries at the front go first, then the oldest while full.
    while (!_order.empty() && _order.front().expires_at && _order.front().expires_at <= now)
        erase(_order.begin(), gone);
    while (!_order.empty() && _index.size() >= _capacity) erase(_order.begin(), gone);
    _order.push_back(entry{std::move(key), expires_at, disk_id});
    auto last = std::prev(_order.end());
    _index.emplace(std::string_view(last->key), last);
}

void dedup_cache::clear(std::vector<uint64_t>& gone) {
    for (auto& e : _order)
        if (e.disk_id) gone.push_back(e.disk_id);
    _index.clear();
    _order.clear();
}

}  // namespace warren::core

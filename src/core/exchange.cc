#include "core/exchange.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/string_map.h"
#include "core/topic.h"

namespace warren::core {

std::optional<exchange_type> parse_exchange_type(std::string_view s) {
    if (s == "direct") return exchange_type::direct;
    if (s == "fanout") return exchange_type::fanout;
    if (s == "topic") return exchange_type::topic;
    if (s == "headers") return exchange_type::headers;
    return std::nullopt;
}

std::string_view to_string(exchange_type t) {
    switch (t) {
        case exchange_type::direct:
            return "direct";
        case exchange_type::fanout:
            return "fanout";
        case exchange_type::topic:
            return "topic";
        case exchange_type::headers:
            return "headers";
    }
    return "direct";
}

bool args_equal(const field_table& a, const field_table& b) {
    if (a.size() != b.size()) return false;
    for (auto& [k, v] : a) {
        auto* o = find(b, k);
        if (!o || !(*o == v)) return false;
    }
    return true;
}

namespace {

std::optional<double> as_number(const field_value& v) {
    if (auto i = v.as_int()) return static_cast<double>(*i);
    if (auto* f = std::get_if<float>(&v.v)) return *f;
    if (auto* d = std::get_if<double>(&v.v)) return *d;
    return std::nullopt;
}

const std::string* as_bytes(const field_value& v) {
    if (auto* s = v.as_string()) return s;
    if (auto* b = std::get_if<bytes_value>(&v.v)) return &b->data;
    return nullptr;
}

// Erlang's == on the decoded terms, which is what RabbitMQ's headers exchange uses.
bool loose_equal(const field_value& a, const field_value& b) {
    auto ia = a.as_int(), ib = b.as_int();
    if (ia && ib) return *ia == *ib;
    if (auto na = as_number(a)) {
        auto nb = as_number(b);
        return nb && *na == *nb;
    }
    auto sa = as_bytes(a);
    if (sa) {
        auto sb = as_bytes(b);
        return sb && *sa == *sb;
    }
    return a == b;
}

bool starts_with_x(std::string_view k) {
    return k.size() >= 2 && k[0] == 'x' && k[1] == '-';
}

}  // namespace

bool headers_match(const field_table& binding_args, const field_table* headers) {
    bool all = true, with_x = false;
    if (auto* m = find(binding_args, "x-match")) {
        if (auto* s = as_bytes(*m)) {
            if (*s == "any") {
                all = false;
            } else if (*s == "all-with-x") {
                with_x = true;
            } else if (*s == "any-with-x") {
                all = false;
                with_x = true;
            }
        }
    }
    bool any_matched = false;
    for (auto& [k, want] : binding_args) {
        if (k == "x-match") continue;
        if (!with_x && starts_with_x(k)) continue;
        const field_value* have = headers ? find(*headers, k) : nullptr;
        bool ok = have && (std::holds_alternative<void_value>(want.v) || loose_equal(want, *have));
        if (ok) {
            if (!all) return true;
            any_matched = true;
        } else if (all) {
            return false;
        }
    }
    return all ? true : any_matched;
}

// ---------------------------------------------------------------------------------------------
// exchange base: the binding set.

exchange::exchange(exchange_decl d, exchange_type t)
    : _decl(std::move(d)),
      _type(t),
      _delayed(_decl.type == "x-delayed-message"),
      _dedup_type(_decl.type == k_dedup_exchange_type) {}
exchange::~exchange() = default;

void exchange::enable_dedup(dedup_options o) {
    _dedup = std::make_unique<dedup_cache>(o.size);
    _dedup_opts = std::move(o);
}

size_t exchange::dest_key_hash::operator()(const dest_key& k) const {
    size_t h = std::hash<std::string_view>{}(k.key);
    size_t p = std::hash<const void*>{}(k.dest.q ? static_cast<const void*>(k.dest.q)
                                                 : static_cast<const void*>(k.dest.x));
    return h ^ (p + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

bool exchange::add_binding(const binding_dest& d, std::string_view key, const field_table& args) {
    auto& list = _bindings[dest_key{d, std::string(key)}];
    for (auto& a : list)
        if (args_equal(a, args)) return false;
    list.push_back(args);
    ++_binding_count;
    index_add(d, std::string(key), args);
    return true;
}

bool exchange::remove_binding(const binding_dest& d, std::string_view key,
                              const field_table& args) {
    auto it = _bindings.find(dest_key{d, std::string(key)});
    if (it == _bindings.end()) return false;
    auto& list = it->second;
    for (auto a = list.begin(); a != list.end(); ++a) {
        if (args_equal(*a, args)) {
            field_table removed = std::move(*a);
            list.erase(a);
            --_binding_count;
            index_remove(d, it->first.key, removed);
            if (list.empty()) _bindings.erase(it);
            return true;
        }
    }
    return false;
}

bool exchange::has_binding(const binding_dest& d, std::string_view key,
                           const field_table& args) const {
    auto it = _bindings.find(dest_key{d, std::string(key)});
    if (it == _bindings.end()) return false;
    for (auto& a : it->second)
        if (args_equal(a, args)) return true;
    return false;
}

std::vector<binding_info> exchange::bindings() const {
    std::vector<binding_info> out;
    out.reserve(_binding_count);
    for (auto& [k, list] : _bindings)
        for (auto& a : list) out.push_back(binding_info{k.dest, k.key, a});
    return out;
}

// ---------------------------------------------------------------------------------------------
// The four types.

namespace {

void erase_one(std::vector<binding_dest>& v, const binding_dest& d) {
    auto it = std::find(v.begin(), v.end(), d);
    if (it != v.end()) v.erase(it);
}

class direct_exchange final : public exchange {
public:
    using exchange::exchange;
    void route(const message& m, route_result& out) override { route_key(m, m.routing_key, out); }
    void route_key(const message&, std::string_view key, route_result& out) override {
        auto it = _index.find(key);
        if (it == _index.end()) return;
        for (auto& d : it->second) out.add(d);
    }

protected:
    void index_add(const binding_dest& d, const std::string& key, const field_table&) override {
        _index[key].push_back(d);
    }
    void index_remove(const binding_dest& d, const std::string& key, const field_table&) override {
        auto it = _index.find(key);
        if (it == _index.end()) return;
        erase_one(it->second, d);
        if (it->second.empty()) _index.erase(it);
    }

private:
    string_map<std::vector<binding_dest>> _index;
};

class fanout_exchange final : public exchange {
public:
    using exchange::exchange;
    void route(const message&, route_result& out) override {
        for (auto& d : _dests) out.add(d);
    }

protected:
    void index_add(const binding_dest& d, const std::string&, const field_table&) override {
        _dests.push_back(d);
    }
    void index_remove(const binding_dest& d, const std::string&, const field_table&) override {
        erase_one(_dests, d);
    }

private:
    std::vector<binding_dest> _dests;
};

class topic_exchange final : public exchange {
public:
    using exchange::exchange;
    void route(const message& m, route_result& out) override { _trie.match(m.routing_key, out); }
    void route_key(const message&, std::string_view key, route_result& out) override {
        _trie.match(key, out);
    }

protected:
    void index_add(const binding_dest& d, const std::string& key, const field_table&) override {
        _trie.add(key, d);
    }
    void index_remove(const binding_dest& d, const std::string& key, const field_table&) override {
        _trie.remove(key, d);
    }

private:
    topic_trie _trie;
};

class headers_exchange final : public exchange {
public:
    using exchange::exchange;
    void route(const message& m, route_result& out) override {
        const field_table* h = m.props.headers ? &*m.props.headers : nullptr;
        for (auto& e : _entries)
            if (headers_match(e.args, h)) out.add(e.dest);
    }

protected:
    void index_add(const binding_dest& d, const std::string&, const field_table& args) override {
        _entries.push_back(entry{d, args});
    }
    void index_remove(const binding_dest& d, const std::string&, const field_table& args) override {
        for (auto it = _entries.begin(); it != _entries.end(); ++it) {
            if (it->dest == d && args_equal(it->args, args)) {
                _entries.erase(it);
                return;
            }
        }
    }

private:
    struct entry {
        binding_dest dest;
        field_table args;
    };
    std::vector<entry> _entries;
};

}  // namespace

std::unique_ptr<exchange> make_exchange(exchange_decl d, exchange_type t) {
    switch (t) {
        case exchange_type::direct:
            return std::make_unique<direct_exchange>(std::move(d), t);
        case exchange_type::fanout:
            return std::make_unique<fanout_exchange>(std::move(d), t);
        case exchange_type::topic:
            return std::make_unique<topic_exchange>(std::move(d), t);
        case exchange_type::headers:
            return std::make_unique<headers_exchange>(std::move(d), t);
    }
    return nullptr;
}

}  // namespace warren::core

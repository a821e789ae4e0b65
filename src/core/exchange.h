#pragma once
// Exchanges: direct, fanout, topic and headers, and the bindings they route by.
//
// An exchange is owned by its vhost (unique_ptr; exchange* stays valid until the exchange is
// deleted) and lives on the broker thread. The vhost keeps the bindings consistent (it alone calls
// add_binding/remove_binding); an exchange only indexes its outgoing bindings by type and answers
// route(). A binding's destination is a queue or, for exchange-to-exchange bindings, another
// exchange; the vhost follows those and delivers to each queue at most once per publish.
//
//   route_result r;
//   x->route(msg, r);   // r.queues / r.exchanges: destinations (may repeat; caller dedupes)
//
// Topic: a trie over dot-separated words ('*' = one word, '#' = zero or more), so matching
// costs the routing key's length, not the number of bindings. Headers: x-match all/any/
// all-with-x/any-with-x over the binding arguments (see headers_match).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dedup.h"
#include "core/fields.h"
#include "core/message.h"

namespace warren::core {

class queue;
class exchange;

enum class exchange_type { direct, fanout, topic, headers };
std::optional<exchange_type> parse_exchange_type(std::string_view s);
std::string_view to_string(exchange_type t);

struct exchange_decl {
    std::string name;
    std::string type = "direct";  // as declared; validated by vhost::declare_exchange
    bool passive = false, durable = false, auto_delete = false, internal = false;
    field_table args;
};

// Where a binding leads: exactly one of q / x is set.
struct binding_dest {
    queue* q = nullptr;
    exchange* x = nullptr;
    bool operator==(const binding_dest&) const = default;
};

// One outgoing binding of an exchange, for listing (management API, durability).
struct binding_info {
    binding_dest dest;
    std::string key;
    field_table args;
};

// A binding seen from its destination (queue or exchange), so deleting the destination can
// remove it from its source.
struct inbound_binding {
    std::string source;  // exchange name
    std::string key;
    field_table args;
};

// Routing output; reused across publishes so the hot path does not allocate.
struct route_result {
    std::vector<queue*> queues;
    std::vector<exchange*> exchanges;
    void clear() {
        queues.clear();
        exchanges.clear();
    }
    void add(const binding_dest& d) {
        if (d.q)
            queues.push_back(d.q);
        else
            exchanges.push_back(d.x);
    }
};

// Headers-exchange matching of one binding's arguments against a message's headers (null = no
// headers). x-match: "all" (default, also when absent or unknown), "any", "all-with-x",
// "any-with-x". Binding keys starting with "x-" are ignored for all/any ("x-match" always is).
// A binding value of type void matches on presence alone. Values compare loosely, like
// RabbitMQ: integers of any width by value, long string equals byte array with the same bytes.
bool headers_match(const field_table& binding_args, const field_table* headers);

// Argument tables compare as sets of (key, value): order does not matter.
bool args_equal(const field_table& a, const field_table& b);

// Counters for the management API. Monotonic.
struct exchange_stats {
    uint64_t published = 0;   // messages published directly to this exchange
    uint64_t unroutable = 0;  // of which reached no queue
};

class exchange {
public:
    exchange(exchange_decl d, exchange_type t);
    virtual ~exchange();
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    const std::string& name() const { return _decl.name; }
    exchange_type type() const { return _type; }
    // As declared: the routing type, or "x-delayed-message" for a delayed exchange, or
    // "x-message-deduplication" for the deduplication plugin's type (routes as fanout).
    std::string_view type_name() const {
        if (_delayed) return "x-delayed-message";
        if (_dedup_type) return k_dedup_exchange_type;
        return to_string(_type);
    }
    // An x-delayed-message exchange (routes as type(), holds messages with x-delay > 0).
    bool delayed() const { return _delayed; }
    bool durable() const { return _decl.durable; }
    bool auto_delete() const { return _decl.auto_delete; }
    bool internal() const { return _decl.internal; }
    const field_table& args() const { return _decl.args; }
    // The alternate exchange in effect: the `alternate-exchange` argument (a string), else the
    // one of the exchange's policy; null if none.
    const std::string* alternate_exchange() const {
        if (auto* v = find(_decl.args, "alternate-exchange"))
            if (auto* s = v->as_string()) return s;
        return _policy_ae ? &*_policy_ae : nullptr;
    }
    // Policies (core/policy.h): the policy in effect ("" = none) and its alternate-exchange.
    void set_policy(std::string name, std::optional<std::string> alternate) {
        _policy = std::move(name);
        _policy_ae = std::move(alternate);
    }
    const std::string& policy_name() const { return _policy; }
    // Deduplication (core/dedup.h): its options and cache, null if the exchange has none.
    void enable_dedup(dedup_options o);
    const dedup_options* dedup() const { return _dedup_opts ? &*_dedup_opts : nullptr; }
    dedup_cache* dedup_keys() { return _dedup.get(); }

    // Appends the destinations this message routes to (possibly with repeats).
    virtual void route(const message& m, route_result& out) = 0;
    // Sender-selected distribution (CC/BCC headers): appends the destinations for one more
    // routing key. Types that ignore the routing key (fanout, headers) add nothing: route()
    // already covered them.
    virtual void route_key(const message& m, std::string_view key, route_result& out) {
        (void)m, (void)key, (void)out;
    }

    size_t binding_count() const { return _binding_count; }
    const exchange_stats& stats() const { return _stats; }
    exchange_stats& mutable_stats() { return _stats; }  // vhost::publish counts here
    std::vector<binding_info> bindings() const;
    bool has_binding(const binding_dest& d, std::string_view key, const field_table& args) const;

    // ---- used by vhost ----
    // false if an identical binding (dest, key, args) already exists.
    bool add_binding(const binding_dest& d, std::string_view key, const field_table& args);
    // false if there was no such binding.
    bool remove_binding(const binding_dest& d, std::string_view key, const field_table& args);
    // Bindings in which this exchange is the destination (for cleanup when it is deleted).
    std::vector<inbound_binding>& inbound_bindings() { return _inbound; }
    uint64_t route_mark = 0;  // publish epoch, for cycle avoidance

protected:
    virtual void index_add(const binding_dest& d, const std::string& key,
                           const field_table& args) = 0;
    virtual void index_remove(const binding_dest& d, const std::string& key,
                              const field_table& args) = 0;

private:
    struct dest_key {
        binding_dest dest;
        std::string key;
        bool operator==(const dest_key&) const = default;
    };
    struct dest_key_hash {
        size_t operator()(const dest_key& k) const;
    };

    exchange_decl _decl;
    exchange_type _type;
    bool _delayed = false;
    bool _dedup_type = false;  // declared as x-message-deduplication
    std::optional<dedup_options> _dedup_opts;
    std::unique_ptr<dedup_cache> _dedup;
    std::string _policy;
    std::optional<std::string> _policy_ae;
    // (destination, key) -> the distinct argument tables bound with it (usually one, empty).
    std::unordered_map<dest_key, std::vector<field_table>, dest_key_hash> _bindings;
    size_t _binding_count = 0;
    std::vector<inbound_binding> _inbound;
    exchange_stats _stats;
};

std::unique_ptr<exchange> make_exchange(exchange_decl d, exchange_type t);

}  // namespace warren::core

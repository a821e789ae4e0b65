#pragma once
// Message deduplication, as the rabbitmq-message-deduplication plugin and LavinMQ do it, plus
// what neither does: the cache of a durable exchange survives a restart and kill -9.
//
// A message's key is the value of its `x-deduplication-header` header (or of the header named by
// the `x-deduplication-header` argument, as LavinMQ allows). A message without the header is
// never a duplicate.
//
// Exchange level: the exchange type `x-message-deduplication` (the plugin's: routes like fanout;
// `x-cache-size` required, `x-cache-ttl` optional, both ms/entries > 0, integers or numeric
// strings; `x-cache-persistence` "memory" or "disk") or the argument
// `x-message-deduplication: true` on an exchange of any type (LavinMQ's: `x-cache-size` defaults
// to 128). The exchange keeps a cache of keys it routed, at most x-cache-size (the oldest is
// evicted first), each for x-cache-ttl ms (the message header `x-cache-ttl` overrides it; no TTL:
// until evicted). A message whose key is cached is dropped at that exchange: it routes nowhere
// (unroutable, so a mandatory publish is returned) and does not go to the alternate exchange.
// A persistent message's key cached by a durable exchange is written to the message log
// (vhost::held_store_id, beside the delayed exchanges' messages) before its publish is
// confirmed, after the message itself, so a key is never on disk without its message; recovery
// puts the live ones back (restore) with the time they have left.
//
// Queue level: a queue declared with `x-message-deduplication: true` does not enqueue a message
// whose key belongs to a message already in it (ready or unacked); the key is released when
// that message leaves (ack, no-ack delivery, reject, expiry, drop, purge). A duplicate is
// accepted and dropped (confirmed, not returned). Durable by construction: recovery rebuilds
// the keys from the recovered messages (core/queue.h).
//
//   auto o = exchange_dedup_options(d.type, d.args);   // 406 for bad arguments
//   dedup_cache c(o->size);
//   if (auto k = dedup_key(*m, o->header); k && !c.contains(*k, now, gone)) c.insert(...);

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/fields.h"
#include "core/message.h"

namespace warren::core {

inline constexpr std::string_view k_dedup_exchange_type = "x-message-deduplication";
inline constexpr std::string_view k_dedup_header = "x-deduplication-header";

// The key of m under header `header`: its value tagged with its kind, so the integer 1 and the
// string "1" differ while a short and a long 1 do not, and a byte array equals the long string
// with the same bytes (a STOMP header and an AMQP longstr meet). nullopt: no such header, or a
// void, array or table value (never deduplicated).
std::optional<std::string> dedup_key(const message& m, std::string_view header);

// The message header x-cache-ttl: a positive integer (ms), else nullopt.
std::optional<uint64_t> message_cache_ttl(const message& m);

struct dedup_options;
// How long m's key is kept: its x-cache-ttl header, else the exchange's x-cache-ttl (nullopt:
// until evicted).
std::optional<uint64_t> key_ttl(const dedup_options& o, const message& m);

struct dedup_options {
    uint64_t size = 128;          // x-cache-size
    std::optional<uint64_t> ttl;  // x-cache-ttl, ms (nullopt: until evicted)
    std::string header{k_dedup_header};
};

// The deduplication of a new exchange of declared type `type`: nullopt when it has none, the
// plugin's 406 PRECONDITION_FAILED for a missing or bad argument.
result<std::optional<dedup_options>> exchange_dedup_options(std::string_view type,
                                                            const field_table& args);

// Queue level: true if the queue's arguments enable it; the header its keys come from.
bool queue_dedup_enabled(const field_table& args);
std::string queue_dedup_header(const field_table& args);

// The keys an exchange routed: at most `capacity`, oldest evicted first, each until its expiry
// (steady ms; 0 = never). An entry may carry the id of its record in the message log; whatever
// leaves the cache hands that id back (`gone`) for the caller to settle. Expired entries leave
// when looked up or when they reach the front. Owned by its exchange; broker thread.
class dedup_cache {
public:
    explicit dedup_cache(uint64_t capacity) : _capacity(capacity ? capacity : 1) {}
    dedup_cache(const dedup_cache&) = delete;
    dedup_cache& operator=(const dedup_cache&) = delete;

    // true if `key` is cached and unexpired at `now`.
    bool contains(std::string_view key, uint64_t now, std::vector<uint64_t>& gone);
    // Caches `key` (replacing an expired or equal entry), evicting the oldest when full.
    void insert(std::string key, uint64_t expires_at, uint64_t disk_id, uint64_t now,
                std::vector<uint64_t>& gone);
    // Empties the cache; the record ids of what it held are appended to `gone`.
    void clear(std::vector<uint64_t>& gone);
    size_t size() const { return _index.size(); }
    uint64_t capacity() const { return _capacity; }

private:
    struct entry {
        std::string key;
        uint64_t expires_at;
        uint64_t disk_id;
    };
    void erase(std::list<entry>::iterator it, std::vector<uint64_t>& gone);

    uint64_t _capacity;
    std::list<entry> _order;  // insertion order, oldest first
    std::unordered_map<std::string_view, std::list<entry>::iterator> _index;  // views into _order
};

}  // namespace warren::core

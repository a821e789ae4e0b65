#pragma once
// Delayed delivery, as the rabbitmq-delayed-message-exchange plugin does it: an exchange of type
// "x-delayed-message" routes like its "x-delayed-type" (direct, topic, fanout, headers), but a
// message with a positive integer header `x-delay` (ms) is held and routed when due. A missing,
// non-integer, zero or negative x-delay routes at once. A released message carries
// x-delay = -delay (as the plugin marks it), so it is not held again by the same exchange or by
// a delayed exchange downstream.
//
// All of it lives here: the router asks delayed_holds::hold() at each exchange it walks, and
// release() routes what is due back through the router. The pending messages live in one index
// per vhost, ordered by due time (a multimap: release costs O(log n) per message, never a scan;
// equal due times keep publish order). vhost::tick releases what is due and vhost::next_expiry
// reports the earliest due time, so the broker's timer drives it. Deleting the exchange drops
// its pending messages.
//
// Durability: a persistent message held by a durable delayed exchange is also written to the
// message log (write_held, under the vhost's delayed store id), confirmed once on disk, and put
// back here after a restart (restore()) with the time it still has to wait. Transient messages,
// and those held by non-durable exchanges, are lost on restart.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/exchange.h"
#include "core/fields.h"
#include "core/message.h"

namespace warren::core {

inline constexpr std::string_view k_delayed_exchange_type = "x-delayed-message";

// The routing type of a new x-delayed-message exchange, from its x-delayed-type argument, or the
// plugin's 406.
result<exchange_type> delayed_exchange_type(const field_table& args);

// The message's positive x-delay in ms, or nullopt (route at once).
std::optional<uint64_t> positive_delay(const message& m);

class delayed_index {
public:
    // Holds m for exchange `x` until `due` (steady ms). disk_id: its record in the store (a
    // persistent message held by a durable exchange), 0 if none.
    void hold(std::string exchange, message_ptr m, uint64_t due, uint64_t delay,
              uint64_t disk_id = 0);
    // Earliest due time; nullopt if nothing is pending.
    std::optional<uint64_t> next_due() const;
    struct released {
        std::string exchange;
        message_ptr msg;  // with x-delay = -delay
        uint64_t disk_id = 0;
    };
    // Removes and returns every message due by now, in due order.
    std::vector<released> take_due(uint64_t now);
    // Drops an exchange's pending messages (it was deleted); returns how many. The disk ids of
    // the dropped ones are appended to `disk_ids` if given.
    size_t drop_exchange(std::string_view exchange, std::vector<uint64_t>* disk_ids = nullptr);
    size_t pending(std::string_view exchange) const;
    size_t size() const { return _by_due.size(); }

private:
    struct entry {
        std::string exchange;
        message_ptr msg;
        uint64_t delay;
        uint64_t disk_id = 0;
    };
    std::multimap<uint64_t, entry> _by_due;
};

class vhost;
class router;

// The x-delayed-message holds of one vhost. Owned by the vhost; broker thread.
class delayed_holds {
public:
    explicit delayed_holds(vhost& owner) : _vh(owner) {}

    // The router, at exchange e: if e is an x-delayed-message exchange and m has a positive
    // x-delay, holds m and returns true (then e does not route it now). A persistent message
    // held by a durable exchange is written to the log; *store_seq (if given) is raised to the
    // seq its confirm waits for.
    bool hold(const exchange& e, const message_ptr& m, uint64_t* store_seq);
    // Routes the held messages due by `now` through r, in due order, and settles their log
    // records. Unroutable ones (or whose exchange is gone) are dropped, as the plugin does.
    void release(uint64_t now, router& r);
    // Recovery: puts a logged message back with the time it still has to wait. false: its
    // exchange is gone or is not delayed, or the message has no positive x-delay.
    bool restore(message_ptr m, uint64_t disk_id, uint64_t published_wall_ms, uint64_t now_wall_ms);
    // The exchange is being deleted: drops its held messages and settles their records.
    void exchange_deleted(const exchange& x);

    std::optional<uint64_t> next_due() const { return _index.next_due(); }
    size_t size() const { return _index.size(); }
    size_t pending(std::string_view exchange) const { return _index.pending(exchange); }
    // The store id held messages are logged under (0 = none yet; recovery sets the saved one).
    // Deduplicating exchanges log their cached keys under it too (core/dedup.h).
    uint64_t store_id() const { return _store_id; }
    // The store id, allocated (and saved with the vhost's record) on first use; 0 without a
    // topology store.
    uint64_t ensure_store_id();
    void set_store_id(uint64_t id) { _store_id = id; }

private:
    vhost& _vh;
    delayed_index _index;
    uint64_t _store_id = 0;
};

}  // namespace warren::core

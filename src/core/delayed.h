#pragma once
// Delayed delivery, as the rabbitmq-delayed-message-exchange plugin does it: an exchange of type
// "x-delayed-message" routes like its "x-delayed-type" (direct, topic, fanout, headers), but a
// message with a positive integer header `x-delay` (ms) is held and routed when due. A missing,
// non-integer, zero or negative x-delay routes at once. A released message carries
// x-delay = -delay (as the plugin marks it), so it is not held again by the same exchange or by
// a delayed exchange downstream.
//
// The pending messages live in one index per vhost, ordered by due time (a multimap: release
// costs O(log n) per message, never a scan; equal due times keep publish order). vhost::tick
// releases what is due and vhost::next_expiry reports the earliest due time, so the broker's
// timer drives it. Deleting the exchange drops its pending messages.
//
// Durability: a persistent message held by a durable delayed exchange is also written to the
// store (under the vhost's delayed store id, see vhost::hold_delayed), confirmed once on disk,
// and put back here after a restart with the time it still has to wait. Transient messages, and
// those held by non-durable exchanges, are lost on restart.

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

}  // namespace warren::core

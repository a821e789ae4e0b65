#pragma once
// The router: where one publish goes, in one place. route() takes a message at an exchange and
// hands it to every queue it reaches:
//   - exchange-to-exchange bindings are followed; each exchange is visited at most once per
//     publish, so a cycle in the graph delivers once, and each queue gets the message once;
//   - CC and BCC headers (sender-selected distribution) add routing keys; BCC is stripped;
//   - an exchange that routes nowhere passes the message to its alternate exchange;
//   - a deduplicating exchange (core/dedup.h) drops a message whose key it has cached: it
//     routes nowhere from there; a new key is cached once the message is written;
//   - an x-delayed-message exchange holds a message with a positive x-delay instead of routing
//     it (core/delayed.h owns the holds and routes them here when due);
//   - a dead-lettered message skips the queues it already died in (RabbitMQ's cycle rule);
//   - a persistent message reaching durable queues is written to the message log once, naming
//     all of them (persist()): the one place a routed publish is written.
//
// Owned by its vhost, which owns the exchanges and queues, checks the publish (missing or
// internal exchange) and calls route(); lives on the broker thread. No allocation in the steady
// state: scratch space is kept per nesting depth (a consumer callback may publish while a
// publish is delivering) and reused.
//
//   publish_info info;
//   auto n = _router.route(*x, std::move(m), &info, route_origin::publish);  // queues reached

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/exchange.h"
#include "core/message.h"

namespace warren::core {

class vhost;
class queue;

// What a publish did beyond the count of queues it reached.
struct publish_info {
    // Queues that refused the message (x-overflow reject-publish): the front end must nack a
    // confirm for it. Not in the count.
    size_t rejected = 0;
    uint64_t store_seq = 0;  // confirm only once confirm_gate::durable_seq() >= this
    // A queue the message reached that is behind its consumers (core/flow.h): the front end
    // notes it in its publisher_flow. The first such queue only.
    queue_ptr behind;
};

// Where a message comes from: a dead letter obeys the cycle rule.
enum class route_origin { publish, dead_letter };

class router {
public:
    explicit router(vhost& owner);
    ~router();
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    // Routes m from x and enqueues it. Returns the number of queues reached plus the holds of
    // delayed exchanges (0 = unroutable); counts x's published / unroutable stats. Sets m->id
    // if 0. info (may be null) gets the rejections and the log seq to confirm at. Fails only if
    // the message log refuses the write (then no queue gets the message).
    result<size_t> route(exchange& x, message_ptr m, publish_info* info, route_origin origin);

    // A route() is delivering: dead letters it causes wait until it is done.
    bool routing() const { return _depth > 0; }

private:
    struct scratch {
        route_result route;               // one exchange's route()
        std::vector<queue_ptr> targets;   // the distinct queues reached
        std::vector<exchange*> frontier;  // exchanges still to route through
        std::vector<uint64_t> store_ids;  // durable targets of a persistent message
        // Deduplicating exchanges passed, with the message's key there: cached once the
        // message is written (core/dedup.h).
        std::vector<std::pair<exchange*, std::string>> keys;
    };
    // Fills s.targets; returns how many delayed exchanges held the message.
    size_t walk(exchange& x, const message_ptr& m, const std::vector<std::string>& extra_keys,
                scratch& s, publish_info* info);
    result<size_t> route_default(message_ptr m, exchange_stats& stats, publish_info* info,
                                 route_origin origin);
    // Writes a persistent message once for the durable targets. Ok(true) if written.
    result<bool> persist(const message& m, scratch& s, publish_info* info);

    vhost& _vh;
    std::vector<std::unique_ptr<scratch>> _frames;  // one per nesting depth, kept
    size_t _depth = 0;
    uint64_t _epoch = 0;  // route_mark of exchanges and queues visited by the current walk
};

}  // namespace warren::core

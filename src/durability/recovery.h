#pragma once
// recovery: start-up, putting what the data dir holds back into the broker.
//   replay_topology: declares the saved durable exchanges, queues (with their store ids) and
//     bindings, vhost by vhost (a declare that fails is logged and skipped);
//   recover_messages: puts every recovered persistent message back in its queue with
//     redelivered=true (index entries only when the queue needs nothing from the properties,
//     so recovery costs the log scan alone; a deduplicating queue reads its messages for their
//     keys), delayed messages back in their exchange's delay index, the keys cached by
//     deduplicating exchanges back in their caches, and settles the rest (transient spills, queues
//     that no longer exist, unreadable).
//
//   auto next_id = durability::replay_topology(broker, loaded);
//   auto r = durability::recover_messages(broker, log, ml, rec);   // error text: refuse start
//
// Run once on the broker thread before any connection is accepted.

#include <cstdint>
#include <string>

#include "base/result.h"
#include "core/broker.h"
#include "core/message_log.h"
#include "store/segment_log.h"
#include "store/topology.h"

namespace warren::durability {

// Returns the lowest queue store id not used by the topology.
uint64_t replay_topology(core::broker& b, const store::topology& t);

struct recovered_messages {
    uint64_t restored = 0, delayed = 0, dedup_keys = 0, dropped = 0, unreadable = 0, streams = 0;
    uint64_t next_queue_id = 1;  // above every queue id found in the log
};
// `reader` reads message bodies back (the broker's message log). Wall-clock time (TTL spent
// while stopped, delays) comes from the broker's clock.
basic_result<recovered_messages, std::string> recover_messages(core::broker& b,
                                                               store::segment_log& log,
                                                               core::message_log& reader,
                                                               store::recovery_result& rec);

}  // namespace warren::durability

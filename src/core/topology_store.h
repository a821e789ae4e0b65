#pragma once
// What core asks of the durable topology: save a change to durable exchanges, queues and
// bindings before the front end acknowledges it, and hand out queue store ids. durability/
// implements it (an append-only metadata log, store/metadata_log.h); the broker gets it through
// broker::set_storage. Without one nothing is saved.
//
// The guarantee core relies on: when topology_changed() returns true, the change is durable; a
// declare or bind that cannot be saved is undone by the vhost and answered 541 INTERNAL_ERROR
// instead of declare-ok / bind-ok.
//
// Runs on the broker thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/fields.h"

namespace warren::core {

class vhost;
class queue;

class topology_store {
public:
    virtual ~topology_store() = default;

    // A durable exchange, queue or binding changed in `vh`: save it (durably, before the front
    // end replies). false: it could not be saved (logged); the operation must fail.
    virtual bool topology_changed(vhost& vh) = 0;
    // The common additions, saved without looking at the rest of the vhost (O(1) instead of
    // O(durable objects): a vhost with 10^5 bindings binds as fast as an empty one). Same
    // contract as topology_changed; the default just calls it.
    //   binding_added: a new durable binding source -> destination (an exchange if
    //   to_exchange) with that key and arguments;
    //   queue_added: a new durable queue.
    virtual bool binding_added(vhost& vh, const std::string& source, const std::string& destination,
                               bool to_exchange, std::string_view key, const field_table& args) {
        (void)source, (void)destination, (void)to_exchange, (void)key, (void)args;
        return topology_changed(vh);
    }
    virtual bool queue_added(vhost& vh, const queue& q) {
        (void)q;
        return topology_changed(vh);
    }
    // A save failed and none has succeeded since: the saved topology lags the broker's.
    virtual bool topology_pending() const = 0;
    // A new queue's store id (never reused).
    virtual uint64_t next_queue_id() = 0;
};

}  // namespace warren::core

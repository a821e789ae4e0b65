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

namespace warren::core {

class vhost;

class topology_store {
public:
    virtual ~topology_store() = default;

    // A durable exchange, queue or binding changed in `vh`: save it (durably, before the front
    // end replies). false: it could not be saved (logged); the operation must fail.
    virtual bool topology_changed(vhost& vh) = 0;
    // A save failed and none has succeeded since: the saved topology lags the broker's.
    virtual bool topology_pending() const = 0;
    // A new queue's store id (never reused).
    virtual uint64_t next_queue_id() = 0;
};

}  // namespace warren::core

#pragma once
// The gate a front end's confirm passes through: a publisher confirm, tx.commit-ok or STOMP
// receipt for a persistent message is sent only once durable_seq() has reached the seq the
// message log returned for it (core/message_log.h). A front end that must wait registers a
// durable_waiter and is told when the log's durable seq advances, or that the store failed.
// durability/ implements it over the log's group-commit flusher.
//
// Runs on the broker thread (the flusher only posts its advances to it).

#include <cstdint>

namespace warren::core {

// A front end waiting for the log to reach some seq. Registered with confirm_gate::wait();
// called once per durable advance while registered, then forgotten: re-register if still
// waiting.
class durable_waiter {
public:
    virtual ~durable_waiter() = default;
    virtual void durable_advanced(uint64_t durable_seq) = 0;
    // The store failed: what is waiting will never be durable. Tell the client (close).
    virtual void durable_failed() = 0;
};

class confirm_gate {
public:
    virtual ~confirm_gate() = default;
    virtual uint64_t durable_seq() const = 0;
    virtual void wait(durable_waiter* w) = 0;
    virtual void cancel_wait(durable_waiter* w) = 0;
};

}  // namespace warren::core

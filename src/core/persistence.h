#pragma once
// What core asks of durable storage. Core knows no files: server/ implements this over store/
// (server/durability.h) and hands it to the broker with broker::set_persistence(). Without one
// (unit tests, or no data dir) nothing is written and queues keep every body in memory.
//
// Which messages are written:
//   - a persistent message (delivery-mode 2) routed to durable queues: once, at publish, naming
//     every durable (non-exclusive) queue it reached; each queue settles its own reference;
//   - any message a queue pages out because its bodies exceed queue_memory_limit() ("spill"):
//     written under a fresh id for that queue alone. A spilled transient message, or any
//     message of a non-durable queue, is dropped by recovery, as RabbitMQ drops them.
// A front end confirms a publish (AMQP confirm, tx.commit-ok, STOMP receipt) only once
// durable_seq() has reached the seq returned for it; durable_waiter tells it when.
//
// Everything here runs on the broker thread.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/message.h"

namespace warren::core {

class vhost;

// Spilled messages are written under the queue's store id with this bit set, so the records of a
// durable queue's own id hold only its persistent messages (recovery drops the spill ids).
inline constexpr uint64_t spill_queue_bit = uint64_t{1} << 63;
inline uint64_t spill_queue_id(uint64_t store_id) { return store_id | spill_queue_bit; }

// A front end waiting for the log to reach some seq (publisher confirms, tx.commit-ok,
// receipts). Registered with persistence::wait(); called once per durable advance while
// registered, then forgotten: re-register if still waiting.
class durable_waiter {
public:
    virtual ~durable_waiter() = default;
    virtual void durable_advanced(uint64_t durable_seq) = 0;
    // The store failed: what is waiting will never be durable. Tell the client (close).
    virtual void durable_failed() = 0;
};

class persistence {
public:
    virtual ~persistence() = default;

    // Returns the log seq that must be durable before the publish may be confirmed, 0 if the
    // store refused it (disk failure: see healthy()).
    virtual uint64_t write_message(const message& m, std::span<const uint64_t> queue_ids) = 0;
    // Pages a body out for one queue (queue_id: spill_queue_id(store id)); returns the id to
    // read it back with (0 on failure: keep the body in memory).
    virtual uint64_t spill(const message& m, uint64_t queue_id) = 0;
    // A persistent message held by a durable x-delayed-message exchange `exchange`: written
    // under the vhost's delayed store id with a fresh id (*disk_id). Returns the seq to confirm
    // at, 0 on failure.
    virtual uint64_t write_held(const message& m, std::string_view exchange, uint64_t store_id,
                                uint64_t* disk_id) = 0;
    // Reads a written or spilled message back (nullptr if it cannot: logged by the store), and
    // when it was published (wall-clock ms since the epoch, 0 if unknown).
    virtual message_ptr read(uint64_t disk_id, uint64_t* published_ms) = 0;
    // The queue is done with the message (acked, rejected, expired, dropped, purged).
    virtual void settle(uint64_t queue_id, uint64_t disk_id) = 0;
    // The queue is gone, with these messages still in it.
    virtual void queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) = 0;

    // A durable exchange, queue or binding changed in `vh`: save the topology (before the
    // front end replies, so an acknowledged declare survives a crash). false: it could not be
    // saved (logged); the declare must fail rather than be acknowledged.
    virtual bool topology_changed(vhost& vh) = 0;
    // A save failed and none has succeeded since: the saved topology lags the broker's.
    virtual bool topology_pending() const = 0;
    // A new queue's store id (never reused).
    virtual uint64_t next_queue_id() = 0;
    // Bytes of message bodies one queue keeps in memory before paging out (0 = no limit).
    virtual uint64_t queue_memory_limit() const = 0;

    virtual uint64_t durable_seq() const = 0;
    virtual bool healthy() const = 0;
    virtual void wait(durable_waiter* w) = 0;
    virtual void cancel_wait(durable_waiter* w) = 0;
};

}  // namespace warren::core

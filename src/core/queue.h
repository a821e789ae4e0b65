#pragma once
// A queue: a ready list (messages waiting, in order) plus an unacked table (messages handed to a
// consumer or basic.get and not yet settled), and the consumers attached to it.
//
// Owned by its vhost (shared_ptr: a delivery also holds one, so a deleted queue stays alive until
// its last delivery is settled, and acks on it become no-ops). Lives on the broker thread.
//
// Every message enters through enqueue() and leaves through ack()/discard()/purge(); requeue()
// is the only way back. Durability, TTL, dead-lettering and max-length hook into those paths
// later, so keep them the only ones.
//
//   auto q = std::make_shared<core::queue>(core::queue_decl{.name = "q"});
//   q->add_consumer(&my_consumer);
//   q->enqueue(msg);            // dispatches to my_consumer if it can_accept()
//   q->ack(delivery.seq);

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/exchange.h"
#include "core/fields.h"
#include "core/message.h"
#include "core/ring.h"
#include "core/seq_map.h"

namespace warren::core {

class vhost;

struct queue_decl {
    std::string name;
    bool passive = false, durable = false, exclusive = false, auto_delete = false;
    field_table args;
};

// Counters for the management API. Monotonic.
struct queue_stats {
    uint64_t published = 0;    // enqueued
    uint64_t delivered = 0;    // handed to a consumer or basic.get (redeliveries included)
    uint64_t redelivered = 0;  // of which redeliveries
    uint64_t acked = 0;        // settled by ack (or by delivery, for no_ack)
    uint64_t discarded = 0;    // settled by reject/nack without requeue
    uint64_t requeued = 0;
    uint64_t purged = 0;
};

class queue : public std::enable_shared_from_this<queue> {
public:
    // owner_vhost may be null (tests); then auto-delete only marks the queue deleted.
    // owner_connection: for exclusive queues, the connection that owns it (0 = none).
    explicit queue(queue_decl d, vhost* owner_vhost = nullptr, uint64_t owner_connection = 0);
    queue(const queue&) = delete;
    queue& operator=(const queue&) = delete;
    ~queue();

    const std::string& name() const { return _decl.name; }
    bool durable() const { return _decl.durable; }
    bool exclusive() const { return _decl.exclusive; }
    bool auto_delete() const { return _decl.auto_delete; }
    uint64_t owner() const { return _owner; }  // exclusive owner connection id, 0 = none
    const field_table& args() const { return _decl.args; }
    vhost* owner_vhost() const { return _vhost; }

    void enqueue(message_ptr m);  // appends, then dispatches
    // basic.get: the head message, which becomes unacked (or is settled at once if no_ack).
    std::optional<delivery> get(bool no_ack = false);
    void ack(uint64_t seq);      // settles an unacked message; unknown seq: no-op
    void discard(uint64_t seq);  // reject/nack without requeue (dead-lettering hooks here)
    // Back to the ready list in original (seq) order, redelivered=true; then dispatches.
    // Unknown seqs are ignored.
    void requeue(std::vector<uint64_t> seqs);
    // Deliver to consumers with credit: highest priority first, round-robin within a priority;
    // loops until no ready message or no consumer can accept. Front ends call it when credit
    // returns. Re-entrant calls (from inside deliver()) are folded into the running one.
    void dispatch();

    // 403 if an exclusive consumer holds the queue, or if exclusive is requested and consumers
    // exist. Does not dispatch: call dispatch() after sending consume-ok.
    result<void> add_consumer(consumer* c);
    // May auto-delete the queue (via its vhost) when the last consumer goes. Unknown c: no-op.
    void remove_consumer(consumer* c);
    consumer* find_consumer(std::string_view tag, uint64_t connection_id) const;

    size_t message_count() const { return _ready.size(); }  // ready
    size_t unacked_count() const { return _unacked.size(); }
    size_t consumer_count() const { return _consumer_count; }
    size_t purge();  // drops ready messages, returns how many
    bool deleted() const { return _deleted; }
    const queue_stats& stats() const { return _stats; }
    uint64_t ready_bytes() const { return _ready_bytes; }

    // ---- used by vhost ----
    // Marks deleted, drops ready and unacked messages, and cancels every consumer
    // (cancelled_by_broker). Returns the ready count it dropped.
    size_t mark_deleted();
    std::vector<inbound_binding>& inbound_bindings() { return _inbound; }
    bool had_consumer() const { return _had_consumer; }
    void detach_vhost() { _vhost = nullptr; }  // the vhost is going away
    uint64_t route_mark = 0;                   // publish epoch, for at-most-once routing

private:
    struct ready_entry {
        uint64_t seq;
        message_ptr msg;
        bool redelivered;
    };
    struct unacked_entry {
        message_ptr msg;
        bool redelivered;
    };
    struct priority_group {
        int priority;
        std::vector<consumer*> members;
        size_t cursor = 0;  // next member to try (round-robin)
    };

    bool dispatch_one();  // false: nothing delivered (no message or no credit)
    void hand_out(consumer* c, ready_entry e);
    void settle(uint64_t seq, bool acked);
    void maybe_auto_delete();

    queue_decl _decl;
    vhost* _vhost;
    uint64_t _owner;
    ring<ready_entry> _ready;
    seq_map<unacked_entry> _unacked;
    std::vector<priority_group> _groups;  // sorted by priority, highest first
    size_t _consumer_count = 0;
    bool _exclusive_consumer = false;
    bool _had_consumer = false;
    bool _deleted = false;
    bool _dispatching = false;
    bool _dispatch_again = false;
    uint64_t _next_seq = 1;
    uint64_t _ready_bytes = 0;
    queue_stats _stats;
    std::vector<inbound_binding> _inbound;
};

}  // namespace warren::core

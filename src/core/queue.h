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
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/exchange.h"
#include "core/fields.h"
#include "core/flow.h"
#include "core/message.h"
#include "core/message_log.h"
#include "core/ring.h"
#include "core/seq_map.h"
#include "core/stream.h"

namespace warren::core {

class vhost;
struct policy;

struct queue_decl {
    std::string name;
    bool passive = false, durable = false, exclusive = false, auto_delete = false;
    field_table args;
    uint64_t store_id = 0;  // id in the message store (recovery passes the saved one; 0 = new)
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
    uint64_t expired = 0;                 // dropped (or dead-lettered) because their TTL ran out
    uint64_t dropped_maxlen = 0;          // dropped from the head by x-max-length(-bytes) drop-head
    uint64_t rejected_publish = 0;        // refused by x-overflow reject-publish(-dlx)
    uint64_t dead_lettered = 0;           // republished to the dead-letter exchange
    uint64_t dropped_delivery_limit = 0;  // requeues refused by x-delivery-limit
    uint64_t deduplicated = 0;            // not enqueued: x-message-deduplication duplicates
};

// The queue features RabbitMQ configures through x-arguments, parsed at declare (and again when
// a policy changes: apply_policy). vhost::declare_queue refuses invalid values first
// (features.h, validate_queue_args); parse itself ignores them, as if the argument were absent.
enum class overflow_mode { drop_head, reject_publish, reject_publish_dlx };
struct queue_features {
    std::optional<uint64_t> message_ttl;                // x-message-ttl, ms
    std::optional<std::string> dlx;                     // x-dead-letter-exchange
    std::optional<std::string> dl_routing_key;          // x-dead-letter-routing-key
    std::optional<uint64_t> max_length;                 // x-max-length (ready messages)
    std::optional<uint64_t> max_length_bytes;           // x-max-length-bytes (ready bodies)
    overflow_mode overflow = overflow_mode::drop_head;  // x-overflow
    uint8_t max_priority = 0;                           // x-max-priority (0 = not a priority queue)
    std::optional<uint64_t> expires;                    // x-expires, ms unused before deletion
    bool single_active_consumer = false;                // x-single-active-consumer
    std::optional<uint64_t> delivery_limit;             // x-delivery-limit (quorum-queue semantics)
    bool deduplication = false;                         // x-message-deduplication (core/dedup.h)
    std::string dedup_header;  // x-deduplication-header: where the keys are (if deduplication)
    static queue_features parse(const field_table& args);
};

// Why a message was dead-lettered (RabbitMQ's x-death reasons).
enum class death_reason { rejected, expired, maxlen, delivery_limit };
std::string_view to_string(death_reason r);

// What enqueue did with a message.
enum class enqueue_result { accepted, rejected };

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

    // Appends (in priority order for x-max-priority queues), applies x-max-length drop-head,
    // then dispatches. `rejected` only for x-overflow reject-publish(-dlx) when full (the
    // message is not kept; with reject-publish-dlx it is dead-lettered).
    // `written`: the message is already in the store for this queue (a persistent message
    // reaching a durable queue: vhost::publish wrote it once for all such queues).
    // A stream (is_stream()) appends instead and raises *store_seq (may be null) to the seq
    // to confirm at; it is never `written` (its log is its own).
    enqueue_result enqueue(message_ptr m, bool written = false, uint64_t* store_seq = nullptr);
    // Recovery: a message the store kept for this queue, back in the ready list with
    // redelivered=true. `m` is the decoded message (its body is dropped again if the queue is
    // over its memory limit).
    // `age_ms`: how long ago it was published (counts against its TTL).
    void recover(message_ptr m, uint64_t disk_id, uint64_t age_ms = 0);
    // Recovery without reading the message (a queue with no priorities, TTL or byte limit):
    // an index entry; the body, and its per-message TTL, are read when a consumer reaches it.
    void recover_stub(uint64_t disk_id, uint64_t size);
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
    // x-single-active-consumer: the consumer currently receiving (null: none chosen yet).
    consumer* active_consumer() const { return _active; }

    // ---- credit flow (core/flow.h) ----
    // Behind: consumers are attached and the ready backlog is over the flow mark.
    bool behind() const {
        return _consumer_count != 0 && !_deleted &&
               (_ready.size() > flow_mark.messages || _ready_bytes > flow_mark.bytes);
    }
    // Publishers held for this queue; each is told once (queue_caught_up) when the backlog is
    // down to half the mark, the last consumer goes, or the queue is deleted.
    void add_flow_waiter(flow_waiter* w);
    void remove_flow_waiter(flow_waiter* w);  // unknown w: no-op
    bool has_consumer_on(uint64_t connection_id) const;

    // Ready messages; a stream's length (RabbitMQ counts a stream's messages as ready).
    size_t message_count() const { return _stream ? _stream->message_count() : _ready.size(); }
    size_t unacked_count() const { return _unacked.size(); }
    size_t consumer_count() const { return _consumer_count; }
    size_t purge();  // drops ready messages, returns how many
    bool deleted() const { return _deleted; }
    const queue_stats& stats() const { return _stats; }
    uint64_t ready_bytes() const { return _ready_bytes; }
    const queue_features& features() const { return _features; }
    // Policies: recomputes the features from the x-arguments and this policy (null: none),
    // with RabbitMQ's precedence (core/policy.h); enforces a new length limit at once.
    // `op`: the operator policy in effect (null: none); each of its keys lowers the value.
    void apply_policy(const policy* p, const policy* op = nullptr);
    const std::string& policy_name() const { return _policy; }  // "" = none
    const std::string& operator_policy_name() const { return _operator_policy; }
    // Store id (0 until a topology store is attached) and whether this queue's persistent
    // messages are written (durable, not exclusive: exclusive queues die with the broker).
    uint64_t store_id() const { return _decl.store_id; }
    bool keeps_persistent() const { return _decl.durable && !_decl.exclusive; }
    // Whether its persistent messages go to the shared message log (a stream has its own).
    bool writes_to_log() const { return keeps_persistent() && !_stream; }
    // x-queue-type: stream (core/stream.h); null for other queues.
    bool is_stream() const { return _stream != nullptr; }
    stream* stream_state() { return _stream.get(); }
    const stream* stream_state() const { return _stream.get(); }
    void count_stream_delivery() { ++_stats.delivered; }
    // Memory held by ready messages kept in memory: bodies plus a per-message allowance for the
    // message object and its properties (what queue_memory_limit bounds).
    uint64_t memory_bytes() const { return _mem_bytes; }
    // x-message-deduplication: the keys of the messages in the queue (ready and unacked).
    size_t dedup_keys() const { return _dedup_keys.size(); }
    size_t paged_out() const { return _paged; }                // ready messages only on disk
    uint64_t paged_out_bytes() const { return _paged_bytes; }  // their bytes

    // ---- time (TTL, x-expires) ----
    // Drops (dead-letters) every ready message whose TTL has run out by now_ms, wherever it sits.
    // Returns how many expired. Called by vhost::tick.
    size_t expire(uint64_t now_ms);
    // Earliest time (steady ms) at which a ready message expires; nullopt if none.
    std::optional<uint64_t> next_expiry() const;
    // x-expires: the time the queue was last used (consumer, basic.get, redeclare).
    void touch();
    // Time-driven work pending (a ready message with a TTL, or x-expires): the vhost's tick
    // looks only at queues that have some (vhost::watch_timers), not at every queue.
    bool has_timers() const {
        return !_expiry.empty() || _features.expires.has_value() ||
               (_stream && _stream->next_tick().has_value());
    }
    // Registers with the vhost if it has timers and is not registered yet.
    void watch_timers() {
        if (!_timers_watched && _vhost && !_deleted && has_timers()) watch_timers_slow();
    }
    void timers_unwatched() { _timers_watched = false; }  // the vhost dropped it
    // x-expires deadline (steady ms) if the queue is currently unused; nullopt otherwise.
    std::optional<uint64_t> expires_at() const;

    // ---- used by vhost ----
    // Marks deleted, drops ready and unacked messages, and cancels every consumer
    // (cancelled_by_broker). Returns the ready count it dropped.
    size_t mark_deleted();
    std::vector<inbound_binding>& inbound_bindings() { return _inbound; }
    bool had_consumer() const { return _had_consumer; }
    void durable_wait_over() { _awaiting_durable = false; }  // vhost::dispatch_when_durable
    void detach_vhost() { _vhost = nullptr; }                // the vhost is going away
    uint64_t route_mark = 0;  // publish epoch, for at-most-once routing

private:
    struct ready_entry {
        uint64_t seq;
        message_ptr msg;  // null while paged out (then read back by disk_id)
        bool redelivered;
        uint64_t expires_at = 0;      // steady ms; 0 = never
        uint8_t priority = 0;         // effective (capped) priority; 0 unless x-max-priority
        uint64_t disk_id = 0;         // id in the store for this queue; 0 = not written
        uint64_t size = 0;            // body bytes
        uint32_t delivery_count = 0;  // failed deliveries (x-delivery-limit queues only)
        bool spilled = false;         // written by page_out (under spill_queue_id)
        bool stub = false;            // recovered without reading: check it when read back
        bool loading = false;         // paged out, and a read_async for it is in flight
    };
    struct unacked_entry {
        message_ptr msg;
        bool redelivered;
        uint64_t expires_at = 0;
        uint8_t priority = 0;
        uint64_t disk_id = 0;
        uint32_t delivery_count = 0;
        bool spilled = false;
    };
    // Ready order: higher priority first, then seq.
    static bool before(const ready_entry& a, uint8_t prio, uint64_t seq) {
        return a.priority != prio ? a.priority > prio : a.seq < seq;
    }
    void insert_ready(ready_entry e);
    ready_entry pop_ready_front();
    ready_entry remove_ready(size_t index);   // any position; accounting and expiry key too
    void forget_ready(const ready_entry& e);  // byte/memory accounting of one leaving
    // x-max-length(-bytes) drop-head: drops (dead-letters) from the head; returns how many.
    size_t trim_to_max_length();
    uint8_t priority_of(const message& m) const;             // capped by x-max-priority
    std::optional<uint64_t> ttl_of(const message& m) const;  // queue TTL vs expiration
    size_t find_ready(uint8_t prio, uint64_t seq) const;     // index, or size() if absent
    void drop_expired_head(uint64_t now_ms);
    void dead_letter(message_ptr m, death_reason why);
    // A ready message leaves without delivery (expired, dropped, rejected at publish):
    // dead-letters it (reading it back if paged out) and settles it in the store.
    void drop(ready_entry e, death_reason why);
    // Reads a paged-out body back synchronously (basic.get, dead-lettering); false if the
    // store cannot (the entry is then settled and must be skipped).
    bool page_in(ready_entry& e);
    // Consumers never wait on disk on the broker thread: a paged-out head starts a batched
    // read_async (page_in_from) and dispatch stops until it lands (page_in_done), which also
    // reads ahead while the head is in memory. False: the head is not in memory yet.
    bool head_in_memory();
    void page_in_from(size_t index);  // the next batch of paged-out entries from `index`
    void page_in_done(std::vector<std::pair<uint8_t, uint64_t>> keys,
                      std::vector<message_log::read_result> results);
    // A paged-in stub: its real size, and false (dropped) if its own TTL ran out on disk.
    bool check_stub(ready_entry& e, uint64_t published_ms);
    void page_out(ready_entry& e);  // if over the memory limit
    static uint64_t mem_cost(const ready_entry& e) { return e.size + sizeof(message) + 64; }
    void settle_disk(uint64_t disk_id, bool spilled);
    void watch_timers_slow();
    // x-message-deduplication: the message `seq` carries `key` / has left the queue.
    void hold_key(uint64_t seq, const message& m);
    void release_key(uint64_t seq) {
        if (!_dedup_seqs.empty()) release_key_slow(seq);
    }
    void release_key_slow(uint64_t seq);
    message_log* log() const;
    uint64_t now() const;
    struct priority_group {
        int priority;
        std::vector<consumer*> members;
        size_t cursor = 0;  // next member to try (round-robin)
    };

    bool dispatch_one();  // false: nothing delivered (no message or no credit)
    // The head must not be delivered yet (message::hold_seq not durable): registers with the
    // vhost to be dispatched when it is.
    bool head_held();
    // x-single-active-consumer: the consumer that gets every message (chosen when none is:
    // highest priority, then the earliest registered); null if there are no consumers.
    consumer* single_active();
    void hand_out(consumer* c, ready_entry e);
    // A message leaves the ready list (consumer or basic.get): counts it, makes it unacked
    // (or settles it, no_ack) and builds the delivery.
    delivery take(ready_entry& e, bool no_ack);
    void settle(uint64_t seq, bool acked);
    void maybe_auto_delete();
    // Tells the flow waiters if the queue is no longer behind (after deliveries, purges, ...).
    void release_flow_waiters_if_caught_up() {
        if (!_flow_waiters.empty()) release_flow_waiters(false);
    }
    void release_flow_waiters(bool all);

    queue_decl _decl;
    vhost* _vhost;
    uint64_t _owner;
    ring<ready_entry> _ready;
    seq_map<unacked_entry> _unacked;
    std::vector<priority_group> _groups;  // sorted by priority, highest first
    consumer* _active = nullptr;          // x-single-active-consumer: the active one
    size_t _consumer_count = 0;
    bool _exclusive_consumer = false;
    bool _had_consumer = false;
    bool _deleted = false;
    bool _dispatching = false;
    std::vector<flow_waiter*> _flow_waiters;
    bool _dispatch_again = false;
    uint64_t _next_seq = 1;
    uint64_t _ready_bytes = 0;
    uint64_t _mem_bytes = 0;    // memory_bytes()
    size_t _paged = 0;          // ready messages paged out
    uint64_t _paged_bytes = 0;  // bytes of the _paged entries
    // Async page-in: batches in flight, and the last entry (priority, seq) asked for, so the
    // next batch is read ahead once the head gets near it.
    uint32_t _reads_in_flight = 0;
    std::pair<uint8_t, uint64_t> _read_frontier{0, 0};
    queue_stats _stats;
    queue_features _features;
    // (expires_at, priority, seq) of ready messages with a TTL.
    std::set<std::tuple<uint64_t, uint8_t, uint64_t>> _expiry;
    uint64_t _fresh_seq = 0;  // exempt from the expiry check while its enqueue dispatches
    uint64_t _last_used = 0;
    bool _timers_watched = false;  // in the vhost's list of queues with timers
    std::vector<inbound_binding> _inbound;
    std::string _policy;           // name of the policy in effect
    std::string _operator_policy;  // name of the operator policy in effect
    // x-message-deduplication: key -> seq and seq -> key of every message in the queue that
    // has a key (empty unless the queue deduplicates).
    std::unordered_map<std::string, uint64_t> _dedup_keys;
    std::unordered_map<uint64_t, std::string> _dedup_seqs;
    std::unique_ptr<stream> _stream;  // x-queue-type: stream
    uint64_t _stream_tick_at = 0;     // steady ms of its next retention check (x-max-age)
    bool _awaiting_durable = false;   // registered with vhost::dispatch_when_durable
};

}  // namespace warren::core

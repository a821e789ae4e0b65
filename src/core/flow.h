#pragma once
// Credit flow between publishers and queues (RabbitMQ's credit_flow is the model).
//
// Everything runs on one broker thread, so a publish reaches its queues at once; what falls
// behind is delivery. A queue is *behind* when it has consumers and more ready messages than
// flow_mark.messages (or more than flow_mark.bytes of bodies). A publisher whose message reached
// such a queue stops being read at the end of its input batch (its socket's buffers fill and the
// client waits, as under RabbitMQ's flow) and is read again as soon as every queue it waits for
// is down to half the mark, has lost its consumers, or is gone. The broker thread then spends
// its time delivering rather than taking in more than consumers take out: the backlog stays
// bounded, nothing is paged to disk for it, and end-to-end latency stays low. A queue without
// consumers is a buffer and slows no one (the memory alarm bounds that, core/alarms.h).
//
// A publisher is not held by a queue
// - that its own connection consumes from: its acks would not be read, and the queue would
//   never drain (RabbitMQ advises separate connections for this reason; Warren does not hang);
// - whose consumers have taken nothing for flow_stall_ms: a stuck consumer would stop the
//   publisher for good, so the queue grows instead, as it would in RabbitMQ. It holds the
//   publisher again once its consumers take messages again.
//
//   core::publisher_flow flow(conn_id, [&] { update_input(); });   // pause or resume reading
//   vh.publish(x, m, &info);  if (info.behind) flow.note(std::move(info.behind));
//   flow.end_of_batch(now);   // after each input batch: holds if a noted queue is behind
//   flow.on_timer(now);       // every flow.timer_interval_ms() while held: stall checks
//   flow.held();              // the connection's state is "flow"
//
// The queues call back (flow_waiter::queue_caught_up) when they drain, so a held publisher is
// resumed in the same turn of the event loop, not on the next timer tick.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/message.h"

namespace warren::core {

// The flow mark: a queue with consumers is behind above either. Broker-wide, set at start from
// warren.conf (flow.queue_ready_messages, flow.queue_ready_bytes); read on the broker thread.
struct flow_marks {
    size_t messages = 1'000;
    uint64_t bytes = 8ull << 20;  // under queue_memory_limit's 16 MiB: nothing paged for a backlog
};
inline flow_marks flow_mark;
inline constexpr uint64_t flow_stall_ms = 500;

// What a queue calls when it is no longer behind (core/queue.h keeps the list).
class flow_waiter {
public:
    virtual ~flow_waiter() = default;
    virtual void queue_caught_up(queue& q) = 0;
};

class publisher_flow final : private flow_waiter {
public:
    // `changed` runs when held() changes (the session pauses or resumes its input).
    publisher_flow(uint64_t connection_id, std::function<void()> changed);
    ~publisher_flow() override;
    publisher_flow(const publisher_flow&) = delete;
    publisher_flow& operator=(const publisher_flow&) = delete;

    // The connection's id, if it is known only after construction (STOMP's CONNECT).
    void set_connection_id(uint64_t id) { _conn = id; }
    // A queue reported behind by a publish in the current input batch.
    void note(queue_ptr q);
    // End of an input batch: holds the publisher if a noted queue is (still) behind.
    void end_of_batch(uint64_t now_ms);
    // While held: resumes if the queues waited for stalled (see above) or are gone.
    void on_timer(uint64_t now_ms);
    uint64_t timer_interval_ms() const { return _held ? flow_stall_ms / 5 : 0; }
    bool held() const { return _held; }
    // The connection is closing: lets go of every queue (no callback).
    void reset();

    struct counters {
        uint64_t holds = 0;   // times the publisher was held
        uint64_t stalls = 0;  // queues let go because their consumers took nothing
    };
    const counters& stats() const { return _stats; }

private:
    struct wait {
        std::weak_ptr<queue> q;
        uint64_t delivered;  // the queue's delivered count when last seen moving
        uint64_t since_ms;   // when that was
    };
    struct stalled {
        std::weak_ptr<queue> q;
        uint64_t delivered;  // exempt while the count stays here
    };
    void queue_caught_up(queue& q) override;
    bool exempt(const queue& q) const;
    void release();
    void forget_waits();

    uint64_t _conn;
    std::function<void()> _changed;
    std::vector<queue_ptr> _noted;
    std::vector<wait> _waiting;
    std::vector<stalled> _stalled;
    bool _held = false;
    counters _stats;
};

}  // namespace warren::core

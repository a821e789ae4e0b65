#pragma once
// Settling deliveries, as both front ends do it (AMQP basic.ack/nack/reject, tx.commit and
// channel close; STOMP ACK/NACK): an ack or a discard goes to its queue at once; requeues are
// collected and handed back per queue in one queue::requeue call, so the messages of one queue
// return together to their original positions (redelivered=true) and it dispatches once, not
// once per message.
//
// Owned by a channel or session and reused between batches (no allocation once its scratch has
// grown); broker thread. A queue added must stay alive until flush().
//
//   core::settle_batch b;
//   for (auto& [q, seq] : named) b.add(*q, seq, core::settle_op::requeue);
//   b.flush();

#include <cstdint>
#include <utility>
#include <vector>

namespace warren::core {

class queue;

enum class settle_op : uint8_t { ack, requeue, discard };

class settle_batch {
public:
    // ack / discard: settled now; requeue: collected until flush().
    void add(queue& q, uint64_t seq, settle_op op);
    // Requeues what was collected, one queue::requeue per queue, in the order queues were
    // first named; then empty.
    void flush();

private:
    std::vector<std::pair<queue*, uint64_t>> _requeue;
    std::vector<uint64_t> _seqs;
};

}  // namespace warren::core

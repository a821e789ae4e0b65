#include "core/settle.h"

#include "core/queue.h"

namespace warren::core {

void settle_batch::add(queue& q, uint64_t seq, settle_op op) {
    switch (op) {
        case settle_op::ack:
            q.ack(seq);
            break;
        case settle_op::discard:
            q.discard(seq);
            break;
        case settle_op::requeue:
            _requeue.emplace_back(&q, seq);
            break;
    }
}

void settle_batch::flush() {
    // Group by queue, keeping each queue's first appearance in order; queue::requeue puts the
    // seqs of one queue back in seq order.
    for (size_t i = 0; i < _requeue.size(); ++i) {
        queue* q = _requeue[i].first;
        if (!q) continue;
        _seqs.clear();
        for (size_t j = i; j < _requeue.size(); ++j) {
            if (_requeue[j].first != q) continue;
            _seqs.push_back(_requeue[j].second);
            _requeue[j].first = nullptr;
        }
        q->requeue(_seqs);
    }
    _requeue.clear();
}

}  // namespace warren::core

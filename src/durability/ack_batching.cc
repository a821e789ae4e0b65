#include "durability/ack_batching.h"

#include <boost/asio/post.hpp>

namespace warren::durability {

ack_batcher::ack_batcher(boost::asio::io_context& io, store::segment_log& log,
                         std::function<void(const std::string&)> on_error)
    : _io(io),
      _log(log),
      _on_error(std::move(on_error)),
      _alive(std::make_shared<std::atomic<bool>>(true)) {}

ack_batcher::~ack_batcher() {
    _alive->store(false);
}

void ack_batcher::settle(uint64_t queue_id, uint64_t disk_id) {
    _acks[queue_id].push_back(disk_id);
    if (_flush_posted) return;
    _flush_posted = true;
    boost::asio::post(_io, [this, alive = _alive] {
        if (alive->load()) flush();
    });
}

void ack_batcher::forget_queue(uint64_t queue_id) {
    if (auto it = _acks.find(queue_id); it != _acks.end()) _acks.erase(it);
}

void ack_batcher::flush() {
    _flush_posted = false;
    for (auto& [qid, ids] : _acks) {
        if (ids.empty()) continue;
        if (auto r = _log.ack(qid, ids); !r) _on_error(r.error().text);
        ids.clear();
    }
    if (_acks.size() > 1024) _acks.clear();  // keep the map small once queues come and go
}

}  // namespace warren::durability

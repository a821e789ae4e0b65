#pragma once
// ack_batcher: settles (acks, rejects, expiries, purges) collected per event-loop turn and
// written as one ack record per queue, instead of one record per message. A queue deletion
// drops that queue's pending settles (its marker releases them all).
//
//   durability::ack_batcher acks(io, log);
//   acks.settle(queue_id, disk_id);   // posts one flush to the loop per turn
//   acks.flush();                     // at detach: nothing left behind
//
// Owned by broker_store; lives on the broker thread. `log` must outlive it; posted flushes check
// `alive` so they are safe after destruction.

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/segment_log.h"

namespace warren::durability {

class ack_batcher {
public:
    // on_error: an ack record could not be written (the store is failing).
    ack_batcher(boost::asio::io_context& io, store::segment_log& log,
                std::function<void(const std::string&)> on_error);
    ~ack_batcher();

    void settle(uint64_t queue_id, uint64_t disk_id);
    // Drops what is pending for the queue (call before writing its queue_deleted marker).
    void forget_queue(uint64_t queue_id);
    void flush();

private:
    boost::asio::io_context& _io;
    store::segment_log& _log;
    std::function<void(const std::string&)> _on_error;
    std::unordered_map<uint64_t, std::vector<uint64_t>> _acks;  // queue id -> message ids
    bool _flush_posted = false;
    std::shared_ptr<std::atomic<bool>> _alive;
};

}  // namespace warren::durability

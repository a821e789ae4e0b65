#pragma once
// What core asks of the durable message log: write a persistent message once at publish, page
// bodies out and back in, and hear when a queue is done with a message. Core knows no files:
// durability/ implements this over store/ and hands it to the broker (broker::set_storage).
// Without one (unit tests, or no data dir) nothing is written and queues keep every body in
// memory.
//
// Which messages are written:
//   - a persistent message (delivery-mode 2) routed to durable queues: once, at publish, naming
//     every durable (non-exclusive) queue it reached; each queue settles its own reference;
//   - any message a queue pages out because its bodies exceed queue_memory_limit() ("spill"):
//     written under a fresh id for that queue alone. A spilled transient message, or any
//     message of a non-durable queue, is dropped by recovery, as RabbitMQ drops them.
// The seq a write returns is what the front end waits for on the confirm gate
// (core/confirm_gate.h) before it confirms the publish.
//
// Everything here runs on the broker thread, except the reads read_async does on the log's own
// reader thread (their results come back on the broker thread).

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"
#include "core/stream.h"

namespace warren::core {

// Spilled messages are written under the queue's store id with this bit set, so the records of a
// durable queue's own id hold only its persistent messages (recovery drops the spill ids).
inline constexpr uint64_t spill_queue_bit = uint64_t{1} << 63;
inline uint64_t spill_queue_id(uint64_t store_id) {
    return store_id | spill_queue_bit;
}

class message_log {
public:
    virtual ~message_log() = default;

    // Returns the log seq that must be durable before the publish may be confirmed, 0 if the
    // store refused it (a disk failure: the confirm gate reports it).
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
    // One message read back by read_async.
    struct read_result {
        message_ptr msg;            // null: unreadable (`error` says why)
        uint64_t published_ms = 0;  // wall-clock ms since the epoch, 0 if unknown
        std::string error;
    };
    using read_done = std::function<void(std::vector<read_result>)>;
    // Reads messages back off the broker thread (queues page in this way, so a consumer of a
    // paged-out backlog never stalls the loop on disk): `done` runs once, on the broker thread,
    // with one result per id in the same order. It may run after the caller is gone, so it must
    // hold only weak references; it never runs after the log is destroyed. Errors are not
    // logged: the caller logs the ones it still cares about (a message settled while its read
    // was in flight may be gone from the store, which is fine).
    // This default reads synchronously with read() and calls `done` before it returns.
    virtual void read_async(std::vector<uint64_t> disk_ids, read_done done) {
        std::vector<read_result> out(disk_ids.size());
        for (size_t i = 0; i < disk_ids.size(); ++i) {
            out[i].msg = read(disk_ids[i], &out[i].published_ms);
            if (!out[i].msg) out[i].error = "unreadable";
        }
        done(std::move(out));
    }
    // The queue is done with the message (acked, rejected, expired, dropped, purged).
    virtual void settle(uint64_t queue_id, uint64_t disk_id) = 0;
    // The queue is gone, with these messages still in it.
    virtual void queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) = 0;
    // The log of stream queue `store_id` (core/stream.h), opened (and recovered) or created;
    // null: keep it in memory. Its appends are confirmed through the same confirm gate.
    virtual std::unique_ptr<stream_storage> open_stream(uint64_t /*store_id*/,
                                                        uint64_t /*max_segment_bytes*/) {
        return nullptr;
    }
    // Bytes of message bodies one queue keeps in memory before paging out (0 = no limit).
    virtual uint64_t queue_memory_limit() const = 0;
};

}  // namespace warren::core

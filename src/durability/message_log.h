#pragma once
// segment_message_log: core::message_log over store::segment_log. Persistent publishes and
// spills are appended to the log's group-commit buffer (the flusher thread writes and fsyncs
// them in batches; confirm_waiters says when); settles go through ack_batcher; reads come back
// through message_record: read() on the caller's thread, read_async() on a private reader thread
// (pread and decode), whose results are posted to the broker's event loop.
//
//   durability::segment_message_log ml(log, acks, broker, {.queue_memory_limit = 64 << 20});
//   b.set_storage({.log = &ml, ...});
//
// Owned by broker_store; lives on the broker thread. `io`, `log`, `acks` and `clock` outlive it.
// The destructor joins the reader thread; results it posted to `io` before are dropped unrun.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/broker.h"
#include "core/message_log.h"
#include "durability/ack_batching.h"
#include "store/segment_log.h"

namespace warren::durability {

class segment_message_log final : public core::message_log {
public:
    // `clock` stamps publish times (its wall clock: injected in tests).
    segment_message_log(boost::asio::io_context& io, store::segment_log& log, ack_batcher& acks,
                        const core::broker& clock, uint64_t queue_memory_limit,
                        std::string streams_dir = {});
    ~segment_message_log() override;

    // The log refused work once: every later write is refused too (0), so nothing is
    // confirmed that is not on disk.
    bool healthy() const { return _healthy; }
    void failed(const std::string& what, const std::string& text);  // logs the first failure

    // core::message_log
    uint64_t write_message(const core::message& m, std::span<const uint64_t> queue_ids) override;
    uint64_t spill(const core::message& m, uint64_t queue_id) override;
    uint64_t write_held(const core::message& m, std::string_view exchange, uint64_t store_id,
                        uint64_t* disk_id) override;
    core::message_ptr read(uint64_t disk_id, uint64_t* published_ms) override;
    void read_async(std::vector<uint64_t> disk_ids, read_done done) override;
    void settle(uint64_t queue_id, uint64_t disk_id) override;
    void queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) override;
    uint64_t queue_memory_limit() const override { return _queue_memory_limit; }
    // <streams_dir>/<store_id> (durability/stream_storage.h); null without a streams dir.
    std::unique_ptr<core::stream_storage> open_stream(uint64_t store_id,
                                                      uint64_t max_segment_bytes) override;

private:
    uint64_t append(uint64_t id, std::span<const uint64_t> queue_ids, const core::message& m,
                    std::string_view exchange);

    store::segment_log& _log;
    ack_batcher& _acks;
    const core::broker& _clock;
    uint64_t _queue_memory_limit;
    std::string _streams_dir;
    bool _healthy = true;
    std::string _scratch;  // encoded properties of a message without props_raw
    boost::asio::io_context& _io;
    // Cleared by the destructor: a result posted before it is not delivered.
    std::shared_ptr<std::atomic<bool>> _alive = std::make_shared<std::atomic<bool>>(true);
    boost::asio::thread_pool _reader{1};  // last: joined first
};

}  // namespace warren::durability

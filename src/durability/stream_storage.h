#pragma once
// durable_stream: core::stream_storage over store::stream_log, one per stream queue, in
// <data_dir>/streams/<queue store id>/. Records are the broker's message records
// (message_record.h); the stream log is a participant of the shared segment log's group commit
// (store::sync_participant), so an append returns a seq of that log and the publisher confirm
// waits for the same fsync batch as any persistent message.
//
//   auto s = durability::durable_stream::open(log, dir, store_id, max_segment_bytes, clock);
//
// Lives on the broker thread (the flusher calls the stream log's sync()).

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/stream.h"
#include "store/segment_log.h"
#include "store/stream_log.h"

namespace warren::durability {

class durable_stream final : public core::stream_storage {
public:
    // Null (logged) if the directory cannot be opened. read_async reads and decodes on
    // `readers` and hands the result to `io` (the broker's loop).
    static std::unique_ptr<durable_stream> open(store::segment_log& shared, std::string dir,
                                                uint64_t max_segment_bytes,
                                                boost::asio::io_context& io,
                                                boost::asio::thread_pool& readers);
    ~durable_stream() override;

    uint64_t append(const core::message& m, uint64_t timestamp_ms,
                    std::string_view filter) override;
    std::vector<entry> read(uint64_t from, size_t max_records, size_t max_bytes) override;
    bool reads_async() const override { return true; }
    void read_async(uint64_t from, size_t max_records, size_t max_bytes, read_done done) override;
    uint64_t first_offset() const override { return _log->first_offset(); }
    uint64_t next_offset() const override { return _log->next_offset(); }
    uint64_t offset_at_time(uint64_t ts_ms) override;
    uint64_t bytes() const override { return _log->bytes(); }
    size_t segment_count() const override { return _log->segment_count(); }
    void retain(uint64_t max_bytes, uint64_t max_age_ms, uint64_t now_ms) override;
    void set_max_segment_bytes(uint64_t n) override { _log->set_max_segment_bytes(n); }
    void destroy() override;

private:
    durable_stream(store::segment_log& shared, std::shared_ptr<store::stream_log> log,
                   boost::asio::io_context& io, boost::asio::thread_pool& readers)
        : _shared(shared), _log(std::move(log)), _io(io), _readers(readers) {}
    store::segment_log& _shared;
    std::shared_ptr<store::stream_log> _log;
    boost::asio::io_context& _io;
    boost::asio::thread_pool& _readers;
    // Cleared by the destructor: a read that lands later is dropped.
    std::shared_ptr<std::atomic<bool>> _alive = std::make_shared<std::atomic<bool>>(true);
    std::string _scratch;
    bool _attached = true;
};

}  // namespace warren::durability

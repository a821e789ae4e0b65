#include "durability/message_log.h"

#include "base/log.h"
#include "durability/message_record.h"
#include "durability/stream_storage.h"

namespace warren::durability {

segment_message_log::segment_message_log(boost::asio::io_context& io, store::segment_log& log,
                                         ack_batcher& acks, const core::broker& clock,
                                         uint64_t queue_memory_limit, std::string streams_dir)
    : _log(log),
      _acks(acks),
      _clock(clock),
      _queue_memory_limit(queue_memory_limit),
      _streams_dir(std::move(streams_dir)),
      _io(io) {}

std::unique_ptr<core::stream_storage> segment_message_log::open_stream(uint64_t store_id,
                                                                       uint64_t max_segment_bytes) {
    if (_streams_dir.empty() || store_id == 0) return nullptr;
    return durable_stream::open(_log, _streams_dir + "/" + std::to_string(store_id),
                                max_segment_bytes, _io, _reader);
}

segment_message_log::~segment_message_log() {
    _alive->store(false);
    _reader.stop();  // reads not started are dropped
    _reader.join();
}

void segment_message_log::failed(const std::string& what, const std::string& text) {
    if (_healthy) WLOG_ERROR("message store failed ({}): {}", what, text);
    _healthy = false;
}

uint64_t segment_message_log::append(uint64_t id, std::span<const uint64_t> queue_ids,
                                     const core::message& m, std::string_view exchange) {
    auto r =
        _log.append_message(id, queue_ids, record_fields(m, exchange, _clock.wall_ms(), _scratch));
    if (!r) {
        failed("append", r.error().text);
        return 0;
    }
    return r->seq;
}

uint64_t segment_message_log::write_message(const core::message& m,
                                            std::span<const uint64_t> queue_ids) {
    if (!_healthy) return 0;
    return append(m.id, queue_ids, m, m.exchange);
}

uint64_t segment_message_log::write_held(const core::message& m, std::string_view exchange,
                                         uint64_t store_id, uint64_t* disk_id) {
    if (!_healthy) return 0;
    const uint64_t id = core::next_message_id();
    const uint64_t seq = append(id, std::span<const uint64_t>(&store_id, 1), m, exchange);
    if (seq) *disk_id = id;
    return seq;
}

uint64_t segment_message_log::spill(const core::message& m, uint64_t queue_id) {
    if (!_healthy) return 0;
    const uint64_t id = core::next_message_id();
    return append(id, std::span<const uint64_t>(&queue_id, 1), m, m.exchange) ? id : 0;
}

namespace {
// One message back from the log: its bytes (or the log's error), then the record decoded.
core::message_log::read_result decode_one(const store::result<std::string>& bytes,
                                          uint64_t disk_id) {
    core::message_log::read_result out;
    if (!bytes) {
        out.error = bytes.error().text;
        return out;
    }
    auto d = decode_record(*bytes, disk_id);
    if (!d) {
        out.error = d.error();
        return out;
    }
    out.msg = std::move(d->msg);
    out.published_ms = d->published_ms;
    return out;
}
}  // namespace

core::message_ptr segment_message_log::read(uint64_t disk_id, uint64_t* published_ms) {
    auto r = decode_one(_log.read_message(disk_id), disk_id);
    if (!r.msg) {
        WLOG_ERROR("message store: cannot read message {}: {}", disk_id, r.error);
        return nullptr;
    }
    if (published_ms) *published_ms = r.published_ms;
    return std::move(r.msg);
}

void segment_message_log::read_async(std::vector<uint64_t> disk_ids, read_done done) {
    boost::asio::post(_reader, [&log = _log, &io = _io, alive = _alive, ids = std::move(disk_ids),
                                done = std::move(done)]() mutable {
        auto bytes = log.read_messages(ids);  // a few preads for the whole batch
        std::vector<read_result> out;
        out.reserve(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) out.push_back(decode_one(bytes[i], ids[i]));
        boost::asio::post(
            io, [alive = std::move(alive), done = std::move(done), out = std::move(out)]() mutable {
                if (alive->load()) done(std::move(out));
            });
    });
}

void segment_message_log::settle(uint64_t queue_id, uint64_t disk_id) {
    _acks.settle(queue_id, disk_id);
}

void segment_message_log::queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) {
    _acks.forget_queue(queue_id);  // the marker releases them all
    if (auto r = _log.queue_deleted(queue_id, disk_ids); !r) failed("delete", r.error().text);
}

}  // namespace warren::durability

#include "durability/stream_storage.h"

#include <filesystem>

#include <boost/asio/post.hpp>

#include "base/log.h"
#include "durability/message_record.h"

namespace warren::durability {

std::unique_ptr<durable_stream> durable_stream::open(store::segment_log& shared, std::string dir,
                                                     uint64_t max_segment_bytes,
                                                     boost::asio::io_context& io,
                                                     boost::asio::thread_pool& readers) {
    store::stream_log_options o;
    o.max_segment_bytes = max_segment_bytes;
    store::stream_recovery_stats st;
    auto log = store::stream_log::open(store::posix_env(), dir, o, &st);
    if (!log) {
        WLOG_ERROR("stream {}: cannot open: {}", dir, log.error().text);
        return nullptr;
    }
    if (st.records || st.bytes_truncated || st.segments_set_aside)
        WLOG_INFO(
            "stream {}: recovered offsets {}..{} ({} segments, {} bytes, cut {} bytes, set aside "
            "{} segments)",
            dir, (*log)->first_offset(), (*log)->next_offset(), st.segments, st.bytes,
            st.bytes_truncated, st.segments_set_aside);
    shared.add_participant(*log);
    return std::unique_ptr<durable_stream>(
        new durable_stream(shared, std::move(*log), io, readers));
}

durable_stream::~durable_stream() {
    _alive->store(false);
    if (_attached) _shared.remove_participant(_log.get());
}

namespace {
// Records -> entries (decoded, stamped with their offsets); undecodable ones are logged and
// skipped. Pure: runs on the reader thread too.
std::vector<core::stream_storage::entry> decode_all(const std::string& dir,
                                                    std::vector<store::stream_record>& recs) {
    std::vector<core::stream_storage::entry> out;
    out.reserve(recs.size());
    for (auto& rec : recs) {
        auto d = decode_record(rec.data, 0);
        if (!d) {
            WLOG_ERROR("stream {}: record {} {}: skipped", dir, rec.offset, d.error());
            continue;
        }
        core::stamp_stream_offset(*d->msg, rec.offset);
        out.push_back({rec.offset, rec.timestamp_ms, std::move(rec.filter), std::move(d->msg)});
    }
    return out;
}
}  // namespace

void durable_stream::read_async(uint64_t from, size_t max_records, size_t max_bytes,
                                read_done done) {
    boost::asio::post(_readers, [log = _log, &io = _io, alive = _alive, from, max_records,
                                 max_bytes, done = std::move(done)]() mutable {
        std::vector<entry> out;
        auto r = log->read(from, max_records, max_bytes);
        if (!r)
            WLOG_ERROR("stream {}: read from offset {} failed: {}", log->dir(), from,
                       r.error().text);
        else
            out = decode_all(log->dir(), *r);
        boost::asio::post(
            io, [alive = std::move(alive), done = std::move(done), out = std::move(out)]() mutable {
                if (alive->load()) done(std::move(out));
            });
    });
}

uint64_t durable_stream::append(const core::message& m, uint64_t timestamp_ms,
                                std::string_view filter) {
    auto r =
        _log->append(timestamp_ms, filter, record_fields(m, m.exchange, timestamp_ms, _scratch));
    if (!r) {
        WLOG_ERROR("stream {}: append failed: {}", _log->dir(), r.error().text);
        return 0;
    }
    return _shared.note_external();
}

std::vector<core::stream_storage::entry> durable_stream::read(uint64_t from, size_t max_records,
                                                              size_t max_bytes) {
    auto r = _log->read(from, max_records, max_bytes);
    if (!r) {
        WLOG_ERROR("stream {}: read from offset {} failed: {}", _log->dir(), from, r.error().text);
        return {};
    }
    return decode_all(_log->dir(), *r);
}

uint64_t durable_stream::offset_at_time(uint64_t ts_ms) {
    auto r = _log->offset_at_time(ts_ms);
    if (!r) {
        WLOG_ERROR("stream {}: cannot find a time: {}", _log->dir(), r.error().text);
        return _log->next_offset();
    }
    return *r;
}

void durable_stream::retain(uint64_t max_bytes, uint64_t max_age_ms, uint64_t now_ms) {
    auto r = _log->apply_retention(max_bytes, max_age_ms, now_ms);
    if (!r)
        WLOG_WARN("stream {}: retention could not delete a segment: {}", _log->dir(),
                  r.error().text);
    else if (*r)
        WLOG_INFO("stream {}: retention deleted {} segments; first offset now {}", _log->dir(), *r,
                  _log->first_offset());
}

void durable_stream::destroy() {
    if (_attached) _shared.remove_participant(_log.get());
    _attached = false;
    (void)_log->destroy();
    std::error_code ec;
    std::filesystem::remove_all(_log->dir(), ec);
}

}  // namespace warren::durability

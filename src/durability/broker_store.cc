#include "durability/broker_store.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

#include "base/log.h"
#include "durability/access.h"
#include "durability/recovery.h"

namespace warren::durability {

broker_store::broker_store(boost::asio::io_context& io, core::broker& b, options opts)
    : _io(io), _broker(b), _opts(std::move(opts)) {}

broker_store::~broker_store() {
    detach();
    _messages.reset();
    _acks.reset();
    _log.reset();  // flushes what is buffered, joins the flusher
    _confirms.reset();
}

basic_result<std::unique_ptr<broker_store>, std::string> broker_store::open(
    boost::asio::io_context& io, core::broker& b, options opts) {
    const auto t0 = std::chrono::steady_clock::now();  // for the log line only
    std::unique_ptr<broker_store> d(new broker_store(io, b, std::move(opts)));
    auto dd = store::data_dir::open(d->_opts.dir);
    if (!dd) return std::string("data_dir '" + d->_opts.dir + "': " + dd.error().text);
    d->_dir = std::move(*dd);

    // Topology: snapshot + metadata log, declared into the broker before anything is attached
    // (so the replayed declares are not saved again one by one).
    d->_meta = std::make_unique<store::metadata_store>(store::posix_env(), d->_dir->meta_dir());
    store::metadata_load_stats meta_stats;
    auto topo = d->_meta->load(&meta_stats);
    if (!topo)
        return std::string("cannot load " + topo.error().text +
                           " (refusing to start with an empty topology)");
    if (meta_stats.torn_bytes)
        WLOG_WARN("metadata log: cut a torn tail of {} bytes (a crash mid-save)",
                  meta_stats.torn_bytes);
    if (meta_stats.stale_log)
        WLOG_WARN(
            "metadata log: ignored a log older than its snapshot (an interrupted "
            "compaction)");
    const store::topology loaded = topo->value_or(store::topology{});
    if (topo->has_value()) {
        // Not a first start: the vhosts are the saved ones (a deleted default vhost stays
        // deleted), and so are the users once any were saved.
        for (const auto& name : b.vhost_names()) {
            bool saved = std::any_of(loaded.vhosts.begin(), loaded.vhosts.end(),
                                     [&](const auto& v) { return v.name == name; });
            if (!saved) b.remove_vhost(name);
        }
        if (d->_opts.users && !loaded.users.empty()) {
            load_access(*d->_opts.users, loaded);
            WLOG_INFO("restored {} users, {} permissions, {} topic permissions",
                      loaded.users.size(), loaded.permissions.size(),
                      loaded.topic_permissions.size());
        }
    }
    d->_topology = std::make_unique<topology_saver>(*d->_meta, b);
    d->_topology->set_users(d->_opts.users);
    d->_topology->raise_next_queue_id(replay_topology(b, loaded));

    // Messages.
    d->_confirms = std::make_unique<confirm_waiters>(io);
    store::segment_log_options lo;
    lo.segment_size = d->_opts.segment_size;
    lo.background_flush = true;
    lo.on_durable = d->_confirms->on_durable_callback();
    broker_store* self = d.get();
    lo.on_failed = d->_confirms->on_failed_callback([self](const std::string& why) {
        if (self->_messages) self->_messages->failed("flush", why);
    });
    // A write the store retries (a full disk, no file descriptors) blocks publishers through
    // the broker's store alarm until it succeeds (core/alarms.h); confirms wait meanwhile.
    lo.on_stalled = [&io, &b](const store::error&) {
        boost::asio::post(io, [&b] { b.set_alarm(core::resource::store, true); });
    };
    lo.on_resumed = [&io, &b] {
        boost::asio::post(io, [&b] { b.set_alarm(core::resource::store, false); });
    };
    store::recovery_result rec;
    auto log = store::segment_log::open(store::posix_env(), d->_dir->msgs_dir(), lo, &rec);
    if (!log) return std::string("message store: " + log.error().text);
    d->_log = std::move(*log);
    d->_confirms->attach(d->_log.get());
    WLOG_INFO("store recovered {}", rec.stats.summary());
    if (rec.stats.torn_tails || rec.stats.corrupt_regions || rec.stats.corrupt_segments)
        WLOG_WARN(
            "store cut damaged data: torn_tails={} bytes_truncated={} corrupt_regions={} "
            "bytes_skipped={} corrupt_segments={}",
            rec.stats.torn_tails, rec.stats.bytes_truncated, rec.stats.corrupt_regions,
            rec.stats.bytes_skipped, rec.stats.corrupt_segments);
    d->_acks = std::make_unique<ack_batcher>(
        io, *d->_log, [self](const std::string& why) { self->_messages->failed("ack", why); });
    d->_messages = std::make_unique<segment_message_log>(
        io, *d->_log, *d->_acks, b, d->_opts.queue_memory_limit, d->_dir->streams_dir());

    d->_attached = true;
    b.set_storage({.log = d->_messages.get(),
                   .topology = d->_topology.get(),
                   .confirms = d->_confirms.get()});
    d->_topology->set_replaying(true);
    auto r = recover_messages(b, *d->_log, *d->_messages, rec);
    if (!r) return r.error();
    d->_topology->raise_next_queue_id(r->next_queue_id);
    d->_topology->start(loaded);  // a fresh snapshot of what was recovered; an empty log
    WLOG_INFO(
        "recovered messages: restored={} delayed={} dedup_keys={} dropped_transient_or_orphan={} "
        "unreadable={} streams={}",
        r->restored, r->delayed, r->dedup_keys, r->dropped, r->unreadable, r->streams);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    WLOG_INFO("recovery done in {} ms: {} queues, {} messages, {} topology log records", ms,
              rec.stats.queues, rec.stats.messages, meta_stats.records);
    return d;
}

void broker_store::detach() {
    if (!_attached) return;
    if (_acks) _acks->flush();
    if (_topology) _topology->stop();
    // Streams hold the log (their sync runs in its group commit): closed while it exists.
    for (auto& name : _broker.vhost_names())
        if (core::vhost* vh = _broker.find_vhost(name))
            for (auto& [qn, q] : vh->queues())
                if (auto* s = q->stream_state()) s->close_storage();
    _broker.set_storage({});
    _attached = false;
}

}  // namespace warren::durability

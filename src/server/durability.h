#pragma once
// durability: core::persistence over store/ — the data dir, the durable topology
// (meta/topology.json) and the message log (msgs/). Owned by warrend's run(); lives on the
// broker thread, except the log's flusher, which only posts "durable_seq advanced" back to the
// loop.
//
// Start-up (open): lock the data dir, load the topology and declare it into the broker (durable
// exchanges, queues with their store ids, bindings), open the log (recovery cuts a torn or
// corrupt tail), put every recovered persistent message back in its queue with
// redelivered=true (transient ones and those of queues that no longer exist are settled),
// continue message and queue ids above what was found, and attach to the broker.
//
//   auto d = server::durability::open(io, broker, {.dir = cfg.data_dir});
//   if (!d) { fprintf(stderr, "%s\n", d.error().c_str()); return 1; }
//   ...   io.run();
//   (*d)->detach();   // before the broker goes away: nothing more is written
//
// What is written when: core/persistence.h.

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "core/broker.h"
#include "core/persistence.h"
#include "store/data_dir.h"
#include "store/segment_log.h"
#include "store/topology.h"

namespace warren::server {

struct durability_options {
    std::string dir;                              // the data dir
    uint64_t queue_memory_limit = 64ull << 20;    // bytes of bodies per queue in RAM (0 = all)
    uint64_t segment_size = 64ull << 20;
};

class durability final : public core::persistence {
public:
    static basic_result<std::unique_ptr<durability>, std::string> open(
        boost::asio::io_context& io, core::broker& b, durability_options opts);
    ~durability() override;

    // Stops writing (before the broker is destroyed): pending acks are flushed, the broker
    // forgets us.
    void detach();

    // core::persistence
    uint64_t write_message(const core::message& m, std::span<const uint64_t> queue_ids) override;
    uint64_t spill(const core::message& m, uint64_t queue_id) override;
    uint64_t write_held(const core::message& m, std::string_view exchange, uint64_t store_id,
                        uint64_t* disk_id) override;
    core::message_ptr read(uint64_t disk_id, uint64_t* published_ms) override;
    void settle(uint64_t queue_id, uint64_t disk_id) override;
    void queue_deleted(uint64_t queue_id, std::span<const uint64_t> disk_ids) override;
    bool topology_changed(core::vhost& vh) override;
    bool topology_pending() const override { return _save_failed; }
    uint64_t next_queue_id() override { return _next_queue_id++; }
    uint64_t queue_memory_limit() const override { return _opts.queue_memory_limit; }
    uint64_t durable_seq() const override;
    bool healthy() const override { return _healthy; }
    void wait(core::durable_waiter* w) override;
    void cancel_wait(core::durable_waiter* w) override;

    const store::segment_log& log() const { return *_log; }

private:
    durability(boost::asio::io_context& io, core::broker& b, durability_options opts);
    std::string replay_topology(const store::topology& t);
    std::string recover_messages(store::recovery_result& rec);
    store::topology snapshot() const;
    bool save_topology();
    void flush_acks();
    void notify();  // on the loop: durable_seq advanced
    void store_failed(const std::string& why);  // on the loop: the log refuses more work
    // Calls `call` on every registered waiter, which are unregistered first.
    template <typename F>
    void take_waiters(F&& call);
    uint64_t append(uint64_t id, std::span<const uint64_t> queue_ids, const core::message& m,
                    std::string_view exchange);
    void failed(const std::string& what, const std::string& text);

    boost::asio::io_context& _io;
    core::broker& _broker;
    durability_options _opts;
    std::unique_ptr<store::data_dir> _dir;
    std::unique_ptr<store::metadata_store> _meta;
    std::unique_ptr<store::segment_log> _log;
    std::string _saved;  // the topology JSON last saved
    uint64_t _next_queue_id = 1;
    bool _healthy = true;
    bool _attached = false;
    bool _replaying = false;
    bool _save_failed = false;

    // Settles batched per loop turn: queue id -> message ids.
    std::unordered_map<uint64_t, std::vector<uint64_t>> _acks;
    bool _ack_flush_posted = false;

    std::vector<core::durable_waiter*> _waiters;
    std::vector<core::durable_waiter*>* _notifying = nullptr;
    std::shared_ptr<std::atomic<bool>> _notify_posted;
    std::shared_ptr<std::atomic<bool>> _alive;  // false once destroyed (posted work skips)
    std::string _scratch;  // encoded properties
};

}  // namespace warren::server

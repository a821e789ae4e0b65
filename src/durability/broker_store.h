#pragma once
// broker_store: the broker's durable storage, opened at start and detached at stop. It owns the
// data dir and wires the parts below into the broker (broker::set_storage):
//   - segment_message_log (message_log.h): core::message_log over the segment log (msgs/);
//   - topology_saver (topology.h): core::topology_store over the metadata store (meta/);
//   - confirm_waiters (confirm_waiters.h): core::confirm_gate over the log's group commit;
//   - ack_batcher (ack_batching.h): settles written once per loop turn.
// Recovery (recovery.h) runs inside open().
//
// Start-up (open): lock the data dir; load the topology (snapshot + metadata log: a corrupt or
// newer one refuses to start, a torn tail is cut) and declare it into the broker; open the
// message log (recovery cuts a torn or corrupt tail); attach to the broker; put every recovered
// persistent message back in its queue with redelivered=true; continue message and queue ids
// above what was found; write a fresh topology snapshot.
//
//   auto d = durability::broker_store::open(io, broker, {.dir = cfg.data_dir});
//   if (!d) { fprintf(stderr, "%s\n", d.error().c_str()); return 1; }
//   ...   io.run();
//   (*d)->detach();   // before the broker goes away: nothing more is written
//
// Owned by warrend's run(); lives on the broker thread, except the log's flusher, which only
// posts "durable_seq advanced" back to the loop. What is written when: docs/storage.md.

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "core/broker.h"
#include "durability/ack_batching.h"
#include "durability/confirm_waiters.h"
#include "durability/message_log.h"
#include "durability/topology.h"
#include "store/data_dir.h"
#include "store/metadata_store.h"
#include "store/segment_log.h"

namespace warren::durability {

struct options {
    std::string dir;                            // the data dir
    uint64_t queue_memory_limit = 64ull << 20;  // bytes of bodies per queue in RAM (0 = all)
    uint64_t segment_size = 64ull << 20;
    // The users, permissions and limits (auth/), saved with the topology; loaded from it at
    // start unless the data dir has none yet (first start: what the config seeded is kept
    // and saved). Null: not saved (tests of messages alone).
    auth::user_db* users = nullptr;
};

class broker_store {
public:
    static basic_result<std::unique_ptr<broker_store>, std::string> open(
        boost::asio::io_context& io, core::broker& b, options opts);
    ~broker_store();
    broker_store(const broker_store&) = delete;
    broker_store& operator=(const broker_store&) = delete;

    // Stops writing (before the broker is destroyed): pending acks are flushed, the metadata log
    // is folded into a snapshot, the broker forgets us.
    void detach();

    bool healthy() const { return _messages && _messages->healthy(); }
    const store::segment_log& log() const { return *_log; }
    const store::metadata_store& meta() const { return *_meta; }
    core::confirm_gate& confirms() { return *_confirms; }
    topology_saver& topology() { return *_topology; }

private:
    broker_store(boost::asio::io_context& io, core::broker& b, options opts);

    boost::asio::io_context& _io;
    core::broker& _broker;
    options _opts;
    std::unique_ptr<store::data_dir> _dir;
    std::unique_ptr<store::metadata_store> _meta;
    std::unique_ptr<topology_saver> _topology;
    std::unique_ptr<confirm_waiters> _confirms;
    std::unique_ptr<store::segment_log> _log;
    std::unique_ptr<ack_batcher> _acks;
    std::unique_ptr<segment_message_log> _messages;
    bool _attached = false;
};

}  // namespace warren::durability

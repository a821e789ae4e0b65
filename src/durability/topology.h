#pragma once
// topology_saver: core::topology_store over store::metadata_store. Keeps a copy of what is on
// disk (`saved`); on a durable change in a vhost it captures that vhost's durable exchanges,
// queues and bindings from core, diffs them against the copy and appends only the difference
// as one metadata log record (one write + fdatasync), before the front end replies. When the
// log has grown past max(1 MiB, 2 x the snapshot) it compacts instead: a new
// snapshot and an empty log (amortised, so a declare costs O(1) disk bytes on average).
//
// A failed save returns false (the vhost undoes the declare and answers 541) and leaves the
// saver "pending": the next save diffs every vhost, and a log that may end in a partial record
// is replaced by a compaction rather than appended to.
//
//   durability::topology_saver topo(meta, broker);
//   topo.start(loaded);          // what recovery declared; compacts (snapshot + empty log)
//   b.set_storage({.topology = &topo, ...});
//   ...; topo.stop();            // clean stop: compacts if the log has records
//
// Cost per save: a new binding or queue is O(1) (binding_added, queue_added: the one change is
// written and appended to the saved copy); any other change captures the changed vhost, O(its
// durable objects) in memory; the disk write is O(the change).
// Owned by broker_store; lives on the broker thread.

#include <cstdint>
#include <vector>

#include "auth/user_db.h"
#include "core/broker.h"
#include "core/topology_store.h"
#include "store/metadata_store.h"
#include "store/topology.h"

namespace warren::durability {

class topology_saver final : public core::topology_store {
public:
    // Compact once the log exceeds max(compact_min_bytes, 2 x the last snapshot's size).
    topology_saver(store::metadata_store& meta, const core::broker& b,
                   uint64_t compact_min_bytes = 1 << 20);

    // Recovery is done: `loaded` is what the data dir held. Writes the broker's durable
    // topology as a fresh snapshot (folding the log); a failure is logged and retried on the
    // next change.
    void start(const store::topology& loaded);
    // Clean stop: folds the log into the snapshot if it holds records.
    void stop();
    // Recovery replays declares: nothing is saved meanwhile (start() saves all at once).
    void set_replaying(bool on) { _replaying = on; }
    void raise_next_queue_id(uint64_t at_least) {
        if (_next_queue_id < at_least) _next_queue_id = at_least;
    }

    // The users, permissions and limits to save with the topology (null: keep what was
    // loaded). Set before start().
    void set_users(const auth::user_db* users) { _users = users; }
    // A user, permission or limit changed (the management API): saves the difference, like
    // topology_changed(). False if the save failed (the change stays pending).
    bool access_changed();
    // A vhost was deleted at run time (core::broker::delete_vhost, after its queues and
    // exchanges went): its record and its permissions go from the store.
    bool vhost_deleted(const std::string& name);

    // The broker's durable topology, as it would be saved now.
    store::topology capture() const;
    // Vhosts captured so far (each an O(its durable objects) walk): tests check that the
    // O(1) paths take none.
    uint64_t vhost_captures() const { return _captures; }

    // core::topology_store
    bool topology_changed(core::vhost& vh) override;
    // O(1): the one change is logged and put into the saved copy (appended; the copy is sorted
    // again before it is next diffed). Falls back to topology_changed when a save is pending,
    // the vhost is not saved yet, or the log is due for compaction.
    bool binding_added(core::vhost& vh, const std::string& source, const std::string& destination,
                       bool to_exchange, std::string_view key,
                       const core::field_table& args) override;
    bool queue_added(core::vhost& vh, const core::queue& q) override;
    bool topology_pending() const override { return _pending; }
    uint64_t next_queue_id() override { return _next_queue_id++; }

private:
    store::vhost_def capture(const core::vhost& vh) const;
    bool compact();
    bool needs_compaction() const;
    bool save(std::vector<store::topology_change> changes);
    // The shared part of binding_added / queue_added: `c` for vhost `vh`.
    bool save_addition(core::vhost& vh, store::topology_change c);

    store::metadata_store& _meta;
    const core::broker& _broker;
    const auth::user_db* _users = nullptr;
    store::topology _saved;  // what is on disk (snapshot + log)
    // Vhosts of _saved that additions were appended to since they were last sorted.
    std::vector<std::string> _unsorted;
    uint64_t _compact_min_bytes;
    uint64_t _next_queue_id = 1;
    bool _pending = false;
    bool _replaying = false;
    bool _started = false;  // start() ran: stop() may write
    mutable uint64_t _captures = 0;
};

// The changes that turn `before` into `after` (one vhost), appended to `out`.
void diff_vhost(const store::vhost_def& before, const store::vhost_def& after,
                std::vector<store::topology_change>& out);

}  // namespace warren::durability

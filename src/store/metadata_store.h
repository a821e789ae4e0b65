#pragma once
// metadata_store: the durable topology on disk, in <data_dir>/meta/:
//   topology.json  the last snapshot (store/topology.h), replaced atomically (tmp file, fsync,
//                  rename, fsync the directory); carries the log generation it starts;
//   topology.log   the metadata log (store/metadata_log.h): change records appended since that
//                  snapshot, each fsync'd before append() returns.
// A declare costs one small append + fdatasync, not a rewrite of the whole topology; compact()
// folds the log into a new snapshot (the owner calls it when the log has grown, and at start
// and clean stop).
//
//   store::metadata_store meta(store::posix_env(), data_dir + "/meta");
//   auto t = meta.load();          // snapshot + log; nullopt: fresh data dir
//   if (!t) fail(t.error().text);  // corrupt or newer: refuse to start, never start empty
//   meta.compact(topo);            // new snapshot + empty log; append() works from here
//   meta.append(changes);          // durable when it returns ok
//
// Upgrade: a data dir with only topology.json (written before the log existed) loads as that
// snapshot; the first compact() starts the log.
// Crash safety of compact(): the snapshot is renamed into place before the new log; a crash
// between the two leaves a log of the previous generation, which load() ignores as stale (its
// changes are all in the snapshot).
// Not thread-safe; one owner (the broker thread).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "store/env.h"
#include "store/error.h"
#include "store/topology.h"

namespace warren::store {

struct metadata_load_stats {
    uint64_t records = 0;     // change records replayed from the log
    uint64_t torn_bytes = 0;  // cut from the log's tail (a crash mid-append)
    bool stale_log = false;   // a log older than the snapshot was ignored
};

class metadata_store {
public:
    // `dir` is <data_dir>/meta; created on first save.
    metadata_store(env* e, std::string dir);
    ~metadata_store();

    // The saved topology (snapshot + log); nullopt if none was ever saved. Errors name the file.
    // Remembers the snapshot's log generation for compact() (the returned one says 0).
    result<std::optional<topology>> load(metadata_load_stats* stats = nullptr);
    // Writes `t` as the new snapshot and starts an empty log after it. On failure the previous
    // snapshot and log stay as they were (and append() is refused until a compact succeeds).
    status compact(const topology& t);
    // Appends one record of changes and fsyncs it. Needs a log opened by compact(); after any
    // failure the log may hold a partial record, so further appends are refused (can_append()
    // false) until the next compact() replaces it.
    status append(std::span<const topology_change> changes);
    bool can_append() const { return _log != nullptr; }
    // Bytes in the current log (header included) and in the last snapshot written.
    uint64_t log_bytes() const { return _log_bytes; }
    uint64_t snapshot_bytes() const { return _snapshot_bytes; }

    // Replaces the whole saved topology (compact under its older name).
    status save(const topology& t) { return compact(t); }

    std::string path() const;      // topology.json
    std::string log_path() const;  // topology.log

private:
    env* _env;
    std::string _dir;
    uint64_t _generation = 0;  // of the snapshot on disk
    std::unique_ptr<writable_file> _log;
    uint64_t _log_bytes = 0;
    uint64_t _snapshot_bytes = 0;
    std::string _scratch;
};

}  // namespace warren::store

#include "store/metadata_store.h"

#include <fmt/format.h>

#include "store/metadata_log.h"

namespace warren::store {

namespace {
constexpr std::string_view snapshot_name = "topology.json";
constexpr std::string_view log_name = "topology.log";
}  // namespace

metadata_store::metadata_store(env* e, std::string dir) : _env(e), _dir(std::move(dir)) {}

metadata_store::~metadata_store() = default;

std::string metadata_store::path() const {
    return join_path(_dir, snapshot_name);
}
std::string metadata_store::log_path() const {
    return join_path(_dir, log_name);
}

result<std::optional<topology>> metadata_store::load(metadata_load_stats* stats) {
    metadata_load_stats st;
    const std::string snap = path(), logp = log_path();
    topology t;
    bool found = false;
    if (_env->file_exists(snap)) {
        auto text = _env->read_file(snap);
        if (!text) return text.error();
        auto d = decode_topology(*text);
        if (!d) {
            auto e = d.error();
            e.text = snap + ": " + e.text;
            return e;
        }
        t = std::move(*d);
        _snapshot_bytes = text->size();
        found = true;
    }
    _generation = t.log_generation;
    if (_env->file_exists(logp)) {
        auto bytes = _env->read_file(logp);
        if (!bytes) return bytes.error();
        auto fail = [&](error e) {
            e.text = logp + ": " + e.text;
            return e;
        };
        auto c = metadata_log::parse(*bytes);
        if (!c) return fail(c.error());
        if (c->generation > t.log_generation)
            return fail(make_error(
                errc::corruption,
                fmt::format("the log continues snapshot generation {} but {} is generation {} "
                            "(a snapshot is missing or was replaced by an older one)",
                            c->generation, snapshot_name, t.log_generation)));
        if (c->generation < t.log_generation) {
            st.stale_log = true;  // a compaction was cut short after its snapshot: all in there
        } else {
            for (std::string_view p : c->payloads) {
                auto changes = decode_changes(p);
                if (!changes) return fail(changes.error());
                for (auto& ch : *changes) apply_change(t, ch);
                ++st.records;
                found = true;
            }
            st.torn_bytes = c->torn_bytes;
        }
    }
    if (stats) *stats = st;
    t.log_generation = 0;  // bookkeeping of the files, kept here; callers compare topologies
    if (!found) return std::optional<topology>{};
    return std::optional<topology>(std::move(t));
}

status metadata_store::compact(const topology& t) {
    // Whatever happens next, the current log is either replaced or must not grow further.
    _log.reset();
    _log_bytes = 0;
    if (auto s = _env->create_dirs(_dir); !s) return s;
    topology snap = t;
    snap.log_generation = _generation + 1;
    const std::string json = encode_topology(snap);
    const std::string p = path(), tmp = p + ".tmp";
    if (auto s = _env->write_file(tmp, json, /*sync=*/true); !s) return s;
    if (auto s = _env->rename_file(tmp, p); !s) return s;
    if (auto s = _env->sync_dir(_dir); !s) return s;
    _generation = snap.log_generation;
    _snapshot_bytes = json.size();

    // The new, empty log (the old one is now stale: its generation is below the snapshot's).
    const std::string lp = log_path(), ltmp = lp + ".tmp";
    auto f = _env->new_writable_file(ltmp);
    if (!f) return f.error();
    const std::string header = metadata_log::encode_header(_generation);
    if (auto s = (*f)->append(header); !s) return s;
    if (auto s = (*f)->sync(); !s) return s;
    if (auto s = _env->rename_file(ltmp, lp); !s) return s;
    if (auto s = _env->sync_dir(_dir); !s) return s;
    _log = std::move(*f);  // the open file follows the rename
    _log_bytes = header.size();
    return {};
}

status metadata_store::append(std::span<const topology_change> changes) {
    if (!_log)
        return make_error(errc::failed,
                          "the metadata log is not open (an earlier write failed): compact first");
    _scratch.clear();
    metadata_log::append_record(_scratch, metadata_log::record_type::changes,
                                encode_changes(changes));
    status s = _log->append(_scratch);
    if (s) s = _log->sync();
    if (!s) {
        _log.reset();  // may end in a partial record: never append after it
        return s;
    }
    _log_bytes += _scratch.size();
    return {};
}

}  // namespace warren::store

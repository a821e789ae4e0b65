#pragma once
// The durable topology (metadata) of a broker as plain data, and the metadata store that saves
// and loads it atomically as <data_dir>/meta/topology.json.
//
// Only durable things belong here: durable exchanges and queues (not exclusive ones: those die
// with their connection, and with the broker), bindings between durable ends, vhosts, users,
// permissions and policies. server/ fills a `topology` from core on every topology change (or
// keeps one alongside) and calls save(); at start it calls load() and replays the declares.
//
//   store::metadata_store meta(store::posix_env(), data_dir + "/meta");
//   auto t = meta.load();                 // nullopt: fresh data dir
//   if (!t) fail(t.error().text);         // e.g. written by a newer Warren: refuse to start
//   ...; meta.save(topo);                 // tmp file, fsync, rename, fsync dir
//
// Format: JSON with "format_version" (docs/storage.md). Field tables are stored with their
// AMQP types so that arguments come back exactly (an x-max-length long stays a long).
// Not thread-safe; one owner (the broker thread, or a thread it hands saves to).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fields.h"
#include "store/env.h"
#include "store/error.h"

namespace warren::store {

inline constexpr int topology_format_version = 1;

struct exchange_def {
    std::string name;
    std::string type = "direct";  // as declared (direct, fanout, topic, headers, ...)
    bool auto_delete = false;
    bool internal = false;
    core::field_table args;
    bool operator==(const exchange_def&) const = default;
};

struct queue_def {
    std::string name;
    uint64_t id = 0;  // the queue id its messages carry in the segment log
    bool auto_delete = false;
    core::field_table args;
    bool operator==(const queue_def&) const = default;
};

struct binding_def {
    std::string source;       // exchange
    std::string destination;  // queue or exchange name
    bool destination_is_exchange = false;
    std::string routing_key;
    core::field_table args;
    bool operator==(const binding_def&) const = default;
};

struct policy_def {
    std::string name;
    std::string pattern;
    std::string apply_to = "all";  // queues, exchanges, all
    int priority = 0;
    std::string definition = "{}";  // a JSON object, as given by the API
    bool operator==(const policy_def&) const = default;
};

struct vhost_def {
    std::string name;
    std::vector<exchange_def> exchanges;  // user-declared durable ones (amq.* are implicit)
    std::vector<queue_def> queues;
    std::vector<binding_def> bindings;
    std::vector<policy_def> policies;
    // Store id under which persistent messages held by the vhost's durable x-delayed-message
    // exchanges are logged (0: none yet).
    uint64_t delayed_store_id = 0;
    bool operator==(const vhost_def&) const = default;
};

struct user_def {
    std::string name;
    std::string password_hash;  // e.g. base64(salt + sha256(salt + password))
    std::string hashing_algorithm = "rabbit_password_hashing_sha256";
    std::vector<std::string> tags;
    bool operator==(const user_def&) const = default;
};

struct permission_def {
    std::string user;
    std::string vhost;
    std::string configure = ".*";
    std::string write = ".*";
    std::string read = ".*";
    bool operator==(const permission_def&) const = default;
};

struct topology {
    std::vector<vhost_def> vhosts;
    std::vector<user_def> users;
    std::vector<permission_def> permissions;
    uint64_t next_queue_id = 1;  // queue ids are never reused
    bool operator==(const topology&) const = default;

    vhost_def* find_vhost(std::string_view name);
};

// JSON text <-> topology. decode refuses an unknown format_version (unsupported_version) and
// malformed input (corruption), with a message naming what is wrong.
std::string encode_topology(const topology& t);
result<topology> decode_topology(std::string_view json_text);

class metadata_store {
public:
    // `dir` is <data_dir>/meta; created on first save.
    metadata_store(env* e, std::string dir);

    // The saved topology; nullopt if none was ever saved.
    result<std::optional<topology>> load();
    // Atomically replaces the saved topology: write topology.json.tmp, fsync it, rename over
    // topology.json, fsync the directory. A crash leaves either the old or the new file.
    status save(const topology& t);

    std::string path() const;

private:
    env* _env;
    std::string _dir;
};

}  // namespace warren::store

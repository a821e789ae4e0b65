#pragma once
// The durable topology (metadata) of a broker as plain data: the snapshot form (JSON,
// <data_dir>/meta/topology.json) and the change records the metadata log appends between
// snapshots (store/metadata_log.h). metadata_store (store/metadata_store.h) keeps both on disk.
//
// Only durable things belong here: durable exchanges and queues (not exclusive ones: those die
// with their connection, and with the broker), bindings between durable ends, vhosts, users,
// permissions and policies.
//
//   std::string json = store::encode_topology(t);      // a snapshot
//   auto t2 = store::decode_topology(json);             // corruption / unsupported_version
//   store::apply_change(t, {.kind = topology_change::op::delete_queue, .vhost = "/", ...});
//
// Format: JSON with "format_version" (docs/storage.md). Field tables are stored with their
// AMQP types so that arguments come back exactly (an x-max-length long stays a long).
// Pure functions and plain data.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/fields.h"
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

// RabbitMQ's vhost limits; -1 = none.
struct vhost_limits {
    int64_t max_connections = -1;
    int64_t max_queues = -1;
    bool operator==(const vhost_limits&) const = default;
};

struct vhost_def {
    std::string name;
    vhost_limits limits;
    std::vector<exchange_def> exchanges;  // user-declared durable ones (amq.* are implicit)
    std::vector<queue_def> queues;
    std::vector<binding_def> bindings;
    std::vector<policy_def> policies;
    std::vector<policy_def> operator_policies;
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
    int64_t max_connections = -1;  // per-user limits (-1 = none)
    int64_t max_channels = -1;
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

struct topic_permission_def {
    std::string user;
    std::string vhost;
    std::string exchange;
    std::string write = ".*";
    std::string read = ".*";
    bool operator==(const topic_permission_def&) const = default;
};

struct topology {
    std::vector<vhost_def> vhosts;
    std::vector<user_def> users;
    std::vector<permission_def> permissions;
    std::vector<topic_permission_def> topic_permissions;
    uint64_t next_queue_id = 1;  // queue ids are never reused
    // The metadata log generation this snapshot starts (0: written before the log existed).
    uint64_t log_generation = 0;
    bool operator==(const topology&) const = default;

    vhost_def* find_vhost(std::string_view name);
};

// JSON text <-> topology. decode refuses an unknown format_version (unsupported_version) and
// malformed input (corruption), with a message naming what is wrong.
std::string encode_topology(const topology& t);
result<topology> decode_topology(std::string_view json_text);

// One change to the topology, as the metadata log records it. The fields used depend on `kind`:
// put_vhost (vhost, value = delayed_store_id, limits), put_exchange / put_queue (vhost,
// exchange / queue: insert or replace by name), delete_exchange / delete_queue (vhost,
// exchange.name / queue.name), put_binding / delete_binding (vhost, binding: compared whole,
// arguments included), next_queue_id (value: the counter only grows), delete_vhost (vhost, and
// every permission on it), put_user / delete_user (user; by name, a deleted user's
// permissions go too), put_permission / delete_permission (permission; by user and vhost),
// put_topic_permission / delete_topic_permission (topic; by user, vhost and exchange),
// put_policy / delete_policy and put_operator_policy / delete_operator_policy (vhost, policy;
// by name).
struct topology_change {
    enum class op : uint8_t {
        put_vhost,
        put_exchange,
        delete_exchange,
        put_queue,
        delete_queue,
        put_binding,
        delete_binding,
        next_queue_id,
        delete_vhost,
        put_user,
        delete_user,
        put_permission,
        delete_permission,
        put_topic_permission,
        delete_topic_permission,
        put_policy,
        delete_policy,
        put_operator_policy,
        delete_operator_policy,
    };
    op kind = op::put_vhost;
    std::string vhost;
    exchange_def exchange;
    queue_def queue;
    binding_def binding;
    uint64_t value = 0;
    vhost_limits limits;
    user_def user;
    permission_def permission;
    topic_permission_def topic;
    policy_def policy;
    bool operator==(const topology_change&) const = default;
};

// A policy definition (plain JSON object: integers, strings, booleans, floats, arrays and
// objects, as RabbitMQ's API and definitions files write them) <-> a core field table. The
// text is canonical (keys sorted), so equal definitions compare equal as text.
std::string policy_definition_json(const core::field_table& t);
result<core::field_table> parse_policy_definition(std::string_view json_text);

// A batch of changes <-> one metadata log record payload (a JSON array). decode refuses an
// unknown operation (unsupported_version: a newer Warren wrote it) and malformed input
// (corruption).
std::string encode_changes(std::span<const topology_change> changes);
result<std::vector<topology_change>> decode_changes(std::string_view json_text);
// Applies one change (deleting what is absent is a no-op; a vhost is created on first use).
void apply_change(topology& t, const topology_change& c);

}  // namespace warren::store

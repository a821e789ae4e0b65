#pragma once
// A virtual host: a namespace of exchanges, queues and the bindings between them, and the place
// where publishing, declaring and deleting happen. Every operation that can fail returns
// result<...>; errors carry RabbitMQ's reply code, text and resource (core/error.h), e.g.
// {not_found, "no exchange 'x' in vhost '/'", "exchange 'x' in vhost '/'"}.
//
// Owned by the broker; lives on the broker thread. Owns its exchanges (exchange* is valid until
// the exchange is deleted) and its queues (queue_ptr, shared with outstanding deliveries).
//
//   core::vhost vh("/");
//   auto q = vh.declare_queue({.name = "q"}, conn_id);
//   vh.bind_queue("q", "amq.topic", "a.*", {}, conn_id);
//   auto n = vh.publish("amq.topic", msg);   // *n == 1

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/access.h"
#include "core/connection_info.h"
#include "core/delayed.h"
#include "core/error.h"
#include "core/exchange.h"
#include "core/fields.h"
#include "core/message.h"
#include "core/persistence.h"
#include "core/policy.h"
#include "core/queue.h"
#include "core/router.h"
#include "core/string_map.h"

namespace warren::core {

class vhost {
public:
    // Creates "" (the default exchange), amq.direct, amq.fanout, amq.topic, amq.headers and
    // amq.match, all durable.
    explicit vhost(std::string name);
    ~vhost();
    vhost(const vhost&) = delete;
    vhost& operator=(const vhost&) = delete;

    const std::string& name() const { return _name; }

    // 403 for a new "amq.*" name or for "", 404 passive-missing, 406 inequivalent,
    // 503 COMMAND_INVALID for an unknown type. `who`: the caller's permissions (core/access.h;
    // null = all), checked where RabbitMQ checks them, here and in every operation below.
    result<exchange*> declare_exchange(const exchange_decl& d, const access* who = nullptr);
    // Missing exchange: ok (RabbitMQ is idempotent here). 403 for "" and "amq.*";
    // 406 if if_unused and it has bindings (as source or destination).
    result<void> delete_exchange(std::string_view name, bool if_unused,
                                 const access* who = nullptr);

    struct declared_queue {
        queue_ptr q;
        uint32_t message_count;
        uint32_t consumer_count;
    };
    // Empty name -> "amq.gen-<22 chars>"; 405 if exclusive to another connection (or the
    // exclusive flag differs); 406 mismatch; 403 for "amq." prefix names; 404 passive-missing;
    // 406 when a new queue would pass the vhost's max-queues limit.
    result<declared_queue> declare_queue(const queue_decl& d, uint64_t connection_id,
                                         const access* who = nullptr);
    // Returns the ready message count dropped; consumers get cancelled_by_broker(). Missing
    // queue: ok, 0. 405 exclusive to another connection; 406 if_unused / if_empty.
    result<uint32_t> delete_queue(std::string_view name, bool if_unused, bool if_empty,
                                  uint64_t connection_id, const access* who = nullptr);
    result<uint32_t> purge_queue(std::string_view name, uint64_t connection_id,
                                 const access* who = nullptr);

    // Bind: 404 missing queue or exchange, 403 default exchange, 405 exclusive queue of another
    // connection; binding twice is a no-op. Unbind is idempotent as in RabbitMQ 3.10: a missing
    // exchange, queue or binding is ok; 403 default exchange; 405 only when the binding exists
    // and its queue is exclusive to another connection.
    result<void> bind_queue(std::string_view queue, std::string_view exchange, std::string_view key,
                            const field_table& args, uint64_t conn, const access* who = nullptr);
    result<void> unbind_queue(std::string_view queue, std::string_view exchange,
                              std::string_view key, const field_table& args, uint64_t conn,
                              const access* who = nullptr);
    result<void> bind_exchange(std::string_view dest, std::string_view source, std::string_view key,
                               const field_table& args, const access* who = nullptr);
    result<void> unbind_exchange(std::string_view dest, std::string_view source,
                                 std::string_view key, const field_table& args,
                                 const access* who = nullptr);

    queue_ptr find_queue(std::string_view name);  // nullptr if none
    exchange* find_exchange(std::string_view name);
    // RabbitMQ's 404s for this vhost: "no exchange 'x' in vhost '/'", "no queue ...".
    error no_exchange(std::string_view name) const;
    error no_queue(std::string_view name) const;
    // 404 if missing, 405 if exclusive to another connection.
    result<queue_ptr> queue_for(std::string_view name, uint64_t conn);

    // Routes through the exchange (core/router.h: exchange-to-exchange bindings, CC/BCC,
    // alternate exchanges, delayed holds; each queue at most once) and enqueues. Returns the
    // number of queues reached (0 = unroutable -> basic.return if mandatory). 404 if the
    // exchange is missing; 403 if it is internal. Sets m->id if 0. With info: info->rejected
    // counts queues that refused the message (x-overflow reject-publish): the front end must
    // nack a confirm for it. Those are not in the count.
    using publish_info = core::publish_info;
    result<size_t> publish(std::string_view exchange, message_ptr m, publish_info* info = nullptr,
                           const access* who = nullptr);

    // ---- limits and connections (RabbitMQ's vhost limits) ----
    struct limits {
        int64_t max_connections = -1;  // -1: no limit (0 refuses every connection)
        int64_t max_queues = -1;
        bool operator==(const limits&) const = default;
    };
    void set_limits(limits l) { _limits = l; }
    const limits& get_limits() const { return _limits; }
    // Front ends register each connection once it is open in this vhost (AMQP connection.open,
    // STOMP CONNECT): counted for max-connections, and closed (`close(reason)`: AMQP 320
    // CONNECTION_FORCED, a STOMP ERROR) when the vhost is deleted. connection_closed() below
    // forgets it.
    // `info` (may be empty) describes the connection for the management API.
    using close_fn = std::function<void(std::string_view reason)>;
    using info_fn = std::function<connection_info()>;
    // `io` (may be empty): its byte counters, read without building the whole info.
    using io_fn = std::function<io_counters()>;
    void connection_opened(uint64_t connection_id, std::string user, close_fn close,
                           info_fn info = {}, io_fn io = {});
    struct open_connection {
        uint64_t id;
        std::string user;
        close_fn close;
        info_fn info;
        io_fn io;
    };
    const std::vector<open_connection>& open_connections() const { return _connections; }
    // Closes one registered connection (`close(reason)`); false if it is not registered here.
    bool close_connection(uint64_t connection_id, std::string_view reason);
    size_t connection_count() const { return _connections.size(); }
    // Would one more connection pass max-connections? (the limit, if so)
    std::optional<int64_t> connection_limit_reached() const;
    // Asks every registered connection to close (vhost deletion), or those of one user (user
    // deletion).
    void close_connections(std::string_view reason);
    void close_connections_of(std::string_view user, std::string_view reason);
    // Deleting the vhost: every queue and exchange goes (durable ones from the store too).
    void delete_everything();

    // ---- counters for the management API and /metrics ----
    // Messages published into this vhost (vhost::publish), and how routing went; confirms the
    // front ends sent; the counters of queues deleted since start (so totals summed over live
    // queues plus these never go backwards).
    struct totals {
        uint64_t received = 0;    // publishes (every vhost::publish that found its exchange)
        uint64_t routed = 0;      // ... that reached at least one queue
        uint64_t unroutable = 0;  // ... that reached none
        uint64_t confirmed = 0;   // publisher confirms (acks) sent, counted by the front ends
        queue_stats deleted_queues;
    };
    totals& counters() { return _totals; }
    const totals& counters() const { return _totals; }

    // ---- time: TTL, x-expires ----
    // Core reads time only here: steady milliseconds and wall-clock seconds as injected (tests
    // inject fakes), else the system clocks (core/clock.h).
    using clock_fn = std::function<uint64_t()>;
    void set_clock(clock_fn steady_ms, clock_fn wall_seconds = {});
    uint64_t now_ms() const;
    uint64_t wall_seconds() const;  // for x-death "time"
    uint64_t wall_ms() const;       // publish times in the store (TTL across restarts)
    // Expires messages and deletes x-expires queues that are due. The front end's timer
    // calls it (broker::tick does every vhost).
    void tick(uint64_t now_ms);
    // Earliest steady ms at which tick() has work; nullopt if nothing is pending.
    std::optional<uint64_t> next_expiry() const;

    // Called by a queue: republish a dead-lettered copy to `dlx` (deferred until the current
    // publish, if any, has finished). Cycles are dropped as RabbitMQ does.
    void dead_letter(std::string dlx, message_ptr m);
    // Republishes pending dead letters unless a publish is in progress (it will, at its end).
    void drain_dead_letters();
    // Deletes the connection's exclusive queues. Call it after the connection has removed its
    // own consumers (any consumer still attached gets cancelled_by_broker()).
    void connection_closed(uint64_t connection_id);

    // Called by a queue when its last consumer goes and it is auto-delete.
    void queue_auto_delete(queue* q);

    // ---- durability (see persistence.h) ----
    // Set by the broker: the message log, the topology store (queues get store ids from it;
    // durable topology changes are saved) and the confirm gate. Not owned.
    void set_storage(const storage& s);
    // Whether a message held until `seq` (message::hold_seq) may be delivered: the store is
    // durable up to it (or there is no store, or it failed for good: nothing to wait for).
    bool durable_reached(uint64_t seq) const {
        return seq == 0 || !_storage.confirms || _held.failed ||
               _storage.confirms->durable_seq() >= seq;
    }
    // A queue whose head is held: dispatched again when the store's durable seq advances.
    void dispatch_when_durable(queue& q);
    message_log* log() const { return _storage.log; }
    topology_store* topology() const { return _storage.topology; }
    confirm_gate* confirms() const { return _storage.confirms; }
    // The confirm gate under the name the front ends use (proto/ calls it).
    persistence* persist() const { return _storage.confirms; }

    // ---- policies (core/policy.h) ----
    // Adds or replaces a policy by name and re-applies policies to every queue and exchange.
    // 406 PRECONDITION_FAILED "Validation failed ..." if the policy is invalid.
    // Durable: saved through the topology store before returning (a failed save undoes the
    // change and returns topology_error(), 541).
    result<void> set_policy(policy p);
    // false if there was none (nullopt) or the save failed (error).
    result<bool> clear_policy(std::string_view name);
    std::vector<policy> policies() const { return _policies.list(); }
    const policy_set& policy_rules() const { return _policies; }
    // Operator policies: the same, with operator-policy validation (policy.h).
    result<void> set_operator_policy(policy p);
    result<bool> clear_operator_policy(std::string_view name);
    std::vector<policy> operator_policies() const { return _operator_policies.list(); }
    const policy_set& operator_policy_rules() const { return _operator_policies; }

    // x-delayed-message exchanges: routes the held messages that are due (tick() does it too;
    // the server's timer calls it alone when a message falls due between ticks), and the
    // earliest due time.
    void release_delayed(uint64_t now);
    std::optional<uint64_t> next_delayed_due() const { return _delayed.next_due(); }
    // Messages held (all, or for one exchange).
    size_t delayed_pending() const { return _delayed.size(); }
    size_t delayed_pending(std::string_view exchange) const { return _delayed.pending(exchange); }
    // Durable delayed messages (delayed.h): the store id they are logged under (0 = none yet),
    // and recovery putting one back (false: its exchange is gone or it is not delayed).
    uint64_t delayed_store_id() const { return _delayed.store_id(); }
    void set_delayed_store_id(uint64_t id) { _delayed.set_store_id(id); }
    bool restore_delayed(message_ptr m, uint64_t disk_id, uint64_t published_wall_ms,
                         uint64_t now_wall_ms) {
        return _delayed.restore(std::move(m), disk_id, published_wall_ms, now_wall_ms);
    }
    delayed_holds& delayed() { return _delayed; }  // the router asks it at each exchange

    // A queue with time-driven work (queue::has_timers): tick() and next_expiry() look at these
    // queues only, so an idle vhost with 10^4 queues costs nothing per tick.
    void watch_timers(const queue_ptr& q) { _timed.push_back(q); }
    size_t watched_queues() const { return _timed.size(); }

    // Exchange deduplication (core/dedup.h). The router asks is_duplicate() at each
    // deduplicating exchange it walks, and once the message is written, remember_key() caches
    // the key (logging it, beside the held messages, when x is durable and m persistent;
    // *store_seq is raised to the seq its confirm waits for).
    bool is_duplicate(exchange& x, std::string_view key);
    void remember_key(exchange& x, const message& m, std::string key, uint64_t* store_seq);
    // Recovery: a record read back from the held store id. is_dedup_record: it is a cached
    // key, not a delayed message; restore_dedup puts it back in its exchange's cache (false:
    // the exchange is gone or has no cache, or the key has expired: settle the record).
    static bool is_dedup_record(const message& m);
    bool restore_dedup(const message& record, uint64_t disk_id, uint64_t now_wall_ms);
    // Recovery: the newest message in the log, which a crash may have cut off from its key
    // records: caches (and logs) its key at its durable deduplicating exchange if missing and
    // not expired. Returns how many keys it put back (0 or 1).
    size_t recover_keys_of(const message& m, uint64_t published_wall_ms, uint64_t now_wall_ms);

    const string_map<std::unique_ptr<exchange>>& exchanges() const { return _exchanges; }
    const string_map<queue_ptr>& queues() const { return _queues; }

public:
    // RabbitMQ's rs() of a queue: "queue 'q' in vhost '/'" (error texts).
    std::string queue_resource(std::string_view name) const;

private:
    size_t delete_queue_now(const queue_ptr& q);              // returns the ready count dropped
    void settle_held(const std::vector<uint64_t>& disk_ids);  // records under the held store id
    void apply_policies();  // re-evaluates every queue and exchange
    void apply_policy(queue& q) const;
    result<void> set_in(policy_set& set, policy p);
    result<bool> clear_in(policy_set& set, std::string_view name);
    void apply_policy(exchange* x);
    void delete_exchange_now(exchange* x);
    // Removes one binding source -> dest, keeping inbound lists consistent; auto-deletes the
    // source if it was its last binding.
    void remove_binding(exchange* source, const binding_dest& d, std::string_view key,
                        const field_table& args, bool allow_auto_delete = true);
    result<exchange*> exchange_for_binding(std::string_view name);
    result<void> check_binding(resource_kind dest_kind, std::string_view dest,
                               std::string_view source, std::string_view key, const access* who);
    std::string generate_queue_name();
    std::string exchange_resource(std::string_view name) const;  // "exchange 'x' in vhost '/'"
    error locked(std::string_view name) const;

    std::string _name;
    limits _limits;
    std::vector<open_connection> _connections;
    string_map<std::unique_ptr<exchange>> _exchanges;
    string_map<queue_ptr> _queues;
    exchange* _default = nullptr;
    std::mt19937_64 _rng;
    clock_fn _clock, _wall;
    std::vector<std::pair<std::string, message_ptr>> _dead_letters;  // pending republish
    delayed_holds _delayed{*this};             // x-delayed-message: held messages by due time
    std::vector<std::weak_ptr<queue>> _timed;  // queues with timers (watch_timers)
    router _router{*this};                     // every publish, dead letter and released hold
    policy_set _policies;
    policy_set _operator_policies{policy_kind::operator_policy};
    totals _totals;
    bool _draining = false;
    storage _storage;
    // Queues waiting for durable_reached (dispatch_when_durable).
    struct held_dispatch final : durable_waiter {
        vhost* vh = nullptr;
        std::vector<std::weak_ptr<queue>> queues;
        bool waiting = false;
        bool failed = false;
        void durable_advanced(uint64_t) override;
        void durable_failed() override;
        void redispatch();
    } _held;
    // A durable object changed: save the topology. false: not saved (the caller fails the
    // operation with topology_error() instead of acknowledging it).
    bool durable_changed() {
        return !_storage.topology || _storage.topology->topology_changed(*this);
    }
    bool durable_binding_added(const exchange& source, const std::string& destination,
                               bool to_exchange, std::string_view key, const field_table& args) {
        return !_storage.topology || _storage.topology->binding_added(
                                         *this, source.name(), destination, to_exchange, key, args);
    }
    bool durable_queue_added(const queue& q) {
        return !_storage.topology || _storage.topology->queue_added(*this, q);
    }
    // A re-declare of a durable object: acknowledged only if the saved topology is current.
    bool durable_current() {
        return !_storage.topology || !_storage.topology->topology_pending() || durable_changed();
    }
    static error topology_error() {
        return error{reply_code::internal_error,
                     "cannot save the topology to disk (see the broker log)"};
    }
};

}  // namespace warren::core

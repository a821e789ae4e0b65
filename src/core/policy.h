#pragma once
// Policies, as RabbitMQ has them (docs "parameters"): a named rule that applies queue or
// exchange settings to every object whose name matches a regular expression, without
// redeclaring it. Per object only one policy applies: the matching one with the highest
// priority (ties: the smallest name). Setting or clearing a policy re-evaluates existing
// queues and exchanges at once (vhost::set_policy / clear_policy).
//
// Definition keys (RabbitMQ's names; values as in the policy JSON):
//   queues:    message-ttl, expires, max-length, max-length-bytes, delivery-limit (integers),
//              overflow (drop-head | reject-publish | reject-publish-dlx),
//              dead-letter-exchange, dead-letter-routing-key (strings)
//   exchanges: alternate-exchange (string)
// Precedence with the object's own x-arguments (RabbitMQ's rules): for message-ttl, expires,
// max-length, max-length-bytes and delivery-limit the lower value wins; for
// dead-letter-exchange, dead-letter-routing-key, overflow and alternate-exchange the argument
// wins. max-priority and single-active-consumer are not policy keys (as in RabbitMQ).
//
// Accepted with RabbitMQ's validation but without effect in Warren (so that definitions and
// policies written for RabbitMQ 3.10 load unchanged): max-in-memory-length,
// max-in-memory-bytes, queue-mode (Warren pages by itself), queue-version,
// max-segment-size, queue-leader-locator, initial-cluster-size, queue-master-locator and the
// classic mirroring keys ha-mode, ha-params, ha-sync-mode, ha-sync-batch-size,
// ha-promote-on-shutdown, ha-promote-on-failure (Warren is a single node).
// Streams (core/stream.h) read max-length-bytes, max-age and stream-max-segment-size-bytes,
// the lower value winning.
//
// Operator policies (RabbitMQ's, set by an administrator) take only expires, message-ttl,
// max-length, max-length-bytes, max-in-memory-length, max-in-memory-bytes and
// delivery-limit; a queue matched by both a policy and an operator policy gets the lower of
// the two values of each such key (RabbitMQ's merge_policy_value).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/name_pattern.h"
#include "core/error.h"
#include "core/fields.h"

namespace warren::core {

struct queue_features;

enum class policy_kind { regular, operator_policy };

struct policy {
    std::string name;
    std::string pattern;           // regular expression (RE2: Perl's syntax), searched in the name
    std::string apply_to = "all";  // queues | exchanges | all
    int priority = 0;
    field_table definition;  // key -> value (int64 / string)
};

// Ok if the policy is valid; else 406 with RabbitMQ's "Validation failed" text naming the
// problem.
result<void> validate_policy(const policy& p, policy_kind kind = policy_kind::regular);

// Applies a policy definition over features parsed from the queue's own arguments.
void merge_policy(queue_features& f, const field_table& args, const field_table& definition);

// The definition in effect for an object matched by policy `p` and operator policy `op`
// (either may be null): p's keys, with each operator-policy key taken as the lower value
// (RabbitMQ's effective_policy_definition).
field_table effective_definition(const policy* p, const policy* op);

// The policies of one vhost, with their compiled patterns.
class policy_set {
public:
    explicit policy_set(policy_kind kind = policy_kind::regular) : _kind(kind) {}
    // Adds or replaces (by name). 406-style error if invalid.
    result<void> set(policy p);
    const policy* find(std::string_view name) const;
    bool clear(std::string_view name);
    const policy* match_queue(std::string_view name) const;
    const policy* match_exchange(std::string_view name) const;
    std::vector<policy> list() const;
    bool empty() const { return _items.empty(); }

private:
    struct item {
        policy p;
        name_pattern re;
    };
    const policy* match(std::string_view name, bool queue) const;
    policy_kind _kind;
    std::vector<item> _items;
};

}  // namespace warren::core

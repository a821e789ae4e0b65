#pragma once
// Who may do what. A front end passes its connection's access (auth/user_access.h implements
// it with RabbitMQ's permission rules) to the vhost operations, which ask at the points where
// RabbitMQ's channel asks (rabbit_channel.erl), so refusals come in RabbitMQ's order among the
// other errors:
//   exchange.declare (not passive): configure on the exchange; a new one's alternate-exchange:
//     read on the exchange and write on the alternate;
//   queue.declare (not passive): configure on the queue (server-named: on the generated
//     amq.gen-* name); a new one's x-dead-letter-exchange: read on the queue, write on the DLX;
//   exchange.delete / queue.delete: configure;  queue.purge: read;
//   bind / unbind: write on the destination, read on the source, and on a topic exchange a
//     topic read on the routing key;
//   publish: write on the exchange, then on a topic exchange a topic write on the routing key;
//   basic.get / basic.consume: read on the queue (the front end asks, before looking it up).
// The default exchange "" is checked under the name amq.default, as RabbitMQ does.
// A null access (internal callers: recovery, dead-lettering, the management API acting as an
// administrator) allows everything.

#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace warren::core {

enum class permission : uint8_t { configure, write, read };
enum class resource_kind : uint8_t { queue, exchange, topic };

class access {
public:
    virtual ~access() = default;
    // ok, or 403 ACCESS_REFUSED "access to queue 'q' in vhost '/' refused for user 'u'".
    virtual result<void> check(permission p, resource_kind kind, std::string_view name) const = 0;
    // Topic exchanges only: ok, or 403 "access to topic 'key' in exchange 'x' in vhost '/'
    // refused for user 'u'".
    virtual result<void> check_topic(permission p, std::string_view exchange,
                                     std::string_view routing_key) const = 0;
};

inline result<void> check_access(const access* who, permission p, resource_kind kind,
                                 std::string_view name) {
    if (!who) return {};
    return who->check(p, kind, name);
}

}  // namespace warren::core

#pragma once
// Messages as the core sees them, and the two things a protocol front end plugs into a queue:
// a `delivery` (one message handed out by a queue) and a `consumer` (an AMQP basic.consume or
// a STOMP SUBSCRIBE). Everything here lives on the broker thread; nothing is locked.
//
// A message is built by the front end as `std::shared_ptr<message>`, filled in, then handed to
// `vhost::publish` as a `message_ptr` (shared_ptr<const message>). From then on it is immutable
// and shared: a fanout to N queues enqueues the same instance N times (one body, N refs).
//
//   auto m = std::make_shared<core::message>();
//   m->routing_key = "k"; m->body = "hello"; m->props.delivery_mode = 2;
//   auto r = vh->publish("amq.direct", m);   // r: number of queues reached, or an error

#include <cstdint>
#include <memory>
#include <string>

#include "core/fields.h"

namespace warren::core {

struct message {
    std::string exchange, routing_key;  // as published
    basic_properties props;             // decoded content properties
    std::string props_raw;              // AMQP wire form of props if the front end has it
                                        // (reused on delivery); empty = encode from props
    std::string body;
    mutable uint64_t id = 0;  // broker-unique, set by vhost::publish (if still 0)
    // Not to be delivered before the store is durable up to this seq (0: no wait): a message
    // whose deduplication key was written (core/dedup.h). Set by the router before enqueue.
    mutable uint64_t hold_seq = 0;

    bool persistent() const { return props.delivery_mode && *props.delivery_mode == 2; }
    // Body plus a rough fixed overhead; for memory accounting and max-length-bytes later.
    size_t size_bytes() const { return body.size(); }
};
using message_ptr = std::shared_ptr<const message>;

class queue;
using queue_ptr = std::shared_ptr<queue>;

// One message handed out by a queue (to a consumer or basic.get). The front end keeps it until
// ack/reject; `seq` identifies it in the queue (stable across redeliveries).
struct delivery {
    queue_ptr q;
    message_ptr msg;
    uint64_t seq = 0;
    bool redelivered = false;
};

// Implemented by protocol front ends. The queue holds a raw pointer from add_consumer until
// remove_consumer (or until it calls cancelled_by_broker, after which it forgets the consumer):
// the front end must call remove_consumer before destroying a consumer.
class consumer {
public:
    virtual ~consumer() = default;
    virtual bool can_accept() const = 0;     // credit (prefetch) left right now
    virtual void deliver(delivery d) = 0;    // called only when can_accept() was true
    virtual void cancelled_by_broker() = 0;  // queue deleted: tell the client (basic.cancel).
                                             // The queue has already dropped this consumer.
    std::string tag;
    int priority = 0;  // x-priority: higher first
    bool exclusive = false;
    bool no_ack = false;  // deliveries are settled on delivery (never become unacked)
    uint64_t connection_id = 0;
    field_table args;  // basic.consume arguments (a stream reads its x-stream-* ones)
};

// Broker-unique message ids (monotonic, starting at 1).
uint64_t next_message_id();
// The last id handed out (0 = none yet): unchanged between two readings = nothing published.
uint64_t last_message_id();
// Recovery: continue numbering above `last` (ids in the store must keep growing).
void advance_message_ids(uint64_t last);

}  // namespace warren::core

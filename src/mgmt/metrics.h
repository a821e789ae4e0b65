#pragma once
// Prometheus metrics on the HTTP listener, in the text exposition format 0.0.4, with
// RabbitMQ's prometheus plugin names where the metric exists there, so existing dashboards and
// alerts work:
//   GET /metrics             aggregated over the node (rabbitmq_queues,
//                            rabbitmq_queue_messages_ready, rabbitmq_connections,
//                            rabbitmq_global_messages_received_total, ...)
//   GET /metrics/per-object  the same, plus one series per queue (labels vhost, queue)
// and Warren's own warren_* series: the store's fsync latency histogram, group-commit appends
// and batches (their ratio is the mean batch size), bytes written, paged-out messages. No
// authentication, as RabbitMQ's plugin has none: bind the HTTP listener accordingly.
//
//   mgmt::metrics m(broker, durable_store);  // store may be null
//   m.install(http);
//
// Lives on the broker thread.

#include <string>

#include "core/broker.h"
#include "durability/broker_store.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

class metrics {
public:
    metrics(core::broker& b, const durability::broker_store* store) : _broker(b), _store(store) {}
    void install(http_server& http);
    // The exposition text (per_object: with the per-queue series).
    std::string render(bool per_object) const;

private:
    core::broker& _broker;
    const durability::broker_store* _store;
};

}  // namespace warren::mgmt

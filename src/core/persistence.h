#pragma once
// Durable storage as core sees it: three interfaces by job, handed to the broker together.
//   - message_log (core/message_log.h): persistent messages, page-out, settles;
//   - topology_store (core/topology_store.h): durable exchanges, queues, bindings; store ids;
//   - confirm_gate (core/confirm_gate.h): when a confirm / commit-ok / receipt may be sent.
// durability/ implements all three over store/ (durability/broker_store.h). Any may be null:
// then that job is not done (unit tests attach none).
//
//   b.set_storage({.log = &log, .topology = &topo, .confirms = &gate});

#include "core/confirm_gate.h"
#include "core/message_log.h"
#include "core/topology_store.h"

namespace warren::core {

struct storage {
    message_log* log = nullptr;
    topology_store* topology = nullptr;
    confirm_gate* confirms = nullptr;
};

// The front ends' name for the confirm gate (vhost::persist()). proto/ still spells it this way;
// new code says confirm_gate.
using persistence = confirm_gate;

}  // namespace warren::core

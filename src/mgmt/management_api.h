#pragma once
// The read and operate part of RabbitMQ's management HTTP API, on the HTTP listener, with
// RabbitMQ's paths, JSON field names, status codes and tag rules (rabbitmq_management 3.10):
//   GET /api/overview  /api/nodes[/{node}]  /api/extensions
//   GET /api/connections[/{name}]  DELETE /api/connections/{name}  (320 CONNECTION_FORCED
//       "Closed via management plugin", or the X-Reason header)
//   GET /api/connections/{name}/channels  /api/channels[/{name}]  /api/vhosts/{vhost}/connections
//   GET /api/vhosts/{vhost}/channels  /api/consumers[/{vhost}]
//   GET /api/exchanges[/{vhost}[/{name}]]  PUT|DELETE /api/exchanges/{vhost}/{name}
//   POST /api/exchanges/{vhost}/{name}/publish -> {"routed": bool}
//   GET /api/exchanges/{vhost}/{name}/bindings/source|destination
//   GET /api/queues[/{vhost}[/{name}]]  PUT|DELETE /api/queues/{vhost}/{name}
//   DELETE /api/queues/{vhost}/{name}/contents (purge)  POST .../get  GET .../bindings
//   POST .../actions
//   GET /api/bindings[/{vhost}]  GET|POST /api/bindings/{vhost}/e/{source}/q|e/{destination}
//   GET|DELETE /api/bindings/{vhost}/e/{source}/q|e/{destination}/{props}
//   GET /api/aliveness-test/{vhost}
//   GET /api/health/checks/{alarms,local-alarms,port-listener/{port},virtual-hosts,
//       node-is-quorum-critical}
// List endpoints take RabbitMQ's sort/page/name/columns parameters (list_query.h).
// Who sees what (RabbitMQ's rules): any management tag may log in; monitoring and administrator
// see every vhost, every connection and channel; other users see the vhosts they have a
// permission in, and only their own connections and channels. Operations run through
// core::vhost as the logged-in user (core/access.h permissions, durable topology saved as for
// AMQP), and core errors map to RabbitMQ's replies: 404 not found, 401 "Access refused.", 400
// with the AMQP explanation otherwise.
//
//   mgmt::management_api api(broker, authority);
//   api.set_listeners({{"amqp", "127.0.0.1", 5672}, ...});
//   api.install(http);
//
// Lives on the broker thread, like everything it touches.

#include <cstdint>
#include <string>
#include <vector>

#include "auth/authority.h"
#include "core/broker.h"
#include "mgmt/api_util.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

class list_query;
class rate_sampler;

class management_api {
public:
    struct listener {
        std::string protocol;  // RabbitMQ's names: amqp, amqp/ssl, stomp, stomp/ssl, http, https
        std::string ip_address;
        uint16_t port;
    };
    management_api(core::broker& b, auth::authority& a);
    void set_listeners(std::vector<listener> l) { _listeners = std::move(l); }
    // Message rates (*_details) come from `rates` (message_stats.h); null: counters only.
    void set_rates(const class rate_sampler* rates) { _rates = rates; }
    void install(http_server& http);

    // "warren@<hostname>": RabbitMQ's node name field.
    const std::string& node_name() const { return _node; }

private:
    using handler_fn = response (management_api::*)(const call&, const auth::user&);
    void add(http_server& http, const char* method, const char* pattern, tag_level level,
             handler_fn fn);

    response overview(const call& c, const auth::user& me);
    response nodes(const call& c, const auth::user& me);
    response node(const call& c, const auth::user& me);
    response extensions(const call& c, const auth::user& me);
    response connections(const call& c, const auth::user& me);
    response connection(const call& c, const auth::user& me);
    response close_connection(const call& c, const auth::user& me);
    response connection_channels(const call& c, const auth::user& me);
    response channels(const call& c, const auth::user& me);
    response channel(const call& c, const auth::user& me);
    response consumers(const call& c, const auth::user& me);
    response exchanges(const call& c, const auth::user& me);
    response exchange(const call& c, const auth::user& me);
    response put_exchange(const call& c, const auth::user& me);
    response delete_exchange(const call& c, const auth::user& me);
    response publish(const call& c, const auth::user& me);
    response exchange_bindings(const call& c, const auth::user& me);
    response queues(const call& c, const auth::user& me);
    response queue(const call& c, const auth::user& me);
    response put_queue(const call& c, const auth::user& me);
    response delete_queue(const call& c, const auth::user& me);
    response purge_queue(const call& c, const auth::user& me);
    response get_messages(const call& c, const auth::user& me);
    response queue_bindings(const call& c, const auth::user& me);
    response queue_actions(const call& c, const auth::user& me);
    response bindings(const call& c, const auth::user& me);
    response bindings_between(const call& c, const auth::user& me);
    response create_binding(const call& c, const auth::user& me);
    response binding(const call& c, const auth::user& me);
    response delete_binding(const call& c, const auth::user& me);
    response aliveness(const call& c, const auth::user& me);
    response health_ok(const call& c, const auth::user& me);
    // GET /api/definitions[/{vhost}]: RabbitMQ's definitions export (import:
    // definitions_import.h).
    response definitions(const call& c, const auth::user& me);
    response health_alarms(const call& c, const auth::user& me);
    response health_port(const call& c, const auth::user& me);
    response health_vhosts(const call& c, const auth::user& me);

    // The vhosts `me` may see (all for monitoring/administrator).
    bool sees_vhost(const auth::user& me, std::string_view vhost) const;
    // The vhost named by {vhost}, if it exists and `me` may use it (read_only: may see it);
    // else the reply in `out` (404 vhost_not_found, 401).
    core::vhost* vhost_for(const call& c, const auth::user& me, response& out,
                           bool read_only = false);

    core::broker& _broker;
    auth::authority& _auth;
    api_login _login;
    std::vector<listener> _listeners;
    const rate_sampler* _rates = nullptr;
    std::string _node;
    uint64_t _started_ms;
};

}  // namespace warren::mgmt

#pragma once
// The access part of RabbitMQ's management HTTP API, on the HTTP listener: users, vhosts,
// permissions, topic permissions and limits, with RabbitMQ's paths, methods, status codes, JSON
// field names and error bodies ({"error": ..., "reason": ...}), so rabbitmqadmin, curl scripts
// and client libraries' admin helpers work unchanged:
//   GET /api/whoami
//   GET /api/users                  GET|PUT|DELETE /api/users/{name}   POST /api/users/bulk-delete
//   GET /api/vhosts                 GET|PUT|DELETE /api/vhosts/{vhost}
//   GET /api/permissions            GET|PUT|DELETE /api/permissions/{vhost}/{user}
//   GET /api/topic-permissions      GET|PUT|DELETE /api/topic-permissions/{vhost}/{user}
//   GET /api/vhost-limits[/{vhost}] PUT|DELETE
//   /api/vhost-limits/{vhost}/{max-connections|max-queues} GET /api/user-limits[/{user}] PUT|DELETE
//   /api/user-limits/{user}/{max-connections|max-channels}
// HTTP basic auth against the broker's users: whoami needs any management tag (management,
// policymaker, monitoring, administrator), everything else `administrator`. Each change is
// applied at once (a deleted vhost's connections get 320 CONNECTION_FORCED "vhost 'v' is
// deleted") and saved in the metadata log before the reply. Path segments are URL-decoded
// ("%2F" is the vhost "/"). The rest of the management API is issue #14.
//
//   mgmt::access_api api(broker, authority, &durable->topology());
//   api.install(http);
//
// Lives on the broker thread, like everything it touches.

#include "auth/authority.h"
#include "core/broker.h"
#include "durability/topology.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

class access_api {
public:
    // `saver` null: changes are not saved (tests without a data dir).
    access_api(core::broker& b, auth::authority& a, durability::topology_saver* saver);
    void install(http_server& http);

    // The operations, for the API and for tests. Errors are {status, reason}.
    struct failure {
        http::status status;
        std::string reason;
    };
    using outcome = basic_result<void, failure>;
    // created: true if the vhost is new (201), false if it existed (204).
    basic_result<bool, failure> put_vhost(const std::string& name);
    outcome delete_vhost(const std::string& name);

private:
    response handle(const request& req);
    // Authenticates the request; null and `out` set to the 401 otherwise.
    const auth::user* login(const request& req, response& out);
    bool save_access();

    core::broker& _broker;
    auth::authority& _auth;
    durability::topology_saver* _saver;
};

}  // namespace warren::mgmt

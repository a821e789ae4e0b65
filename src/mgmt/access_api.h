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
// HTTP basic auth against the broker's users: whoami and GET of vhosts need any management tag
// (management, policymaker, monitoring, administrator; a user without monitoring sees the
// vhosts it has a permission in), everything else `administrator`. Lists take RabbitMQ's
// sort/page/name/columns parameters (list_query.h). Each change is
// applied at once (a deleted vhost's connections get 320 CONNECTION_FORCED "vhost 'v' is
// deleted") and saved in the metadata log before the reply. Path segments are URL-decoded
// ("%2F" is the vhost "/"). The rest of the management API: management_api.h.
//
//   mgmt::access_api api(broker, authority, &durable->topology());
//   api.install(http);
//
// Lives on the broker thread, like everything it touches.

#include "auth/authority.h"
#include "core/broker.h"
#include "durability/topology.h"
#include "mgmt/api_util.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

class rate_sampler;

class access_api {
public:
    // `saver` null: changes are not saved (tests without a data dir).
    access_api(core::broker& b, auth::authority& a, durability::topology_saver* saver);
    void install(http_server& http);
    // Vhosts' message rates come from `rates` (message_stats.h); null: counters only.
    void set_rates(const class rate_sampler* rates) { _rates = rates; }

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
    using handler_fn = response (access_api::*)(const call&, const auth::user&);
    // Registers `fn` behind HTTP basic auth requiring `level`.
    void add(http_server& http, const char* method, const char* pattern, tag_level level,
             handler_fn fn);
    response get_whoami(const call& c, const auth::user& me);
    response list_users(const call& c, const auth::user& me);
    response bulk_delete_users(const call& c, const auth::user& me);
    response get_user(const call& c, const auth::user& me);
    response put_user(const call& c, const auth::user& me);
    response delete_user(const call& c, const auth::user& me);
    response list_vhosts(const call& c, const auth::user& me);
    response get_vhost(const call& c, const auth::user& me);
    response put_vhost_call(const call& c, const auth::user& me);
    response delete_vhost_call(const call& c, const auth::user& me);
    // /api/permissions and /api/topic-permissions (told apart by the path).
    response list_permissions(const call& c, const auth::user& me);
    response get_permissions(const call& c, const auth::user& me);
    response put_permissions(const call& c, const auth::user& me);
    response delete_permissions(const call& c, const auth::user& me);
    // /api/vhost-limits and /api/user-limits (told apart by the path); DELETE = PUT of -1.
    response list_limits(const call& c, const auth::user& me);
    response set_limit(const call& c, const auth::user& me);
    bool save_access();

    core::broker& _broker;
    auth::authority& _auth;
    durability::topology_saver* _saver;
    api_login _login;
    const rate_sampler* _rates = nullptr;
};

}  // namespace warren::mgmt

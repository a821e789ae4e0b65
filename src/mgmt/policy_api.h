#pragma once
// Policies, operator policies and runtime parameters in RabbitMQ's management HTTP API
// (rabbitmq_management 3.10 paths, bodies, status codes and tag rules):
//   GET /api/policies[/{vhost}]             GET|PUT|DELETE /api/policies/{vhost}/{name}
//   GET /api/operator-policies[/{vhost}]    GET|PUT|DELETE /api/operator-policies/{vhost}/{name}
//   GET /api/parameters[/{component}[/{vhost}[/{name}]]]  PUT|DELETE .../{component}/{vhost}/{name}
//   GET /api/global-parameters[/{name}]
// A policy body is {"pattern", "definition", "priority" (default 0), "apply-to" (default
// "all")}; PUT answers 201 for a new policy, 204 for a replaced one; an invalid one 400 with
// RabbitMQ's "Validation failed" reason. Policies need the policymaker (or administrator) tag
// and access to the vhost; operator policies need administrator. A change applies to existing
// queues and exchanges at once and is saved in the metadata log before the reply
// (core::vhost::set_policy).
//
// Runtime parameters: RabbitMQ keeps operator policies (component "operator_policy") and vhost
// limits (component "vhost-limits", name "limits") as parameters, and its definitions files
// carry them so: both are served and set here. Warren has none of the plugins that own other
// components (shovel, federation): a PUT of one is refused as RabbitMQ refuses an unknown
// component. Global parameters: cluster_name (read only).
//
//   mgmt::policy_api api(broker, authority);
//   api.install(http);
//
// Broker thread.

#include <string>

#include "auth/authority.h"
#include "core/broker.h"
#include "mgmt/api_util.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

// The runtime parameters Warren keeps for `vh` (operator_policy, vhost-limits), of one
// component or all (""), as /api/parameters and definitions exports show them.
json runtime_parameters(const core::vhost& vh, const std::string& component);

class policy_api {
public:
    policy_api(core::broker& b, auth::authority& a, std::string node);
    void install(http_server& http);

private:
    using handler_fn = response (policy_api::*)(const call&, const auth::user&);
    void add(http_server& http, const char* method, const char* pattern, tag_level level,
             handler_fn fn);
    // /api/policies and /api/operator-policies (told apart by the path).
    response list_policies(const call& c, const auth::user& me);
    response get_policy(const call& c, const auth::user& me);
    response put_policy(const call& c, const auth::user& me);
    response delete_policy(const call& c, const auth::user& me);
    response list_parameters(const call& c, const auth::user& me);
    response put_parameter(const call& c, const auth::user& me);
    response delete_parameter(const call& c, const auth::user& me);
    response global_parameters(const call& c, const auth::user& me);
    struct failure {
        http::status status;
        std::string reason;
    };
    // Sets a policy or operator policy from a RabbitMQ body {"pattern", "definition",
    // "priority", "apply-to"}: true if it is new. Reasons carry RabbitMQ's texts.
    basic_result<bool, failure> set_policy(core::vhost& vh, const std::string& name,
                                           const json& body, bool op);
    // The vhost of the path, if it exists and `me` may use it; else the reply in `out`.
    core::vhost* vhost_for(const call& c, const auth::user& me, response& out);
    bool sees(const auth::user& me, const core::vhost& vh) const;

    core::broker& _broker;
    auth::authority& _auth;
    api_login _login;
    std::string _node;
};

}  // namespace warren::mgmt

#pragma once
// POST /api/definitions and POST /api/definitions/{vhost}: RabbitMQ's definitions import
// (rabbitmqadmin import, the UI's upload, files exported from RabbitMQ 3.x or from Warren).
//
// Each object of the file is applied by calling the API's own handler for it, in RabbitMQ's
// order (users, vhosts, permissions, topic permissions, parameters, policies, queues,
// exchanges, bindings): PUT /api/users/{name}, PUT /api/vhosts/{name} (+ its "limits"),
// PUT /api/permissions/..., PUT /api/topic-permissions/..., PUT /api/parameters/...,
// PUT /api/policies/..., PUT /api/queues/..., PUT /api/exchanges/...,
// POST /api/bindings/{vhost}/e/{source}/q|e/{destination}. So an import validates, checks
// permissions and saves durably exactly as the same calls made one by one would, with the
// importing user's credentials. Like RabbitMQ's, an import adds and updates, never deletes, and
// stops at the first object refused: 400 {"error":"bad_request","reason":"<object>: <why>"}
// (what came before it stays applied). Success: 204. global_parameters are skipped (Warren's
// only one, cluster_name, is the node name).
//
// The per-vhost form imports only policies, parameters, queues, exchanges and bindings, all
// into {vhost} whatever their "vhost" field says (RabbitMQ's behaviour).
//
// Needs the administrator tag. Broker thread.

#include "auth/authority.h"
#include "core/broker.h"
#include "mgmt/api_util.h"
#include "mgmt/http_server.h"

namespace warren::mgmt {

class definitions_import {
public:
    definitions_import(core::broker& b, auth::authority& a) : _broker(b), _login(b, a) {}
    // Registers the two POST routes; the objects are applied through `http`'s routes.
    void install(http_server& http);

private:
    response import(const call& c, const auth::user& me);

    core::broker& _broker;
    api_login _login;
    http_server* _http = nullptr;
};

}  // namespace warren::mgmt

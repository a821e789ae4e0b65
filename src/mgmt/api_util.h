#pragma once
// What every management API handler shares: RabbitMQ's reply shapes (JSON, 204, the error body
// {"error": ..., "reason": ...}), request bodies, and HTTP basic auth against the broker's users
// with RabbitMQ's tag rules and the failed-login back-off (auth/login_throttle.h) that AMQP and
// STOMP logins share.
//
//   api_login login(broker, authority);
//   response denied;
//   const auth::user* me = login.check(c, denied, tag_level::management);
//   if (!me) return denied;
//
// Broker thread only.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "auth/authority.h"
#include "core/broker.h"
#include "mgmt/http_server.h"
#include "mgmt/router.h"

namespace warren::mgmt {

using json = nlohmann::json;

response reply(const request& req, http::status s, const json& body);
response no_content(const request& req, http::status s = http::status::no_content);
response error_reply(const request& req, http::status s, std::string_view error,
                     std::string_view reason);
// RabbitMQ's 404: {"error":"Object Not Found","reason":"Not Found"}.
response not_found(const request& req);
response bad_request(const request& req, std::string_view reason);
// The change is applied but its record could not be written (the metadata log failed).
response save_failed(const request& req);
// 401 {"error":"not_authorised","reason":...}.
response not_authorised(const request& req, std::string_view reason);

// The body as a JSON object ({} if empty or "null"); nullopt if it is not one.
std::optional<json> parse_body(const request& req);
// RabbitMQ's reason for a body that is not a JSON object.
constexpr std::string_view not_json = "not_json";
std::string str_field(const json& j, const char* key, std::string fallback = {});
// A user as /api/users and definitions exports show it (name, password_hash,
// hashing_algorithm, tags, limits).
json user_json(const auth::user& u);
// AMQP field tables and values as RabbitMQ's management API shows them (arguments, headers,
// policy definitions).
json table_json(const core::field_table& t);
json field_json(const core::field_value& f);
// The header definitions_import sets on the API calls it makes for a file's objects.
constexpr const char* import_marker = "x-warren-definitions-import";
// RabbitMQ's loose booleans: true, "true".
bool bool_field(const json& j, const char* key, bool fallback = false);

// RabbitMQ's management tags, from least to most.
enum class tag_level { none, management, policymaker, monitoring, administrator };
bool user_has(const auth::user& u, tag_level level);
bool is_monitor(const auth::user& u);  // monitoring or administrator: sees every vhost
bool is_management_tag(std::string_view t);

class api_login {
public:
    api_login(core::broker& b, auth::authority& a) : _broker(b), _auth(a) {}
    // Authenticates the request (HTTP basic auth) and checks the tag `level`; null and `out`
    // set to the 401 otherwise. A failed password counts towards the peer's login back-off;
    // during a lock-out every login from that host is refused without looking at the password.
    const auth::user* check(const call& c, response& out, tag_level level);
    auth::authority& authority() { return _auth; }

private:
    core::broker& _broker;
    auth::authority& _auth;
};

// Registers `fn`, a member handler of `api`, at `method` + `pattern` behind HTTP basic auth
// requiring `level` (the handler gets the logged-in user). Every API class registers this way.
template <typename Api>
void add_route(http_server& http, api_login& login, Api* api, const char* method,
               const char* pattern, tag_level level,
               response (Api::*fn)(const call&, const auth::user&)) {
    http.routes().add(method, pattern, [&login, api, level, fn](const call& c) {
        response denied;
        const auth::user* me = login.check(c, denied, level);
        if (!me) return denied;
        return (api->*fn)(c, *me);
    });
}

}  // namespace warren::mgmt

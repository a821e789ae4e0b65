#pragma once
// Everything the front ends ask when a client logs in and acts: the users with their
// permissions and limits (user_db.h), and the failed-login back-off (login_throttle.h). One
// per process, owned by warrend's run() next to core::broker; the broker thread only.
//
//   auth::authority a;
//   a.users.put_user("guest", auth::hash_password("guest"), {"administrator"});
//   amqp::server amqp(io, broker, a, settings);

#include <string>
#include <string_view>

#include "auth/login_throttle.h"
#include "auth/password.h"
#include "auth/user_db.h"

namespace warren::auth {

struct authority {
    user_db users;
    login_throttle logins;

    // RabbitMQ's first start: the default user, an administrator, with every permission on
    // the default vhost (warrend does this only on a fresh data dir).
    void seed_default_user(std::string_view name, std::string_view password,
                           std::string_view vhost) {
        users.put_user(std::string(name), hash_password(password), {"administrator"});
        (void)users.set_permissions(name, vhost, {".*", ".*", ".*"});
    }
};

}  // namespace warren::auth

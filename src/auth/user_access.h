#pragma once
// core::access (core/access.h) for one connection: a user in a vhost, checked against the
// user_db with RabbitMQ's rules. Front ends make one at login and pass it to every vhost
// operation. The default exchange "" is checked, and refused, as "amq.default".
//
//   auth::user_access who(db, "alice", "/");
//   vh.declare_queue(d, conn_id, &who);   // 403 "access to queue 'q' in vhost '/' refused ..."
//
// Cost: the user's permission set is looked up once per user_db generation, not per check;
// ".*" grants skip the regex; the last few allowed names are remembered (publishing to the
// same exchange again costs a string compare). A change to the user's permissions bumps the
// generation, so it applies to open connections at once (RabbitMQ caches per channel until
// the channel closes). Broker thread only; must not outlive the user_db.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/user_db.h"
#include "core/access.h"

namespace warren::auth {

class user_access final : public core::access {
public:
    user_access(const user_db& db, std::string user, std::string vhost);

    core::result<void> check(core::permission p, core::resource_kind kind,
                             std::string_view name) const override;
    core::result<void> check_topic(core::permission p, std::string_view exchange,
                                   std::string_view routing_key) const override;

    const std::string& user() const { return _user; }
    const std::string& vhost() const { return _vhost; }

private:
    void refresh() const;

    struct cached {
        core::permission p{};
        core::resource_kind kind{};
        std::string name;
        bool used = false;
    };
    const user_db& _db;
    std::string _user, _vhost;
    mutable uint64_t _generation = 0;
    mutable const permission_set* _perms = nullptr;
    mutable bool _topics = false;
    mutable std::array<cached, 8> _allowed;
    mutable size_t _next = 0;
};

}  // namespace warren::auth

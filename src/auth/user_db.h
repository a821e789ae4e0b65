#pragma once
// The broker's users and what each may do: users (password hash, tags), per-vhost permissions
// and topic permissions, with RabbitMQ's rules for logging in and for refusals. In memory; the
// durability layer saves and replays it (users, permissions and limits survive restarts).
//
//   auth::user_db db;
//   db.put_user("alice", auth::hash_password("pw"), {"management"});
//   db.set_permissions("alice", "/", {".*", ".*", ".*"});
//   auto u = db.authenticate("alice", "pw");               // result<const user*>
//   auto ok = db.check("alice", "/", auth::permission::write, auth::resource_kind::exchange, "x");
//
// Lives on the broker thread; not thread-safe.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/password.h"
#include "auth/permissions.h"
#include "core/error.h"

namespace warren::auth {

struct user {
    std::string name;
    password_hash password;         // empty: certificate (EXTERNAL) login only
    std::vector<std::string> tags;  // administrator, monitoring, management, policymaker
    bool has_tag(std::string_view t) const;
};

class user_db {
public:
    // Creates or replaces (keeps the user's permissions).
    void put_user(std::string name, password_hash h, std::vector<std::string> tags = {});
    // Removes the user and every permission of theirs. False if there was none.
    bool delete_user(std::string_view name);
    const user* find(std::string_view name) const;
    const std::map<std::string, user, std::less<>>& users() const { return _users; }

    // Password login. The refusal names no reason (RabbitMQ logs it, the client learns nothing).
    core::result<const user*> authenticate(std::string_view name, std::string_view password) const;

    core::result<void> set_permissions(std::string_view user, std::string_view vhost,
                                       permission_patterns p);
    void clear_permissions(std::string_view user, std::string_view vhost);
    const permission_set* permissions(std::string_view user, std::string_view vhost) const;
    // Has the user any permission on the vhost (RabbitMQ's vhost access check at open)?
    bool may_access(std::string_view user, std::string_view vhost) const;

    core::result<void> set_topic_permission(std::string_view user, std::string_view vhost,
                                            std::string exchange, std::string write,
                                            std::string read);
    void clear_topic_permissions(std::string_view user, std::string_view vhost,
                                 std::string_view exchange = {});
    // Forgets every permission on a deleted vhost.
    void vhost_deleted(std::string_view vhost);

    // 403 with RabbitMQ's text unless the user's pattern allows `name`.
    core::result<void> check(std::string_view user, std::string_view vhost, permission p,
                             resource_kind kind, std::string_view name) const;
    // Topic exchanges: allowed unless a topic permission for this exchange refuses the key.
    core::result<void> check_topic(std::string_view user, std::string_view vhost, permission p,
                                   std::string_view exchange, std::string_view routing_key) const;

    // Listing for definitions export and the management API.
    struct permission_entry {
        std::string user, vhost;
        permission_patterns patterns;
    };
    std::vector<permission_entry> all_permissions() const;
    struct topic_entry {
        std::string user, vhost, exchange, write, read;
    };
    std::vector<topic_entry> all_topic_permissions() const;

private:
    using key = std::pair<std::string, std::string>;  // user, vhost
    std::map<std::string, user, std::less<>> _users;
    std::map<key, permission_set> _perms;
    std::map<key, std::vector<topic_permission>> _topics;
};

}  // namespace warren::auth

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

#include <cstdint>
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

// RabbitMQ's per-user limits; -1 = none.
struct user_limits {
    int64_t max_connections = -1;
    int64_t max_channels = -1;
    bool operator==(const user_limits&) const = default;
};

struct user {
    std::string name;
    password_hash password;         // empty: certificate (EXTERNAL) login only
    std::vector<std::string> tags;  // administrator, monitoring, management, policymaker
    user_limits limits;
    bool has_tag(std::string_view t) const;
};

// "127.0.0.1:5672", "[::1]:5672", "::ffff:127.0.0.1" (optionally labelled "tls:", "ws:",
// "wss:"): is the peer on this host?
bool is_loopback_peer(std::string_view address);

class user_db {
public:
    // Creates or replaces (keeps the user's permissions and limits).
    void put_user(std::string name, password_hash h, std::vector<std::string> tags = {});
    // Removes the user and every permission of theirs. False if there was none.
    bool delete_user(std::string_view name);
    const user* find(std::string_view name) const;
    const std::map<std::string, user, std::less<>>& users() const { return _users; }

    // Password login. The refusal names no reason (RabbitMQ logs it, the client learns nothing).
    core::result<const user*> authenticate(std::string_view name, std::string_view password) const;

    // RabbitMQ's loopback_users (default: guest): these may log in only from this host.
    void set_loopback_users(std::vector<std::string> names) { _loopback = std::move(names); }
    const std::vector<std::string>& loopback_users() const { return _loopback; }
    // False if `name` is a loopback-only user and `peer_address` is not local.
    bool may_connect_from(std::string_view name, std::string_view peer_address) const;

    // Per-user limits (false: no such user).
    bool set_limits(std::string_view name, user_limits l);

    // Connections and channels open per user, for the limits (front ends count them).
    void connection_opened(std::string_view name) { ++_open[std::string(name)].connections; }
    void connection_closed(std::string_view name);
    void channel_opened(std::string_view name) { ++_open[std::string(name)].channels; }
    void channel_closed(std::string_view name);
    uint64_t connections(std::string_view name) const;
    uint64_t channels(std::string_view name) const;
    // Would one more connection / channel pass the user's limit? (the limit, if so)
    std::optional<int64_t> connection_limit_reached(std::string_view name) const;
    std::optional<int64_t> channel_limit_reached(std::string_view name) const;

    // Bumped by every change to users, permissions or limits: checks cached per connection
    // (user_access.h) are taken again, so a change applies at once, to open connections too.
    uint64_t generation() const { return _generation; }

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
    bool has_topic_permissions(std::string_view user, std::string_view vhost) const {
        return _topics.count(key(user, vhost)) > 0;
    }
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
    struct open_counts {
        uint64_t connections = 0, channels = 0;
    };
    uint64_t _generation = 1;
    std::vector<std::string> _loopback{"guest"};
    std::map<std::string, open_counts, std::less<>> _open;
    std::map<std::string, user, std::less<>> _users;
    std::map<key, permission_set> _perms;
    std::map<key, std::vector<topic_permission>> _topics;
};

}  // namespace warren::auth

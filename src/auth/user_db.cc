#include "auth/user_db.h"

#include "auth/login_throttle.h"

#include <algorithm>

namespace warren::auth {

bool user::has_tag(std::string_view t) const {
    return std::find(tags.begin(), tags.end(), t) != tags.end();
}

bool is_loopback_peer(std::string_view a) {
    std::string host = login_throttle::host_of(a);
    std::string_view h = host;
    if (h.starts_with("::ffff:")) h.remove_prefix(7);  // IPv4-mapped
    return h.starts_with("127.") || h == "::1" || h == "localhost";
}

void user_db::put_user(std::string name, password_hash h, std::vector<std::string> tags) {
    ++_generation;
    auto it = _users.find(name);
    if (it != _users.end()) {
        it->second.password = std::move(h);
        it->second.tags = std::move(tags);
        return;
    }
    user u{name, std::move(h), std::move(tags), {}};
    _users.emplace(std::move(name), std::move(u));
}

bool user_db::may_connect_from(std::string_view name, std::string_view peer_address) const {
    if (std::find(_loopback.begin(), _loopback.end(), name) == _loopback.end()) return true;
    return is_loopback_peer(peer_address);
}

bool user_db::set_limits(std::string_view name, user_limits l) {
    auto it = _users.find(name);
    if (it == _users.end()) return false;
    ++_generation;
    it->second.limits = l;
    return true;
}

void user_db::connection_closed(std::string_view name) {
    auto it = _open.find(name);
    if (it == _open.end()) return;
    if (it->second.connections > 0) --it->second.connections;
    if (it->second.connections == 0 && it->second.channels == 0) _open.erase(it);
}

void user_db::channel_closed(std::string_view name) {
    auto it = _open.find(name);
    if (it == _open.end()) return;
    if (it->second.channels > 0) --it->second.channels;
    if (it->second.connections == 0 && it->second.channels == 0) _open.erase(it);
}

std::optional<int64_t> user_db::connection_limit_reached(std::string_view name) const {
    const user* u = find(name);
    if (!u || u->limits.max_connections < 0) return std::nullopt;
    if (connections(name) < uint64_t(u->limits.max_connections)) return std::nullopt;
    return u->limits.max_connections;
}

std::optional<int64_t> user_db::channel_limit_reached(std::string_view name) const {
    const user* u = find(name);
    if (!u || u->limits.max_channels < 0) return std::nullopt;
    if (channels(name) < uint64_t(u->limits.max_channels)) return std::nullopt;
    return u->limits.max_channels;
}

uint64_t user_db::connections(std::string_view name) const {
    auto it = _open.find(name);
    return it == _open.end() ? 0 : it->second.connections;
}

uint64_t user_db::channels(std::string_view name) const {
    auto it = _open.find(name);
    return it == _open.end() ? 0 : it->second.channels;
}

bool user_db::delete_user(std::string_view name) {
    auto it = _users.find(name);
    if (it == _users.end()) return false;
    ++_generation;
    _users.erase(it);
    std::erase_if(_perms, [&](const auto& kv) { return kv.first.first == name; });
    std::erase_if(_topics, [&](const auto& kv) { return kv.first.first == name; });
    return true;
}

const user* user_db::find(std::string_view name) const {
    auto it = _users.find(name);
    return it == _users.end() ? nullptr : &it->second;
}

core::result<const user*> user_db::authenticate(std::string_view name,
                                                std::string_view password) const {
    const user* u = find(name);
    // Hash even for an unknown user, so the answer takes the same time either way.
    static const password_hash dummy = hash_password("no such user");
    bool ok = verify_password(u ? u->password : dummy, password) && u != nullptr;
    if (!ok)
        return core::error{core::reply_code::access_refused,
                           "invalid credentials for user '" + std::string(name) + "'",
                           "user '" + std::string(name) + "'"};
    return u;
}

core::result<void> user_db::set_permissions(std::string_view user, std::string_view vhost,
                                            permission_patterns p) {
    auto s = permission_set::compile(std::move(p));
    if (!s) return s.error();
    ++_generation;
    _perms.insert_or_assign(key(user, vhost), std::move(*s));
    return {};
}

void user_db::clear_permissions(std::string_view user, std::string_view vhost) {
    ++_generation;
    _perms.erase(key(user, vhost));
}

const permission_set* user_db::permissions(std::string_view user, std::string_view vhost) const {
    auto it = _perms.find(key(user, vhost));
    return it == _perms.end() ? nullptr : &it->second;
}

bool user_db::may_access(std::string_view user, std::string_view vhost) const {
    return permissions(user, vhost) != nullptr;
}

core::result<void> user_db::set_topic_permission(std::string_view user, std::string_view vhost,
                                                 std::string exchange, std::string write,
                                                 std::string read) {
    auto t = topic_permission::compile(exchange, std::move(write), std::move(read), user, vhost);
    if (!t) return t.error();
    ++_generation;
    auto& list = _topics[key(user, vhost)];
    std::erase_if(list, [&](const topic_permission& e) { return e.exchange() == exchange; });
    list.push_back(std::move(*t));
    return {};
}

void user_db::clear_topic_permissions(std::string_view user, std::string_view vhost,
                                      std::string_view exchange) {
    ++_generation;
    auto it = _topics.find(key(user, vhost));
    if (it == _topics.end()) return;
    if (exchange.empty()) {
        _topics.erase(it);
        return;
    }
    std::erase_if(it->second, [&](const topic_permission& e) { return e.exchange() == exchange; });
}

void user_db::vhost_deleted(std::string_view vhost) {
    ++_generation;
    std::erase_if(_perms, [&](const auto& kv) { return kv.first.second == vhost; });
    std::erase_if(_topics, [&](const auto& kv) { return kv.first.second == vhost; });
}

core::result<void> user_db::check(std::string_view user, std::string_view vhost, permission p,
                                  resource_kind kind, std::string_view name) const {
    const permission_set* s = permissions(user, vhost);
    if (s && s->allows(p, name)) return {};
    return refused(kind, name, vhost, user);
}

core::result<void> user_db::check_topic(std::string_view user, std::string_view vhost, permission p,
                                        std::string_view exchange,
                                        std::string_view routing_key) const {
    auto it = _topics.find(key(user, vhost));
    if (it == _topics.end()) return {};  // no topic permissions: everything is allowed
    for (const auto& t : it->second)
        if (t.exchange() == exchange && !t.allows(p, routing_key))
            return topic_refused(routing_key, exchange, vhost, user);
    return {};
}

std::vector<user_db::permission_entry> user_db::all_permissions() const {
    std::vector<permission_entry> out;
    for (const auto& [k, s] : _perms) out.push_back({k.first, k.second, s.patterns()});
    return out;
}

std::vector<user_db::topic_entry> user_db::all_topic_permissions() const {
    std::vector<topic_entry> out;
    for (const auto& [k, list] : _topics)
        for (const auto& t : list)
            out.push_back({k.first, k.second, t.exchange(), t.write_pattern(), t.read_pattern()});
    return out;
}

}  // namespace warren::auth

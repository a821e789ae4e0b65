#include "durability/access.h"

#include <algorithm>
#include <tuple>

#include "base/log.h"

namespace warren::durability {

namespace {

using change = store::topology_change;

// Walks two sorted lists: `del` for what only `before` has, `put` for what is new or changed.
template <typename T, typename Key, typename Put, typename Del>
void diff_sorted(const std::vector<T>& before, const std::vector<T>& after, Key key, Put put,
                 Del del) {
    size_t i = 0, j = 0;
    while (i < before.size() || j < after.size()) {
        if (j == after.size() || (i < before.size() && key(before[i]) < key(after[j]))) {
            del(before[i++]);
        } else if (i == before.size() || key(after[j]) < key(before[i])) {
            put(after[j++]);
        } else {
            if (!(before[i] == after[j])) put(after[j]);
            ++i;
            ++j;
        }
    }
}

auto user_key = [](const store::user_def& u) { return std::tie(u.name); };
auto perm_key = [](const store::permission_def& p) { return std::tie(p.user, p.vhost); };
auto topic_key = [](const store::topic_permission_def& p) {
    return std::tie(p.user, p.vhost, p.exchange);
};

}  // namespace

void capture_access(const auth::user_db& db, store::topology& t) {
    t.users.clear();
    t.permissions.clear();
    t.topic_permissions.clear();
    for (const auto& [name, u] : db.users()) {
        store::user_def d;
        d.name = name;
        d.password_hash = u.password.base64();
        d.hashing_algorithm = std::string(auth::algorithm_name(u.password.algorithm));
        d.tags = u.tags;
        d.max_connections = u.limits.max_connections;
        d.max_channels = u.limits.max_channels;
        t.users.push_back(std::move(d));
    }
    for (const auto& p : db.all_permissions())
        t.permissions.push_back(store::permission_def{p.user, p.vhost, p.patterns.configure,
                                                      p.patterns.write, p.patterns.read});
    for (const auto& p : db.all_topic_permissions())
        t.topic_permissions.push_back(
            store::topic_permission_def{p.user, p.vhost, p.exchange, p.write, p.read});
    std::sort(t.users.begin(), t.users.end(),
              [](auto& a, auto& b) { return user_key(a) < user_key(b); });
    std::sort(t.permissions.begin(), t.permissions.end(),
              [](auto& a, auto& b) { return perm_key(a) < perm_key(b); });
    std::sort(t.topic_permissions.begin(), t.topic_permissions.end(),
              [](auto& a, auto& b) { return topic_key(a) < topic_key(b); });
}

void load_access(auth::user_db& db, const store::topology& t) {
    std::vector<std::string> old;
    for (const auto& [name, u] : db.users()) old.push_back(name);
    for (const auto& name : old) db.delete_user(name);
    for (const auto& p : db.all_permissions()) db.clear_permissions(p.user, p.vhost);
    for (const auto& p : db.all_topic_permissions())
        db.clear_topic_permissions(p.user, p.vhost, p.exchange);
    for (const auto& u : t.users) {
        auth::password_hash h;
        if (!u.password_hash.empty()) {
            auto parsed = auth::password_hash::parse(u.password_hash, u.hashing_algorithm);
            if (parsed)
                h = std::move(*parsed);
            else
                WLOG_ERROR(
                    "user '{}': stored password hash does not parse ({}); the user can "
                    "log in by certificate only",
                    u.name, u.hashing_algorithm);
        }
        db.put_user(u.name, std::move(h), u.tags);
        db.set_limits(u.name, {u.max_connections, u.max_channels});
    }
    for (const auto& p : t.permissions)
        if (auto r = db.set_permissions(p.user, p.vhost, {p.configure, p.write, p.read}); !r)
            WLOG_ERROR("permissions of '{}' on vhost '{}' not loaded: {}", p.user, p.vhost,
                       r.error().text);
    for (const auto& p : t.topic_permissions)
        if (auto r = db.set_topic_permission(p.user, p.vhost, p.exchange, p.write, p.read); !r)
            WLOG_ERROR("topic permissions of '{}' on vhost '{}' not loaded: {}", p.user, p.vhost,
                       r.error().text);
}

void diff_access(const store::topology& before, const store::topology& after,
                 std::vector<change>& out) {
    diff_sorted(
        before.users, after.users, user_key,
        [&](const store::user_def& u) {
            out.push_back(change{.kind = change::op::put_user, .user = u});
        },
        [&](const store::user_def& u) {
            change c{.kind = change::op::delete_user};
            c.user.name = u.name;
            out.push_back(std::move(c));
        });
    diff_sorted(
        before.permissions, after.permissions, perm_key,
        [&](const store::permission_def& p) {
            out.push_back(
                change{.kind = change::op::put_permission, .vhost = p.vhost, .permission = p});
        },
        [&](const store::permission_def& p) {
            out.push_back(
                change{.kind = change::op::delete_permission, .vhost = p.vhost, .permission = p});
        });
    diff_sorted(
        before.topic_permissions, after.topic_permissions, topic_key,
        [&](const store::topic_permission_def& p) {
            out.push_back(
                change{.kind = change::op::put_topic_permission, .vhost = p.vhost, .topic = p});
        },
        [&](const store::topic_permission_def& p) {
            out.push_back(
                change{.kind = change::op::delete_topic_permission, .vhost = p.vhost, .topic = p});
        });
}

}  // namespace warren::durability

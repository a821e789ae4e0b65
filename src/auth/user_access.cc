#include "auth/user_access.h"

namespace warren::auth {

user_access::user_access(const user_db& db, std::string user, std::string vhost)
    : _db(db), _user(std::move(user)), _vhost(std::move(vhost)) {}

void user_access::refresh() const {
    if (_generation == _db.generation()) return;
    _generation = _db.generation();
    _perms = _db.permissions(_user, _vhost);
    _topics = _db.has_topic_permissions(_user, _vhost);
    for (auto& c : _allowed) c.used = false;
}

core::result<void> user_access::check(core::permission p, core::resource_kind kind,
                                      std::string_view name) const {
    // RabbitMQ checks (and names) the default exchange as amq.default.
    if (kind == core::resource_kind::exchange && name.empty()) name = "amq.default";
    refresh();
    for (const auto& c : _allowed)
        if (c.used && c.p == p && c.kind == kind && c.name == name) return {};
    if (!_perms || !_perms->allows(p, name)) return refused(kind, name, _vhost, _user);
    cached& slot = _allowed[_next];
    _next = (_next + 1) % _allowed.size();
    slot.p = p;
    slot.kind = kind;
    slot.name.assign(name);
    slot.used = true;
    return {};
}

core::result<void> user_access::check_topic(core::permission p, std::string_view exchange,
                                            std::string_view routing_key) const {
    refresh();
    if (!_topics) return {};
    return _db.check_topic(_user, _vhost, p, exchange, routing_key);
}

}  // namespace warren::auth

#include "core/broker.h"

namespace warren::core {

broker::broker() {
    add_vhost("/");
    add_user("guest", "guest", {"administrator"});
}

broker::~broker() = default;

vhost* broker::find_vhost(std::string_view name) {
    auto it = _vhosts.find(name);
    return it == _vhosts.end() ? nullptr : it->second.get();
}

vhost* broker::add_vhost(std::string_view name) {
    if (vhost* v = find_vhost(name)) return v;
    auto v = std::make_unique<vhost>(std::string(name));
    vhost* p = v.get();
    _vhosts.emplace(std::string(name), std::move(v));
    return p;
}

bool broker::remove_vhost(std::string_view name) {
    auto it = _vhosts.find(name);
    if (it == _vhosts.end()) return false;
    _vhosts.erase(it);
    return true;
}

std::vector<std::string> broker::vhost_names() const {
    std::vector<std::string> out;
    for (auto& [n, v] : _vhosts) out.push_back(n);
    return out;
}

bool broker::authenticate(std::string_view user, std::string_view password) const {
    auto it = _users.find(user);
    return it != _users.end() && it->second.password == password;
}

void broker::add_user(std::string_view name, std::string_view password,
                      std::vector<std::string> tags) {
    _users[std::string(name)] = user{std::string(name), std::string(password), std::move(tags)};
}

bool broker::remove_user(std::string_view name) {
    auto it = _users.find(name);
    if (it == _users.end()) return false;
    _users.erase(it);
    return true;
}

const user* broker::find_user(std::string_view name) const {
    auto it = _users.find(name);
    return it == _users.end() ? nullptr : &it->second;
}

}  // namespace warren::core

#include "core/broker.h"

#include "core/clock.h"

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

const vhost* broker::find_vhost(std::string_view name) const {
    auto it = _vhosts.find(name);
    return it == _vhosts.end() ? nullptr : it->second.get();
}

vhost* broker::add_vhost(std::string_view name) {
    if (vhost* v = find_vhost(name)) return v;
    auto v = std::make_unique<vhost>(std::string(name));
    vhost* p = v.get();
    if (_clock) p->set_clock(_clock, _wall);
    p->set_storage(_storage);
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

void broker::tick(uint64_t now) {
    for (auto& [n, v] : _vhosts) v->tick(now);
}

std::optional<uint64_t> broker::next_expiry() const {
    std::optional<uint64_t> best;
    for (auto& [n, v] : _vhosts)
        if (auto t = v->next_expiry(); t && (!best || *t < *best)) best = t;
    return best;
}

std::optional<uint64_t> broker::next_delayed_due() const {
    std::optional<uint64_t> best;
    for (auto& [n, v] : _vhosts)
        if (auto t = v->next_delayed_due(); t && (!best || *t < *best)) best = t;
    return best;
}

void broker::release_delayed(uint64_t now_ms) {
    for (auto& [n, v] : _vhosts) v->release_delayed(now_ms);
}

uint64_t broker::now_ms() const {
    return _clock ? _clock() : system_steady_ms();
}

uint64_t broker::wall_ms() const {
    return _wall ? _wall() * 1000 : system_wall_ms();
}

void broker::set_storage(const storage& s) {
    _storage = s;
    for (auto& [n, v] : _vhosts) v->set_storage(s);
}

void broker::set_clock(vhost::clock_fn steady_ms, vhost::clock_fn wall_seconds) {
    _clock = std::move(steady_ms);
    _wall = std::move(wall_seconds);
    for (auto& [n, v] : _vhosts) v->set_clock(_clock, _wall);
}

}  // namespace warren::core

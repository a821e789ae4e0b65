#include "core/broker.h"

#include <algorithm>

#include "base/containers.h"
#include "core/clock.h"

namespace warren::core {

broker::broker() {
    add_vhost("/");
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

bool broker::delete_vhost(std::string_view name, std::string_view reason) {
    auto it = _vhosts.find(name);
    if (it == _vhosts.end()) return false;
    vhost* v = it->second.get();
    v->close_connections(reason);  // channels released: unacked messages back in their queues
    v->delete_everything();
    std::unique_ptr<vhost> owned = std::move(it->second);
    _vhosts.erase(it);
    _retired.emplace_back(now_ms() + 60'000, std::move(owned));
    return true;
}

void broker::tick(uint64_t now) {
    for (auto& [n, v] : _vhosts) v->tick(now);
    if (!_retired.empty()) std::erase_if(_retired, [&](const auto& r) { return r.first <= now; });
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

void broker::set_alarm(resource r, bool on) {
    alarm_set next = _alarms;
    next.set(r, on);
    if (next == _alarms) return;
    _alarms = next;
    // Listeners added meanwhile read alarms() themselves; removed ones are nulled, then dropped.
    _notifying = true;
    const size_t n = _alarm_listeners.size();
    for (size_t i = 0; i < n; ++i)
        if (alarm_listener* l = _alarm_listeners[i]) l->alarms_changed(_alarms);
    _notifying = false;
    std::erase(_alarm_listeners, nullptr);
    shrink_when_sparse(_alarm_listeners);
}

void broker::add_alarm_listener(alarm_listener* l) {
    _alarm_listeners.push_back(l);
}

void broker::remove_alarm_listener(alarm_listener* l) {
    auto it = std::find(_alarm_listeners.begin(), _alarm_listeners.end(), l);
    if (it == _alarm_listeners.end()) return;
    if (_notifying) {
        *it = nullptr;
        return;
    }
    *it = _alarm_listeners.back();
    _alarm_listeners.pop_back();
    shrink_when_sparse(_alarm_listeners);
}

}  // namespace warren::core

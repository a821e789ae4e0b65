#include "auth/login_throttle.h"

#include <algorithm>

namespace warren::auth {

std::string login_throttle::host_of(std::string_view peer) {
    for (std::string_view scheme : {"tls:", "wss:", "ws:"})  // front ends' peer labels
        if (peer.starts_with(scheme)) peer.remove_prefix(scheme.size());
    if (peer.starts_with("[")) {
        auto end = peer.find(']');
        return std::string(peer.substr(1, end == std::string_view::npos ? end : end - 1));
    }
    auto colon = peer.rfind(':');
    if (colon != std::string_view::npos && peer.find(':') == colon) peer = peer.substr(0, colon);
    return std::string(peer);
}

std::optional<uint64_t> login_throttle::locked_out(std::string_view peer, uint64_t now_ms) const {
    auto it = _by_host.find(host_of(peer));
    if (it == _by_host.end() || it->second.until_ms <= now_ms) return std::nullopt;
    return it->second.until_ms - now_ms;
}

uint64_t login_throttle::failed(std::string_view peer, uint64_t now_ms) {
    std::string host = host_of(peer);
    auto it = _by_host.find(host);
    if (it == _by_host.end()) {
        if (_by_host.size() >= _opts.max_addresses) {
            // Drop the entry whose window started first.
            auto oldest = std::min_element(_by_host.begin(), _by_host.end(), [](auto& a, auto& b) {
                return a.second.first_ms < b.second.first_ms;
            });
            _by_host.erase(oldest);
        }
        it = _by_host.emplace(std::move(host), entry{0, now_ms, 0}).first;
    }
    entry& e = it->second;
    if (now_ms - e.first_ms > _opts.window_ms && e.until_ms <= now_ms) e = entry{0, now_ms, 0};
    ++e.failures;
    if (e.failures < _opts.threshold) return 0;
    uint32_t over = std::min<uint32_t>(e.failures - _opts.threshold, 20);
    uint64_t lock = std::min(_opts.max_lockout_ms, _opts.first_lockout_ms << over);
    e.until_ms = now_ms + lock;
    return lock;
}

void login_throttle::succeeded(std::string_view peer) {
    auto it = _by_host.find(host_of(peer));
    if (it != _by_host.end()) _by_host.erase(it);
}

}  // namespace warren::auth

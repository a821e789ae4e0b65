#pragma once
// Back-off for repeated failed logins from one address (host, port ignored): after
// `threshold` failures within `window_ms`, logins from that address are refused without
// looking at the password for a lock-out that doubles with each further failure (1 s, 2 s,
// 4 s, ... up to max_lockout_ms). A successful login clears the address. Every protocol's
// front end shares one (password guessing over AMQP, STOMP or HTTP counts together).
//
//   if (auto wait = throttle.locked_out(peer, now)) refuse(...);   // *wait ms left
//   ok ? throttle.succeeded(peer) : throttle.failed(peer, now);
//
// Bounded: at most max_addresses are tracked (the oldest entries go first). Time is passed in.
// Broker thread only.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace warren::auth {

class login_throttle {
public:
    struct options {
        uint32_t threshold = 10;
        uint64_t window_ms = 60'000;
        uint64_t first_lockout_ms = 1'000;
        uint64_t max_lockout_ms = 60'000;
        size_t max_addresses = 10'000;
    };
    login_throttle() = default;
    explicit login_throttle(options o) : _opts(o) {}

    // Milliseconds left if the address is locked out now.
    std::optional<uint64_t> locked_out(std::string_view peer, uint64_t now_ms) const;
    // Returns the lock-out (ms) this failure starts, 0 if none.
    uint64_t failed(std::string_view peer, uint64_t now_ms);
    void succeeded(std::string_view peer);

    // The host of a front end's peer label: "10.0.0.5:4242" -> "10.0.0.5", "[::1]:4242" ->
    // "::1", "tls:10.0.0.5:4242" -> "10.0.0.5" (also what is_loopback_peer() looks at).
    static std::string host_of(std::string_view peer);

private:
    struct entry {
        uint32_t failures = 0;  // within the window
        uint64_t first_ms = 0;  // window start
        uint64_t until_ms = 0;  // locked out until
    };
    options _opts;
    std::map<std::string, entry, std::less<>> _by_host;
};

}  // namespace warren::auth

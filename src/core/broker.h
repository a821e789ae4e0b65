#pragma once
// The broker: vhosts and users, and connection ids. One per process, owned by server/, living
// on the broker thread. Starts with vhost "/" and user guest/guest (an administrator).
//
//   core::broker b;
//   if (!b.authenticate(user, pass)) ...;
//   core::vhost* vh = b.find_vhost("/");
//   uint64_t conn = b.next_connection_id();

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/string_map.h"
#include "core/vhost.h"

namespace warren::core {

struct user {
    std::string name;
    std::string password;           // plain for now; hashed once users become durable
    std::vector<std::string> tags;  // e.g. "administrator"
};

class broker {
public:
    broker();
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    vhost* find_vhost(std::string_view name);
    const vhost* find_vhost(std::string_view name) const;
    vhost* add_vhost(std::string_view name);  // returns the existing one if present
    bool remove_vhost(std::string_view name);
    std::vector<std::string> vhost_names() const;

    bool authenticate(std::string_view user, std::string_view password) const;
    void add_user(std::string_view name, std::string_view password,
                  std::vector<std::string> tags = {});  // replaces an existing user
    bool remove_user(std::string_view name);
    const user* find_user(std::string_view name) const;
    const string_map<user>& users() const { return _users; }

    uint64_t next_connection_id() { return ++_last_connection_id; }

    // Durable storage for every vhost, present and future (members null: none). Not owned.
    void set_storage(const storage& s);

    // Time-driven work (message TTL, x-expires) in every vhost. The server's timer calls
    // tick(now_ms()) every ~10 ms (or at next_expiry()). Tests inject a fake clock, which
    // applies to every vhost, present and future.
    void tick(uint64_t now_ms);
    std::optional<uint64_t> next_expiry() const;
    // x-delayed-message only (cheap, no queue scan): the earliest due time, and releasing what
    // is due, for a timer finer than the tick.
    std::optional<uint64_t> next_delayed_due() const;
    void release_delayed(uint64_t now_ms);
    uint64_t now_ms() const;
    uint64_t wall_ms() const;  // ms since the epoch: the injected wall clock, else the system's
    void set_clock(vhost::clock_fn steady_ms, vhost::clock_fn wall_seconds = {});

private:
    string_map<std::unique_ptr<vhost>> _vhosts;
    string_map<user> _users;
    uint64_t _last_connection_id = 0;
    vhost::clock_fn _clock, _wall;
    storage _storage;
};

}  // namespace warren::core

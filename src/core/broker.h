#pragma once
// The broker: vhosts and connection ids. One per process, owned by server/, living on the
// broker thread. Starts with vhost "/". Users and permissions are auth/'s (auth::authority).
//
//   core::broker b;
//   core::vhost* vh = b.find_vhost("/");
//   uint64_t conn = b.next_connection_id();

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/alarms.h"
#include "core/string_map.h"
#include "core/vhost.h"

namespace warren::core {

class broker {
public:
    broker();
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    vhost* find_vhost(std::string_view name);
    const vhost* find_vhost(std::string_view name) const;
    vhost* add_vhost(std::string_view name);  // returns the existing one if present
    // Forgets the vhost at once (start-up, before any connection).
    bool remove_vhost(std::string_view name);
    // Run-time deletion: closes the vhost's connections (`reason`: AMQP 320
    // CONNECTION_FORCED), deletes its queues (their messages leave the store) and exchanges,
    // and forgets it. The object itself is freed a minute later by tick(), so that sessions
    // still closing never hold a dangling pointer. False if there was none.
    bool delete_vhost(std::string_view name, std::string_view reason);
    std::vector<std::string> vhost_names() const;
    const string_map<std::unique_ptr<vhost>>& vhosts() const { return _vhosts; }

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

    // Resource alarms (core/alarms.h). set_alarm tells every listener when the set changes.
    void set_alarm(resource r, bool on);
    alarm_set alarms() const { return _alarms; }
    void add_alarm_listener(alarm_listener* l);
    void remove_alarm_listener(alarm_listener* l);  // unknown l: no-op

private:
    string_map<std::unique_ptr<vhost>> _vhosts;
    std::vector<std::pair<uint64_t, std::unique_ptr<vhost>>> _retired;  // freed at (ms)
    uint64_t _last_connection_id = 0;
    vhost::clock_fn _clock, _wall;
    storage _storage;
    alarm_set _alarms;
    std::vector<alarm_listener*> _alarm_listeners;
    bool _notifying = false;
};

}  // namespace warren::core

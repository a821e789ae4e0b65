#pragma once
// Resource alarms, as RabbitMQ raises them: when the broker's memory use passes its high
// watermark, or free disk space on the data dir falls below its limit, publishing connections
// are blocked until every alarm has cleared. server/resource_monitor measures and calls
// broker::set_alarm; the front ends listen (alarm_listener) and block a connection at its next
// publish: AMQP stops reading from it and sends connection.blocked ("low on memory") to clients
// with that capability, STOMP stops reading. Consumers are never blocked, so queues can drain.
//
//   b.add_alarm_listener(this);                  // at connection.open
//   void alarms_changed(core::alarm_set a) override { if (a.empty()) unblock(); }
//   b.set_alarm(core::resource::memory, true);   // every listener hears it
//
// Everything runs on the broker thread.

#include <cstdint>
#include <string>

namespace warren::core {

// store: the message store cannot write (a full disk, no file descriptors, an I/O error) and
// retries; publishers are told "low on disk", as a full disk is the usual cause.
enum class resource : uint8_t { memory = 1, disk = 2, store = 4 };

// The alarms in effect.
struct alarm_set {
    uint8_t bits = 0;
    bool empty() const { return bits == 0; }
    bool has(resource r) const { return (bits & static_cast<uint8_t>(r)) != 0; }
    void set(resource r, bool on) {
        if (on)
            bits |= static_cast<uint8_t>(r);
        else
            bits &= static_cast<uint8_t>(~static_cast<uint8_t>(r));
    }
    bool operator==(const alarm_set&) const = default;
};

// RabbitMQ's connection.blocked reason: "low on memory", "low on disk", "low on memory & disk".
inline std::string blocked_reason(alarm_set a) {
    std::string r = "low on ";
    const bool disk = a.has(resource::disk) || a.has(resource::store);
    if (a.has(resource::memory)) r += "memory";
    if (disk) r += a.has(resource::memory) ? " & disk" : "disk";
    return r;
}

// RabbitMQ's connection state under flow control: "blocked" (not read: it published under an
// alarm), "blocking" (an alarm is on; blocked at its next publish), else "running".
inline const char* flow_state(alarm_set alarms, bool blocked) {
    if (blocked) return "blocked";
    return alarms.empty() ? "running" : "blocking";
}

class alarm_listener {
public:
    virtual ~alarm_listener() = default;
    virtual void alarms_changed(alarm_set now) = 0;
};

}  // namespace warren::core

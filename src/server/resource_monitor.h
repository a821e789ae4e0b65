#pragma once
// Measures what the resource alarms watch (core/alarms.h) and raises or clears them on the
// broker, as RabbitMQ's vm_memory_monitor and rabbit_disk_monitor do:
//   - memory: the process's resident set (/proc/self/statm, RabbitMQ's "rss" strategy) against
//     the high watermark, relative to total memory (the smaller of MemTotal and the cgroup's
//     memory.max) or absolute;
//   - disk: free space for unprivileged users on the data dir's file system (statvfs) against
//     disk_free_limit, absolute or relative to total memory.
// Each change is logged (warning when set, info when cleared). check() runs every
// resource_check_interval; set_limits() takes new limits (SIGHUP) and checks at once.
//
//   server::resource_monitor mon(io, broker, cfg.data_dir, server::resource_limits::from(cfg));
//   mon.start();
//
// Lives on the broker thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/broker.h"
#include "server/config.h"

namespace warren::server {

struct resource_limits {
    double memory_relative = 0.4;
    std::optional<uint64_t> memory_absolute;
    uint64_t disk_absolute = 50'000'000;
    std::optional<double> disk_relative;
    uint32_t interval_ms = 1000;
    static resource_limits from(const config& c);
};

// What one check saw (for logs, the management API and tests).
struct resource_reading {
    uint64_t rss = 0;
    uint64_t memory_limit = 0;
    uint64_t disk_free = 0;
    uint64_t disk_limit = 0;
    bool disk_known = false;  // statvfs worked
};

// Total memory the process may use: MemTotal, or a cgroup v2 memory.max below it.
uint64_t total_memory();

class resource_monitor {
public:
    resource_monitor(boost::asio::io_context& io, core::broker& b, std::string data_dir,
                     resource_limits limits);
    void start();  // checks now, then every interval
    void stop();
    void set_limits(resource_limits limits);
    // Measures and raises or clears the alarms.
    void check();
    const resource_reading& last() const { return _last; }

private:
    void arm();
    // Gives freed heap back to the OS after what queues hold fell by 64 MiB from its peak, and
    // when nothing was published for a whole interval while resident memory or the allocator's
    // free bytes moved by 1 MiB since the last give-back (the allocator keeps up to 64 MiB of
    // freed heap for reuse while messages flow: base/process.h).
    void give_back_memory();
    void give_back_and_note();  // gives back, notes resident memory and free bytes after

    boost::asio::steady_timer _timer;
    core::broker& _broker;
    std::string _data_dir;
    resource_limits _limits;
    resource_reading _last;
    uint64_t _total_memory;
    bool _stopped = false;
    uint64_t _held_peak = 0;  // most bytes queues held in RAM since memory was last given back
    uint64_t _last_message_id = 0;  // core::last_message_id() at the previous check
    uint64_t _given_back_rss = 0;   // resident memory after the last give-back
    uint64_t _given_back_free = 0;  // process::free_heap_bytes() after the last give-back
};

}  // namespace warren::server

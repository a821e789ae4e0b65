#include "server/resource_monitor.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "base/process.h"
#include "core/message.h"
#include "core/queue.h"

namespace warren::server {

namespace {
// A drop this large in what queues hold (deleted, purged or drained queues) gives the freed heap
// back: a queue's worth of messages, not the churn of ordinary traffic, which glibc reuses.
constexpr uint64_t give_back_threshold = 64ull << 20;
}  // namespace

void resource_monitor::give_back_memory() {
    uint64_t held = 0;
    for (auto& [name, vh] : _broker.vhosts())
        for (auto& [qname, q] : vh->queues()) held += q->memory_bytes();
    _held_peak = std::max(_held_peak, held);
    const uint64_t id = core::last_message_id();
    const bool quiet = id == _last_message_id;  // nothing published for a whole interval
    _last_message_id = id;
    if (_held_peak - held >= give_back_threshold) {
        const uint64_t before = process::resident_memory();
        give_back_and_note();
        WLOG_INFO(
            "queues hold {} bytes fewer than at their peak: freed memory given back, resident "
            "memory {} -> {} bytes",
            _held_peak - held, before, _given_back_rss);
        _held_peak = held;
        return;
    }
    // A quiet broker gives back what the allocator kept for reuse, if resident memory or the
    // allocator's free bytes moved by 1 MiB since it last did (traffic, deleted queues,
    // connections come and gone). A busy broker is never trimmed by this, an idle one not over
    // and over (giving back leaves the free bytes as they are).
    if (!quiet) return;
    const uint64_t rss = process::resident_memory();
    auto moved = [](uint64_t a, uint64_t b) { return (a > b ? a - b : b - a) >= (1u << 20); };
    if (!moved(rss, _given_back_rss) && !moved(process::free_heap_bytes(), _given_back_free))
        return;
    give_back_and_note();
    if (rss > _given_back_rss + (4u << 20))
        WLOG_INFO("no publishes for {} ms: freed memory given back, resident memory {} -> {} bytes",
                  _limits.interval_ms, rss, _given_back_rss);
}

void resource_monitor::give_back_and_note() {
    process::give_back_free_memory();
    _given_back_rss = process::resident_memory();
    _given_back_free = process::free_heap_bytes();
}

resource_limits resource_limits::from(const config& c) {
    return {.memory_relative = c.vm_memory_high_watermark_relative,
            .memory_absolute = c.vm_memory_high_watermark_absolute,
            .disk_absolute = c.disk_free_limit_absolute,
            .disk_relative = c.disk_free_limit_relative,
            .interval_ms = c.resource_check_interval_ms};
}

uint64_t total_memory() {
    uint64_t total = 0;
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    while (meminfo >> key >> kb) {
        if (key == "MemTotal:") {
            total = kb * 1024;
            break;
        }
        meminfo.ignore(256, '\n');
    }
    if (total == 0) total = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
    // A container's limit (cgroup v2) is what the kernel holds us to.
    std::ifstream cg("/sys/fs/cgroup/memory.max");
    std::string v;
    if (cg >> v && v != "max") {
        uint64_t limit = 0;
        std::istringstream(v) >> limit;
        if (limit > 0 && limit < total) total = limit;
    }
    return total;
}

resource_monitor::resource_monitor(boost::asio::io_context& io, core::broker& b,
                                   std::string data_dir, resource_limits limits)
    : _timer(io),
      _broker(b),
      _data_dir(std::move(data_dir)),
      _limits(limits),
      _total_memory(total_memory()) {}

void resource_monitor::start() {
    WLOG_INFO(
        "memory high watermark {} bytes ({}), disk free limit {} bytes; checked every {} ms",
        _limits.memory_absolute.value_or(uint64_t(double(_total_memory) * _limits.memory_relative)),
        _limits.memory_absolute ? "absolute"
                                : fmt::format("{} of {}", _limits.memory_relative, _total_memory),
        _limits.disk_relative ? uint64_t(double(_total_memory) * *_limits.disk_relative)
                              : _limits.disk_absolute,
        _limits.interval_ms);
    check();
    arm();
}

void resource_monitor::stop() {
    _stopped = true;
    _timer.cancel();
}

void resource_monitor::set_limits(resource_limits limits) {
    _limits = limits;
    check();
}

void resource_monitor::arm() {
    if (_stopped) return;
    _timer.expires_after(std::chrono::milliseconds(_limits.interval_ms));
    _timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || _stopped) return;
        check();
        arm();
    });
}

void resource_monitor::check() {
    resource_reading r;
    give_back_memory();
    r.rss = process::resident_memory();
    r.memory_limit = _limits.memory_absolute
                         ? *_limits.memory_absolute
                         : uint64_t(double(_total_memory) * _limits.memory_relative);
    r.disk_limit = _limits.disk_relative ? uint64_t(double(_total_memory) * *_limits.disk_relative)
                                         : _limits.disk_absolute;
    struct statvfs fs {};
    if (::statvfs(_data_dir.c_str(), &fs) == 0) {
        r.disk_known = true;
        r.disk_free = uint64_t(fs.f_bavail) * uint64_t(fs.f_frsize);
    }
    _last = r;

    const core::alarm_set before = _broker.alarms();
    // RabbitMQ: the memory alarm is on while used memory exceeds the watermark (a watermark of
    // 0 blocks every publisher).
    const bool memory = r.rss > r.memory_limit || r.memory_limit == 0;
    if (memory != before.has(core::resource::memory)) {
        if (memory)
            WLOG_WARN(
                "memory resource limit alarm set: resident memory {} bytes is above the high "
                "watermark of {} bytes. Publishers are blocked until it clears.",
                r.rss, r.memory_limit);
        else
            WLOG_INFO("memory resource limit alarm cleared: resident memory {} bytes, limit {}",
                      r.rss, r.memory_limit);
        _broker.set_alarm(core::resource::memory, memory);
    }
    // An unreadable file system keeps the disk alarm as it was.
    if (!r.disk_known) return;
    const bool disk = r.disk_free < r.disk_limit;
    if (disk != before.has(core::resource::disk)) {
        if (disk)
            WLOG_WARN(
                "disk resource limit alarm set: free disk space {} bytes on '{}' is below the "
                "limit of {} bytes. Publishers are blocked until it clears.",
                r.disk_free, _data_dir, r.disk_limit);
        else
            WLOG_INFO("disk resource limit alarm cleared: free disk space {} bytes, limit {}",
                      r.disk_free, r.disk_limit);
        _broker.set_alarm(core::resource::disk, disk);
    }
}

}  // namespace warren::server

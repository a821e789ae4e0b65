#include "tools/perf/stats.h"

namespace warren::perf {

void shared_stats::record_latencies(const std::vector<uint64_t>& v) {
    if (v.empty()) return;
    std::lock_guard lock(_mutex);
    for (uint64_t x : v) {
        _interval.record(x);
        _total.record(x);
    }
}

void shared_stats::record_confirm_latencies(const std::vector<uint64_t>& v) {
    if (v.empty()) return;
    std::lock_guard lock(_mutex);
    for (uint64_t x : v) _confirm_total.record(x);
}

void shared_stats::take_interval(histogram& out) {
    out.reset();
    std::lock_guard lock(_mutex);
    out.merge(_interval);
    _interval.reset();
}

histogram shared_stats::total_latency() const {
    std::lock_guard lock(_mutex);
    return _total;
}

histogram shared_stats::total_confirm_latency() const {
    std::lock_guard lock(_mutex);
    return _confirm_total;
}

void shared_stats::add_error(const std::string& text) {
    _error_count.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(_mutex);
    if (_errors.size() < 20) _errors.push_back(text);
}

std::vector<std::string> shared_stats::errors() const {
    std::lock_guard lock(_mutex);
    return _errors;
}

}  // namespace warren::perf

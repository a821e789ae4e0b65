#pragma once
// Counters and latency histograms shared by every connection of a warren-perf run. Connections
// (on the I/O threads) add to them once per socket read or write batch, never per message; the
// runner (main thread) reads the counters and swaps out the interval histograms once a second.
//
// Lifetime: owned by the runner, outlives every connection.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tools/perf/histogram.h"

namespace warren::perf {

// Monotonic nanoseconds; producers write it into message bodies and consumers, in the same
// process, subtract it from their own reading.
inline uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

class shared_stats {
public:
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> confirmed{0};
    std::atomic<uint64_t> nacked{0};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> acks_sent{0};
    std::atomic<uint64_t> blocked{0};  // connection.blocked notifications

    // Records end-to-end latencies (ns) of one batch of deliveries.
    void record_latencies(const std::vector<uint64_t>& v);
    // Records publish-to-confirm latencies (ns).
    void record_confirm_latencies(const std::vector<uint64_t>& v);

    // Moves the latencies recorded since the previous call into `out` (reset first).
    void take_interval(histogram& out);
    histogram total_latency() const;
    histogram total_confirm_latency() const;

    // The first errors seen (connection failures, broker closes), for the summary.
    void add_error(const std::string& text);
    std::vector<std::string> errors() const;
    uint64_t error_count() const { return _error_count.load(std::memory_order_relaxed); }

private:
    mutable std::mutex _mutex;
    histogram _interval, _total, _confirm_total;
    std::vector<std::string> _errors;
    std::atomic<uint64_t> _error_count{0};
};

}  // namespace warren::perf

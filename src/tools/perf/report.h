#pragma once
// What warren-perf prints: the live line (once a second) and the final summary, as text or JSON.
// Pure formatting over plain numbers, so it is unit-testable without a broker.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/perf/histogram.h"

namespace warren::perf {

struct latency_summary {
    uint64_t count = 0, min = 0, p50 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
    double mean = 0;
};
latency_summary summarize(const histogram& h);

// One consumer's own numbers (count mode, streams): what it read, in how long from its
// basic.consume, and how long its first delivery took to arrive.
struct consumer_result {
    uint64_t received = 0;
    double duration_s = 0;         // basic.consume sent until --cmessages read (or the run's end)
    double first_delivery_s = -1;  // basic.consume sent until the first delivery; -1: none came
    double rate() const { return duration_s > 0 ? received / duration_s : 0; }
};

struct run_summary {
    std::string broker;  // "RabbitMQ 3.10.8 at 127.0.0.1:5672"
    std::string vhost;
    std::string tls;  // "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate not verified"; empty: plain
    int producers = 0, consumers = 0, queues = 0, idle_connections = 0, idle_open = 0;
    uint32_t size = 0;
    bool persistent = false, auto_ack = false;
    uint32_t confirm = 0, prefetch = 0, multi_ack = 0;
    double rate = 0;
    std::string exchange, exchange_type;

    double duration_s = 0;
    double connect_s = 0;  // time to open every connection
    uint64_t published = 0, confirmed = 0, nacked = 0, received = 0, acks_sent = 0;
    uint64_t expected = 0;  // deliveries expected by consumers (count mode), 0 if unknown
    int64_t depth_start = 0, depth_end = 0;  // ready messages, clients connected
    bool depth_known = false;
    // After every client closed: + requeued unacked deliveries + what producers had in flight.
    int64_t depth_after_close = 0;
    bool depth_after_close_known = false;
    uint64_t blocked = 0;
    std::vector<consumer_result> consumer_results;  // one per consumer, in index order
    latency_summary latency, confirm_latency;
    double cpu_s = 0;  // user + system CPU of warren-perf during the measurement
    std::vector<std::string> errors;
    bool interrupted = false;

    double send_rate() const { return duration_s > 0 ? published / duration_s : 0; }
    double receive_rate() const { return duration_s > 0 ? received / duration_s : 0; }
    double confirm_rate() const { return duration_s > 0 ? confirmed / duration_s : 0; }
    // Messages consumed plus growth of the queue depth, per second.
    double throughput() const;
    double cpu_ns_per_message() const;  // per message sent or received
};

// "12.3 us", "4.56 ms", "1.20 s".
std::string format_ns(uint64_t ns);
std::string format_live_line(double t_s, double sent_s, double confirmed_s, double received_s,
                             bool confirms, const histogram& interval, uint64_t blocked);
std::string format_summary(const run_summary& s);
nlohmann::json summary_json(const run_summary& s);

}  // namespace warren::perf

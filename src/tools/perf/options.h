#pragma once
// warren-perf's command line: what to run (producers, consumers, queues, exchange, message size,
// rate, confirms, acks) and against which broker. parse_options turns argv into perf_options
// (CLI11), resolving --uri against the individual connection flags and checking that the
// combination makes sense; parse errors come back as text and an exit code, never as exceptions.
//
//   auto r = perf::parse_options(argc, argv);
//   if (auto* exit = std::get_if<perf::parse_exit>(&r)) { print(exit->message); return exit->code;
//   } perf::perf_options o = std::get<perf::perf_options>(r);

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/fields.h"

namespace warren::perf {

struct amqp_uri {
    std::string host = "127.0.0.1";
    uint16_t port = 5672;
    std::string vhost = "/";
    std::string user = "guest";
    std::string password = "guest";
    bool tls = false;         // AMQPS: amqps:// or --tls
    bool port_given = false;  // the URI named a port (else --tls makes the default 5671)
};

// Parses amqp://user:pass@host:port/vhost or amqps://... (TLS, default port 5671); every part
// optional, %XX escapes decoded in user, password and vhost; an empty or "/" path means vhost "/".
// Returns an error text on failure.
std::variant<amqp_uri, std::string> parse_amqp_uri(std::string_view uri);

// Parses "x-max-length=1000,x-queue-type=classic,x-message-ttl=60000" into a field table.
// Values that are decimal integers become long (int64) values, true/false become bools, the rest
// strings. Returns an error text on failure (naming the item as a `what`: "queue argument").
// Also parses --consumer-args ("x-stream-offset=first", "x-stream-offset=5000", "x-priority=5").
std::variant<core::field_table, std::string> parse_queue_args(
    std::string_view text, std::string_view what = "queue argument");

struct perf_options {
    amqp_uri broker;
    // TLS (broker.tls): with a CA file the broker's certificate must chain to it and name the
    // host; without one the certificate is NOT verified (benchmarking a throwaway certificate).
    std::string tls_ca;

    int producers = 1;
    int consumers = 1;
    // Queue names: one fixed name, or `queue_count` names made from `queue_pattern` (its "%d"
    // replaced by 0..N-1). Producer i publishes to queue i % N, consumer i consumes queue i % N.
    std::vector<std::string> queues;
    std::string queue_pattern = "warren-perf-%d";
    core::field_table queue_args;
    core::field_table consumer_args;  // basic.consume arguments (x-stream-offset=first, ...)
    bool durable = false;             // durable queues (implied by --persistent)
    bool keep_queues = false;         // do not delete the queues at the end

    std::string exchange;  // empty: the default exchange, routing key = queue name
    std::string exchange_type = "direct";
    std::string routing_key;  // empty: the queue's name
    bool routing_key_given = false;

    uint32_t size = 16;       // body bytes; the first 8 hold the send time
    bool persistent = false;  // delivery-mode 2
    uint32_t confirm = 0;     // in-flight publisher-confirm window per producer; 0 = off
    uint16_t prefetch = 0;    // basic.qos prefetch-count; 0 = unlimited
    bool auto_ack = false;
    uint32_t multi_ack = 0;      // ack every N deliveries (multiple=true); 0 = once per read
    double rate = 0;             // total msg/s over all producers; 0 = unlimited
    double time_s = 0;           // run time in seconds; 0 = until the message count is reached
    uint64_t pmessages = 0;      // messages per producer; 0 = until the time is up
    uint64_t cmessages = 0;      // messages per consumer, then stop; 0 = no such limit
    bool no_consume = false;     // fill mode: no consumers, measure queue growth
    int idle_connections = 0;    // extra connections opened and held idle (memory scenario)
    int threads = 0;             // I/O threads; 0 = 2 when both producers and consumers run
    uint32_t batch = 500;        // publishes per write in unlimited mode
    double drain_timeout_s = 5;  // in count mode, how long to wait for the last deliveries
    bool json = false;
    bool quiet = false;  // no live lines

    // The queue a producer or consumer with this index uses.
    const std::string& queue_for(int index) const { return queues[index % queues.size()]; }
    // x-queue-type=stream: every consumer reads every message of its queue (none is taken off
    // it), so a queue's consumers each expect all of it; streams are durable, and their
    // consumers need manual ack and a prefetch.
    bool stream_queues() const;
};

struct parse_exit {
    int code = 0;  // 0 for --help
    std::string message;
};

std::variant<perf_options, parse_exit> parse_options(int argc, const char* const* argv);

}  // namespace warren::perf

#pragma once
// RabbitMQ's message_stats objects and their rates ("publish_details": {"rate": 12.4}), for
// the whole broker (/api/overview), vhosts, queues and exchanges.
//
// The counters come from core (queue_stats, exchange_stats, vhost::totals). Rates are sampled
// as RabbitMQ's management agent samples them: every collect_statistics_interval (5 s) each
// object's counters are read, and a rate is the difference between the last two samples
// divided by the seconds between them (0.0 until an object has two samples). Sampling reads a
// few integers per object (no JSON, no allocation per object beyond the sample table), so
// 10,000 queues cost about a millisecond every 5 s on the broker thread.
//
//   mgmt::rate_sampler rates(broker);
//   rates.start(io);                                  // or rates.sample(now_ms) from tests
//   json s = mgmt::queue_message_stats(q);            // {"publish": 10, "ack": 8, ...}
//   rates.add_rates(s, q);                            // + "publish_details": {"rate": 2.0}, ...
//
// Broker thread.

#include <boost/asio.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "core/broker.h"
#include "mgmt/api_util.h"

namespace warren::mgmt {

// The counters each kind of object shows, in RabbitMQ's names, and how to read them.
enum class stats_kind : uint8_t { vhost, queue, exchange };
constexpr size_t max_counters = 9;
struct counter_sample {
    std::array<uint64_t, max_counters> v{};
};
counter_sample sample_of(const core::vhost& vh);  // its queues, deleted ones, publishes
counter_sample sample_of(const core::queue& q);
counter_sample sample_of(const core::exchange& x);

// message_stats as RabbitMQ shows it for each kind (counters only).
json vhost_message_stats(const counter_sample& s);
json queue_message_stats(const core::queue& q);
json exchange_message_stats(const core::exchange& x);
// The queue-depth part of a vhost sample: {"messages", "messages_ready",
// "messages_unacknowledged"} (RabbitMQ's queue_totals).
json queue_totals(const counter_sample& vhost_sample);

class rate_sampler {
public:
    explicit rate_sampler(core::broker& b,
                          std::chrono::milliseconds every = std::chrono::seconds(5))
        : _broker(b), _every(every) {}
    // Samples now and then every interval on `io` until stop() or destruction.
    void start(boost::asio::io_context& io);
    void stop();
    // Takes one sample of every object at `now_ms` (steady clock).
    void sample(uint64_t now_ms);

    // Adds "<name>_details": {"rate": r} beside each counter of `stats` that the object's
    // kind samples (0.0 when there are not two samples yet).
    void add_rates(json& stats, const core::queue& q) const;
    void add_rates(json& stats, const core::exchange& x) const;
    // For a set of vhosts together (the overview: the vhosts the user sees).
    void add_rates(json& stats, const std::vector<const core::vhost*>& vhosts) const;

private:
    struct entry {
        counter_sample prev, last;
        uint64_t prev_ms = 0, last_ms = 0;
        bool has_prev = false;  // false: one sample only
    };
    using table = std::unordered_map<const void*, entry>;
    void add(table& now, const table& before, const void* key, const counter_sample& s,
             uint64_t now_ms);
    void add_rates(json& stats, stats_kind kind, const table& t, const void* key) const;
    void schedule();

    core::broker& _broker;
    std::chrono::milliseconds _every;
    table _vhosts, _queues, _exchanges;
    std::unique_ptr<boost::asio::steady_timer> _timer;
};

}  // namespace warren::mgmt

#include "mgmt/message_stats.h"

#include <string_view>

#include "core/exchange.h"
#include "core/queue.h"
#include "core/vhost.h"

namespace warren::mgmt {

namespace {

// Each kind's counters, in sample order. The names are RabbitMQ's.
constexpr std::array<std::string_view, max_counters> k_vhost = {
    "publish",  "confirm",        "drop_unroutable",        "deliver_get", "ack", "redeliver",
    "messages", "messages_ready", "messages_unacknowledged"};
constexpr std::array<std::string_view, max_counters> k_queue = {"publish",
                                                                "deliver_get",
                                                                "ack",
                                                                "redeliver",
                                                                "messages",
                                                                "messages_ready",
                                                                "messages_unacknowledged"};
constexpr std::array<std::string_view, max_counters> k_exchange = {"publish_in", "drop_unroutable"};

const std::array<std::string_view, max_counters>& names(stats_kind k) {
    switch (k) {
        case stats_kind::vhost:
            return k_vhost;
        case stats_kind::queue:
            return k_queue;
        case stats_kind::exchange:
            break;
    }
    return k_exchange;
}

json counters(stats_kind kind, const counter_sample& s, size_t from, size_t to) {
    json out = json::object();
    const auto& n = names(kind);
    for (size_t i = from; i < to && !n[i].empty(); ++i) out[std::string(n[i])] = s.v[i];
    return out;
}

}  // namespace

counter_sample sample_of(const core::queue& q) {
    const auto& s = q.stats();
    const uint64_t ready = q.message_count(), unacked = q.unacked_count();
    return {{s.published, s.delivered, s.acked, s.redelivered, ready + unacked, ready, unacked}};
}

counter_sample sample_of(const core::exchange& x) {
    return {{x.stats().published, x.stats().unroutable}};
}

counter_sample sample_of(const core::vhost& vh) {
    const auto& t = vh.counters();
    counter_sample s{{t.received, t.confirmed, t.unroutable, t.deleted_queues.delivered,
                      t.deleted_queues.acked, t.deleted_queues.redelivered}};
    for (const auto& [n, q] : vh.queues()) {
        const auto qs = sample_of(*q);
        for (size_t i = 1; i < 7; ++i) s.v[i + 2] += qs.v[i];  // deliver_get .. unacknowledged
    }
    return s;
}

json vhost_message_stats(const counter_sample& s) {
    return counters(stats_kind::vhost, s, 0, 6);
}

json queue_totals(const counter_sample& s) {
    return counters(stats_kind::vhost, s, 6, 9);
}

json queue_message_stats(const core::queue& q) {
    return counters(stats_kind::queue, sample_of(q), 0, 4);
}

json exchange_message_stats(const core::exchange& x) {
    return counters(stats_kind::exchange, sample_of(x), 0, 2);
}

// ---- rates ----

void rate_sampler::start(boost::asio::io_context& io) {
    _timer = std::make_unique<boost::asio::steady_timer>(io);
    sample(_broker.now_ms());
    schedule();
}

void rate_sampler::stop() {
    if (_timer) _timer->cancel();
    _timer.reset();
}

void rate_sampler::schedule() {
    _timer->expires_after(_every);
    _timer->async_wait([this](const boost::system::error_code& ec) {
        if (ec || !_timer) return;
        sample(_broker.now_ms());
        schedule();
    });
}

void rate_sampler::add(table& now, const table& before, const void* key, const counter_sample& s,
                       uint64_t now_ms) {
    entry e;
    if (auto it = before.find(key); it != before.end()) {
        e.prev = it->second.last;
        e.prev_ms = it->second.last_ms;
        e.has_prev = true;
    }
    e.last = s;
    e.last_ms = now_ms;
    now.emplace(key, e);
}

void rate_sampler::sample(uint64_t now_ms) {
    table vhosts, queues, exchanges;
    queues.reserve(_queues.size());
    for (const auto& [n, vh] : _broker.vhosts()) {
        add(vhosts, _vhosts, vh.get(), sample_of(*vh), now_ms);
        for (const auto& [qn, q] : vh->queues())
            add(queues, _queues, q.get(), sample_of(*q), now_ms);
        for (const auto& [xn, x] : vh->exchanges())
            add(exchanges, _exchanges, x.get(), sample_of(*x), now_ms);
    }
    _vhosts.swap(vhosts);
    _queues.swap(queues);
    _exchanges.swap(exchanges);
}

namespace {

// Counters only grow (a drop means the object was replaced: 0.0); depths ("messages...") are
// gauges and fall too, so their rate can be negative, as in RabbitMQ.
double rate_of(const auto& e, size_t i, std::string_view name) {
    if (!e.has_prev || e.last_ms <= e.prev_ms) return 0.0;
    const bool gauge = name.starts_with("messages");
    if (!gauge && e.last.v[i] < e.prev.v[i]) return 0.0;
    const double delta = double(e.last.v[i]) - double(e.prev.v[i]);
    return delta * 1000.0 / double(e.last_ms - e.prev_ms);
}

}  // namespace

void rate_sampler::add_rates(json& stats, stats_kind kind, const table& t, const void* key) const {
    auto it = t.find(key);
    const auto& n = names(kind);
    for (size_t i = 0; i < max_counters && !n[i].empty(); ++i) {
        const std::string name(n[i]);
        if (!stats.contains(name)) continue;
        stats[name + "_details"] = {{"rate", it == t.end() ? 0.0 : rate_of(it->second, i, n[i])}};
    }
}

void rate_sampler::add_rates(json& stats, const core::queue& q) const {
    add_rates(stats, stats_kind::queue, _queues, &q);
}

void rate_sampler::add_rates(json& stats, const core::exchange& x) const {
    add_rates(stats, stats_kind::exchange, _exchanges, &x);
}

void rate_sampler::add_rates(json& stats, const std::vector<const core::vhost*>& vhosts) const {
    const auto& n = names(stats_kind::vhost);
    for (size_t i = 0; i < max_counters && !n[i].empty(); ++i) {
        const std::string name(n[i]);
        if (!stats.contains(name)) continue;
        double sum = 0.0;
        for (const auto* vh : vhosts)
            if (auto it = _vhosts.find(vh); it != _vhosts.end())
                sum += rate_of(it->second, i, n[i]);
        stats[name + "_details"] = {{"rate", sum}};
    }
}

}  // namespace warren::mgmt

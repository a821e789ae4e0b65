#include "mgmt/metrics.h"

#include <fmt/format.h>

#include "server/version.h"

namespace warren::mgmt {

namespace {

// A label value, escaped as the exposition format wants (\\, \", \n).
std::string label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out.push_back(c);
    }
    return out;
}

struct writer {
    std::string out;
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, uint64_t v, std::string_view labels = {}) {
        if (labels.empty())
            out += fmt::format("{} {}\n", name, v);
        else
            out += fmt::format("{}{{{}}} {}\n", name, labels, v);
    }
    void one(std::string_view name, std::string_view type, std::string_view help, uint64_t v) {
        family(name, type, help);
        sample(name, v);
    }
    // A histogram from per-slot counts (slot i: values up to bounds[i], the last slot the
    // rest); bounds are divided by `divisor` (1e6: microseconds shown as seconds).
    template <size_t N>
    void histogram(std::string_view name, std::string_view help,
                   const std::array<uint64_t, N>& bounds, const std::array<uint64_t, N + 1>& slots,
                   double sum, uint64_t count, double divisor) {
        family(name, "histogram", help);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < N; ++i) {
            cumulative += slots[i];
            out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                               static_cast<double>(bounds[i]) / divisor, cumulative);
        }
        out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count);
        out += fmt::format("{}_sum {}\n", name, sum);
        out += fmt::format("{}_count {}\n", name, count);
    }
};

}  // namespace

void metrics::install(http_server& http) {
    auto handler = [this](bool per_object) {
        return [this, per_object](const call& c) {
            return make_response(c.req, http::status::ok, render(per_object),
                                 "text/plain; version=0.0.4; charset=utf-8");
        };
    };
    http.routes().add("GET", "/metrics", handler(false));
    http.routes().add("GET", "/metrics/per-object", handler(true));
}

std::string metrics::render(bool per_object) const {
    uint64_t queues = 0, ready = 0, unacked = 0, consumers = 0, ready_bytes = 0, paged = 0,
             paged_bytes = 0;
    uint64_t memory = 0, exchanges = 0, connections = 0, channels = 0;
    uint64_t received = 0, routed = 0, unroutable = 0, confirmed = 0;
    uint64_t published = 0, delivered = 0, redelivered = 0, acked = 0, dead_lettered = 0,
             expired = 0;
    for (const auto& [n, vh] : _broker.vhosts()) {
        const auto& t = vh->counters();
        received += t.received;
        routed += t.routed;
        unroutable += t.unroutable;
        confirmed += t.confirmed;
        published += t.deleted_queues.published;
        delivered += t.deleted_queues.delivered;
        redelivered += t.deleted_queues.redelivered;
        acked += t.deleted_queues.acked;
        dead_lettered += t.deleted_queues.dead_lettered;
        expired += t.deleted_queues.expired;
        exchanges += vh->exchanges().size();
        for (const auto& [qn, q] : vh->queues()) {
            ++queues;
            ready += q->message_count();
            unacked += q->unacked_count();
            consumers += q->consumer_count();
            ready_bytes += q->ready_bytes();
            paged += q->paged_out();
            paged_bytes += q->paged_out_bytes();
            memory += q->memory_bytes();
            const auto& s = q->stats();
            published += s.published;
            delivered += s.delivered;
            redelivered += s.redelivered;
            acked += s.acked;
            dead_lettered += s.dead_lettered;
            expired += s.expired;
        }
        for (const auto& oc : vh->open_connections()) {
            ++connections;
            if (oc.info) channels += oc.info().channels.size();
        }
    }

    writer w;
    w.family("rabbitmq_build_info", "gauge",
             "Versions: the RabbitMQ API Warren implements, and Warren's");
    w.sample("rabbitmq_build_info", 1,
             fmt::format(R"(rabbitmq_version="3.10.8",product_name="Warren",product_version="{}")",
                         label(server::version)));
    const core::alarm_set alarms = _broker.alarms();
    w.one("rabbitmq_alarms_memory_used_watermark", "gauge",
          "1 if the memory high watermark alarm is in effect",
          alarms.has(core::resource::memory) ? 1 : 0);
    w.one("rabbitmq_alarms_free_disk_space_watermark", "gauge",
          "1 if the free disk space alarm is in effect (or the store cannot write)",
          alarms.has(core::resource::disk) || alarms.has(core::resource::store) ? 1 : 0);
    w.one("rabbitmq_connections", "gauge", "Connections currently open", connections);
    w.one("rabbitmq_channels", "gauge", "Channels currently open", channels);
    w.one("rabbitmq_consumers", "gauge", "Consumers currently connected", consumers);
    w.one("rabbitmq_queues", "gauge", "Queues available", queues);
    w.one("rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers",
          ready);
    w.one("rabbitmq_queue_messages_unacked", "gauge",
          "Messages delivered to consumers but not yet acknowledged", unacked);
    w.one("rabbitmq_queue_messages", "gauge", "Sum of ready and unacknowledged messages",
          ready + unacked);
    w.one("rabbitmq_queue_messages_ready_bytes", "gauge", "Size in bytes of ready messages",
          ready_bytes);
    w.one("rabbitmq_queue_messages_paged_out", "gauge", "Ready messages paged out to disk", paged);
    w.one("rabbitmq_queue_messages_paged_out_bytes", "gauge",
          "Size of the ready messages paged out to disk", paged_bytes);
    w.one("rabbitmq_queue_messages_published_total", "counter",
          "Messages published to queues (each queue a message reaches counts once)", published);
    w.one("rabbitmq_global_messages_received_total", "counter", "Messages received from publishers",
          received);
    w.one("rabbitmq_global_messages_routed_total", "counter",
          "Messages routed to at least one queue", routed);
    w.one("rabbitmq_global_messages_delivered_total", "counter",
          "Messages delivered to consumers or basic.get (redeliveries included)", delivered);
    w.one("rabbitmq_global_messages_redelivered_total", "counter",
          "Messages redelivered to consumers", redelivered);
    w.one("rabbitmq_global_messages_acknowledged_total", "counter",
          "Messages acknowledged by consumers (or settled at delivery without acks)", acked);
    w.one("rabbitmq_global_messages_confirmed_total", "counter", "Messages confirmed to publishers",
          confirmed);
    w.one("rabbitmq_global_messages_dead_lettered_total", "counter", "Messages dead-lettered",
          dead_lettered);
    w.one("warren_messages_unroutable_total", "counter",
          "Messages published that reached no queue (returned or dropped)", unroutable);
    w.one("warren_messages_expired_total", "counter", "Messages whose TTL ran out", expired);
    w.one("warren_exchanges", "gauge", "Exchanges available", exchanges);
    w.one("warren_queue_memory_bytes", "gauge", "Bytes of message bodies held in memory by queues",
          memory);

    if (_store) {
        auto s = _store->log().stats();
        w.one("warren_store_appends_total", "counter", "Records appended to the message log",
              s.appends);
        w.one("warren_store_batches_total", "counter",
              "Group-commit batches written (appends / batches = mean batch size)", s.batches);
        w.one("warren_store_fsyncs_total", "counter", "fsyncs issued by the message log", s.fsyncs);
        w.one("warren_store_written_bytes_total", "counter", "Bytes written to the message log",
              s.bytes_written);
        w.one("warren_store_live_messages", "gauge", "Message records still referenced",
              s.live_messages);
        w.one("warren_store_pending_bytes", "gauge", "Bytes appended, not yet written",
              s.pending_bytes);
        using c = store::segment_log::counters;
        w.histogram("warren_store_fsync_seconds",
                    "Latency of the fsync that ends each group-commit batch", c::sync_bounds_us,
                    s.sync_buckets, static_cast<double>(s.sync_sum_us) / 1e6, s.sync_count, 1e6);
        w.histogram("warren_store_batch_records", "Records written per group-commit batch",
                    c::batch_bounds, s.batch_buckets, static_cast<double>(s.batch_records),
                    s.batches, 1.0);
    }

    if (per_object) {
        struct series {
            const char* name;
            const char* type;
            const char* help;
            uint64_t (*value)(const core::queue&);
        };
        static const series per_queue[] = {
            {"rabbitmq_detailed_queue_messages_ready", "gauge", "Messages ready, per queue",
             [](const core::queue& q) -> uint64_t { return q.message_count(); }},
            {"rabbitmq_detailed_queue_messages_unacked", "gauge",
             "Messages unacknowledged, per queue",
             [](const core::queue& q) -> uint64_t { return q.unacked_count(); }},
            {"rabbitmq_detailed_queue_messages", "gauge", "Ready plus unacknowledged, per queue",
             [](const core::queue& q) -> uint64_t {
                 return q.message_count() + q.unacked_count();
             }},
            {"rabbitmq_detailed_queue_consumers", "gauge", "Consumers, per queue",
             [](const core::queue& q) -> uint64_t { return q.consumer_count(); }},
            {"rabbitmq_detailed_queue_messages_ready_bytes", "gauge",
             "Bytes of ready messages, per queue",
             [](const core::queue& q) -> uint64_t { return q.ready_bytes(); }},
            {"rabbitmq_detailed_queue_messages_paged_out", "gauge",
             "Ready messages paged out to disk, per queue",
             [](const core::queue& q) -> uint64_t { return q.paged_out(); }},
            {"rabbitmq_detailed_queue_messages_paged_out_bytes", "gauge",
             "Size of the ready messages paged out to disk, per queue",
             [](const core::queue& q) -> uint64_t { return q.paged_out_bytes(); }},
            {"rabbitmq_detailed_queue_messages_published_total", "counter",
             "Messages published, per queue",
             [](const core::queue& q) -> uint64_t { return q.stats().published; }},
            {"rabbitmq_detailed_queue_messages_delivered_total", "counter",
             "Messages delivered, per queue",
             [](const core::queue& q) -> uint64_t { return q.stats().delivered; }},
            {"rabbitmq_detailed_queue_messages_acknowledged_total", "counter",
             "Messages acknowledged, per queue",
             [](const core::queue& q) -> uint64_t { return q.stats().acked; }},
        };
        for (const auto& s : per_queue) {
            w.family(s.name, s.type, s.help);
            for (const auto& [n, vh] : _broker.vhosts())
                for (const auto& [qn, q] : vh->queues())
                    w.sample(s.name, s.value(*q),
                             fmt::format(R"(vhost="{}",queue="{}")", label(vh->name()),
                                         label(q->name())));
        }
    }
    return std::move(w.out);
}

}  // namespace warren::mgmt

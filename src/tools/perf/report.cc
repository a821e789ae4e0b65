#include "tools/perf/report.h"

#include <fmt/format.h>

namespace warren::perf {

latency_summary summarize(const histogram& h) {
    latency_summary s;
    s.count = h.count();
    s.min = h.min();
    s.p50 = h.value_at_percentile(50);
    s.p95 = h.value_at_percentile(95);
    s.p99 = h.value_at_percentile(99);
    s.p999 = h.value_at_percentile(99.9);
    s.max = h.max();
    s.mean = h.mean();
    return s;
}

double run_summary::throughput() const {
    if (duration_s <= 0) return 0;
    double growth = depth_known ? static_cast<double>(depth_end - depth_start) : 0;
    return (static_cast<double>(received) + growth) / duration_s;
}

double run_summary::cpu_ns_per_message() const {
    uint64_t n = published + received;
    return n ? cpu_s * 1e9 / static_cast<double>(n) : 0;
}

std::string format_ns(uint64_t ns) {
    if (ns < 1000) return fmt::format("{} ns", ns);
    if (ns < 1000000) return fmt::format("{:.1f} us", ns / 1e3);
    if (ns < 1000000000) return fmt::format("{:.2f} ms", ns / 1e6);
    return fmt::format("{:.2f} s", ns / 1e9);
}

std::string format_live_line(double t_s, double sent_s, double confirmed_s, double received_s,
                             bool confirms, const histogram& interval, uint64_t blocked) {
    std::string line = fmt::format("{:6.1f}s  sent {:>9.0f} msg/s", t_s, sent_s);
    if (confirms) line += fmt::format("  confirmed {:>9.0f} msg/s", confirmed_s);
    line += fmt::format("  received {:>9.0f} msg/s", received_s);
    if (interval.count()) {
        line += fmt::format("  latency p50 {} p99 {}", format_ns(interval.value_at_percentile(50)),
                            format_ns(interval.value_at_percentile(99)));
    }
    if (blocked) line += "  [blocked by the broker]";
    return line;
}

namespace {

std::string latency_line(const latency_summary& l) {
    if (l.count == 0) return "no samples";
    return fmt::format("p50 {}  p95 {}  p99 {}  p99.9 {}  max {}  ({} samples)", format_ns(l.p50),
                       format_ns(l.p95), format_ns(l.p99), format_ns(l.p999), format_ns(l.max),
                       l.count);
}

nlohmann::json latency_json(const latency_summary& l) {
    return {{"count", l.count}, {"min", l.min},   {"p50", l.p50}, {"p95", l.p95},
            {"p99", l.p99},     {"p999", l.p999}, {"max", l.max}, {"mean", l.mean}};
}

}  // namespace

std::string format_summary(const run_summary& s) {
    std::string o = "warren-perf summary\n";
    o += fmt::format("  broker           {} vhost {}\n", s.broker, s.vhost);
    if (!s.tls.empty()) o += fmt::format("  tls              {}\n", s.tls);
    o += fmt::format(
        "  setup            {} producer(s), {} consumer(s), {} queue(s), {} B{}{}\n", s.producers,
        s.consumers, s.queues, s.size, s.persistent ? " persistent" : "",
        s.exchange.empty() ? "" : fmt::format(", exchange {} ({})", s.exchange, s.exchange_type));
    std::string flags;
    if (s.confirm) flags += fmt::format("confirms window {}, ", s.confirm);
    flags += s.auto_ack ? "auto-ack"
                        : fmt::format("manual ack (prefetch {}, {})", s.prefetch,
                                      s.multi_ack ? fmt::format("multi-ack {}", s.multi_ack)
                                                  : std::string("ack per read"));
    if (s.rate > 0) flags += fmt::format(", fixed rate {:.0f} msg/s", s.rate);
    o += fmt::format("  options          {}\n", flags);
    if (s.idle_connections)
        o += fmt::format("  idle connections {} of {} open\n", s.idle_open, s.idle_connections);
    o += fmt::format("  connect time     {:.2f} s\n", s.connect_s);
    o += fmt::format("  duration         {:.3f} s{}\n", s.duration_s,
                     s.interrupted ? " (interrupted)" : "");
    o += fmt::format("  sent             {} msg ({:.0f} msg/s)\n", s.published, s.send_rate());
    if (s.confirm)
        o += fmt::format("  confirmed        {} msg ({:.0f} msg/s), {} nacked\n", s.confirmed,
                         s.confirm_rate(), s.nacked);
    o += fmt::format("  received         {} msg ({:.0f} msg/s){}\n", s.received, s.receive_rate(),
                     s.expected ? fmt::format(", {} expected", s.expected) : std::string());
    // Per consumer when they differ in what they read (streams: each reads the whole log).
    if (s.consumer_results.size() > 1 || (s.consumer_results.size() == 1 && s.expected)) {
        for (size_t i = 0; i < s.consumer_results.size(); ++i) {
            const auto& c = s.consumer_results[i];
            o += fmt::format(
                "  consumer {:<8} {} msg in {:.3f} s ({:.0f} msg/s), first delivery {}\n", i,
                c.received, c.duration_s, c.rate(),
                c.first_delivery_s < 0 ? std::string("none")
                                       : fmt::format("after {:.1f} ms", c.first_delivery_s * 1e3));
        }
    }
    if (s.depth_known)
        o +=
            fmt::format("  queue depth      {} at start, {} at end{}\n", s.depth_start, s.depth_end,
                        s.depth_after_close_known
                            ? fmt::format(", {} after the clients closed", s.depth_after_close)
                            : std::string());
    o += fmt::format("  throughput       {:.0f} msg/s (consumed + queue growth)\n", s.throughput());
    o += fmt::format("  latency          {}\n", latency_line(s.latency));
    if (s.confirm) o += fmt::format("  confirm latency  {}\n", latency_line(s.confirm_latency));
    o += fmt::format("  warren-perf cpu  {:.2f} s ({:.0f}% of a core), {:.0f} ns per message\n",
                     s.cpu_s, s.duration_s > 0 ? 100 * s.cpu_s / s.duration_s : 0,
                     s.cpu_ns_per_message());
    if (s.blocked)
        o += fmt::format("  blocked          {} connection.blocked notifications\n", s.blocked);
    if (s.errors.empty()) {
        o += "  errors           none\n";
    } else {
        for (auto& e : s.errors) o += fmt::format("  error            {}\n", e);
    }
    return o;
}

nlohmann::json summary_json(const run_summary& s) {
    nlohmann::json j;
    j["broker"] = s.broker;
    j["vhost"] = s.vhost;
    j["tls"] = s.tls.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.tls);
    j["producers"] = s.producers;
    j["consumers"] = s.consumers;
    j["queues"] = s.queues;
    j["size"] = s.size;
    j["persistent"] = s.persistent;
    j["confirm"] = s.confirm;
    j["prefetch"] = s.prefetch;
    j["auto_ack"] = s.auto_ack;
    j["multi_ack"] = s.multi_ack;
    j["rate"] = s.rate;
    j["exchange"] = s.exchange;
    j["exchange_type"] = s.exchange_type;
    j["idle_connections"] = s.idle_connections;
    j["idle_connections_open"] = s.idle_open;
    j["connect_s"] = s.connect_s;
    j["duration_s"] = s.duration_s;
    j["sent"] = s.published;
    j["confirmed"] = s.confirmed;
    j["nacked"] = s.nacked;
    j["received"] = s.received;
    j["expected"] = s.expected;
    j["acks_sent"] = s.acks_sent;
    if (s.depth_known) {
        j["queue_depth_start"] = s.depth_start;
        j["queue_depth_end"] = s.depth_end;
    } else {
        j["queue_depth_start"] = nullptr;
        j["queue_depth_end"] = nullptr;
    }
    if (s.depth_after_close_known)
        j["queue_depth_after_close"] = s.depth_after_close;
    else
        j["queue_depth_after_close"] = nullptr;
    j["send_rate"] = s.send_rate();
    j["confirm_rate"] = s.confirm_rate();
    j["receive_rate"] = s.receive_rate();
    j["throughput"] = s.throughput();
    j["consumer_results"] = nlohmann::json::array();
    for (const auto& c : s.consumer_results)
        j["consumer_results"].push_back(
            {{"received", c.received},
             {"duration_s", c.duration_s},
             {"receive_rate", c.rate()},
             {"first_delivery_ms", c.first_delivery_s < 0
                                       ? nlohmann::json(nullptr)
                                       : nlohmann::json(c.first_delivery_s * 1e3)}});
    j["latency_ns"] = latency_json(s.latency);
    j["confirm_latency_ns"] = latency_json(s.confirm_latency);
    j["cpu_s"] = s.cpu_s;
    j["cpu_percent"] = s.duration_s > 0 ? 100 * s.cpu_s / s.duration_s : 0;
    j["cpu_ns_per_message"] = s.cpu_ns_per_message();
    j["blocked"] = s.blocked;
    j["interrupted"] = s.interrupted;
    j["errors"] = s.errors;
    return j;
}

}  // namespace warren::perf

#include "tools/perf/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "tools/perf/amqp_client.h"
#include "tools/perf/connection.h"
#include "tools/perf/tls.h"

namespace warren::perf {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::atomic<bool> g_stop{false};

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

void sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

double seconds_since(uint64_t t0) {
    return (now_ns() - t0) / 1e9;
}

// Whether each published message reaches every queue (fanout, headers, or one routing key that
// every queue is bound with) rather than only its producer's queue.
bool fans_out(const perf_options& o) {
    if (o.exchange.empty()) return false;
    return o.exchange_type == "fanout" || o.exchange_type == "headers" || o.routing_key_given;
}

// Messages routed to each queue, from what each producer published.
std::vector<uint64_t> routed_per_queue(const perf_options& o,
                                       const std::vector<std::shared_ptr<perf_connection>>& prods) {
    std::vector<uint64_t> routed(o.queues.size(), 0);
    uint64_t total = 0;
    for (auto& p : prods) total += p->published();
    if (fans_out(o)) {
        std::fill(routed.begin(), routed.end(), total);
    } else if (o.exchange.empty() && o.routing_key_given) {
        for (size_t q = 0; q < o.queues.size(); ++q)
            if (o.queues[q] == o.routing_key) routed[q] = total;
    } else {
        for (size_t i = 0; i < prods.size(); ++i)
            routed[i % o.queues.size()] += prods[i]->published();
    }
    return routed;
}

// Deliveries the consumers expect in count mode: a stream's consumers each read every message
// routed to their queue; a classic queue's consumers share them.
uint64_t expected_deliveries(const perf_options& o, const std::vector<uint64_t>& routed,
                             const std::set<size_t>& consumed_queues) {
    uint64_t expected = 0;
    if (o.stream_queues()) {
        for (int i = 0; i < o.consumers; ++i) expected += routed[i % o.queues.size()];
    } else {
        for (size_t q : consumed_queues) expected += routed[q];
    }
    return expected;
}

}  // namespace

void request_stop() {
    g_stop.store(true);
}

int run(const perf_options& o, std::ostream& live, std::ostream& out) {
    run_control rc;
    rc.epoch_ns = now_ns();
    shared_stats stats;
    run_summary sum;
    sum.vhost = o.broker.vhost;
    sum.producers = o.producers;
    sum.consumers = o.consumers;
    sum.queues = static_cast<int>(o.queues.size());
    sum.idle_connections = o.idle_connections;
    sum.size = o.size;
    sum.persistent = o.persistent;
    sum.auto_ack = o.auto_ack;
    sum.confirm = o.confirm;
    sum.prefetch = o.prefetch;
    sum.multi_ack = o.multi_ack;
    sum.rate = o.rate;
    sum.exchange = o.exchange;
    sum.exchange_type = o.exchange.empty() ? "" : o.exchange_type;
    raise_fd_limit();

    auto emit = [&](int code) {
        if (o.json) {
            out << summary_json(sum).dump(2) << std::endl;
        } else {
            out << format_summary(sum) << std::flush;
        }
        return code;
    };

    // Set-up: topology and the starting queue depths.
    const bool uses_queues = o.producers > 0 || o.consumers > 0;
    std::shared_ptr<asio::ssl::context> tls;
    if (o.broker.tls) {
        auto ctx = make_tls_context(o);
        if (auto* err = std::get_if<std::string>(&ctx)) {
            sum.broker = fmt::format("{}:{}", o.broker.host, o.broker.port);
            sum.errors.push_back("set-up: " + *err);
            return emit(1);
        }
        tls = std::get<std::shared_ptr<asio::ssl::context>>(ctx);
    }
    std::optional<sync_client> admin;
    // Messages ready in every queue of the run (passive declares; throws on a broker error).
    auto total_depth = [&] {
        int64_t depth = 0;
        for (auto& q : o.queues) depth += admin->declare_queue(q, o.durable, {}, true);
        return depth;
    };
    try {
        admin.emplace(o.broker, tls.get());
        sum.broker = fmt::format("{} {} at {}:{}", admin->server_product(), admin->server_version(),
                                 o.broker.host, o.broker.port);
        if (tls)
            sum.tls = admin->tls_description() +
                      (o.tls_ca.empty() ? ", certificate not verified" : ", certificate verified");
        if (uses_queues) {
            if (!o.exchange.empty())
                admin->declare_exchange(o.exchange, o.exchange_type, o.durable);
            int64_t depth = 0;
            for (auto& q : o.queues) {
                depth += admin->declare_queue(q, o.durable, o.queue_args, false);
                if (!o.exchange.empty())
                    admin->bind_queue(q, o.exchange, o.routing_key_given ? o.routing_key : q);
            }
            sum.depth_start = depth;
        }
    } catch (const std::exception& e) {
        sum.broker = fmt::format("{}:{}", o.broker.host, o.broker.port);
        sum.errors.push_back(std::string("set-up: ") + e.what());
        return emit(1);
    }

    tcp::endpoint endpoint;
    {
        asio::io_context tmp;
        tcp::resolver resolver(tmp);
        boost::system::error_code ec;
        auto r = resolver.resolve(o.broker.host, std::to_string(o.broker.port), ec);
        if (ec || r.empty()) {
            sum.errors.push_back("cannot resolve " + o.broker.host);
            return emit(1);
        }
        endpoint = r.begin()->endpoint();
    }

    // I/O threads: producers on the first, consumers on the last.
    int nthreads = o.threads > 0 ? o.threads : (o.producers > 0 && o.consumers > 0 ? 2 : 1);
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (int i = 0; i < nthreads; ++i) {
        ios.push_back(std::make_unique<asio::io_context>(1));
        guards.push_back(asio::make_work_guard(*ios.back()));
    }
    std::vector<std::thread> threads;
    for (auto& io : ios) threads.emplace_back([p = io.get()] { p->run(); });

    std::vector<std::shared_ptr<perf_connection>> producers, consumers, idle, all;
    for (int i = 0; i < o.consumers; ++i)
        consumers.push_back(std::make_shared<perf_connection>(*ios.back(), o, rc, stats,
                                                              conn_role::consumer, i, tls.get()));
    for (int i = 0; i < o.idle_connections; ++i)
        idle.push_back(std::make_shared<perf_connection>(*ios[i % ios.size()], o, rc, stats,
                                                         conn_role::idle, i, tls.get()));
    for (int i = 0; i < o.producers; ++i)
        producers.push_back(std::make_shared<perf_connection>(*ios.front(), o, rc, stats,
                                                              conn_role::producer, i, tls.get()));
    all.insert(all.end(), consumers.begin(), consumers.end());
    all.insert(all.end(), idle.begin(), idle.end());
    all.insert(all.end(), producers.begin(), producers.end());

    auto shutdown = [&] {
        rc.stop_publishing.store(true);
        for (auto& c : all) c->finish();
        uint64_t t0 = now_ns();
        while (seconds_since(t0) < 5) {
            bool open = std::any_of(all.begin(), all.end(), [](auto& c) {
                auto s = c->state();
                return s != perf_connection::status::closed && s != perf_connection::status::failed;
            });
            if (!open) break;
            sleep_ms(5);
        }
        for (auto& g : guards) g.reset();
        for (auto& io : ios) io->stop();
        for (auto& t : threads) t.join();
    };

    // Open every connection, at most `window` handshakes at a time (a burst of thousands of
    // SYNs would overflow the broker's accept backlog and stall on retransmits).
    const uint64_t connect_start = now_ns();
    const size_t window = 200;
    size_t launched = 0;
    const double connect_timeout = 30 + all.size() / 200.0;
    bool idle_announced = idle.empty();
    for (;;) {
        size_t ready = 0, failed = 0;
        for (size_t i = 0; i < launched; ++i) {
            auto s = all[i]->state();
            if (s == perf_connection::status::ready)
                ++ready;
            else if (s == perf_connection::status::failed || s == perf_connection::status::closed)
                ++failed;
        }
        if (failed) break;
        while (launched < all.size() && launched - ready < window) all[launched++]->start(endpoint);
        if (!idle_announced) {
            size_t idle_ready = std::count_if(idle.begin(), idle.end(), [](auto& c) {
                return c->state() == perf_connection::status::ready;
            });
            if (idle_ready == idle.size()) {
                live << fmt::format("connections open: {} in {:.2f} s", idle.size(),
                                    seconds_since(connect_start))
                     << std::endl;
                idle_announced = true;
            }
        }
        if (ready == all.size()) break;
        if (g_stop.load() || seconds_since(connect_start) > connect_timeout) break;
        sleep_ms(2);
    }
    sum.connect_s = seconds_since(connect_start);
    sum.idle_open = static_cast<int>(std::count_if(idle.begin(), idle.end(), [](auto& c) {
        return c->state() == perf_connection::status::ready;
    }));
    bool all_ready = std::all_of(all.begin(), all.end(), [](auto& c) {
        return c->state() == perf_connection::status::ready;
    });
    if (!all_ready) {
        shutdown();
        sum.errors = stats.errors();
        if (sum.errors.empty()) sum.errors.push_back("connections did not open in time");
        sum.interrupted = g_stop.load();
        return emit(1);
    }

    // Measure.
    const double cpu0 = cpu_seconds();
    const uint64_t t0 = now_ns();
    rc.publish_start_ns = t0;
    for (auto& p : producers) p->begin_publishing();

    const bool count_mode = o.pmessages > 0 && o.producers > 0;
    // Every consumer stops at --cmessages (with no producers: reading what the queue holds).
    const bool consumer_count_mode = o.cmessages > 0 && !consumers.empty();
    std::set<size_t> consumed_queues;
    for (int i = 0; i < o.consumers; ++i) consumed_queues.insert(i % o.queues.size());
    uint64_t last_tick_ns = t0;
    uint64_t prev_sent = 0, prev_conf = 0, prev_recv = 0;
    int tick = 0;
    histogram interval;
    uint64_t end_ns = 0;
    bool producers_finished = false;
    uint64_t last_progress_ns = 0, last_received = 0;
    int64_t last_depth = -1;
    bool failed = false;

    for (;;) {
        sleep_ms(o.consumers == 0 && producers_finished ? 20 : 2);
        const uint64_t now = now_ns();
        if (stats.error_count() > 0) {
            failed = true;
            end_ns = now;
            break;
        }
        if (g_stop.load()) {
            sum.interrupted = true;
            end_ns = now;
            break;
        }
        if (!o.quiet && now - last_tick_ns >= 1000000000ull) {
            double dt = (now - last_tick_ns) / 1e9;
            uint64_t sent = stats.published.load(), conf = stats.confirmed.load(),
                     recv = stats.received.load();
            stats.take_interval(interval);
            live << format_live_line(++tick, (sent - prev_sent) / dt, (conf - prev_conf) / dt,
                                     (recv - prev_recv) / dt, o.confirm > 0, interval,
                                     stats.blocked.load())
                 << std::endl;
            prev_sent = sent, prev_conf = conf, prev_recv = recv;
            last_tick_ns = now;
        }
        if (o.time_s > 0 && now - t0 >= static_cast<uint64_t>(o.time_s * 1e9)) {
            end_ns = now;
            break;
        }
        if (consumer_count_mode) {
            bool all_read = std::all_of(consumers.begin(), consumers.end(),
                                        [&](auto& c) { return c->received() >= o.cmessages; });
            if (all_read) {
                end_ns = now;
                break;
            }
            uint64_t recv = stats.received.load();
            if (recv != last_received || last_progress_ns == 0)
                last_received = recv, last_progress_ns = now;
            if (now - last_progress_ns > static_cast<uint64_t>(o.drain_timeout_s * 1e9)) {
                end_ns = last_progress_ns;
                stats.add_error("timed out waiting for deliveries (--cmessages)");
                failed = true;
                break;
            }
            continue;
        }
        if (!count_mode) continue;
        if (!producers_finished) {
            producers_finished = std::all_of(producers.begin(), producers.end(),
                                             [](auto& p) { return p->producer_done(); });
            if (!producers_finished) continue;
            last_progress_ns = now;
            last_received = stats.received.load();
        }
        // Count mode, every message published: wait for them to arrive.
        auto routed = routed_per_queue(o, producers);
        if (o.consumers > 0) {
            uint64_t expected = expected_deliveries(o, routed, consumed_queues);
            sum.expected = expected;
            uint64_t recv = stats.received.load();
            if (recv >= expected) {
                end_ns = now;
                break;
            }
            if (recv != last_received) last_received = recv, last_progress_ns = now;
        } else if (o.stream_queues() && o.confirm > 0) {
            // Filling a stream with confirms: every message is confirmed, so it is in the log
            // (RabbitMQ's declare-ok counts no stream's messages: its depth cannot be waited for).
            end_ns = now;
            break;
        } else {
            // Fill mode: until the queues hold everything published (as the broker reports).
            uint64_t target = 0;
            for (auto r : routed) target += r;
            int64_t depth = 0;
            try {
                depth = total_depth();
            } catch (const std::exception& e) {
                stats.add_error(std::string("queue depth: ") + e.what());
                continue;
            }
            if (depth - sum.depth_start >= static_cast<int64_t>(target)) {
                end_ns = now_ns();
                break;
            }
            if (depth != last_depth) last_depth = depth, last_progress_ns = now;
        }
        if (now - last_progress_ns > static_cast<uint64_t>(o.drain_timeout_s * 1e9)) {
            end_ns = last_progress_ns;
            stats.add_error(o.consumers > 0 ? "timed out waiting for deliveries"
                                            : "timed out waiting for the queue depth");
            failed = true;
            break;
        }
    }
    sum.cpu_s = cpu_seconds() - cpu0;
    sum.duration_s = (end_ns - t0) / 1e9;
    // Each consumer's own numbers. With no producers the consumers start reading when their
    // basic.consume goes out, before the measured time: time them from there.
    uint64_t first_consume = 0;
    for (auto& c : consumers) {
        consumer_result r;
        r.received = c->received();
        uint64_t sent = c->consume_sent_ns(), first = c->first_delivery_ns(),
                 reached = c->count_reached_ns();
        if (sent && (first_consume == 0 || sent < first_consume)) first_consume = sent;
        if (sent && first >= sent) r.first_delivery_s = (first - sent) / 1e9;
        uint64_t stop = reached ? reached : end_ns;
        if (sent && stop > sent) r.duration_s = (stop - sent) / 1e9;
        sum.consumer_results.push_back(r);
    }
    if (consumer_count_mode && o.producers == 0 && first_consume && first_consume < t0)
        sum.duration_s = (end_ns - first_consume) / 1e9;
    // The backlog at the end of the measured time, clients still connected: messages ready in
    // the queues (a passive declare counts no unacked delivery), as a user watching the queue
    // sees it. What the queues hold after the clients closed is read again below.
    if (uses_queues) {
        try {
            sum.depth_end = total_depth();
            sum.depth_known = true;
        } catch (const std::exception& e) {
            stats.add_error(std::string("queue depth at the end: ") + e.what());
        }
    }
    sum.published = stats.published.load();
    sum.confirmed = stats.confirmed.load();
    sum.nacked = stats.nacked.load();
    sum.received = stats.received.load();
    sum.acks_sent = stats.acks_sent.load();
    sum.blocked = stats.blocked.load();
    if (count_mode && o.consumers > 0 && sum.expected == 0)
        sum.expected = expected_deliveries(o, routed_per_queue(o, producers), consumed_queues);
    if (consumer_count_mode && sum.expected == 0) sum.expected = o.cmessages * o.consumers;

    shutdown();
    sum.latency = summarize(stats.total_latency());
    sum.confirm_latency = summarize(stats.total_confirm_latency());

    // Queue depths once the clients closed (their unacked deliveries requeued, what the
    // producers had written taken in), then clean up.
    if (uses_queues) {
        try {
            sum.depth_after_close = total_depth();
            sum.depth_after_close_known = true;
            if (!o.keep_queues && !o.no_consume) {
                for (auto& q : o.queues) admin->delete_queue(q);
                if (!o.exchange.empty()) admin->delete_exchange(o.exchange);
            }
            admin->close();
        } catch (const std::exception& e) {
            stats.add_error(std::string("tear-down: ") + e.what());
        }
    }
    sum.errors = stats.errors();
    return emit(failed || !sum.errors.empty() ? 1 : 0);
}

}  // namespace warren::perf

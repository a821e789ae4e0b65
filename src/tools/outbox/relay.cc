#include "tools/outbox/relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/dedup.h"
#include "tools/perf/amqp_client.h"

namespace warren::outbox {

namespace {

using clock = std::chrono::steady_clock;

core::field_value from_json(const nlohmann::json& j) {
    using t = nlohmann::json::value_t;
    switch (j.type()) {
        case t::string:
            return core::field_value{j.get<std::string>()};
        case t::boolean:
            return core::field_value{j.get<bool>()};
        case t::number_integer:
            return core::field_value{j.get<int64_t>()};
        case t::number_unsigned:
            return core::field_value{static_cast<int64_t>(j.get<uint64_t>())};
        case t::number_float:
            return core::field_value{j.get<double>()};
        case t::object: {
            core::field_table tbl;
            for (auto& [k, v] : j.items()) tbl.emplace_back(k, from_json(v));
            return core::field_value::table(std::move(tbl));
        }
        case t::array: {
            core::field_array a;
            for (auto& v : j) a.push_back(from_json(v));
            return core::field_value::array(std::move(a));
        }
        default:
            return core::field_value{core::void_value{}};
    }
}

void log_line(const std::string& s) {
    std::fprintf(stderr, "%s\n", s.c_str());
    std::fflush(stderr);
}

// Sleeps up to `d`, waking early when `stop` is set.
void nap(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
    const auto until = clock::now() + d;
    while (!stop.load() && clock::now() < until)
        std::this_thread::sleep_for(
            std::min<clock::duration>(until - clock::now(), std::chrono::milliseconds(50)));
}

}  // namespace

core::field_table row_headers(const row& r, std::string* warning) {
    core::field_table h;
    if (!r.headers.empty()) {
        auto j = nlohmann::json::parse(r.headers, nullptr, false);
        if (j.is_object()) {
            for (auto& [k, v] : j.items())
                if (k != core::k_dedup_header) h.emplace_back(k, from_json(v));
        } else if (warning) {
            *warning =
                fmt::format("row {}: headers are not a JSON object; sent without them", r.id);
        }
    }
    h.emplace_back(std::string(core::k_dedup_header), core::field_value{int64_t{r.id}});
    return h;
}

void relay::wait(source& src) {
    if (_wake_fd < 0) {
        src.wait(_o.poll);
        return;
    }
    pollfd p{_wake_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(_o.poll.count())) > 0) {
        char buf[512];
        while (::recv(_wake_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
        }
    }
}

int relay::run(const std::atomic<bool>& stop) {
    if (_o.wake_udp) {
        _wake_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(_o.wake_udp);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (_wake_fd < 0 || ::bind(_wake_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            log_line(fmt::format("outbox: cannot bind the wake socket 127.0.0.1:{}", _o.wake_udp));
            return 1;
        }
    }
    std::unique_ptr<source> src;
    std::unique_ptr<perf::sync_client> amqp;
    std::chrono::milliseconds backoff{100};
    const std::chrono::milliseconds max_backoff{5000};
    int64_t high_water = 0;  // highest row id published so far (repeats below it are counted)
    bool initialised = !_o.init;
    auto fail = [&](const char* side, const std::exception& e) {
        log_line(fmt::format("outbox: {} error: {} (retrying in {} ms)", side, e.what(),
                             backoff.count()));
        nap(backoff, stop);
        backoff = std::min(backoff * 2, max_backoff);
    };
    _last_progress = clock::now();
    while (!stop.load()) {
        if (!src) {
            try {
                src = open_source(_o.db, _o.src);
                if (!initialised) {
                    src->init();
                    initialised = true;
                }
            } catch (const std::exception& e) {
                src.reset();
                ++_stats.db_reconnects;
                fail("database", e);
                continue;
            }
        }
        if (!amqp) {
            try {
                amqp = std::make_unique<perf::sync_client>(_o.amqp, nullptr, 30);
                amqp->confirm_select();
                log_line(fmt::format("outbox: connected to {} {} at {}:{}", amqp->server_product(),
                                     amqp->server_version(), _o.amqp.host, _o.amqp.port));
            } catch (const std::exception& e) {
                amqp.reset();
                ++_stats.broker_reconnects;
                fail("broker", e);
                continue;
            }
        }
        std::vector<row> rows;
        try {
            ++_stats.db_queries;
            rows = src->fetch(_o.batch);
            if (rows.empty()) {
                progress(*src, false);
                wait(*src);
                continue;
            }
        } catch (const std::exception& e) {
            src.reset();
            ++_stats.db_reconnects;
            fail("database", e);
            continue;
        }
        try {
            uint64_t last = 0;
            for (auto& r : rows) {
                core::basic_properties p;
                p.delivery_mode = 2;
                std::string warning;
                p.headers = row_headers(r, &warning);
                if (!warning.empty()) log_line("outbox: " + warning);
                p.message_id = std::to_string(r.id);
                last = amqp->publish(r.exchange, r.routing_key, p, r.body);
                if (r.id <= high_water) ++_stats.republished;
                high_water = std::max(high_water, r.id);
            }
            amqp->wait_confirms(last);
        } catch (const std::exception& e) {
            amqp.reset();  // its socket closes; the rows stay pending and go again
            ++_stats.broker_reconnects;
            fail("broker", e);
            continue;
        }
        try {
            ++_stats.db_queries;
            src->remove(rows);
        } catch (const std::exception& e) {
            // Confirmed but not removed: published again after the reconnect (the broker's
            // deduplication drops the repeats).
            src.reset();
            ++_stats.db_reconnects;
            fail("database", e);
            continue;
        }
        _stats.relayed += rows.size();
        ++_stats.batches;
        backoff = std::chrono::milliseconds{100};
        progress(*src, false);
        if (_o.max_rows && _stats.relayed >= _o.max_rows) break;
    }
    if (src) {
        try {
            progress(*src, true);
        } catch (const std::exception&) {
        }
    }
    if (_wake_fd >= 0) ::close(_wake_fd);
    if (amqp) {
        try {
            amqp->close();
        } catch (const std::exception&) {
        }
    }
    return 0;
}

void relay::progress(source& src, bool force) {
    const auto now = clock::now();
    if (!force && (_o.progress_every.count() == 0 || now - _last_progress < _o.progress_every))
        return;
    ++_stats.db_queries;
    auto b = src.pending();
    _stats.pending = b.pending;
    _stats.oldest_age_ms = b.oldest_age_ms.value_or(0);
    const double secs = std::chrono::duration<double>(now - _last_progress).count();
    const uint64_t delta = _stats.relayed - _last_relayed;
    log_line(
        fmt::format("outbox: relayed={} (+{} in {:.1f} s, {:.0f}/s) pending={} lag_ms={:.0f} "
                    "republished={} broker_reconnects={} db_reconnects={} db_queries={}",
                    _stats.relayed, delta, secs, secs > 0 ? static_cast<double>(delta) / secs : 0.0,
                    _stats.pending, _stats.oldest_age_ms, _stats.republished,
                    _stats.broker_reconnects, _stats.db_reconnects, _stats.db_queries));
    _last_progress = now;
    _last_relayed = _stats.relayed;
    write_metrics();
}

void relay::write_metrics() const {
    if (_o.metrics_file.empty()) return;
    const std::string tmp = _o.metrics_file + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!f) return;
        auto metric = [&](const char* name, const char* type, const char* help, double v,
                          const char* labels = "") {
            f << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
              << name << labels << ' ' << fmt::format("{}", v) << '\n';
        };
        metric("warren_outbox_relayed_total", "counter",
               "Outbox rows confirmed by the broker and removed.",
               static_cast<double>(_stats.relayed));
        metric("warren_outbox_republished_total", "counter",
               "Rows published again after a broker or database failure.",
               static_cast<double>(_stats.republished));
        metric("warren_outbox_db_queries_total", "counter",
               "Statements run against the outbox table (fetch, remove, count).",
               static_cast<double>(_stats.db_queries));
        metric("warren_outbox_pending_rows", "gauge", "Rows waiting in the outbox.",
               static_cast<double>(_stats.pending));
        metric("warren_outbox_lag_seconds", "gauge", "Age of the oldest waiting row.",
               _stats.oldest_age_ms / 1000.0);
        f << "# HELP warren_outbox_reconnects_total Reconnections after a failure.\n"
          << "# TYPE warren_outbox_reconnects_total counter\n"
          << "warren_outbox_reconnects_total{side=\"broker\"} " << _stats.broker_reconnects
          << "\nwarren_outbox_reconnects_total{side=\"database\"} " << _stats.db_reconnects << '\n';
    }
    std::rename(tmp.c_str(), _o.metrics_file.c_str());
}

std::unique_ptr<source> open_sqlite_source(const std::string& path, const source_options& o);
std::unique_ptr<source> open_pg_source(const std::string& uri, const source_options& o);

std::unique_ptr<source> open_source(const std::string& db, const source_options& o) {
    auto starts = [&](std::string_view p) { return db.rfind(p, 0) == 0; };
    auto ends = [&](std::string_view s) {
        return db.size() >= s.size() && db.compare(db.size() - s.size(), s.size(), s) == 0;
    };
    if (starts("postgresql://") || starts("postgres://")) return open_pg_source(db, o);
    if (starts("sqlite:")) return open_sqlite_source(db.substr(7), o);
    if (ends(".db") || ends(".sqlite") || ends(".sqlite3")) return open_sqlite_source(db, o);
    throw std::runtime_error("unknown database '" + db + "': give postgresql://... or sqlite:PATH");
}

}  // namespace warren::outbox

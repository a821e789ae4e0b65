// warren-outbox: the transactional-outbox relay (docs/outbox.md).
//   warren-outbox --db sqlite:/var/lib/app/app.db --amqp amqp://guest:guest@127.0.0.1:5672/
//   warren-outbox --db postgresql://app@/app --init --metrics-file /var/lib/node/outbox.prom
#include <csignal>
#include <cstdio>
#include <regex>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/outbox/relay.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) {
    g_stop.store(true);
}
}  // namespace

int main(int argc, char** argv) {
    using namespace warren;
    CLI::App app{
        "warren-outbox: relays outbox table rows to the broker, in order, with "
        "publisher confirms, removing each row only after its confirm"};
    outbox::relay_options o;
    std::string uri = "amqp://guest:guest@127.0.0.1:5672/";
    int64_t poll_ms = 1000, progress_ms = 5000;
    app.add_option("--db", o.db, "postgresql://... (libpq URI) or sqlite:PATH")->required();
    app.add_option("--amqp", uri, "the broker: amqp://user:pass@host:port/vhost")
        ->capture_default_str();
    app.add_option("--table", o.src.table, "the outbox table")->capture_default_str();
    app.add_option("--channel", o.src.channel, "PostgreSQL: the LISTEN/NOTIFY channel")
        ->capture_default_str();
    app.add_flag("--keep", o.src.keep, "mark relayed rows (published_at) instead of deleting");
    app.add_flag("--init", o.init, "create the table (and its NOTIFY trigger) if missing");
    bool init_only = false;
    app.add_flag("--init-only", init_only, "create the table if missing, then exit");
    app.add_option("--batch", o.batch, "rows per publish batch")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    app.add_option("--poll-ms", poll_ms,
                   "wait between polls when idle (PostgreSQL: NOTIFY wakes "
                   "it sooner)")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600000));
    app.add_option("--wake-udp", o.wake_udp,
                   "SQLite: a datagram to 127.0.0.1:PORT wakes the relay at once (the app sends "
                   "one after each commit; PostgreSQL has NOTIFY)");
    app.add_option("--progress-ms", progress_ms, "progress line interval (0: none)")
        ->capture_default_str();
    app.add_option("--metrics-file", o.metrics_file,
                   "write Prometheus text metrics here at each progress line");
    app.add_option("--max-rows", o.max_rows, "stop after relaying this many rows (0: never)");
    CLI11_PARSE(app, argc, argv);

    if (!std::regex_match(o.src.table, std::regex("[A-Za-z_][A-Za-z0-9_]{0,62}"))) {
        std::fprintf(stderr, "warren-outbox: --table must be a plain SQL identifier\n");
        return 2;
    }
    auto parsed = perf::parse_amqp_uri(uri);
    if (auto* err = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "warren-outbox: --amqp: %s\n", err->c_str());
        return 2;
    }
    o.amqp = std::get<perf::amqp_uri>(parsed);
    if (o.amqp.tls) {
        std::fprintf(stderr, "warren-outbox: amqps:// is not supported yet\n");
        return 2;
    }
    o.poll = std::chrono::milliseconds(poll_ms);
    o.progress_every = std::chrono::milliseconds(std::max<int64_t>(progress_ms, 0));

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    if (init_only) {
        try {
            outbox::open_source(o.db, o.src)->init();
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warren-outbox: %s\n", e.what());
            return 1;
        }
    }
    outbox::relay r(std::move(o));
    return r.run(g_stop);
}

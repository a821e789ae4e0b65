// warrend: the Warren broker process. Reads the config (file, then flags), sets up logging,
// starts one listener per protocol (and per TLS port) on the broker thread, and runs until
// SIGINT/SIGTERM, when it closes client connections cleanly and exits 0. SIGHUP reloads the TLS
// certificate and key for new connections. Config errors exit 2 with one line on stderr.

#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "auth/authority.h"
#include "base/log.h"
#include "base/process.h"
#include "core/broker.h"
#include "core/flow.h"
#include "durability/broker_store.h"
#include "mgmt/access_api.h"
#include "mgmt/definitions_import.h"
#include "mgmt/http_server.h"
#include "mgmt/management_api.h"
#include "mgmt/message_stats.h"
#include "mgmt/metrics.h"
#include "mgmt/policy_api.h"
#include "mgmt/ui_assets.h"
#include "net/listener.h"
#include "net/reactor_reserve.h"
#include "net/tls_context.h"
#include "proto/amqp091/server.h"
#include "proto/stomp/server.h"
#include "server/config.h"
#include "server/connection_cap.h"
#include "server/policies.h"
#include "server/resource_monitor.h"
#include "server/version.h"

namespace {

using namespace warren;
using boost::asio::ip::tcp;

constexpr int exit_config_error = 2;
constexpr int exit_runtime_error = 1;

std::string keys_help() {
    std::string s = "\nConfig file keys (key = value; flags override the file):\n";
    for (auto& d : server::describe())
        s += fmt::format("  {:<22} {:<10} {}\n", d.key, d.default_value, d.meaning);
    return s;
}

// Reads the config again (file, then flags) for SIGHUP; nullopt (logged) if it no longer parses.
using config_reader = std::function<std::optional<server::config>()>;

int run(const server::config& cfg, const config_reader& reread) {
    spdlog::level::level_enum level = spdlog::level::info;
    log::parse_level(cfg.log_level, level);
    log::init(level);

    std::error_code fec;
    std::filesystem::create_directories(cfg.data_dir, fec);
    if (fec) {
        std::fprintf(stderr, "warrend: data_dir '%s': %s\n", cfg.data_dir.c_str(),
                     fec.message().c_str());
        return exit_runtime_error;
    }

    // Descriptors: the soft limit raised to the hard one (often 1,024 -> 1,048,576), so a burst
    // of connections does not leave the store without descriptors for its segment files.
    uint64_t descriptor_limit = 0;
    if (struct rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        const rlim_t before = rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = before;
        }
        WLOG_INFO("file descriptor limit {} (was {})", static_cast<uint64_t>(rl.rlim_cur),
                  static_cast<uint64_t>(before));
        descriptor_limit = rl.rlim_cur == RLIM_INFINITY ? 0 : static_cast<uint64_t>(rl.rlim_cur);
    }
    // The node's connection cap keeps descriptors for the store (server/connection_cap.h).
    const uint64_t connection_max = cfg.connection_max.value_or(
        descriptor_limit ? server::default_connection_max(descriptor_limit) : 0);
    if (connection_max)
        WLOG_INFO("connection_max {} ({}; descriptor limit {}, {} kept for the store and the rest)",
                  connection_max, cfg.connection_max ? "configured" : "default", descriptor_limit,
                  descriptor_limit > connection_max ? descriptor_limit - connection_max : 0);
    else
        WLOG_INFO("connection_max infinity");

    boost::asio::io_context io(1);
    core::flow_mark = {.messages = static_cast<size_t>(cfg.flow_queue_ready_messages),
                       .bytes = cfg.flow_queue_ready_bytes};
    core::broker broker;
    auth::authority authority;
    authority.users.set_loopback_users(cfg.loopback_users);
    // The configured default user (an administrator with every permission on the default
    // vhost) and default vhost replace guest and "/", as RabbitMQ's default_user and
    // default_vhost do.
    if (!cfg.default_pass_hash.empty()) {
        authority.users.put_user(cfg.default_user,
                                 *auth::password_hash::parse(cfg.default_pass_hash),
                                 {"administrator"});
        (void)authority.users.set_permissions(cfg.default_user, cfg.default_vhost,
                                              {".*", ".*", ".*"});
    } else {
        authority.seed_default_user(cfg.default_user, cfg.default_pass, cfg.default_vhost);
    }
    if (cfg.default_vhost != "/") {
        broker.remove_vhost("/");
        broker.add_vhost(cfg.default_vhost);
    }

    // Durable state: lock the data dir, restore the topology and the messages, attach the store.
    // Refuses to start (exit 1) on a data dir it cannot read, rather than start empty.
    auto durable = durability::broker_store::open(io, broker,
                                                  {.dir = cfg.data_dir,
                                                   .queue_memory_limit = cfg.queue_memory_limit,
                                                   .users = &authority.users});
    if (!durable) {
        WLOG_ERROR("startup failed: {}", durable.error());
        std::fprintf(stderr, "warrend: %s\n", durable.error().c_str());
        return exit_runtime_error;
    }

    // Resource alarms: memory and disk checked every resource_check_interval.
    server::resource_monitor monitor(io, broker, cfg.data_dir, server::resource_limits::from(cfg));
    monitor.start();

    // Policies from the config (after recovery: they apply to recovered queues too).
    if (auto r = server::apply_config_policies(broker, cfg); !r) {
        WLOG_ERROR("startup failed: {}", r.error().text);
        std::fprintf(stderr, "warrend: config error: %s\n", r.error().text.c_str());
        return exit_config_error;
    }
    for (auto& p : cfg.policies)
        WLOG_INFO("policy '{}' set: pattern '{}' apply-to {} priority {} definition {}", p.name,
                  p.pattern, p.apply_to, p.priority, p.definition);

    amqp::settings amqp_settings;
    amqp_settings.frame_max = cfg.amqp_frame_max;
    amqp_settings.max_message_size = cfg.max_message_size;
    // Every AMQP and STOMP connection on the node, handshakes included (for connection_max).
    amqp::server* amqp_ptr = nullptr;
    stomp::server* stomp_ptr = nullptr;
    auto node_connections = [&amqp_ptr, &stomp_ptr]() -> size_t {
        return (amqp_ptr ? amqp_ptr->connection_count() : 0) +
               (stomp_ptr ? stomp_ptr->connection_count() : 0);
    };
    amqp_settings.max_connections =
        static_cast<size_t>(cfg.amqp_max_connections.value_or(cfg.max_connections));
    amqp_settings.connection_max = connection_max;
    amqp_settings.node_connections = node_connections;
    amqp_settings.consumer_max_per_channel = cfg.consumer_max_per_channel;
    amqp_settings.channel_max = cfg.amqp_channel_max;
    amqp_settings.heartbeat_s = cfg.amqp_heartbeat;
    amqp_settings.consumer_timeout_ms = cfg.consumer_timeout_ms;
    amqp_settings.version = server::version;
    amqp::server amqp_server(io, broker, authority, amqp_settings);
    amqp_ptr = &amqp_server;

    stomp::settings stomp_settings;
    stomp_settings.max_frame_size = cfg.stomp_max_frame_size;
    stomp_settings.max_message_size = cfg.max_message_size;
    stomp_settings.max_connections =
        static_cast<size_t>(cfg.stomp_max_connections.value_or(cfg.max_connections));
    stomp_settings.connection_max = connection_max;
    stomp_settings.node_connections = node_connections;
    stomp_settings.consumer_max = cfg.consumer_max_per_channel;
    stomp_settings.max_headers = cfg.stomp_max_headers;
    stomp_settings.max_header_length = cfg.stomp_max_header_length;
    stomp_settings.heartbeat_ms = cfg.stomp_heartbeat_ms;
    stomp_settings.default_user = cfg.default_user;
    stomp_settings.default_pass = cfg.default_pass;
    stomp_settings.default_vhost = cfg.default_vhost;
    stomp::server stomp_server(io, broker, authority, stomp_settings);
    stomp_ptr = &stomp_server;
    // Sockets beyond connection_max + the handshake slack are closed at accept; HTTP
    // connections count there too (they hold descriptors), not against connection_max itself.
    mgmt::http_server* http_ptr = nullptr;
    auto open_sockets = [&node_connections, &http_ptr]() -> size_t {
        return node_connections() + (http_ptr ? http_ptr->connection_count() : 0);
    };
    server::connection_gate gate(connection_max, open_sockets);
    // Boost.Asio's per-socket states, reserved in runs ahead of the accepts, so that they do
    // not pin the pages of closed connections (net/reactor_reserve.h).
    net::reactor_reserve reactor_states(
        io, connection_max ? connection_max + server::handshake_slack : 0);
    auto admit = [&](std::string_view listener) {
        reactor_states.ensure(open_sockets());
        return gate.admit(listener, broker.now_ms());
    };

    // TLS: one context for every TLS listener, built now (a bad certificate or key is a config
    // error), rebuilt on SIGHUP for new connections.
    std::unique_ptr<net::tls_context> tls;
    if (server::tls_enabled(cfg)) {
        net::tls_options o;
        o.cert_file = cfg.tls_cert_file;
        o.key_file = cfg.tls_key_file;
        o.ca_file = cfg.tls_ca_file;
        net::parse_tls_verify(cfg.tls_verify, o.verify);
        net::parse_tls_login_from(cfg.tls_login_from, o.login_from);
        o.handshake_timeout_ms = cfg.tls_handshake_timeout_ms;
        auto loaded = net::tls_context::load(std::move(o));
        if (!loaded) {
            WLOG_ERROR("startup failed: {}", loaded.error());
            std::fprintf(stderr, "warrend: config error: %s\n", loaded.error().c_str());
            return exit_config_error;
        }
        tls = std::move(*loaded);
        WLOG_INFO("TLS certificate loaded cert_file={} verify={} login_from={}", cfg.tls_cert_file,
                  cfg.tls_verify, cfg.tls_login_from);
    }

    mgmt::http_server http(io);
    http_ptr = &http;
    http.routes().add("GET", "/api/health", [](const mgmt::call& c) {
        return mgmt::make_response(c.req, mgmt::http::status::ok, R"({"status":"ok"})");
    });
    mgmt::access_api access(broker, authority, &(*durable)->topology());
    access.install(http);
    mgmt::management_api management(broker, authority);
    mgmt::rate_sampler rates(broker, std::chrono::milliseconds(cfg.collect_statistics_interval_ms));
    rates.start(io);
    access.set_rates(&rates);
    management.set_rates(&rates);
    management.install(http);
    mgmt::policy_api policies(broker, authority, management.node_name());
    policies.install(http);
    mgmt::definitions_import definitions(broker, authority);
    definitions.install(http);
    mgmt::metrics metrics(broker, durable->get());
    metrics.install(http);
    mgmt::install_ui(http.routes());  // the web UI at / (www/, compiled in)
    http.on_websocket(
        "/ws", {"v12.stomp", "v11.stomp", "v10.stomp", "amqp"},
        [&](mgmt::ws_stream ws, const std::string& subprotocol) {
            if (!admit("ws")) return;  // closed with the stream
            if (subprotocol == "amqp")
                amqp_server.accept_websocket(std::move(ws));
            else
                stomp_server.accept_websocket(std::move(ws));
        },
        [&](mgmt::wss_stream ws, net::tls_context_ptr ctx, const std::string& subprotocol) {
            if (!admit("wss")) return;
            if (subprotocol == "amqp")
                amqp_server.accept_websocket_tls(std::move(ws), std::move(ctx));
            else
                stomp_server.accept_websocket_tls(std::move(ws), std::move(ctx));
        });

    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(cfg.bind, ec);
    if (ec) {
        std::fprintf(stderr, "warrend: config error: key 'bind': '%s' is not an IP address\n",
                     cfg.bind.c_str());
        return exit_config_error;
    }

    std::vector<std::unique_ptr<net::listener>> listeners;
    auto add = [&](const char* name, std::optional<uint16_t> port, net::listener::accept_fn fn) {
        if (!port) return;
        listeners.push_back(
            std::make_unique<net::listener>(io, name, tcp::endpoint(address, *port), fn));
    };
    // A socket the gate refuses is closed when `s` goes out of scope; HTTP gets a 503 first.
    add("amqp", cfg.amqp_port, [&](tcp::socket s) {
        if (admit("amqp")) amqp_server.accept(std::move(s));
    });
    add("stomp", cfg.stomp_port, [&](tcp::socket s) {
        if (admit("stomp")) stomp_server.accept(std::move(s));
    });
    add("http", cfg.http_port, [&](tcp::socket s) {
        if (admit("http"))
            http.accept(std::move(s));
        else
            server::refuse_http(std::move(s), connection_max);
    });
    // TLS listeners take the context current at accept time (SIGHUP swaps it).
    add("amqps", cfg.amqp_tls_port, [&](tcp::socket s) {
        if (admit("amqps")) amqp_server.accept_tls(std::move(s), tls->current());
    });
    add("stomp-tls", cfg.stomp_tls_port, [&](tcp::socket s) {
        if (admit("stomp-tls")) stomp_server.accept_tls(std::move(s), tls->current());
    });
    add("https", cfg.http_tls_port, [&](tcp::socket s) {
        if (admit("https")) http.accept_tls(std::move(s), tls->current());
    });

    for (auto& l : listeners) {
        try {
            l->start();
        } catch (const std::system_error& e) {
            WLOG_ERROR("startup failed: {}: {}", e.what(), e.code().message());
            std::fprintf(stderr, "warrend: %s\n", e.what());
            return exit_runtime_error;
        }
        auto ep = l->local_endpoint();
        WLOG_INFO("listening protocol={} address={}:{}", l->name(), ep.address().to_string(),
                  ep.port());
    }
    {
        // RabbitMQ's listener protocol names, for /api/overview and the port-listener check.
        std::vector<mgmt::management_api::listener> ls;
        for (auto& l : listeners) {
            static const std::map<std::string, std::string> names = {{"amqps", "amqp/ssl"},
                                                                     {"stomp-tls", "stomp/ssl"}};
            auto it = names.find(l->name());
            auto ep = l->local_endpoint();
            ls.push_back(
                {it != names.end() ? it->second : l->name(), ep.address().to_string(), ep.port()});
        }
        management.set_listeners(std::move(ls));
    }
    WLOG_INFO("warrend {} started data_dir={}", server::version, cfg.data_dir);

    // ---- Queue timers: message TTL and x-expires run on broker.tick(), every 10 ms, on the
    // broker thread like everything else (broker.next_expiry() could stretch the sleep).
    // x-delayed-message: when a held message falls due before the next tick, wake then and
    // release only delayed messages (no queue scan), so they go out on time to the millisecond.
    boost::asio::steady_timer tick_timer(io);
    uint64_t last_tick = 0;
    std::function<void()> arm_tick = [&] {
        uint64_t wait = 10;
        if (auto due = broker.next_delayed_due()) {
            const uint64_t now = broker.now_ms();
            wait = *due > now ? std::min<uint64_t>(*due - now, 10) : 0;
        }
        tick_timer.expires_after(std::chrono::milliseconds(wait));
        tick_timer.async_wait([&](const boost::system::error_code& e) {
            if (e) return;
            const uint64_t now = broker.now_ms();
            if (now - last_tick >= 10) {
                broker.tick(now);
                last_tick = now;
            } else {
                broker.release_delayed(now);
            }
            arm_tick();
        });
    };
    arm_tick();
    // ---- end queue timers

    boost::asio::signal_set hup(io, SIGHUP);  // armed below
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& e, int sig) {
        if (e) return;
        WLOG_INFO("shutting down signal={}", sig == SIGINT ? "SIGINT" : "SIGTERM");
        for (auto& l : listeners) l->stop();
        amqp_server.shutdown();
        stomp_server.shutdown();
        http.shutdown();
        tick_timer.cancel();
        monitor.stop();
        rates.stop();
        hup.cancel();
        // Let the close frames go out, then stop the loop.
        auto t = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(200));
        t->async_wait([&io, t](auto) { io.stop(); });
    });
    signal(SIGPIPE, SIG_IGN);

    // SIGHUP: reload the TLS certificate and key (a renewed certificate) for new connections;
    // live ones keep theirs. A failed reload keeps the previous certificate. The resource alarm
    // limits are read again from the config file too.
    std::function<void()> arm_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& e, int) {
            if (e) return;
            if (auto fresh = reread()) {
                monitor.set_limits(server::resource_limits::from(*fresh));
                WLOG_INFO("SIGHUP: resource limits reloaded");
            }
            if (!tls) {
                WLOG_INFO("SIGHUP: no TLS listener, nothing to reload");
            } else if (auto r = tls->reload(); !r) {
                WLOG_WARN("SIGHUP: TLS reload failed, keeping the previous certificate: {}",
                          r.error());
            } else {
                WLOG_INFO("SIGHUP: TLS certificate reloaded cert_file={}", cfg.tls_cert_file);
            }
            arm_hup();
        });
    };
    arm_hup();

    io.run();
    (*durable)->detach();
    WLOG_INFO("warrend stopped");
    spdlog::default_logger()->flush();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    warren::process::keep_freed_memory_for_reuse();
    CLI::App app{"warrend: the Warren message broker (AMQP 0-9-1, STOMP 1.0-1.2)", "warrend"};
    app.footer(keys_help());
    std::string config_path;
    // Flags that override a config key: each flag, its key and its help once.
    struct key_flag {
        const char* flag;
        const char* key;
        const char* help;
    };
    static const key_flag key_flags[] = {
        {"--data-dir", "data_dir", "data directory (key data_dir)"},
        {"--bind", "bind", "address to listen on (key bind)"},
        {"--amqp-port", "amqp.port", "AMQP port or 'off' (key amqp.port)"},
        {"--stomp-port", "stomp.port", "STOMP port or 'off' (key stomp.port)"},
        {"--http-port", "http.port", "HTTP port or 'off' (key http.port)"},
        {"--log-level", "log.level", "trace|debug|info|warn|error|off (key log.level)"},
        {"--amqp-tls-port", "amqp.tls.port", "AMQPS port or 'off' (key amqp.tls.port)"},
        {"--stomp-tls-port", "stomp.tls.port", "STOMP over TLS port or 'off' (key stomp.tls.port)"},
        {"--http-tls-port", "http.tls.port", "HTTPS/WSS port or 'off' (key http.tls.port)"},
        {"--tls-cert-file", "tls.cert_file", "PEM certificate (key tls.cert_file)"},
        {"--tls-key-file", "tls.key_file", "PEM private key (key tls.key_file)"},
        {"--tls-ca-file", "tls.ca_file", "PEM CAs for client certs (key tls.ca_file)"},
        {"--tls-verify", "tls.verify", "none|peer|fail_if_no_peer_cert (key tls.verify)"},
        {"--tls-login-from", "tls.login_from", "cn|dn (key tls.login_from)"},
        {"--tls-handshake-timeout", "tls.handshake_timeout",
         "milliseconds (key tls.handshake_timeout)"},
    };
    std::vector<std::optional<std::string>> flag_values(std::size(key_flags));
    bool show_version = false;
    app.add_flag("--version", show_version, "print the version and exit");
    app.add_option("--config", config_path, "config file (key = value)");
    for (size_t i = 0; i < std::size(key_flags); ++i)
        app.add_option(key_flags[i].flag, flag_values[i], key_flags[i].help);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : exit_config_error;
    }
    if (show_version) {
        std::cout << "warrend " << server::version << "\n";
        return 0;
    }

    server::config cfg;
    try {
        if (!config_path.empty()) cfg = server::load_config_file(config_path);
        for (size_t i = 0; i < std::size(key_flags); ++i)
            if (flag_values[i]) server::apply_setting(cfg, key_flags[i].key, *flag_values[i]);
        server::check_config(cfg);
    } catch (const server::config_error& e) {
        std::fprintf(stderr, "warrend: config error: %s\n", e.what());
        return exit_config_error;
    }
    config_reader reread = [&]() -> std::optional<server::config> {
        try {
            server::config c;
            if (!config_path.empty()) c = server::load_config_file(config_path);
            for (size_t i = 0; i < std::size(key_flags); ++i)
                if (flag_values[i]) server::apply_setting(c, key_flags[i].key, *flag_values[i]);
            server::check_config(c);
            return c;
        } catch (const server::config_error& e) {
            WLOG_WARN("SIGHUP: config not reloaded: {}", e.what());
            return std::nullopt;
        }
    };
    try {
        return run(cfg, reread);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "warrend: fatal: %s\n", e.what());
        return exit_runtime_error;
    }
}

#include "tools/perf/options.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <optional>

namespace warren::perf {
namespace {

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int v = 0;
        auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (ec != std::errc() || p != s.data() + i + 3) return std::nullopt;
        out.push_back(static_cast<char>(v));
        i += 2;
    }
    return out;
}

std::string replace_index(const std::string& pattern, int i) {
    std::string out = pattern;
    auto pos = out.find("%d");
    if (pos == std::string::npos) return out + "-" + std::to_string(i);
    out.replace(pos, 2, std::to_string(i));
    return out;
}

}  // namespace

std::variant<amqp_uri, std::string> parse_amqp_uri(std::string_view uri) {
    amqp_uri u;
    constexpr std::string_view plain = "amqp://", tls = "amqps://";
    std::string_view rest;
    if (uri.substr(0, plain.size()) == plain) {
        rest = uri.substr(plain.size());
    } else if (uri.substr(0, tls.size()) == tls) {
        rest = uri.substr(tls.size());
        u.tls = true;
        u.port = 5671;
    } else {
        return std::string("URI must start with amqp:// or amqps://");
    }
    std::string_view authority = rest, path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        path = rest.substr(slash + 1);
    }
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        std::string_view user = userinfo, pass;
        bool has_pass = false;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            pass = userinfo.substr(colon + 1);
            has_pass = true;
        }
        auto du = percent_decode(user);
        auto dp = percent_decode(pass);
        if (!du || !dp) return std::string("bad %-escape in URI user info");
        u.user = *du;
        if (has_pass) u.password = *dp;
    }
    std::string_view host = authority, port;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {  // [::1]:5672
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::string("unclosed [ in URI host");
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::string("garbage after ] in URI host");
            port = after.substr(1);
            has_port = true;
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        has_port = true;
    }
    if (has_port) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (port.empty() || ec != std::errc() || p != port.data() + port.size() || v == 0 ||
            v > 65535)
            return std::string("bad port in URI: '") + std::string(port) + "'";
        u.port = static_cast<uint16_t>(v);
        u.port_given = true;
    }
    if (!host.empty()) u.host = std::string(host);
    if (!path.empty()) {
        auto v = percent_decode(path);
        if (!v) return std::string("bad %-escape in URI vhost");
        u.vhost = *v;
    }
    return u;
}

bool perf_options::stream_queues() const {
    auto* t = core::find(queue_args, "x-queue-type");
    auto* s = t ? t->as_string() : nullptr;
    return s && *s == "stream";
}

std::variant<core::field_table, std::string> parse_queue_args(std::string_view text,
                                                              std::string_view what) {
    core::field_table t;
    while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (item.empty()) continue;
        auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return std::string(what) + " '" + std::string(item) + "' is not key=value";
        std::string key(item.substr(0, eq));
        std::string_view value = item.substr(eq + 1);
        int64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (!value.empty() && ec == std::errc() && p == value.data() + value.size()) {
            core::set(t, key, core::field_value{n});
        } else if (value == "true" || value == "false") {
            core::set(t, key, core::field_value{value == "true"});
        } else {
            core::set(t, key, core::field_value{std::string(value)});
        }
    }
    return t;
}

std::variant<perf_options, parse_exit> parse_options(int argc, const char* const* argv) {
    perf_options o;
    CLI::App app{"warren-perf: AMQP 0-9-1 load generator (throughput and end-to-end latency)",
                 "warren-perf"};
    app.set_help_flag("--help", "Print this help and exit");
    app.get_formatter()->column_width(34);

    std::string uri, host, vhost, user, password, queue, queue_args, consumer_args;
    int port = 0, queue_count = 0;
    bool tls = false;
    app.add_option("--uri", uri, "Broker URI amqp://user:pass@host:port/vhost (amqps:// for TLS)");
    auto* host_opt = app.add_option("-h,--host", host, "Broker host (overrides the URI)");
    auto* port_opt = app.add_option("--port", port, "Broker port")->check(CLI::Range(1, 65535));
    auto* vhost_opt = app.add_option("--vhost", vhost, "Virtual host");
    auto* user_opt = app.add_option("--user", user, "User name");
    auto* pass_opt = app.add_option("--password", password, "Password");
    app.add_flag("--tls", tls,
                 "AMQPS: TLS 1.2+ to the broker (default port 5671). Without --tls-ca the "
                 "broker's certificate is NOT verified (benchmarking only)");
    app.add_option("--tls-ca", o.tls_ca,
                   "PEM file of CAs the broker's certificate must chain to (and name the host); "
                   "implies --tls")
        ->check(CLI::ExistingFile);

    app.add_option("-x,--producers", o.producers, "Producer connections")
        ->check(CLI::Range(0, 100000));
    app.add_option("-y,--consumers", o.consumers, "Consumer connections")
        ->check(CLI::Range(0, 100000));
    auto* queue_opt = app.add_option("-u,--queue", queue, "Queue name (default warren-perf)");
    auto* queues_opt =
        app.add_option("--queues", queue_count, "Number of queues, named by --queue-pattern")
            ->check(CLI::Range(1, 1000000));
    app.add_option("--queue-pattern", o.queue_pattern, "Queue name pattern, %d is the index");
    queues_opt->excludes(queue_opt);
    app.add_option("--queue-args", queue_args, "Queue arguments k=v,k=v (x-max-length=...)");
    app.add_option("--consumer-args", consumer_args,
                   "basic.consume arguments k=v,k=v (x-stream-offset=first|last|next|N)");
    app.add_flag("--durable", o.durable,
                 "Declare durable queues (implied by --persistent and x-queue-type=stream)");
    app.add_flag("--keep-queues", o.keep_queues, "Do not delete the queues at the end");
    app.add_option("-e,--exchange", o.exchange, "Exchange (default: the default exchange)");
    app.add_option("-t,--type", o.exchange_type, "Exchange type")
        ->check(CLI::IsMember({"direct", "fanout", "topic", "headers"}));
    auto* rk_opt = app.add_option("-k,--routing-key", o.routing_key,
                                  "Routing and binding key (default: the queue name)");
    app.add_option("-s,--size", o.size, "Message body size in bytes (>= 8)")
        ->check(CLI::Range(8u, 512u * 1024 * 1024));
    app.add_flag("--persistent", o.persistent, "Persistent messages on durable queues");
    app.add_option("-c,--confirm", o.confirm, "Publisher confirms: in-flight window (0 = off)");
    app.add_option("-q,--prefetch", o.prefetch, "Consumer prefetch count (0 = unlimited)");
    app.add_flag("-a,--auto-ack", o.auto_ack, "Consume with no-ack (automatic acknowledgement)");
    app.add_option("--multi-ack", o.multi_ack,
                   "Ack every N deliveries with multiple=true (0 = one ack per socket read)");
    app.add_option("-r,--rate", o.rate, "Total publish rate msg/s (0 = unlimited)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("-z,--time", o.time_s, "Run time in seconds")->check(CLI::NonNegativeNumber);
    app.add_option("-C,--pmessages", o.pmessages, "Messages per producer, then stop");
    app.add_option("-D,--cmessages", o.cmessages,
                   "Messages per consumer, then stop (a stream's consumers each read them all)");
    app.add_flag("--no-consume", o.no_consume, "Fill mode: no consumers, measure queue growth");
    app.add_option("--connections", o.idle_connections, "Extra idle connections to hold open")
        ->check(CLI::Range(0, 1000000));
    app.add_option("--threads", o.threads, "I/O threads (default 2 if producing and consuming)")
        ->check(CLI::Range(0, 64));
    app.add_option("--batch", o.batch, "Publishes per socket write (unlimited rate)")
        ->check(CLI::Range(1u, 1000000u));
    app.add_option("--drain-timeout", o.drain_timeout_s,
                   "Count mode: seconds to wait for deliveries after the last publish")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--json", o.json, "Print the final summary as JSON on stdout");
    app.add_flag("--quiet", o.quiet, "No live lines");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        parse_exit x;
        x.code = e.get_exit_code();
        if (x.code == 0) {
            x.message = app.help();
        } else {
            x.message = std::string("warren-perf: ") + e.what() + "\nRun with --help for usage.";
        }
        return x;
    }

    auto fail = [](std::string text) { return parse_exit{2, "warren-perf: " + std::move(text)}; };
    if (!uri.empty()) {
        auto u = parse_amqp_uri(uri);
        if (auto* err = std::get_if<std::string>(&u)) return fail(*err);
        o.broker = std::get<amqp_uri>(u);
    }
    if (host_opt->count()) o.broker.host = host;
    if (port_opt->count()) o.broker.port = static_cast<uint16_t>(port);
    if (vhost_opt->count()) o.broker.vhost = vhost;
    if (user_opt->count()) o.broker.user = user;
    if (pass_opt->count()) o.broker.password = password;
    if (tls || !o.tls_ca.empty()) {
        o.broker.tls = true;
        if (!o.broker.port_given && !port_opt->count()) o.broker.port = 5671;
    }

    if (queues_opt->count()) {
        for (int i = 0; i < queue_count; ++i) o.queues.push_back(replace_index(o.queue_pattern, i));
    } else {
        o.queues.push_back(queue_opt->count() ? queue : std::string("warren-perf"));
    }
    if (o.queues.front().empty()) return fail("queue name must not be empty");
    if (!queue_args.empty()) {
        auto t = parse_queue_args(queue_args);
        if (auto* err = std::get_if<std::string>(&t)) return fail(*err);
        o.queue_args = std::get<core::field_table>(t);
    }
    if (!consumer_args.empty()) {
        auto t = parse_queue_args(consumer_args, "consumer argument");
        if (auto* err = std::get_if<std::string>(&t)) return fail(*err);
        o.consumer_args = std::get<core::field_table>(t);
    }
    o.routing_key_given = rk_opt->count() > 0;
    if (o.persistent || o.stream_queues()) o.durable = true;
    if (o.no_consume) o.consumers = 0;
    if (o.cmessages > 0 && o.consumers == 0)
        return fail("--cmessages needs consumers (-y N, not --no-consume)");
    if (o.stream_queues() && o.consumers > 0 && (o.auto_ack || o.prefetch == 0))
        return fail("stream consumers need manual ack and a prefetch (-q N, no -a)");
    if (o.producers == 0 && o.consumers == 0 && o.idle_connections == 0)
        return fail("nothing to do: no producers, consumers or connections");
    if (o.exchange.empty() && o.exchange_type != "direct")
        return fail("--type " + o.exchange_type + " needs --exchange NAME");
    return o;
}

}  // namespace warren::perf

#include "ctl/options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include <fmt/format.h>

#include "ctl/commands.h"
#include "ctl/exit_code.h"

namespace warren::ctl {

namespace {

parse_outcome usage_error(const std::string& text) {
    return parse_outcome{std::nullopt, exit_code::usage, "",
                         fmt::format("Error: {}\nRun 'warrenctl --help' for usage.\n", text)};
}

}  // namespace

parse_outcome parse_args(int argc, const char* const* argv, env_lookup env) {
    CLI::App app("warrenctl: manage a Warren broker over its management HTTP API", "warrenctl");
    app.footer(commands_help());
    invocation inv;
    std::string host, user, password, vhost, format = "table";
    int port = 0;
    double timeout = 0;
    int priority = 0;
    std::string apply_to;
    bool ssl = false, no_headers = false;
    auto* o_host = app.add_option("-n,--host,--node", host,
                                  "broker host (env WARREN_HOST; default 127.0.0.1)");
    auto* o_port = app.add_option("--port", port,
                                  "HTTP port (env WARREN_PORT; default 15672, 15671 with --ssl)")
                       ->check(CLI::Range(1, 65535));
    auto* o_user = app.add_option("-u,--username", user, "user (env WARREN_USERNAME; guest)");
    auto* o_password =
        app.add_option("--password", password, "password (env WARREN_PASSWORD; guest)");
    auto* o_vhost =
        app.add_option("-p,--vhost", vhost, "virtual host (env WARREN_VHOST; default /)");
    auto* o_ssl = app.add_flag("--ssl,--tls", ssl, "HTTPS (env WARREN_SSL=1)");
    app.add_option("--cacert", inv.ep.cacert, "CA certificate file (PEM) to verify the server")
        ->check(CLI::ExistingFile);
    app.add_flag("--insecure,-k", inv.ep.insecure, "HTTPS without verifying the certificate");
    app.add_option("-f,--format,--formatter", format, "output: table (default) or json")
        ->check(CLI::IsMember({"table", "json"}));
    app.add_flag("-q,--quiet", inv.quiet, "no informational lines");
    bool silent = false;
    app.add_flag("--no-table-headers", no_headers, "no table header line");
    app.add_flag("-s,--silent", silent, "--quiet and --no-table-headers");
    auto* o_timeout = app.add_option("-t,--timeout", timeout,
                                     "seconds per request (default 30); await_startup's deadline "
                                     "(default 300)")
                          ->check(CLI::PositiveNumber);
    auto* o_priority = app.add_option("--priority", priority, "set_policy: priority (default 0)");
    auto* o_apply = app.add_option("--apply-to", apply_to, "set_policy: queues, exchanges or all")
                        ->check(CLI::IsMember({"queues", "exchanges", "all", "classic_queues",
                                               "quorum_queues", "streams"}));
    auto* o_if_empty = app.add_flag("-e,--if-empty", inv.if_empty, "delete_queue: only if empty");
    auto* o_if_unused =
        app.add_flag("--if-unused", inv.if_unused, "delete_queue: only without consumers");
    app.add_option("command", inv.command, "the command (list below)");
    app.add_option("args", inv.args, "its arguments");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return parse_outcome{std::nullopt, exit_code::ok, app.help(), ""};
    } catch (const CLI::ParseError& e) {
        return usage_error(e.what());
    }

    auto from_env = [&](CLI::Option* opt, std::string& into, const char* name) {
        if (opt->count() == 0)
            if (const char* v = env(name)) into = v;
    };
    inv.ep.host = "127.0.0.1";
    inv.ep.user = "guest";
    inv.ep.password = "guest";
    from_env(o_host, inv.ep.host, "WARREN_HOST");
    from_env(o_user, inv.ep.user, "WARREN_USERNAME");
    from_env(o_password, inv.ep.password, "WARREN_PASSWORD");
    if (o_host->count()) inv.ep.host = host;
    if (o_user->count()) inv.ep.user = user;
    if (o_password->count()) inv.ep.password = password;
    if (o_vhost->count()) {
        inv.vhost = vhost;
    } else if (const char* v = env("WARREN_VHOST")) {
        inv.vhost = v;
    }
    inv.ep.tls = ssl;
    if (o_ssl->count() == 0)
        if (const char* v = env("WARREN_SSL")) inv.ep.tls = std::string(v) == "1";
    if (!inv.ep.cacert.empty() || inv.ep.insecure) inv.ep.tls = true;
    if (o_port->count()) {
        inv.ep.port = static_cast<std::uint16_t>(port);
    } else if (const char* v = env("WARREN_PORT")) {
        char* end = nullptr;
        long p = std::strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || p < 1 || p > 65535)
            return usage_error(fmt::format("WARREN_PORT '{}' is not a port number", v));
        inv.ep.port = static_cast<std::uint16_t>(p);
    } else {
        inv.ep.port = inv.ep.tls ? 15671 : 15672;
    }
    inv.format = format == "json" ? output_format::json : output_format::table;
    inv.headers = !no_headers && !silent;
    if (silent) inv.quiet = true;
    if (o_timeout->count()) {
        inv.timeout_s = timeout;
        inv.ep.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
    }
    if (o_priority->count()) inv.priority = priority;
    if (o_apply->count()) inv.apply_to = apply_to;

    if (inv.command.empty()) return usage_error("no command given");
    const command_spec* cmd = find_command(inv.command);
    if (!cmd) return usage_error(fmt::format("unknown command '{}'", inv.command));
    int n = static_cast<int>(inv.args.size());
    if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args))
        return usage_error(fmt::format("{} {} arguments\nUsage: warrenctl {} {}", inv.command,
                                       n < cmd->min_args ? "needs more" : "takes fewer", cmd->name,
                                       cmd->usage));
    auto refuse = [&](bool given, unsigned flag, const char* what) -> std::optional<parse_outcome> {
        if (given && !(cmd->flags & flag))
            return usage_error(fmt::format("{} does not take {}", inv.command, what));
        return std::nullopt;
    };
    if (auto e = refuse(o_priority->count() || o_apply->count(), takes_policy,
                        "--priority or --apply-to"))
        return *e;
    if (auto e = refuse(o_if_empty->count() || o_if_unused->count(), takes_if_flags,
                        "--if-empty or --if-unused"))
        return *e;
    return parse_outcome{std::move(inv), exit_code::ok, "", ""};
}

}  // namespace warren::ctl

// status, await_startup, ping and the health checks (rabbitmq-diagnostics' names), over
// /api/overview, /api/nodes and /api/health/checks/*. A check that runs and finds a problem
// (HTTP 503) exits 1; one that cannot run exits as any other command (69, 77, ...).

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctl/commands.h"
#include "ctl/exit_code.h"

namespace warren::ctl {

using nlohmann::json;

namespace {

json parse_object(const http_reply& r) {
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j : json::object();
}

int health_check(context& c, const command_spec& cmd) {
    if (cmd.name == "check_port_listener") {
        const std::string& port = c.inv.args[0];
        bool digits =
            !port.empty() && port.size() <= 5 &&
            std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
            return fail(c, exit_code::data_error, fmt::format("'{}' is not a port number", port));
    }
    std::string path = expand(cmd.path, c.inv, true);
    auto r = c.http.send("GET", path, "");
    if (r && r->status == 503) {
        json body = parse_object(*r);
        std::string reason = body.value("reason", std::string("health check failed"));
        if (c.inv.format == output_format::json) {
            c.out << body.dump() << '\n';
        } else {
            c.err << "Error: " << reason << '\n';
            if (body.contains("alarms"))
                for (const auto& a : body["alarms"])
                    c.err << fmt::format("  {} alarm on {}\n", a.value("resource", "?"),
                                         a.value("node", "?"));
        }
        return exit_code::check_failed;
    }
    auto ok = check(c, std::move(r), "GET", path, exit_code::data_error);
    if (!ok) return ok.error();
    if (c.inv.format == output_format::json)
        c.out << parse_object(*ok).dump() << '\n';
    else if (!c.inv.quiet)
        c.out << fmt::format("{}: ok\n", cmd.name);
    return exit_code::ok;
}

int ping(context& c, const command_spec&) {
    banner(c, fmt::format("Will ping {}:{}. This only checks that the node answers HTTP.",
                          c.inv.ep.host, c.inv.ep.port));
    auto r = call(c, "GET", "/api/health");
    if (!r) return r.error();
    if (c.inv.format == output_format::json)
        c.out << json{{"result", "ok"}}.dump() << '\n';
    else
        c.out << "Ping succeeded\n";
    return exit_code::ok;
}

int check_running(context& c, const command_spec&) {
    auto r = call(c, "GET", "/api/overview");
    if (!r) return r.error();
    json o = parse_object(*r);
    std::string node = o.value("node", std::string("?"));
    if (c.inv.format == output_format::json)
        c.out << json{{"result", "ok"}, {"node", node}}.dump() << '\n';
    else
        c.out << fmt::format("Warren on node {} is running\n", node);
    return exit_code::ok;
}

int status(context& c, const command_spec&) {
    auto r = call(c, "GET", "/api/overview");
    if (!r) return r.error();
    json o = parse_object(*r);
    std::string node = o.value("node", std::string());
    banner(c, fmt::format("Status of node {} ...", node));
    json s = json::object();
    for (const char* k : {"node", "product_name", "product_version", "rabbitmq_version",
                          "management_version", "cluster_name"})
        if (o.contains(k)) s[k] = o[k];
    // /api/nodes needs the monitoring tag; without it status shows what the overview has.
    auto n = c.http.send("GET", "/api/nodes/" + encode_segment(node), "");
    if (n && n->status == 200) {
        json nj = parse_object(*n);
        if (nj.contains("uptime") && nj["uptime"].is_number())
            s["uptime_seconds"] = nj["uptime"].get<std::uint64_t>() / 1000;
        for (const char* k : {"os_pid", "mem_used", "fd_used", "fd_total", "processors",
                              "mem_alarm", "disk_free_alarm"})
            if (nj.contains(k)) s[k] = nj[k];
    }
    json listeners = json::array();
    for (const auto& l : o.value("listeners", json::array()))
        listeners.push_back(fmt::format("{} {}:{}", l.value("protocol", "?"),
                                        l.value("ip_address", "?"), l.value("port", 0)));
    s["listeners"] = listeners;
    json object_totals = o.value("object_totals", json::object());
    for (const auto& [k, v] : object_totals.items()) s[k] = v;
    json totals = o.value("queue_totals", json::object());
    for (const char* k : {"messages", "messages_ready", "messages_unacknowledged"})
        if (totals.contains(k)) s[k] = totals[k];
    if (c.inv.format == output_format::json) {
        c.out << s.dump() << '\n';
        return exit_code::ok;
    }
    for (const auto& [k, v] : s.items()) c.out << k << '\t' << cell(v) << '\n';
    return exit_code::ok;
}

// Polls /api/overview until it answers 200 or the deadline (--timeout, default 300 s) passes.
int await_startup(context& c, const command_spec&) {
    using clock = std::chrono::steady_clock;
    auto total =
        std::chrono::milliseconds(static_cast<long long>(c.inv.timeout_s.value_or(300.0) * 1000));
    auto deadline = clock::now() + total;
    banner(c, fmt::format("Waiting for the node at {}:{} to start (up to {} s) ...", c.inv.ep.host,
                          c.inv.ep.port, total.count() / 1000.0));
    std::string last = "no attempt";
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) break;
        c.http.set_timeout(std::min(left, std::chrono::milliseconds(5000)));
        auto r = c.http.send("GET", "/api/overview", "");
        if (r && r->status == 200) return exit_code::ok;
        if (r && (r->status == 401 || r->status == 403))
            return check(c, std::move(r), "GET", "/api/overview", exit_code::data_error).error();
        last = r ? fmt::format("HTTP {}", r->status) : r.error().text;
        std::this_thread::sleep_for(
            std::min(std::chrono::milliseconds(250),
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::max(deadline - clock::now(), clock::duration::zero()))));
    }
    return fail(c, exit_code::temp_fail,
                fmt::format("the node at {}:{} did not start within {} s (last: {})", c.inv.ep.host,
                            c.inv.ep.port, total.count() / 1000.0, last));
}

}  // namespace

const std::vector<command_spec>& diagnostic_commands() {
    static const std::vector<command_spec> table{
        {"status", 0, 0, "", "the node's version, listeners, memory, file descriptors, totals",
         status},
        {"await_startup", 0, 0, "[--timeout <seconds>]",
         "waits until the node answers (default 300 s; exits 75 when it does not)", await_startup,
         takes_timeout},
        {"ping", 0, 0, "", "checks that the node answers HTTP (no login needed)", ping},
        {"check_running", 0, 0, "", "checks that the node runs and accepts this login",
         check_running},
        {"check_alarms", 0, 0, "", "fails (exit 1) while a resource alarm is on", health_check, 0,
         nullptr, "/api/health/checks/alarms"},
        {"check_local_alarms", 0, 0, "", "as check_alarms, for this node", health_check, 0, nullptr,
         "/api/health/checks/local-alarms"},
        {"check_port_listener", 1, 1, "<port>", "fails (exit 1) unless the node listens on port",
         health_check, 0, nullptr, "/api/health/checks/port-listener/{0}"},
        {"check_virtual_hosts", 0, 0, "", "fails (exit 1) unless every vhost runs", health_check, 0,
         nullptr, "/api/health/checks/virtual-hosts"},
        {"check_if_node_is_quorum_critical", 0, 0, "",
         "fails (exit 1) if stopping the node would lose a quorum queue's majority", health_check,
         0, nullptr, "/api/health/checks/node-is-quorum-critical"},
        {"check_if_node_is_mirror_sync_critical", 0, 0, "",
         "fails (exit 1) if stopping the node would lose the last synchronised mirror",
         health_check, 0, nullptr, "/api/health/checks/node-is-mirror-sync-critical"},
    };
    return table;
}

}  // namespace warren::ctl

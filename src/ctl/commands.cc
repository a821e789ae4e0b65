// The command table, what every command shares (requests, error mapping, banners), and the
// commands that change things: users, vhosts, permissions, policies, queues, connections,
// definitions.

#include "ctl/commands.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctl/exit_code.h"

namespace warren::ctl {

using nlohmann::json;

// ---- shared ----

std::string expand(std::string_view tpl, const invocation& inv, bool encode) {
    std::string out;
    auto put = [&](const std::string& v) { out += encode ? encode_segment(v) : v; };
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        if (tpl[i] == '{') {
            auto end = tpl.find('}', i);
            std::string_view key = tpl.substr(i + 1, end - i - 1);
            if (key == "vhost") {
                put(inv.vhost);
            } else {
                std::size_t n = static_cast<std::size_t>(key[0] - '0');
                put(n < inv.args.size() ? inv.args[n] : std::string());
            }
            i = end;
        } else {
            out += tpl[i];
        }
    }
    return out;
}

void banner(context& c, const std::string& text) {
    if (!c.inv.quiet && c.inv.format == output_format::table) c.out << text << '\n';
}

int fail(context& c, int code, const std::string& text) {
    c.err << "Error: " << text << '\n';
    return code;
}

int exit_for_status(int status, int not_found_code) {
    if (status == 401 || status == 403) return exit_code::no_perm;
    if (status == 404) return not_found_code;
    if (status == 400) return exit_code::data_error;
    return exit_code::software;
}

namespace {

// RabbitMQ's error bodies: {"error": ..., "reason": ...}; the reason says most.
std::string reason_of(const http_reply& r) {
    json body = json::parse(r.body, nullptr, false);
    if (body.is_object()) {
        auto text = [&](const char* k) {
            auto it = body.find(k);
            if (it == body.end()) return std::string();
            return it->is_string() ? it->get<std::string>() : it->dump();
        };
        std::string reason = text("reason"), error = text("error");
        if (!reason.empty() && !error.empty() && error != reason) return error + ": " + reason;
        if (!reason.empty()) return reason;
        if (!error.empty()) return error;
    }
    if (r.status == 405) return "the server does not support this request";
    return r.body.empty() ? "no reason given" : r.body.substr(0, 200);
}

}  // namespace

basic_result<http_reply, int> check(context& c, http_result r, std::string_view method,
                                    const std::string& path, int not_found_code) {
    if (!r) return fail(c, r.error().code, r.error().text);
    if (r->status >= 200 && r->status < 300) return std::move(*r);
    int code = exit_for_status(r->status, not_found_code);
    // Every command that can exit 67 names the user first.
    if (code == exit_code::no_user && !c.inv.args.empty())
        return fail(c, code, fmt::format("no such user: {}", c.inv.args[0]));
    std::string what = code == exit_code::no_perm
                           ? fmt::format("not authorised as '{}': {}", c.inv.ep.user, reason_of(*r))
                           : reason_of(*r);
    return fail(c, code, fmt::format("{} ({} {} answered {})", what, method, path, r->status));
}

basic_result<http_reply, int> call(context& c, std::string_view method, const std::string& path,
                                   const std::string& body, int not_found_code,
                                   const http_headers& headers) {
    return check(c, c.http.send(method, path, body, headers), method, path, not_found_code);
}

// ---- users ----

namespace {

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

int add_user(context& c, const command_spec&) {
    const auto& user = c.inv.args[0];
    std::string path = expand("/api/users/{0}", c.inv, true);
    auto probe = c.http.send("GET", path, "");
    if (probe && probe->status == 200)
        return fail(c, exit_code::software, fmt::format("user_already_exists: {}", user));
    banner(c, fmt::format("Adding user {} ...", quoted(user)));
    auto r = call(c, "PUT", path, json{{"password", c.inv.args[1]}, {"tags", ""}}.dump());
    return r ? exit_code::ok : r.error();
}

int delete_user(context& c, const command_spec&) {
    banner(c, fmt::format("Deleting user {} ...", quoted(c.inv.args[0])));
    auto r = call(c, "DELETE", expand("/api/users/{0}", c.inv, true), {}, exit_code::no_user);
    return r ? exit_code::ok : r.error();
}

// GET the user (404: 67), change what `edit` changes, PUT it back with its password hash, so
// the password survives (RabbitMQ clears a password a PUT does not carry).
template <typename Edit>
int update_user(context& c, Edit edit) {
    std::string path = expand("/api/users/{0}", c.inv, true);
    auto got = call(c, "GET", path, {}, exit_code::no_user);
    if (!got) return got.error();
    json user = json::parse(got->body, nullptr, false);
    if (!user.is_object())
        return fail(c, exit_code::software, "the server's reply is not a JSON object");
    json body = {{"tags", user.value("tags", json::array())}};
    if (user.contains("password_hash")) body["password_hash"] = user["password_hash"];
    if (user.contains("hashing_algorithm")) body["hashing_algorithm"] = user["hashing_algorithm"];
    if (body["tags"].is_array()) {
        std::string joined;
        for (const auto& t : body["tags"])
            if (t.is_string()) joined += (joined.empty() ? "" : ",") + t.get<std::string>();
        body["tags"] = joined;
    }
    edit(body);
    auto r = call(c, "PUT", path, body.dump(), exit_code::no_user);
    return r ? exit_code::ok : r.error();
}

int change_password(context& c, const command_spec&) {
    banner(c, fmt::format("Changing password for user {} ...", quoted(c.inv.args[0])));
    return update_user(c, [&](json& body) {
        body.erase("password_hash");
        body.erase("hashing_algorithm");
        body["password"] = c.inv.args[1];
    });
}

int set_user_tags(context& c, const command_spec&) {
    std::vector<std::string> tags(c.inv.args.begin() + 1, c.inv.args.end());
    std::string joined, shown;
    for (const auto& t : tags) {
        joined += (joined.empty() ? "" : ",") + t;
        shown += (shown.empty() ? "" : ", ") + t;
    }
    banner(c, fmt::format("Setting tags for user {} to [{}] ...", quoted(c.inv.args[0]), shown));
    return update_user(c, [&](json& body) { body["tags"] = joined; });
}

// ---- vhosts and permissions ----

int add_vhost(context& c, const command_spec&) {
    banner(c, fmt::format("Adding vhost {} ...", quoted(c.inv.args[0])));
    auto r = call(c, "PUT", expand("/api/vhosts/{0}", c.inv, true), "{}");
    return r ? exit_code::ok : r.error();
}

int delete_vhost(context& c, const command_spec&) {
    banner(c, fmt::format("Deleting vhost {} ...", quoted(c.inv.args[0])));
    auto r = call(c, "DELETE", expand("/api/vhosts/{0}", c.inv, true));
    return r ? exit_code::ok : r.error();
}

int set_permissions(context& c, const command_spec&) {
    banner(c, fmt::format("Setting permissions for user {} in vhost {} ...", quoted(c.inv.args[0]),
                          quoted(c.inv.vhost)));
    json body = {{"configure", c.inv.args[1]}, {"write", c.inv.args[2]}, {"read", c.inv.args[3]}};
    std::string path = expand("/api/permissions/{vhost}/{0}", c.inv, true);
    auto r = c.http.send("PUT", path, body.dump());
    // The API answers 400 user_not_found / vhost_not_found; rabbitmqctl exits 67 / 65.
    if (r && r->status == 400 && r->body.find("user_not_found") != std::string::npos)
        return fail(c, exit_code::no_user, fmt::format("no such user: {}", c.inv.args[0]));
    if (r && r->status == 400 && r->body.find("vhost_not_found") != std::string::npos)
        return fail(c, exit_code::data_error, fmt::format("no such vhost: {}", c.inv.vhost));
    auto checked = check(c, std::move(r), "PUT", path, exit_code::data_error);
    return checked ? exit_code::ok : checked.error();
}

int clear_permissions(context& c, const command_spec&) {
    banner(c, fmt::format("Clearing permissions for user {} in vhost {} ...", quoted(c.inv.args[0]),
                          quoted(c.inv.vhost)));
    // The API answers 204 for a user that does not exist; rabbitmqctl says no_such_user (67).
    auto user = call(c, "GET", expand("/api/users/{0}", c.inv, true), {}, exit_code::no_user);
    if (!user) return user.error();
    auto r = call(c, "DELETE", expand("/api/permissions/{vhost}/{0}", c.inv, true));
    return r ? exit_code::ok : r.error();
}

// ---- policies (set_policy and set_operator_policy share these) ----

std::string_view policy_path(const command_spec& cmd) {
    return cmd.name.find("operator") != std::string_view::npos
               ? "/api/operator-policies/{vhost}/{0}"
               : "/api/policies/{vhost}/{0}";
}

int set_policy(context& c, const command_spec& cmd) {
    const auto& args = c.inv.args;
    json definition = json::parse(args[2], nullptr, false);
    if (!definition.is_object())
        return fail(c, exit_code::data_error,
                    fmt::format("the policy definition is not a JSON object: {}", args[2]));
    int priority = c.inv.priority.value_or(0);
    std::string apply_to = c.inv.apply_to.value_or("all");
    banner(c,
           fmt::format("Setting policy {} for pattern {} to {} with priority {} for vhost {} ...",
                       quoted(args[0]), quoted(args[1]), quoted(args[2]),
                       quoted(std::to_string(priority)), quoted(c.inv.vhost)));
    json body = {{"pattern", args[1]},
                 {"definition", definition},
                 {"priority", priority},
                 {"apply-to", apply_to}};
    auto r = call(c, "PUT", expand(policy_path(cmd), c.inv, true), body.dump());
    return r ? exit_code::ok : r.error();
}

int clear_policy(context& c, const command_spec& cmd) {
    banner(c, fmt::format("Clearing policy {} on vhost {} ...", quoted(c.inv.args[0]),
                          quoted(c.inv.vhost)));
    auto r = call(c, "DELETE", expand(policy_path(cmd), c.inv, true));
    return r ? exit_code::ok : r.error();
}

// ---- queues and connections ----

int purge_queue(context& c, const command_spec&) {
    banner(c, fmt::format("Purging queue '{}' in vhost '{}' ...", c.inv.args[0], c.inv.vhost));
    auto r = call(c, "DELETE", expand("/api/queues/{vhost}/{0}/contents", c.inv, true));
    return r ? exit_code::ok : r.error();
}

int delete_queue(context& c, const command_spec&) {
    std::string path = expand("/api/queues/{vhost}/{0}", c.inv, true);
    std::string conditions;
    if (c.inv.if_empty) conditions += "if queue is empty ";
    if (c.inv.if_unused)
        conditions += std::string(conditions.empty() ? "" : "and ") + "if queue is unused ";
    banner(c, fmt::format("Deleting queue '{}' on vhost '{}' {}...", c.inv.args[0], c.inv.vhost,
                          conditions));
    auto got = call(c, "GET", path);
    if (!got) return got.error();
    json q = json::parse(got->body, nullptr, false);
    std::string query;
    if (c.inv.if_empty) query += "if-empty=true";
    if (c.inv.if_unused) query += std::string(query.empty() ? "" : "&") + "if-unused=true";
    auto r = call(c, "DELETE", query.empty() ? path : path + "?" + query);
    if (!r) return r.error();
    long long messages = q.is_object() ? q.value("messages", 0LL) : 0;
    if (c.inv.format == output_format::json)
        c.out << json{{"result", "ok"}, {"messages", messages}}.dump() << '\n';
    else
        c.out << fmt::format("Queue was successfully deleted with {} messages\n", messages);
    return exit_code::ok;
}

int close_connection(context& c, const command_spec&) {
    banner(c, fmt::format("Closing connection {}, reason: {}...", c.inv.args[0], c.inv.args[1]));
    auto r = call(c, "DELETE", expand("/api/connections/{0}", c.inv, true), {},
                  exit_code::data_error, {{"X-Reason", c.inv.args[1]}});
    return r ? exit_code::ok : r.error();
}

// ---- definitions ----

int export_definitions(context& c, const command_spec&) {
    const std::string& file = c.inv.args[0];
    bool to_stdout = file == "-";
    if (!to_stdout)
        banner(c, fmt::format("Exporting definitions in JSON to a file at \"{}\" ...", file));
    auto r = call(c, "GET", "/api/definitions");
    if (!r) return r.error();
    json defs = json::parse(r->body, nullptr, false);
    if (!defs.is_object())
        return fail(c, exit_code::software, "the server's reply is not a JSON object");
    std::string text = defs.dump(2) + "\n";
    if (to_stdout) {
        c.out << text;
        return exit_code::ok;
    }
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) return fail(c, exit_code::software, fmt::format("cannot write '{}'", file));
    return exit_code::ok;
}

int import_definitions(context& c, const command_spec&) {
    const std::string& file = c.inv.args[0];
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
        std::ifstream f(file, std::ios::binary);
        if (!f) return fail(c, exit_code::data_error, fmt::format("cannot read '{}'", file));
        text.assign(std::istreambuf_iterator<char>(f), {});
    }
    json defs = json::parse(text, nullptr, false);
    if (!defs.is_object())
        return fail(c, exit_code::data_error,
                    fmt::format("'{}' is not a JSON object of definitions", file));
    banner(c, fmt::format("Importing definitions in JSON from a file at \"{}\" ...", file));
    auto r = call(c, "POST", "/api/definitions", defs.dump());
    return r ? exit_code::ok : r.error();
}

}  // namespace

const std::vector<command_spec>& action_commands() {
    static const std::vector<command_spec> table{
        {"add_user", 2, 2, "<username> <password>", "creates a user (no tags, no permissions)",
         add_user},
        {"delete_user", 1, 1, "<username>", "deletes a user and closes its connections",
         delete_user},
        {"change_password", 2, 2, "<username> <new_password>", "sets a user's password",
         change_password},
        {"set_user_tags", 1, -1, "<username> [<tag> ...]",
         "replaces a user's tags (none: clears them)", set_user_tags},
        {"add_vhost", 1, 1, "<vhost>", "creates a virtual host", add_vhost},
        {"delete_vhost", 1, 1, "<vhost>", "deletes a virtual host and everything in it",
         delete_vhost},
        {"set_permissions", 4, 4, "[-p <vhost>] <username> <conf> <write> <read>",
         "sets a user's permissions in a vhost (regular expressions)", set_permissions,
         takes_vhost},
        {"clear_permissions", 1, 1, "[-p <vhost>] <username>",
         "removes a user's permissions in a vhost", clear_permissions, takes_vhost},
        {"set_policy", 3, 3,
         "[-p <vhost>] <name> <pattern> <definition> [--priority <n>] [--apply-to <kind>]",
         "sets a policy (definition: a JSON object)", set_policy, takes_vhost | takes_policy},
        {"clear_policy", 1, 1, "[-p <vhost>] <name>", "removes a policy", clear_policy,
         takes_vhost},
        {"set_operator_policy", 3, 3,
         "[-p <vhost>] <name> <pattern> <definition> [--priority <n>] [--apply-to <kind>]",
         "sets an operator policy", set_policy, takes_vhost | takes_policy},
        {"clear_operator_policy", 1, 1, "[-p <vhost>] <name>", "removes an operator policy",
         clear_policy, takes_vhost},
        {"purge_queue", 1, 1, "[-p <vhost>] <queue>", "removes every message from a queue",
         purge_queue, takes_vhost},
        {"delete_queue", 1, 1, "[-p <vhost>] <queue> [--if-empty] [--if-unused]", "deletes a queue",
         delete_queue, takes_vhost | takes_if_flags},
        {"close_connection", 2, 2, "<connection_name> <reason>",
         "closes a client connection (name as list_connections name shows it)", close_connection},
        {"export_definitions", 1, 1, "<file>|-", "writes the broker's definitions as JSON",
         export_definitions},
        {"import_definitions", 1, 1, "<file>|-", "loads definitions (RabbitMQ's JSON format)",
         import_definitions},
    };
    return table;
}

const std::vector<command_spec>& command_table() {
    static const std::vector<command_spec> all = [] {
        std::vector<command_spec> v;
        for (const auto* part : {&list_commands(), &action_commands(), &diagnostic_commands()})
            v.insert(v.end(), part->begin(), part->end());
        return v;
    }();
    return all;
}

const command_spec* find_command(std::string_view name) {
    for (const auto& c : command_table())
        if (c.name == name) return &c;
    return nullptr;
}

std::string commands_help() {
    std::string out = "Commands:\n";
    for (const auto& c : command_table())
        out += fmt::format("  {} {}\n      {}\n", c.name, c.usage, c.help);
    out +=
        "\nExit codes: 0 ok, 1 health check failed, 64 usage, 65 bad data or no such object,\n"
        "67 no such user, 69 node unreachable, 70 other server error, 75 timeout,\n"
        "77 not authorised. See docs/warrenctl.md.\n";
    return out;
}

int run_command(const invocation& inv, http_transport& http, std::ostream& out, std::ostream& err) {
    const command_spec* cmd = find_command(inv.command);
    context c{inv, http, out, err};
    if (!cmd) return fail(c, exit_code::usage, fmt::format("unknown command '{}'", inv.command));
    return cmd->run(c, *cmd);
}

}  // namespace warren::ctl

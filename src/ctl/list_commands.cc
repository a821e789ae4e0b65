// The list_* commands: one table of specs, one function running them all.

#include <nlohmann/json.hpp>

#include "ctl/commands.h"
#include "ctl/exit_code.h"

namespace warren::ctl {

using nlohmann::json;

namespace {

const list_spec queues{
    "/api/queues/{vhost}",
    "Listing queues for vhost {vhost} ...",
    {"name", "messages"},
    {{"name", "vhost", "type", "state", "durable", "auto_delete", "exclusive", "arguments",
      "policy", "exclusive_consumer_tag", "consumers", "messages", "messages_ready",
      "messages_unacknowledged", "messages_paged_out", "message_bytes_ready", "memory", "node"},
     {}}};

const list_spec exchanges{
    "/api/exchanges/{vhost}",
    "Listing exchanges for vhost {vhost} ...",
    {"name", "type"},
    {{"name", "vhost", "type", "durable", "auto_delete", "internal", "arguments", "policy"}, {}}};

const list_spec bindings{"/api/bindings/{vhost}",
                         "Listing bindings for vhost {vhost}...",
                         {"source_name", "source_kind", "destination_name", "destination_kind",
                          "routing_key", "arguments"},
                         {{"source_name", "source_kind", "destination_name", "destination_kind",
                           "routing_key", "arguments", "vhost", "properties_key"},
                          {{"source_name", "source"},
                           {"source_kind", "=exchange"},
                           {"destination_name", "destination"},
                           {"destination_kind", "destination_type"}}}};

const list_spec connections{"/api/connections",
                            "Listing connections ...",
                            {"user", "peer_host", "peer_port", "state"},
                            {{"name",         "node",
                              "vhost",        "user",
                              "protocol",     "type",
                              "state",        "channels",
                              "channel_max",  "frame_max",
                              "timeout",      "peer_host",
                              "peer_port",    "host",
                              "port",         "ssl",
                              "connected_at", "recv_oct",
                              "recv_cnt",     "send_oct",
                              "send_cnt",     "client_properties"},
                             {}}};

const list_spec channels{
    "/api/channels",
    "Listing channels ...",
    {"name", "user", "consumer_count", "messages_unacknowledged"},
    {{"name", "number", "node", "vhost", "user", "state", "connection", "confirm", "transactional",
      "consumer_count", "messages_unacknowledged", "messages_unconfirmed", "messages_uncommitted",
      "acks_uncommitted", "prefetch_count", "global_prefetch_count"},
     {{"connection", "connection_details.name"}}}};

const list_spec consumers{
    "/api/consumers/{vhost}",
    "Listing consumers in vhost {vhost} ...",
    {"queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
     "arguments"},
    {{"queue_name", "channel_pid", "consumer_tag", "ack_required", "exclusive", "prefetch_count",
      "active", "activity_status", "arguments"},
     {{"queue_name", "queue.name"}, {"channel_pid", "channel_details.name"}}}};

const list_spec users{"/api/users",
                      "Listing users ...",
                      {"user", "tags"},
                      {{"user", "tags", "hashing_algorithm", "limits"}, {{"user", "name"}}}};

const list_spec vhosts{"/api/vhosts",
                       "Listing vhosts ...",
                       {"name"},
                       {{"name", "description", "tags", "tracing", "messages", "messages_ready",
                         "messages_unacknowledged", "cluster_state"},
                        {}}};

// The API has no /api/vhosts/{vhost}/permissions nor /api/users/{user}/permissions: filter.
const list_spec permissions{"/api/permissions",
                            "Listing permissions for vhost \"{vhost}\" ...",
                            {"user", "configure", "write", "read"},
                            {{"user", "vhost", "configure", "write", "read"}, {}},
                            "vhost",
                            "{vhost}"};

const list_spec user_permissions{"/api/permissions",
                                 "Listing permissions for user \"{0}\" ...",
                                 {"vhost", "configure", "write", "read"},
                                 {{"user", "vhost", "configure", "write", "read"}, {}},
                                 "user",
                                 "{0}",
                                 "/api/users/{0}"};

const list_spec topic_permissions{"/api/topic-permissions",
                                  "Listing topic permissions for vhost \"{vhost}\" ...",
                                  {"user", "exchange", "write", "read"},
                                  {{"user", "vhost", "exchange", "write", "read"}, {}},
                                  "vhost",
                                  "{vhost}"};

const column_set policy_columns{{"vhost", "name", "pattern", "apply-to", "definition", "priority"},
                                {}};

const list_spec policies{"/api/policies/{vhost}",
                         "Listing policies for vhost \"{vhost}\" ...",
                         {"vhost", "name", "pattern", "apply-to", "definition", "priority"},
                         policy_columns};

const list_spec operator_policies{
    "/api/operator-policies/{vhost}",
    "Listing operator policy overrides for vhost \"{vhost}\" ...",
    {"vhost", "name", "pattern", "apply-to", "definition", "priority"},
    policy_columns};

}  // namespace

const std::vector<command_spec>& list_commands() {
    static const std::vector<command_spec> table{
        {"list_queues", 0, -1, "[-p <vhost>] [<column> ...]", "queues and their messages", run_list,
         takes_vhost, &queues},
        {"list_exchanges", 0, -1, "[-p <vhost>] [<column> ...]", "exchanges", run_list, takes_vhost,
         &exchanges},
        {"list_bindings", 0, -1, "[-p <vhost>] [<column> ...]", "bindings", run_list, takes_vhost,
         &bindings},
        {"list_connections", 0, -1, "[<column> ...]", "client connections (all vhosts)", run_list,
         0, &connections},
        {"list_channels", 0, -1, "[<column> ...]", "channels (all vhosts)", run_list, 0, &channels},
        {"list_consumers", 0, -1, "[-p <vhost>] [<column> ...]", "consumers", run_list, takes_vhost,
         &consumers},
        {"list_users", 0, -1, "[<column> ...]", "users and their tags", run_list, 0, &users},
        {"list_vhosts", 0, -1, "[<column> ...]", "virtual hosts", run_list, 0, &vhosts},
        {"list_permissions", 0, -1, "[-p <vhost>] [<column> ...]",
         "the users' permissions in a vhost", run_list, takes_vhost, &permissions},
        {"list_user_permissions", 1, -1, "<user> [<column> ...]",
         "a user's permissions in every vhost", run_list, 0, &user_permissions},
        {"list_topic_permissions", 0, -1, "[-p <vhost>] [<column> ...]",
         "topic permissions in a vhost", run_list, takes_vhost, &topic_permissions},
        {"list_policies", 0, -1, "[-p <vhost>] [<column> ...]", "policies in a vhost", run_list,
         takes_vhost, &policies},
        {"list_operator_policies", 0, -1, "[-p <vhost>] [<column> ...]",
         "operator policies in a vhost", run_list, takes_vhost, &operator_policies},
    };
    return table;
}

int run_list(context& c, const command_spec& cmd) {
    const list_spec& spec = *cmd.list;
    std::vector<std::string> requested(c.inv.args.begin() + cmd.min_args, c.inv.args.end());
    auto cols = select_columns(requested, spec.defaults, spec.columns);
    if (!cols) return fail(c, exit_code::usage, cols.error());
    if (!spec.must_exist.empty()) {
        auto r = call(c, "GET", expand(spec.must_exist, c.inv, true), {}, exit_code::no_user);
        if (!r) return r.error();
    }
    banner(c, expand(spec.banner, c.inv, false));
    auto r = call(c, "GET", expand(spec.path, c.inv, true));
    if (!r) return r.error();
    json rows = json::parse(r->body, nullptr, false);
    if (!rows.is_array())
        return fail(c, exit_code::software, "the server's reply is not a JSON array");
    if (!spec.filter_field.empty()) {
        std::string want = expand(spec.filter_value, c.inv, false);
        json kept = json::array();
        for (auto& row : rows) {
            const json& v = lookup(row, spec.filter_field);
            if (v.is_string() && v.get<std::string>() == want) kept.push_back(std::move(row));
        }
        rows = std::move(kept);
    }
    if (c.inv.format == output_format::json)
        c.out << select_json(rows, *cols).dump() << '\n';
    else
        c.out << render_table(rows, *cols, c.inv.headers);
    return exit_code::ok;
}

}  // namespace warren::ctl

// Commands against a fake transport: the requests they send and how replies map to output and
// exit codes. tests/interop/server/warrenctl_test.py runs them against a real warrend.

#include "ctl/commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ctl/exit_code.h"

namespace warren::ctl {
namespace {

using nlohmann::json;

struct sent {
    std::string method, target, body;
    http_headers headers;
};

class fake_http final : public http_transport {
public:
    // "METHOD target" -> reply; unknown requests get 404 with RabbitMQ's body.
    std::map<std::string, std::optional<http_result>> replies;
    std::vector<sent> log;

    http_result send(std::string_view method, std::string_view target, std::string_view body,
                     const http_headers& headers) override {
        log.push_back({std::string(method), std::string(target), std::string(body), headers});
        auto it = replies.find(std::string(method) + " " + std::string(target));
        if (it != replies.end()) return *it->second;
        return http_reply{404, R"({"error":"Object Not Found","reason":"Not Found"})"};
    }
    void set_timeout(std::chrono::milliseconds) override {}
};

struct outcome {
    int code;
    std::string out, err;
};

outcome run(fake_http& http, invocation inv) {
    std::ostringstream out, err;
    int code = run_command(inv, http, out, err);
    return {code, out.str(), err.str()};
}

invocation cmd(std::string name, std::vector<std::string> args = {}) {
    invocation inv;
    inv.command = std::move(name);
    inv.args = std::move(args);
    return inv;
}

TEST(commands, EveryCommandHasAUniqueNameAndAHandler) {
    std::set<std::string_view> seen;
    for (const auto& c : command_table()) {
        EXPECT_TRUE(seen.insert(c.name).second) << c.name;
        EXPECT_NE(c.run, nullptr) << c.name;
        if (c.run == run_list) {
            ASSERT_NE(c.list, nullptr) << c.name;
            for (auto d : c.list->defaults)
                EXPECT_NE(std::find(c.list->columns.known.begin(), c.list->columns.known.end(), d),
                          c.list->columns.known.end())
                    << c.name << " default column " << d << " is not a known column";
        }
    }
    EXPECT_GE(command_table().size(), 40u);
}

TEST(commands, ListQueuesPrintsBannerHeaderAndTheAskedColumns) {
    fake_http http;
    http.replies["GET /api/queues/prod%2Fone"] =
        http_reply{200, R"([{"name":"q1","messages":3,"consumers":1},{"name":"q2","messages":0}])"};
    auto inv = cmd("list_queues", {"name", "consumers"});
    inv.vhost = "prod/one";
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    EXPECT_EQ(r.out, "Listing queues for vhost prod/one ...\nname\tconsumers\nq1\t1\nq2\t\n");
}

TEST(commands, ListJsonHasNoBanner) {
    fake_http http;
    http.replies["GET /api/queues/%2F"] = http_reply{200, R"([{"name":"q1","messages":3}])"};
    auto inv = cmd("list_queues");
    inv.format = output_format::json;
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::ok);
    EXPECT_EQ(json::parse(r.out), json::parse(R"([{"name":"q1","messages":3}])"));
}

TEST(commands, UnknownColumnIsAUsageErrorBeforeAnyRequest) {
    fake_http http;
    auto r = run(http, cmd("list_exchanges", {"name", "colour"}));
    EXPECT_EQ(r.code, exit_code::usage);
    EXPECT_TRUE(http.log.empty());
    EXPECT_NE(r.err.find("colour"), std::string::npos);
}

TEST(commands, ListUserPermissionsFiltersByUserAndNeedsTheUser) {
    fake_http http;
    http.replies["GET /api/users/bob"] = http_reply{200, R"({"name":"bob"})"};
    http.replies["GET /api/permissions"] =
        http_reply{200, R"([{"user":"bob","vhost":"/","configure":".*","write":"","read":".*"},
                 {"user":"amy","vhost":"/","configure":"","write":"","read":""}])"};
    auto inv = cmd("list_user_permissions", {"bob"});
    inv.quiet = true;
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    EXPECT_EQ(r.out, "vhost\tconfigure\twrite\tread\n/\t.*\t\t.*\n");
    EXPECT_EQ(run(http, cmd("list_user_permissions", {"nobody"})).code, exit_code::no_user);
}

TEST(commands, HttpFailuresMapToExitCodes) {
    struct row {
        http_result reply;
        int code;
    };
    for (const auto& [reply, code] : std::vector<row>{
             {http_reply{401, R"({"error":"not_authorised","reason":"Login failed"})"},
              exit_code::no_perm},
             {http_reply{403, ""}, exit_code::no_perm},
             {http_reply{404, R"({"error":"not_found","reason":"vhost_not_found"})"},
              exit_code::data_error},
             {http_reply{400, R"({"error":"bad_request","reason":"x"})"}, exit_code::data_error},
             {http_reply{500, "boom"}, exit_code::software},
             {transport_error{exit_code::unavailable, "connection refused"},
              exit_code::unavailable},
             {transport_error{exit_code::temp_fail, "no reply"}, exit_code::temp_fail},
         }) {
        fake_http http;
        http.replies["GET /api/vhosts"] = reply;
        auto r = run(http, cmd("list_vhosts"));
        EXPECT_EQ(r.code, code);
        EXPECT_EQ(r.err.rfind("Error: ", 0), 0u) << r.err;
    }
}

TEST(commands, LoginFailureNamesTheUserAndTheReason) {
    fake_http http;
    http.replies["GET /api/vhosts"] =
        http_reply{401, R"({"error":"not_authorised","reason":"Login failed"})"};
    auto r = run(http, cmd("list_vhosts"));
    EXPECT_NE(r.err.find("'guest'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Login failed"), std::string::npos) << r.err;
}

TEST(commands, UserCommandsExit67ForAMissingUser) {
    fake_http http;
    auto r = run(http, cmd("delete_user", {"ghost"}));
    EXPECT_EQ(r.code, exit_code::no_user);
    EXPECT_EQ(r.err, "Error: no such user: ghost\n");
    EXPECT_EQ(run(http, cmd("change_password", {"ghost", "pw"})).code, exit_code::no_user);
    EXPECT_EQ(run(http, cmd("set_user_tags", {"ghost", "x"})).code, exit_code::no_user);
    // The API deletes a missing user's permissions with 204: warrenctl asks for the user first.
    http.replies["DELETE /api/permissions/%2F/ghost"] = http_reply{204, ""};
    EXPECT_EQ(run(http, cmd("clear_permissions", {"ghost"})).code, exit_code::no_user);
    http.replies["PUT /api/permissions/%2F/ghost"] =
        http_reply{400, R"({"error":"bad_request","reason":"user_not_found"})"};
    EXPECT_EQ(run(http, cmd("set_permissions", {"ghost", ".*", ".*", ".*"})).code,
              exit_code::no_user);
    http.replies["PUT /api/permissions/%2F/ghost"] =
        http_reply{400, R"({"error":"bad_request","reason":"vhost_not_found"})"};
    EXPECT_EQ(run(http, cmd("set_permissions", {"ghost", ".*", ".*", ".*"})).code,
              exit_code::data_error);
}

TEST(commands, SetUserTagsKeepsThePasswordHash) {
    fake_http http;
    http.replies["GET /api/users/bob"] = http_reply{
        200,
        R"({"name":"bob","password_hash":"abc=","hashing_algorithm":"rabbit_password_hashing_sha256","tags":["old"]})"};
    http.replies["PUT /api/users/bob"] = http_reply{204, ""};
    auto r = run(http, cmd("set_user_tags", {"bob", "administrator", "monitoring"}));
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    ASSERT_EQ(http.log.size(), 2u);
    EXPECT_EQ(json::parse(http.log[1].body),
              json::parse(R"({"password_hash":"abc=","hashing_algorithm":
                 "rabbit_password_hashing_sha256","tags":"administrator,monitoring"})"));
}

TEST(commands, AddUserRefusesAnExistingUser) {
    fake_http http;
    http.replies["GET /api/users/bob"] = http_reply{200, R"({"name":"bob"})"};
    EXPECT_EQ(run(http, cmd("add_user", {"bob", "pw"})).code, exit_code::software);
    http.replies.clear();
    http.replies["PUT /api/users/amy"] = http_reply{201, ""};
    EXPECT_EQ(run(http, cmd("add_user", {"amy", "pw"})).code, exit_code::ok);
    EXPECT_EQ(json::parse(http.log.back().body), json::parse(R"({"password":"pw","tags":""})"));
}

TEST(commands, SetPolicySendsRabbitmqsShape) {
    fake_http http;
    http.replies["PUT /api/policies/v/ttl"] = http_reply{201, ""};
    auto inv = cmd("set_policy", {"ttl", "^q\\.", R"({"message-ttl":1000})"});
    inv.vhost = "v";
    inv.priority = 3;
    inv.apply_to = "queues";
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    EXPECT_EQ(json::parse(http.log.back().body),
              json::parse(R"({"pattern":"^q\\.","definition":{"message-ttl":1000},
                              "priority":3,"apply-to":"queues"})"));
}

TEST(commands, SetPolicyWithBadJsonIsADataErrorBeforeAnyRequest) {
    fake_http http;
    auto r = run(http, cmd("set_policy", {"p", ".*", "{not json"}));
    EXPECT_EQ(r.code, exit_code::data_error);
    EXPECT_TRUE(http.log.empty());
}

TEST(commands, OperatorPoliciesUseTheirOwnPath) {
    fake_http http;
    http.replies["DELETE /api/operator-policies/%2F/cap"] = http_reply{204, ""};
    EXPECT_EQ(run(http, cmd("clear_operator_policy", {"cap"})).code, exit_code::ok);
    EXPECT_EQ(run(http, cmd("clear_policy", {"cap"})).code, exit_code::data_error);
}

TEST(commands, DeleteQueuePassesConditionsAndReportsMessages) {
    fake_http http;
    http.replies["GET /api/queues/%2F/q"] = http_reply{200, R"({"name":"q","messages":7})"};
    http.replies["DELETE /api/queues/%2F/q?if-empty=true&if-unused=true"] = http_reply{204, ""};
    auto inv = cmd("delete_queue", {"q"});
    inv.if_empty = inv.if_unused = true;
    inv.quiet = true;
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    EXPECT_EQ(r.out, "Queue was successfully deleted with 7 messages\n");
    EXPECT_EQ(run(http, cmd("delete_queue", {"nope"})).code, exit_code::data_error);
}

TEST(commands, CloseConnectionSendsTheReason) {
    fake_http http;
    http.replies["DELETE /api/connections/1.2.3.4%3A5%20-%3E%206.7.8.9%3A5672"] =
        http_reply{204, ""};
    auto r = run(http, cmd("close_connection", {"1.2.3.4:5 -> 6.7.8.9:5672", "go away"}));
    EXPECT_EQ(r.code, exit_code::ok) << r.err;
    EXPECT_EQ(http.log.back().headers, (http_headers{{"X-Reason", "go away"}}));
}

TEST(commands, HealthCheckFailureExits1AndPrintsTheReason) {
    fake_http http;
    http.replies["GET /api/health/checks/alarms"] =
        http_reply{503, R"({"status":"failed","reason":"There are alarms in effect in the cluster",
                 "alarms":[{"node":"warren@h","resource":"memory"}]})"};
    auto r = run(http, cmd("check_alarms"));
    EXPECT_EQ(r.code, exit_code::check_failed);
    EXPECT_NE(r.err.find("alarms in effect"), std::string::npos);
    EXPECT_NE(r.err.find("memory"), std::string::npos);
    http.replies["GET /api/health/checks/alarms"] = http_reply{200, R"({"status":"ok"})"};
    EXPECT_EQ(run(http, cmd("check_alarms")).code, exit_code::ok);
}

TEST(commands, CheckPortListenerNeedsAPortNumber) {
    fake_http http;
    EXPECT_EQ(run(http, cmd("check_port_listener", {"amqp"})).code, exit_code::data_error);
    EXPECT_EQ(run(http, cmd("check_port_listener", {"99999"})).code, exit_code::data_error);
    EXPECT_TRUE(http.log.empty());
}

TEST(commands, AwaitStartupTimesOutWith75AndStopsAtALoginFailure) {
    fake_http http;
    http.replies["GET /api/overview"] = transport_error{exit_code::unavailable, "refused"};
    auto inv = cmd("await_startup");
    inv.timeout_s = 0.3;
    auto r = run(http, inv);
    EXPECT_EQ(r.code, exit_code::temp_fail);
    EXPECT_GE(http.log.size(), 2u);
    http.replies["GET /api/overview"] = http_reply{401, R"({"reason":"Login failed"})"};
    EXPECT_EQ(run(http, inv).code, exit_code::no_perm);
    http.replies["GET /api/overview"] = http_reply{200, "{}"};
    EXPECT_EQ(run(http, inv).code, exit_code::ok);
}

TEST(commands, ImportDefinitionsRejectsWhatIsNotJson) {
    fake_http http;
    EXPECT_EQ(run(http, cmd("import_definitions", {"/nonexistent/defs.json"})).code,
              exit_code::data_error);
    EXPECT_TRUE(http.log.empty());
}

TEST(commands, ExpandEncodesPathSegments) {
    auto inv = cmd("x", {"a b/c"});
    inv.vhost = "/";
    EXPECT_EQ(expand("/api/x/{vhost}/{0}", inv, true), "/api/x/%2F/a%20b%2Fc");
    EXPECT_EQ(expand("vhost {vhost} user {0}", inv, false), "vhost / user a b/c");
}

}  // namespace
}  // namespace warren::ctl

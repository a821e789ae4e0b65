#include "ctl/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "ctl/exit_code.h"

namespace warren::ctl {
namespace {

std::map<std::string, std::string>& fake_env() {
    static std::map<std::string, std::string> env;
    return env;
}

const char* lookup_env(const char* name) {
    auto it = fake_env().find(name);
    return it == fake_env().end() ? nullptr : it->second.c_str();
}

parse_outcome parse(std::vector<const char*> args) {
    args.insert(args.begin(), "warrenctl");
    return parse_args(static_cast<int>(args.size()), args.data(), lookup_env);
}

class options : public ::testing::Test {
protected:
    void SetUp() override { fake_env().clear(); }
    void TearDown() override { fake_env().clear(); }
};

TEST_F(options, DefaultsAreGuestOnLocalhost15672AndVhostSlash) {
    auto p = parse({"list_queues"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->ep.host, "127.0.0.1");
    EXPECT_EQ(p.inv->ep.port, 15672);
    EXPECT_EQ(p.inv->ep.user, "guest");
    EXPECT_EQ(p.inv->ep.password, "guest");
    EXPECT_FALSE(p.inv->ep.tls);
    EXPECT_EQ(p.inv->vhost, "/");
    EXPECT_EQ(p.inv->format, output_format::table);
    EXPECT_TRUE(p.inv->headers);
    EXPECT_FALSE(p.inv->quiet);
}

TEST_F(options, GlobalOptionsGoBeforeOrAfterTheCommand) {
    auto p = parse({"-n", "broker.example", "list_queues", "name", "messages", "-p", "prod",
                    "--port", "1234", "-u", "admin", "--password", "pw", "-q", "--format", "json",
                    "--no-table-headers"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->ep.host, "broker.example");
    EXPECT_EQ(p.inv->ep.port, 1234);
    EXPECT_EQ(p.inv->ep.user, "admin");
    EXPECT_EQ(p.inv->ep.password, "pw");
    EXPECT_EQ(p.inv->vhost, "prod");
    EXPECT_TRUE(p.inv->quiet);
    EXPECT_FALSE(p.inv->headers);
    EXPECT_EQ(p.inv->format, output_format::json);
    EXPECT_EQ(p.inv->command, "list_queues");
    EXPECT_EQ(p.inv->args, (std::vector<std::string>{"name", "messages"}));
}

TEST_F(options, EnvironmentFillsWhatTheCommandLineLeavesOut) {
    fake_env() = {{"WARREN_HOST", "envhost"},
                  {"WARREN_PORT", "9999"},
                  {"WARREN_USERNAME", "envuser"},
                  {"WARREN_PASSWORD", "envpw"},
                  {"WARREN_VHOST", "envvh"}};
    auto p = parse({"-u", "cli", "list_users"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->ep.host, "envhost");
    EXPECT_EQ(p.inv->ep.port, 9999);
    EXPECT_EQ(p.inv->ep.user, "cli");
    EXPECT_EQ(p.inv->ep.password, "envpw");
    EXPECT_EQ(p.inv->vhost, "envvh");
}

TEST_F(options, BadPortInTheEnvironmentIsAUsageError) {
    fake_env() = {{"WARREN_PORT", "http"}};
    EXPECT_EQ(parse({"status"}).exit, exit_code::usage);
}

TEST_F(options, SslDefaultsToPort15671AndCaCertImpliesSsl) {
    auto p = parse({"--ssl", "status"});
    ASSERT_TRUE(p.inv);
    EXPECT_TRUE(p.inv->ep.tls);
    EXPECT_EQ(p.inv->ep.port, 15671);
    p = parse({"--insecure", "status"});
    ASSERT_TRUE(p.inv);
    EXPECT_TRUE(p.inv->ep.tls);
    EXPECT_TRUE(p.inv->ep.insecure);
}

TEST_F(options, SilentIsQuietWithoutHeaders) {
    auto p = parse({"-s", "list_vhosts"});
    ASSERT_TRUE(p.inv);
    EXPECT_TRUE(p.inv->quiet);
    EXPECT_FALSE(p.inv->headers);
}

TEST_F(options, TimeoutBoundsEachRequest) {
    auto p = parse({"await_startup", "--timeout", "2.5"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->timeout_s, 2.5);
    EXPECT_EQ(p.inv->ep.timeout.count(), 2500);
}

TEST_F(options, PolicyOptionsBelongToPolicyCommands) {
    auto p = parse({"set_policy", "ttl", "^q", R"({"message-ttl":1000})", "--priority", "5",
                    "--apply-to", "queues"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->priority, 5);
    EXPECT_EQ(p.inv->apply_to, "queues");
    EXPECT_EQ(p.inv->args.size(), 3u);
    EXPECT_EQ(parse({"list_queues", "--priority", "5"}).exit, exit_code::usage);
    EXPECT_EQ(parse({"set_policy", "a", "b", "{}", "--apply-to", "tables"}).exit, exit_code::usage);
    EXPECT_EQ(parse({"set_policy", "a", "b", "{}", "--priority", "high"}).exit, exit_code::usage);
}

TEST_F(options, DeleteQueueTakesIfEmptyAndIfUnused) {
    auto p = parse({"delete_queue", "q", "--if-empty", "--if-unused"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_TRUE(p.inv->if_empty);
    EXPECT_TRUE(p.inv->if_unused);
    EXPECT_EQ(parse({"purge_queue", "q", "--if-empty"}).exit, exit_code::usage);
}

TEST_F(options, UsageErrorsExit64WithAMessage) {
    for (std::vector<const char*> args : std::vector<std::vector<const char*>>{
             {},
             {"no_such_command"},
             {"add_user", "only-name"},
             {"add_user", "a", "b", "c"},
             {"delete_user"},
             {"set_permissions", "u", ".*", ".*"},
             {"status", "extra"},
             {"list_queues", "--bogus-option"},
             {"--format", "yaml", "list_queues"},
             {"--port", "70000", "status"},
         }) {
        auto p = parse(args);
        EXPECT_FALSE(p.inv);
        EXPECT_EQ(p.exit, exit_code::usage) << (args.empty() ? "(none)" : args[0]);
        EXPECT_NE(p.err.find("Error:"), std::string::npos);
    }
}

TEST_F(options, HelpExitsZeroAndListsTheCommands) {
    auto p = parse({"--help"});
    EXPECT_FALSE(p.inv);
    EXPECT_EQ(p.exit, 0);
    EXPECT_NE(p.out.find("list_queues"), std::string::npos);
    EXPECT_NE(p.out.find("await_startup"), std::string::npos);
}

TEST_F(options, ArgumentsAfterDoubleDashMayStartWithADash) {
    auto p = parse({"change_password", "bob", "--", "-secret-"});
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->args, (std::vector<std::string>{"bob", "-secret-"}));
}

}  // namespace
}  // namespace warren::ctl

#pragma once
// The command table: every warrenctl command, its arguments, and the function that runs it.
// List commands are rows of data (API path, rabbitmqctl's default columns, the columns each
// knows), all run by one function (list_commands.cc); the others are a short function each
// (commands.cc for users, vhosts, permissions, policies, queues, connections and definitions;
// diagnostics.cc for status, await_startup and the health checks).
//
// A command writes its result to `out`, errors as "Error: ..." to `err`, and returns an
// exit_code; `run` finds it and checks the argument count first.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ctl/http_client.h"
#include "ctl/options.h"
#include "ctl/table.h"

namespace warren::ctl {

struct context {
    const invocation& inv;
    http_transport& http;
    std::ostream& out;
    std::ostream& err;
};

// Command options beyond the positional arguments.
enum command_flags : unsigned {
    takes_vhost = 1,     // -p/--vhost applies
    takes_policy = 2,    // --priority, --apply-to
    takes_if_flags = 4,  // --if-empty, --if-unused
    takes_timeout = 8,   // --timeout is this command's own deadline
};

// A list command: GET `path` ({vhost} and {0}, the first argument, filled in), keep the rows
// whose `filter_field` equals `filter_value` (the API has no per-user permission path), and
// print the columns asked for, or `defaults`.
struct list_spec {
    std::string_view path;
    std::string_view banner;
    std::vector<std::string_view> defaults;
    column_set columns;
    std::string_view filter_field = {};
    std::string_view filter_value = {};
    std::string_view must_exist = {};  // a user path: 404 there exits 67, as rabbitmqctl does
};

struct command_spec;
using run_fn = int (*)(context&, const command_spec&);

struct command_spec {
    std::string_view name;
    int min_args = 0;
    int max_args = 0;  // -1: any number (list columns, set_user_tags)
    std::string_view usage;
    std::string_view help;
    run_fn run = nullptr;
    unsigned flags = 0;
    const list_spec* list = nullptr;
    std::string_view path = {};  // health checks: the API path they GET ({0}: the argument)
};

const std::vector<command_spec>& command_table();
const command_spec* find_command(std::string_view name);

// "Usage: ..." and the command list, for --help and usage errors.
std::string commands_help();

// Runs inv.command (already known to exist and to have a valid argument count).
int run_command(const invocation& inv, http_transport& http, std::ostream& out, std::ostream& err);

// ---- shared by the command files ----

// {vhost} and {0}, {1} in `tpl`, each percent-encoded when `encode` (for paths).
std::string expand(std::string_view tpl, const invocation& inv, bool encode);
// Prints the informational line unless --quiet or --format json.
void banner(context& c, const std::string& text);
int fail(context& c, int code, const std::string& text);
// Sends a request; on anything but 2xx prints the API's reason and returns the exit code
// (401/403 77, 404 `not_found_code`, 400 65, 5xx 70); transport errors 69/75.
basic_result<http_reply, int> call(context& c, std::string_view method, const std::string& path,
                                   const std::string& body = {}, int not_found_code = data_error,
                                   const http_headers& headers = {});
// The same mapping for a reply already received (commands that look at a failure first).
basic_result<http_reply, int> check(context& c, http_result r, std::string_view method,
                                    const std::string& path, int not_found_code);
// The exit code a non-2xx reply maps to.
int exit_for_status(int status, int not_found_code);

int run_list(context& c, const command_spec& cmd);
const std::vector<command_spec>& list_commands();
const std::vector<command_spec>& action_commands();
const std::vector<command_spec>& diagnostic_commands();

}  // namespace warren::ctl

#pragma once
// warrenctl's command line: global options (connection, output) anywhere on the line, then a
// command and its positional arguments, as rabbitmqctl takes them:
//
//   warrenctl [-n host] [--port N] [-u user] [--password pw] [-p vhost] [-q] [--format json]
//             <command> [args...] [--priority N] [--apply-to queues] [--if-empty] [--if-unused]
//
// parse_args never exits and never prints: it returns the invocation, or what to print and the
// exit code (0 for --help, 64 for a usage error), so tests can check it.

#include <optional>
#include <string>
#include <vector>

#include "ctl/http_client.h"

namespace warren::ctl {

enum class output_format { table, json };

struct invocation {
    endpoint ep;
    std::string vhost = "/";
    output_format format = output_format::table;
    bool quiet = false;
    bool headers = true;
    std::optional<double> timeout_s;  // --timeout as given; commands pick their own default
    std::string command;
    std::vector<std::string> args;
    // Options of single commands (set_policy / set_operator_policy, delete_queue).
    std::optional<int> priority;
    std::optional<std::string> apply_to;
    bool if_empty = false;
    bool if_unused = false;
};

struct parse_outcome {
    std::optional<invocation> inv;  // set: run it
    int exit = 0;                   // otherwise: exit with this after printing
    std::string out;                // to stdout (help)
    std::string err;                // to stderr (usage errors)
};

// `env` looks up environment variables (WARREN_HOST, ...); tests pass their own.
using env_lookup = const char* (*)(const char*);
parse_outcome parse_args(int argc, const char* const* argv, env_lookup env);

}  // namespace warren::ctl

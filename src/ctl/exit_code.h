#pragma once
// warrenctl's exit codes: the sysexits(3) values rabbitmqctl uses, so scripts written for
// rabbitmqctl read warrenctl's the same way. docs/warrenctl.md has the table.

namespace warren::ctl {

enum exit_code : int {
    ok = 0,
    check_failed = 1,  // a health check ran and reported a problem (HTTP 503)
    usage = 64,        // EX_USAGE: unknown command or option, wrong number of arguments
    data_error = 65,   // EX_DATAERR: bad input (JSON, port), an object that does not exist, 400
    no_user = 67,      // EX_NOUSER: the user named on the command line does not exist
    unavailable = 69,  // EX_UNAVAILABLE: the node cannot be reached (refused, DNS, TLS)
    software = 70,     // EX_SOFTWARE: anything else the server refused (5xx, odd replies)
    temp_fail = 75,    // EX_TEMPFAIL: timed out (a request, or await_startup)
    no_perm = 77,      // EX_NOPERM: login failed or the user may not do this (401, 403)
};

}  // namespace warren::ctl

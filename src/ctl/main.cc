// warrenctl: rabbitmqctl's commands over Warren's management HTTP API. docs/warrenctl.md.

#include <cstdlib>
#include <exception>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/exit_code.h"
#include "ctl/options.h"

int main(int argc, char** argv) {
    using namespace warren::ctl;
    try {
        auto parsed = parse_args(argc, argv,
                                 [](const char* name) -> const char* { return std::getenv(name); });
        std::cout << parsed.out;
        std::cerr << parsed.err;
        if (!parsed.inv) return parsed.exit;
        auto http = make_http_transport(parsed.inv->ep);
        int rc = run_command(*parsed.inv, *http, std::cout, std::cerr);
        std::cout.flush();
        return rc;
    } catch (const std::exception& e) {
        std::cerr << "Error: internal: " << e.what() << '\n';
        return exit_code::software;
    }
}

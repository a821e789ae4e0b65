// warren-perf: an AMQP 0-9-1 load generator (see runner.h and options.h).
#include <csignal>
#include <iostream>
#include <variant>

#include "tools/perf/options.h"
#include "tools/perf/runner.h"

namespace {
extern "C" void on_signal(int) {
    warren::perf::request_stop();
}
}  // namespace

int main(int argc, char** argv) {
    auto parsed = warren::perf::parse_options(argc, argv);
    if (auto* exit = std::get_if<warren::perf::parse_exit>(&parsed)) {
        (exit->code == 0 ? std::cout : std::cerr) << exit->message << std::endl;
        return exit->code;
    }
    const auto& o = std::get<warren::perf::perf_options>(parsed);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    return warren::perf::run(o, o.json ? std::cerr : std::cout, std::cout);
}

#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace warren::log {

bool parse_level(std::string_view name, spdlog::level::level_enum& out) {
    static constexpr std::pair<std::string_view, spdlog::level::level_enum> levels[] = {
        {"trace", spdlog::level::trace},       {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},         {"warn", spdlog::level::warn},
        {"warning", spdlog::level::warn},      {"error", spdlog::level::err},
        {"critical", spdlog::level::critical}, {"off", spdlog::level::off},
    };
    for (auto& [n, l] : levels) {
        if (n == name) {
            out = l;
            return true;
        }
    }
    return false;
}

void init(spdlog::level::level_enum level) {
    auto logger = spdlog::get("warren");
    if (!logger) {
        logger = spdlog::stderr_logger_mt("warren");
        spdlog::set_default_logger(logger);
    }
    // ISO time, level, message with key=value pairs.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
}

}  // namespace warren::log

#pragma once
// Structured logging to stderr (spdlog). One logger for the process; modules log through the
// WLOG_* macros with fmt-style arguments and key=value pairs in the text:
//
//   WLOG_INFO("amqp connection opened peer={} vhost={}", peer, vhost);
//
// Levels: trace, debug, info, warn, error, critical, off.

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace warren::log {

// Parses a level name; returns false for an unknown name.
bool parse_level(std::string_view name, spdlog::level::level_enum& out);
// Sets up the stderr logger with Warren's format. Safe to call more than once.
void init(spdlog::level::level_enum level);

}  // namespace warren::log

#define WLOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define WLOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define WLOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define WLOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define WLOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

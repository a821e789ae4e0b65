#pragma once
// STOMP 1.0-1.2 frames as values: a command, an ordered header list and a body. The codec
// (parser.h, writer.h) turns bytes into these and back; it knows no sockets and no broker.
//
//   stomp::frame f{stomp::command::send};
//   f.headers.emplace_back("destination", "/queue/a");
//   if (const std::string* d = f.get("destination")) { ... }   // first occurrence wins
//
// Header names and values here are always decoded (unescaped); escaping is a wire concern.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warren::stomp {

enum class version : uint8_t { v1_0, v1_1, v1_2 };

std::string_view version_name(version v);  // "1.0", "1.1", "1.2"

enum class command : uint8_t {
    unknown,  // the parser accepts any command token; the session rejects it
    // client -> server
    connect,
    stomp,
    send,
    subscribe,
    unsubscribe,
    ack,
    nack,
    begin,
    commit,
    abort,
    disconnect,
    // server -> client
    connected,
    message,
    receipt,
    error,
};

std::string_view command_name(command c);
command parse_command(std::string_view name);

// CONNECT, STOMP and CONNECTED headers are never escaped (STOMP 1.2, "Value Encoding").
inline bool is_unescaped_command(command c) {
    return c == command::connect || c == command::stomp || c == command::connected;
}

using header = std::pair<std::string, std::string>;

struct frame {
    command cmd = command::unknown;
    std::string command_text;  // as received (meaningful when cmd == unknown)
    std::vector<header> headers;
    std::string body;

    // The first header with this name (STOMP: a repeated header's first value wins).
    const std::string* get(std::string_view name) const;
    bool has(std::string_view name) const { return get(name) != nullptr; }
    // A boolean header as RabbitMQ reads one (rabbit_stomp_frame:boolean_header): "true" or
    // "True", "false" or "False"; nullopt when absent or anything else.
    std::optional<bool> boolean(std::string_view name) const;
    bool boolean(std::string_view name, bool dflt) const { return boolean(name).value_or(dflt); }
    // Appends (does not replace).
    frame& add(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

}  // namespace warren::stomp

#include "proto/stomp/codec/frame.h"

#include <array>

namespace warren::stomp {

namespace {

struct command_entry {
    command cmd;
    std::string_view name;
};

constexpr std::array<command_entry, 15> k_commands{{
    {command::connect, "CONNECT"},
    {command::stomp, "STOMP"},
    {command::send, "SEND"},
    {command::subscribe, "SUBSCRIBE"},
    {command::unsubscribe, "UNSUBSCRIBE"},
    {command::ack, "ACK"},
    {command::nack, "NACK"},
    {command::begin, "BEGIN"},
    {command::commit, "COMMIT"},
    {command::abort, "ABORT"},
    {command::disconnect, "DISCONNECT"},
    {command::connected, "CONNECTED"},
    {command::message, "MESSAGE"},
    {command::receipt, "RECEIPT"},
    {command::error, "ERROR"},
}};

}  // namespace

std::string_view version_name(version v) {
    switch (v) {
        case version::v1_0:
            return "1.0";
        case version::v1_1:
            return "1.1";
        case version::v1_2:
            return "1.2";
    }
    return "1.0";
}

std::string_view command_name(command c) {
    for (const auto& e : k_commands) {
        if (e.cmd == c) return e.name;
    }
    return "UNKNOWN";
}

command parse_command(std::string_view name) {
    for (const auto& e : k_commands) {
        if (e.name == name) return e.cmd;
    }
    return command::unknown;
}

const std::string* frame::get(std::string_view name) const {
    for (const auto& h : headers) {
        if (h.first == name) return &h.second;
    }
    return nullptr;
}

std::optional<bool> frame::boolean(std::string_view name) const {
    const std::string* v = get(name);
    if (!v) return std::nullopt;
    if (*v == "true" || *v == "True") return true;
    if (*v == "false" || *v == "False") return false;
    return std::nullopt;
}

}  // namespace warren::stomp

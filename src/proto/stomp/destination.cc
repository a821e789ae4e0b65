#include "proto/stomp/destination.h"

#include <fmt/format.h>

namespace warren::stomp {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

constexpr std::string_view k_valid_types =
    "Valid destination types are: /exchange, /topic, /queue, /amq/queue, /temp-queue, "
    "/reply-queue/.";

}  // namespace

std::string encode_component(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '/' || c == '%' || c >= 0x80) {
            out += fmt::format("%{:02X}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

bool decode_component(std::string_view s, std::string& out) {
    out.clear();
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return false;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

std::optional<destination> parse_destination(std::string_view text, destination_error& err) {
    auto bad = [&](std::string detail) -> std::optional<destination> {
        err = {"Unknown destination", std::move(detail)};
        return std::nullopt;
    };
    auto invalid = [&](std::string detail) -> std::optional<destination> {
        err = {"Invalid destination", std::move(detail)};
        return std::nullopt;
    };
    auto decode = [&](std::string_view in, std::string& out) {
        if (!decode_component(in, out)) {
            err = {"Invalid destination",
                   fmt::format("'{}' has an invalid %-escape", std::string(text))};
            return false;
        }
        return true;
    };

    destination d;
    std::string_view rest;
    if (starts_with(text, "/queue/")) {
        d.kind = dest_kind::queue;
        rest = text.substr(7);
    } else if (starts_with(text, "/amq/queue/")) {
        d.kind = dest_kind::amq_queue;
        rest = text.substr(11);
    } else if (starts_with(text, "/topic/")) {
        d.kind = dest_kind::topic;
        rest = text.substr(7);
        if (rest.empty()) return invalid(fmt::format("'{}' has no topic name", std::string(text)));
        if (!decode(rest, d.key)) return std::nullopt;
        return d;
    } else if (starts_with(text, "/exchange/")) {
        d.kind = dest_kind::exchange;
        rest = text.substr(10);
        size_t slash = rest.find('/');
        std::string_view name = rest.substr(0, slash);
        if (name.empty()) {
            return invalid(fmt::format("'{}' has no exchange name", std::string(text)));
        }
        if (!decode(name, d.name)) return std::nullopt;
        if (slash != std::string_view::npos) {
            std::string_view key = rest.substr(slash + 1);
            if (key.find('/') != std::string_view::npos) {
                return invalid(
                    fmt::format("'{}': too many '/' (encode them as %2F)", std::string(text)));
            }
            if (!decode(key, d.key)) return std::nullopt;
        }
        return d;
    } else if (starts_with(text, "/temp-queue/")) {
        d.kind = dest_kind::temp_queue;
        rest = text.substr(12);
    } else if (starts_with(text, "/reply-queue/")) {
        d.kind = dest_kind::reply_queue;
        rest = text.substr(13);
    } else {
        return bad(
            fmt::format("'{}' is not a valid destination.\n{}", std::string(text), k_valid_types));
    }
    if (rest.empty()) return invalid(fmt::format("'{}' has no queue name", std::string(text)));
    if (rest.find('/') != std::string_view::npos) {
        return invalid(fmt::format("'{}': '/' is not allowed in a queue name (encode it as %2F)",
                                   std::string(text)));
    }
    if (!decode(rest, d.name)) return std::nullopt;
    return d;
}

std::string format_destination(std::string_view exchange, std::string_view routing_key) {
    if (exchange.empty()) return "/queue/" + encode_component(routing_key);
    if (exchange == "amq.topic") return "/topic/" + encode_component(routing_key);
    std::string out = "/exchange/" + encode_component(exchange);
    if (!routing_key.empty()) out += "/" + encode_component(routing_key);
    return out;
}

}  // namespace warren::stomp

#include "proto/stomp/destination.h"

#include <vector>

#include <fmt/format.h>

namespace warren::stomp {

namespace {

// Splits at every '/', keeping empty pieces ("/a//b" -> "", "a", "", "b").
std::vector<std::string_view> split_slashes(std::string_view s) {
    std::vector<std::string_view> out;
    for (;;) {
        size_t slash = s.find('/');
        out.push_back(s.substr(0, slash));
        if (slash == std::string_view::npos) return out;
        s.remove_prefix(slash + 1);
    }
}

}  // namespace

std::string encode_component(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '/' || c == '%' || c < 32 || c > 127) {
            out += fmt::format("%{:02X}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string decode_component(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s.substr(i, 3) == "%2F") {
            out.push_back('/');
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

basic_result<destination, failure> parse_destination(std::string_view text) {
    destination d;
    if (text.find('/') == std::string_view::npos) {
        if (text.empty()) {
            return errors::blank_destination();
        }
        d.kind = dest_kind::queue;
        d.name = decode_component(text);
        return d;
    }
    std::vector<std::string_view> parts = split_slashes(text);
    // What follows the type prefix, as RabbitMQ quotes it in "is not a valid ..." errors.
    auto invalid = [&](std::string_view prefix, std::string_view type) {
        return errors::invalid_destination(text.substr(prefix.size()), type);
    };
    std::string_view prefix, type;
    size_t first = 2;  // index of the first name piece
    if (parts[0].empty() && parts.size() >= 2) {
        if (parts[1] == "queue") {
            d.kind = dest_kind::queue;
            prefix = "/queue", type = "queue";
        } else if (parts[1] == "topic") {
            d.kind = dest_kind::topic;
            prefix = "/topic", type = "topic";
        } else if (parts[1] == "exchange") {
            d.kind = dest_kind::exchange;
            prefix = "/exchange", type = "exchange";
        } else if (parts[1] == "temp-queue") {
            d.kind = dest_kind::temp_queue;
            prefix = "/temp-queue", type = "temp_queue";
        } else if (parts[1] == "amq" && parts.size() >= 3 && parts[2] == "queue") {
            d.kind = dest_kind::amq_queue;
            prefix = "/amq/queue", type = "amqqueue";
            first = 3;
        } else if (parts[1] == "reply-queue" && parts.size() >= 3) {
            // The whole rest is the name: reply queues may hold '/'.
            std::string_view name = text.substr(13);
            if (name.empty()) {
                return errors::invalid_destination("/", "reply_queue");
            }
            d.kind = dest_kind::reply_queue;
            d.name = decode_component(name);
            return d;
        }
    }
    if (prefix.empty()) {
        return errors::unknown_destination(text);
    }
    size_t pieces = parts.size() - first;
    if (d.kind == dest_kind::exchange) {
        // /exchange/<name> or /exchange/<name>/<key>; the key may be empty.
        if (pieces < 1 || pieces > 2 || parts[first].empty()) return invalid(prefix, type);
        d.name = decode_component(parts[first]);
        if (pieces == 2) d.key = decode_component(parts[first + 1]);
        return d;
    }
    if (pieces != 1 || parts[first].empty()) return invalid(prefix, type);
    if (d.kind == dest_kind::topic) {
        d.key = decode_component(parts[first]);
    } else {
        d.name = decode_component(parts[first]);
    }
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

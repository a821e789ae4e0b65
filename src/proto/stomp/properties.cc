#include "proto/stomp/properties.h"

#include <array>
#include <charconv>
#include <optional>
#include <type_traits>

#include <fmt/format.h>

namespace warren::stomp {

namespace {

constexpr std::array<std::string_view, 27> k_reserved{
    // frame control
    "destination", "receipt", "transaction", "content-length", "message-id", "subscription", "ack",
    "id", "redelivered",
    // mapped properties
    "content-type", "content-encoding", "persistent", "priority", "correlation-id", "reply-to",
    "expiration", "amqp-message-id", "timestamp", "type", "user-id", "app-id",
    // queue parameters understood on SEND/SUBSCRIBE
    "durable", "auto-delete", "exclusive", "x-queue-name", "prefetch-count", "receipt-id"};

template <typename T>
bool parse_uint(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::optional<std::string> field_to_string(const core::field_value& v) {
    return std::visit(
        [](const auto& x) -> std::optional<std::string> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return x;
            } else if constexpr (std::is_same_v<T, bool>) {
                return std::string(x ? "true" : "false");
            } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
                return std::to_string(static_cast<int>(x));
            } else if constexpr (std::is_integral_v<T>) {
                return std::to_string(x);
            } else if constexpr (std::is_floating_point_v<T>) {
                return fmt::format("{}", x);
            } else if constexpr (std::is_same_v<T, core::bytes_value>) {
                return x.data;
            } else if constexpr (std::is_same_v<T, core::timestamp_value>) {
                return std::to_string(x.seconds);
            } else {
                return std::nullopt;  // void, decimal, arrays and tables have no STOMP form
            }
        },
        v.v);
}

// Why RabbitMQ's channel refuses an expiration (rabbit_basic:parse_expiration), as Erlang's ~p
// prints the reason; nullopt when it is a valid number of milliseconds.
std::optional<std::string> expiration_problem(std::string_view v) {
    size_t i = 0;
    if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
    size_t digits = i;
    while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
    if (digits == i) return std::string("no_integer");
    if (digits != v.size()) {
        return fmt::format("{{leftover_string,{}}}", erlang_quoted(v.substr(digits)));
    }
    if (v[0] == '-' && v.find_first_not_of("-0") != std::string_view::npos) {
        return fmt::format("{{value_negative,{}}}", v);
    }
    return std::nullopt;
}

}  // namespace

bool is_reserved_header(std::string_view name) {
    for (auto r : k_reserved) {
        if (r == name) return true;
    }
    return false;
}

status headers_to_properties(const frame& f, core::basic_properties& props) {
    core::field_table table;
    for (const auto& [name, value] : f.headers) {
        // A repeated header's first value wins: skip later copies.
        bool seen = false;
        for (const auto& h : f.headers) {
            if (&h.second == &value) break;
            if (h.first == name) {
                seen = true;
                break;
            }
        }
        if (seen) continue;

        if (name == "content-type") {
            props.content_type = value;
        } else if (name == "content-encoding") {
            props.content_encoding = value;
        } else if (name == "persistent") {
            if (f.boolean("persistent", false)) props.delivery_mode = 2;
        } else if (name == "priority") {
            // RabbitMQ reads it with list_to_integer; anything else crashes its processor.
            unsigned p = 0;
            if (!parse_uint(value, p) || p > 255) {
                return errors::processing_error();
            }
            props.priority = static_cast<uint8_t>(p);
        } else if (name == "correlation-id") {
            props.correlation_id = value;
        } else if (name == "reply-to") {
            props.reply_to = value;
        } else if (name == "expiration") {
            if (auto why = expiration_problem(value)) {
                return errors::invalid_expiration(value, *why);
            }
            props.expiration = value;
        } else if (name == "amqp-message-id") {
            props.message_id = value;
        } else if (name == "timestamp") {
            uint64_t ts = 0;
            if (!parse_uint(value, ts)) {
                return errors::processing_error();
            }
            props.timestamp = ts;
        } else if (name == "type") {
            props.type = value;
        } else if (name == "user-id") {
            props.user_id = value;
        } else if (name == "app-id") {
            props.app_id = value;
        } else if (!is_reserved_header(name)) {
            table.emplace_back(name, core::field_value{value});
        }
    }
    if (!table.empty()) props.headers = std::move(table);
    return {};
}

void properties_to_headers(const core::basic_properties& p, writer& w) {
    if (p.content_type) w.header("content-type", *p.content_type);
    if (p.content_encoding) w.header("content-encoding", *p.content_encoding);
    if (p.delivery_mode && *p.delivery_mode == 2) w.header("persistent", "true");
    if (p.priority) w.header("priority", std::to_string(*p.priority));
    if (p.correlation_id) w.header("correlation-id", *p.correlation_id);
    if (p.reply_to) w.header("reply-to", *p.reply_to);
    if (p.expiration) w.header("expiration", *p.expiration);
    if (p.message_id) w.header("amqp-message-id", *p.message_id);
    if (p.timestamp) w.header("timestamp", std::to_string(*p.timestamp));
    if (p.type) w.header("type", *p.type);
    if (p.user_id) w.header("user-id", *p.user_id);
    if (p.app_id) w.header("app-id", *p.app_id);
    if (p.headers) {
        for (const auto& [name, value] : *p.headers) {
            if (name.empty() || is_reserved_header(name)) continue;
            if (auto s = field_to_string(value)) w.header(name, *s);
        }
    }
}

}  // namespace warren::stomp

#pragma once
// The AMQP value model that Warren's core speaks internally: field values, field tables and
// basic (content) properties. RabbitMQ's internal message model is AMQP's, and so is ours: a
// STOMP frame's headers map into these on the way in and out of the broker.
//
// These are plain value types with no I/O. The AMQP codec (proto/amqp091/codec) encodes and
// decodes them; core uses them for headers-exchange matching, TTL, priority and dead-lettering.
//
//   core::field_table t;
//   t.emplace_back("x-match", core::field_value{std::string("all")});
//   if (auto* v = core::find(t, "x-match")) { ... }

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace warren::core {

struct field_value;
// A field table keeps wire order; keys are short strings. Lookups are linear: tables are small.
using field_table = std::vector<std::pair<std::string, field_value>>;
using field_array = std::vector<field_value>;

struct decimal_value {
    uint8_t scale = 0;
    uint32_t value = 0;
    bool operator==(const decimal_value&) const = default;
};

// A timestamp is distinct from a plain uint64 on the wire ('T').
struct timestamp_value {
    uint64_t seconds = 0;
    bool operator==(const timestamp_value&) const = default;
};

// Byte array ('x'), distinct from a long string ('S') on the wire.
struct bytes_value {
    std::string data;
    bool operator==(const bytes_value&) const = default;
};

struct void_value {
    bool operator==(const void_value&) const = default;
};

// Wire tags (RabbitMQ's variant of 0-9-1, see its spec errata):
//  t bool, b int8, B uint8, s int16, u uint16, I int32, i uint32, l int64, f float, d double,
//  D decimal, S long string, x byte array, A array, T timestamp, F table, V void.
struct field_value {
    using variant_type =
        std::variant<void_value, bool, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                     int64_t, float, double, decimal_value, std::string, bytes_value,
                     timestamp_value, std::shared_ptr<field_array>, std::shared_ptr<field_table>>;
    variant_type v;

    field_value() = default;
    template <typename T>
    field_value(T&& x) : v(std::forward<T>(x)) {}  // NOLINT: implicit by design
    field_value(const char* s) : v(std::string(s)) {}
    static field_value table(field_table t) {
        return field_value{std::make_shared<field_table>(std::move(t))};
    }
    static field_value array(field_array a) {
        return field_value{std::make_shared<field_array>(std::move(a))};
    }

    bool operator==(const field_value& o) const;

    const std::string* as_string() const { return std::get_if<std::string>(&v); }
    const field_table* as_table() const {
        auto* p = std::get_if<std::shared_ptr<field_table>>(&v);
        return p && *p ? p->get() : nullptr;
    }
    const field_array* as_array() const {
        auto* p = std::get_if<std::shared_ptr<field_array>>(&v);
        return p && *p ? p->get() : nullptr;
    }
    // Any integer type, widened; nullopt for non-integers.
    std::optional<int64_t> as_int() const;
    std::optional<bool> as_bool() const;
};

const field_value* find(const field_table& t, std::string_view key);
field_value* find(field_table& t, std::string_view key);
// Replace or append.
void set(field_table& t, std::string_view key, field_value v);
bool erase(field_table& t, std::string_view key);

// Basic-class content properties (AMQP 0-9-1 content header), in spec order.
struct basic_properties {
    std::optional<std::string> content_type;
    std::optional<std::string> content_encoding;
    std::optional<field_table> headers;
    std::optional<uint8_t> delivery_mode;  // 1 transient, 2 persistent
    std::optional<uint8_t> priority;
    std::optional<std::string> correlation_id;
    std::optional<std::string> reply_to;
    std::optional<std::string> expiration;  // milliseconds, as a decimal string
    std::optional<std::string> message_id;
    std::optional<uint64_t> timestamp;
    std::optional<std::string> type;
    std::optional<std::string> user_id;
    std::optional<std::string> app_id;
    std::optional<std::string> cluster_id;

    bool operator==(const basic_properties& o) const;
};

}  // namespace warren::core

#pragma once
// The binary form of message properties that core keeps in `message::props_raw` and that the
// message store records: basic properties as a 16-bit presence-flag word followed by the present
// values in flag order (strings as u8 length + bytes, headers as a u32-length field table with
// one tag octet per value, integers big-endian). It is the layout AMQP 0-9-1 puts in a content
// header, which is why an AMQP publisher's bytes can be kept as they came; it is defined here,
// protocol-neutral, so that the store and the durability layer need no protocol codec (a STOMP
// message is encoded here too).
//
//   std::string raw;
//   core::encode_properties(raw, m.props);
//   auto p = core::decode_properties(raw);      // nullopt: malformed
//
// Pure functions; untrusted input (wire or disk bytes) never reads out of bounds. This is the one
// implementation: the AMQP codec (proto/amqp091/codec: field_table.h, content.h) forwards here.

#include <optional>
#include <string>
#include <string_view>

#include "core/fields.h"

namespace warren::core {

// Nesting bound for tables/arrays within tables/arrays; deeper input is rejected.
inline constexpr int max_field_depth = 100;

void encode_properties(std::string& out, const basic_properties& p);
std::optional<basic_properties> decode_properties(std::string_view raw);
// Decodes into `out` in place (no temporary properties object to move: the publish and
// page-in hot paths). `out` should be empty; false (and `out` unspecified) if malformed.
bool decode_properties(std::string_view raw, basic_properties& out);
// Checks a property list without building it (no allocation: the publish hot path).
bool valid_properties(std::string_view raw);

// A field table: a u32 byte length followed by (u8-length key, tag, value) entries, with
// RabbitMQ's tag set (t b B s u I i l f d D S x A T F V). Decoders consume from the front of
// `in` and return false on malformed input (unknown tag, length past the end, nesting deeper
// than max_field_depth); on failure `in` and `out` are valid but unspecified.
void encode_field_table(std::string& out, const field_table& t);
bool decode_field_table(std::string_view& in, field_table& out);
// Validates a table without building it (no allocation) and consumes it from `in`.
bool skip_field_table(std::string_view& in);
// An array: a u32 byte length followed by (tag, value) entries.
void encode_field_array(std::string& out, const field_array& a);
bool decode_field_array(std::string_view& in, field_array& out);
// One tagged value: a tag octet followed by its value.
void encode_field_value(std::string& out, const field_value& v);
bool decode_field_value(std::string_view& in, field_value& out);
// The tag the encoder uses for a value.
char field_tag(const field_value& v);

}  // namespace warren::core

#pragma once
// Field-table codec: AMQP 0-9-1 tables, arrays and values as RabbitMQ encodes them (its errata
// tag set: t b B s u I i l f d D S x A T F V, see core/fields.h). Decoders consume from the
// front of `in` and return false on malformed input (unknown tag, length past the end, nesting
// deeper than max_field_depth); they never read past the end of `in`. On failure `in` and `out`
// are left in an unspecified but valid state.
//
//   std::string_view in = payload;
//   core::field_table t;
//   if (!amqp::decode_table(in, t)) return frame_error();
//   std::string out; amqp::encode_table(out, t);

#include <cstddef>
#include <string>
#include <string_view>

#include "core/fields.h"

namespace warren::amqp {

// Nesting bound for tables/arrays within tables/arrays; deeper input is rejected.
constexpr int max_field_depth = 100;

// A table: a 32-bit byte length followed by (shortstr key, tag, value) entries.
bool decode_table(std::string_view& in, core::field_table& out);
void encode_table(std::string& out, const core::field_table& t);

// An array: a 32-bit byte length followed by (tag, value) entries.
bool decode_array(std::string_view& in, core::field_array& out);
void encode_array(std::string& out, const core::field_array& a);

// One tagged value: a tag octet followed by its value.
bool decode_field_value(std::string_view& in, core::field_value& out);
void encode_field_value(std::string& out, const core::field_value& v);

// Validates a table without building it (no allocation) and consumes it from `in`.
bool skip_table(std::string_view& in);

// The wire tag the encoder uses for a value.
char field_tag(const core::field_value& v);

}  // namespace warren::amqp

#pragma once
// Field-table codec: AMQP 0-9-1 tables, arrays and values as RabbitMQ encodes them (its errata
// tag set: t b B s u I i l f d D S x A T F V, see core/fields.h). The implementation is core's
// (core/properties_codec.h: the store records the same bytes); these are the codec's names.
// Decoders consume from the front of `in` and return false on malformed input (unknown tag, length
// past the end, nesting deeper than max_field_depth); they never read past the end of `in`. On
// failure `in` and `out` are left in an unspecified but valid state.
//
//   std::string_view in = payload;
//   core::field_table t;
//   if (!amqp::decode_table(in, t)) return frame_error();
//   std::string out; amqp::encode_table(out, t);

#include <cstddef>
#include <string>
#include <string_view>

#include "core/fields.h"
#include "core/properties_codec.h"

namespace warren::amqp {

// Nesting bound for tables/arrays within tables/arrays; deeper input is rejected.
constexpr int max_field_depth = core::max_field_depth;

// A table: a 32-bit byte length followed by (shortstr key, tag, value) entries.
bool decode_table(std::string_view& in, core::field_table& out);
void encode_table(std::string& out, const core::field_table& t);

// An array: a 32-bit byte length followed by (tag, value) entries.
bool decode_array(std::string_view& in, core::field_array& out);
void encode_array(std::string& out, const core::field_array& a);

// One tagged value: a tag octet followed by its value.
using core::decode_field_value;
using core::encode_field_value;

// Validates a table without building it (no allocation) and consumes it from `in`.
bool skip_table(std::string_view& in);

// The wire tag the encoder uses for a value.
using core::field_tag;

}  // namespace warren::amqp

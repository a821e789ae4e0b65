#pragma once
// Field-table codec: AMQP 0-9-1 tables, arrays and values as RabbitMQ encodes them (its errata
// tag set: t b B s u I i l f d D S x A T F V, see core/fields.h). Decoders consume from the
// front of `in` and return false on malformed input (unknown tag, length past the end, nesting
// deeper than max_field_depth); they never read past the end of `in`. On failure `in` and `out`
// are left in an unspecified but valid state.
//
// The layout is the one core keeps as its own binary form (core/properties_codec.h), so these
// are that implementation under the codec's names: one copy of the table codec, not two.
//
//   std::string_view in = payload;
//   core::field_table t;
//   if (!amqp::decode_table(in, t)) return frame_error();
//   std::string out; amqp::encode_table(out, t);

#include <string>
#include <string_view>

#include "core/fields.h"
#include "core/properties_codec.h"

namespace warren::amqp {

// Nesting bound for tables/arrays within tables/arrays; deeper input is rejected.
using core::max_field_depth;

// A table: a 32-bit byte length followed by (shortstr key, tag, value) entries.
inline bool decode_table(std::string_view& in, core::field_table& out) {
    return core::decode_field_table(in, out);
}
inline void encode_table(std::string& out, const core::field_table& t) {
    core::encode_field_table(out, t);
}

// An array: a 32-bit byte length followed by (tag, value) entries.
inline bool decode_array(std::string_view& in, core::field_array& out) {
    return core::decode_field_array(in, out);
}
inline void encode_array(std::string& out, const core::field_array& a) {
    core::encode_field_array(out, a);
}

// One tagged value: a tag octet followed by its value.
using core::decode_field_value;
using core::encode_field_value;

// Validates a table without building it (no allocation) and consumes it from `in`.
inline bool skip_table(std::string_view& in) {
    return core::skip_field_table(in);
}

// The wire tag the encoder uses for a value.
using core::field_tag;

}  // namespace warren::amqp

// The field-table format is protocol-neutral and lives in core (core/properties_codec.h); the
// AMQP codec keeps its names for it.
#include "proto/amqp091/codec/field_table.h"

#include "core/properties_codec.h"

namespace warren::amqp {

bool decode_table(std::string_view& in, core::field_table& out) {
    return core::decode_field_table(in, out);
}
void encode_table(std::string& out, const core::field_table& t) {
    core::encode_field_table(out, t);
}
bool decode_array(std::string_view& in, core::field_array& out) {
    return core::decode_field_array(in, out);
}
void encode_array(std::string& out, const core::field_array& a) {
    core::encode_field_array(out, a);
}
bool skip_table(std::string_view& in) {
    return core::skip_field_table(in);
}

}  // namespace warren::amqp

// Fuzz target: core's field-table and properties codec (core/properties_codec.h), the one
// implementation behind AMQP tables and the stored form of message properties. The first input
// byte picks the decoder; the rest is its input. Checked beyond "no crash":
//  - the validate-only paths (skip_field_table, valid_properties) accept exactly what the full
//    decoders accept, and consume the same bytes;
//  - a decoded value re-encodes to bytes that decode and re-encode to the same bytes.

#include <string>

#include "core/properties_codec.h"
#include "fuzz/fuzz_input.h"

using namespace warren;

namespace {

template <typename T, typename Decode, typename Encode>
void round_trip(const T& v, Decode decode, Encode encode) {
    std::string once;
    encode(once, v);
    std::string_view in = once;
    T again;
    FUZZ_CHECK(decode(in, again));
    FUZZ_CHECK(in.empty());
    std::string twice;
    encode(twice, again);
    FUZZ_CHECK(once == twice);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input input(data, size);
    uint8_t which = input.byte() % 4;
    std::string_view bytes = input.rest();
    switch (which) {
        case 0: {  // a table
            std::string_view a = bytes, b = bytes;
            core::field_table t;
            bool full = core::decode_field_table(a, t);
            bool skip = core::skip_field_table(b);
            FUZZ_CHECK(full == skip);
            if (!full) break;
            FUZZ_CHECK(a.size() == b.size());
            round_trip(
                t,
                [](std::string_view& in, core::field_table& o) {
                    return core::decode_field_table(in, o);
                },
                [](std::string& o, const core::field_table& v) { core::encode_field_table(o, v); });
            break;
        }
        case 1: {  // an array
            std::string_view a = bytes;
            core::field_array arr;
            if (!core::decode_field_array(a, arr)) break;
            round_trip(
                arr,
                [](std::string_view& in, core::field_array& o) {
                    return core::decode_field_array(in, o);
                },
                [](std::string& o, const core::field_array& v) { core::encode_field_array(o, v); });
            break;
        }
        case 2: {  // one tagged value
            std::string_view a = bytes;
            core::field_value v;
            if (!core::decode_field_value(a, v)) break;
            (void)core::field_tag(v);
            round_trip(
                v,
                [](std::string_view& in, core::field_value& o) {
                    return core::decode_field_value(in, o);
                },
                [](std::string& o, const core::field_value& x) { core::encode_field_value(o, x); });
            break;
        }
        default: {  // a property list (props_raw, as AMQP and the store keep it)
            auto p = core::decode_properties(bytes);
            FUZZ_CHECK(p.has_value() == core::valid_properties(bytes));
            if (!p) break;
            std::string once;
            core::encode_properties(once, *p);
            auto q = core::decode_properties(once);
            FUZZ_CHECK(q);
            std::string twice;
            core::encode_properties(twice, *q);
            FUZZ_CHECK(once == twice);
            break;
        }
    }
    return 0;
}

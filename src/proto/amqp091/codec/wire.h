#pragma once
// Big-endian primitives for the AMQP codec: base/wire.h's reader and appenders, plus what reads
// AMQP's own types (strings into std::string, field tables). Internal to the codec but
// header-only so the generated method code and hand-written fast paths share it.
//
//   wire_reader r(payload);
//   uint16_t cid = r.u16();
//   std::string_view key = r.shortstr_view();
//   if (!r.ok()) return error;   // any read past the end fails, and later reads return zeros

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/wire.h"
#include "core/fields.h"

namespace warren::amqp {

bool decode_table(std::string_view& in, core::field_table& out);

class wire_reader : public wire::reader {
public:
    using wire::reader::reader;

    void shortstr(std::string& out) { out.assign(shortstr_view()); }
    void longstr(std::string& out) { out.assign(longstr_view()); }
    void table(core::field_table& out) {
        if (_ok && !decode_table(_in, out)) fail();
    }
};

using wire::patch_u32;
using wire::put_longstr;
using wire::put_shortstr;
using wire::put_u16;
using wire::put_u32;
using wire::put_u64;
using wire::put_u8;

}  // namespace warren::amqp

#!/usr/bin/env python3
"""Generates methods.h and methods.cc: one struct per AMQP 0-9-1 method (RabbitMQ's dialect,
extensions included), the method variant, and their decoders/encoders.

Run:  python3 src/proto/amqp091/codec/gen.py   (writes next to itself)
The output is committed so the build never runs the generator.

The table below is our own compact transcription of the spec (rabbitmq-codegen's
amqp-rabbitmq-0.9.1.json plus RabbitMQ's extensions). Field types:
  o octet (uint8), s short (uint16), l long (uint32), L longlong (uint64), T timestamp (uint64),
  ss shortstr, ls longstr, t table, b bit.
A method name followed by '*' carries content.

Naming exception: connection.close and channel.close have spec fields class-id and method-id;
those would clash with every struct's static class_id/method_id, so they are named
failing_class_id and failing_method_id (the method that caused the close).
"""

SPEC = [
    ("connection", 10, [
        ("start", 10, "o version_major, o version_minor, t server_properties, ls mechanisms, "
                      "ls locales"),
        ("start-ok", 11, "t client_properties, ss mechanism, ls response, ss locale"),
        ("secure", 20, "ls challenge"),
        ("secure-ok", 21, "ls response"),
        ("tune", 30, "s channel_max, l frame_max, s heartbeat"),
        ("tune-ok", 31, "s channel_max, l frame_max, s heartbeat"),
        ("open", 40, "ss virtual_host, ss capabilities, b insist"),
        ("open-ok", 41, "ss known_hosts"),
        ("close", 50, "s reply_code, ss reply_text, s failing_class_id, s failing_method_id"),
        ("close-ok", 51, ""),
        ("blocked", 60, "ss reason"),
        ("unblocked", 61, ""),
        ("update-secret", 70, "ls new_secret, ss reason"),
        ("update-secret-ok", 71, ""),
    ]),
    ("channel", 20, [
        ("open", 10, "ss out_of_band"),
        ("open-ok", 11, "ls channel_id"),
        ("flow", 20, "b active"),
        ("flow-ok", 21, "b active"),
        ("close", 40, "s reply_code, ss reply_text, s failing_class_id, s failing_method_id"),
        ("close-ok", 41, ""),
    ]),
    ("access", 30, [
        ("request", 10, "ss realm, b exclusive, b passive, b active, b write, b read"),
        ("request-ok", 11, "s ticket"),
    ]),
    ("exchange", 40, [
        ("declare", 10, "s ticket, ss exchange, ss type, b passive, b durable, b auto_delete, "
                        "b internal, b nowait, t arguments"),
        ("declare-ok", 11, ""),
        ("delete", 20, "s ticket, ss exchange, b if_unused, b nowait"),
        ("delete-ok", 21, ""),
        ("bind", 30, "s ticket, ss destination, ss source, ss routing_key, b nowait, t arguments"),
        ("bind-ok", 31, ""),
        ("unbind", 40, "s ticket, ss destination, ss source, ss routing_key, b nowait, "
                       "t arguments"),
        ("unbind-ok", 51, ""),
    ]),
    ("queue", 50, [
        ("declare", 10, "s ticket, ss queue, b passive, b durable, b exclusive, b auto_delete, "
                        "b nowait, t arguments"),
        ("declare-ok", 11, "ss queue, l message_count, l consumer_count"),
        ("bind", 20, "s ticket, ss queue, ss exchange, ss routing_key, b nowait, t arguments"),
        ("bind-ok", 21, ""),
        ("purge", 30, "s ticket, ss queue, b nowait"),
        ("purge-ok", 31, "l message_count"),
        ("delete", 40, "s ticket, ss queue, b if_unused, b if_empty, b nowait"),
        ("delete-ok", 41, "l message_count"),
        ("unbind", 50, "s ticket, ss queue, ss exchange, ss routing_key, t arguments"),
        ("unbind-ok", 51, ""),
    ]),
    ("basic", 60, [
        ("qos", 10, "l prefetch_size, s prefetch_count, b global"),
        ("qos-ok", 11, ""),
        ("consume", 20, "s ticket, ss queue, ss consumer_tag, b no_local, b no_ack, b exclusive, "
                        "b nowait, t arguments"),
        ("consume-ok", 21, "ss consumer_tag"),
        ("cancel", 30, "ss consumer_tag, b nowait"),
        ("cancel-ok", 31, "ss consumer_tag"),
        ("publish*", 40, "s ticket, ss exchange, ss routing_key, b mandatory, b immediate"),
        ("return*", 50, "s reply_code, ss reply_text, ss exchange, ss routing_key"),
        ("deliver*", 60, "ss consumer_tag, L delivery_tag, b redelivered, ss exchange, "
                         "ss routing_key"),
        ("get", 70, "s ticket, ss queue, b no_ack"),
        ("get-ok*", 71, "L delivery_tag, b redelivered, ss exchange, ss routing_key, "
                        "l message_count"),
        ("get-empty", 72, "ss cluster_id"),
        ("ack", 80, "L delivery_tag, b multiple"),
        ("reject", 90, "L delivery_tag, b requeue"),
        ("recover-async", 100, "b requeue"),
        ("recover", 110, "b requeue"),
        ("recover-ok", 111, ""),
        ("nack", 120, "L delivery_tag, b multiple, b requeue"),
    ]),
    ("confirm", 85, [
        ("select", 10, "b nowait"),
        ("select-ok", 11, ""),
    ]),
    ("tx", 90, [
        ("select", 10, ""),
        ("select-ok", 11, ""),
        ("commit", 20, ""),
        ("commit-ok", 21, ""),
        ("rollback", 30, ""),
        ("rollback-ok", 31, ""),
    ]),
]

# Spec defaults that differ from zero/empty (so a default-constructed struct is what a client
# library would send).
DEFAULTS = {
    ("connection", "start", "version_minor"): "9",
    ("basic", "reject", "requeue"): "true",
    ("basic", "nack", "requeue"): "true",
}

CTYPE = {"o": "uint8_t", "s": "uint16_t", "l": "uint32_t", "L": "uint64_t", "T": "uint64_t",
         "ss": "std::string", "ls": "std::string", "t": "core::field_table", "b": "bool"}
ZERO = {"o": "0", "s": "0", "l": "0", "L": "0", "T": "0", "b": "false"}

HEADER_INTRO = """\
#pragma once
// GENERATED by gen.py from its own table of the AMQP 0-9-1 spec (RabbitMQ's dialect: errata and
// extensions exchange.bind/unbind, basic.nack, confirm.*, connection.blocked/unblocked and
// connection.update-secret). Do not edit by hand: edit gen.py and re-run it.
//
// One struct per method, named <class>_<method>; fields as in the spec (dashes -> underscores).
// `method` is the variant of all of them. decode_method/encode_method work on a method frame's
// payload (class id, method id, arguments); append_method_frame adds the frame around it.
//
//   auto m = amqp::decode_method(frame.payload);
//   if (!m) return close(m.error());
//   if (auto* p = std::get_if<amqp::queue_declare>(&*m)) ...
//   amqp::append_method_frame(out, channel, amqp::queue_declare_ok{"q", 0, 0});
"""


def struct_name(cls, meth):
    return f"{cls}_{meth.rstrip('*').replace('-', '_')}"


def parse_fields(spec):
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        t, n = part.split()
        out.append((t, n))
    return out


def methods():
    for cls, cid, ms in SPEC:
        for m, mid, fields in ms:
            yield cls, cid, m.rstrip("*"), mid, m.endswith("*"), parse_fields(fields)


def gen_header():
    h = [HEADER_INTRO]
    h.append("#include <cstdint>\n#include <string>\n#include <string_view>\n#include <variant>\n")
    h.append('#include "core/error.h"\n#include "core/fields.h"\n#include "proto/amqp091/codec/frame.h"\n')
    h.append("namespace warren::amqp {\n")
    for cls, cid, m, mid, content, fields in methods():
        sn = struct_name(cls, m)
        h.append(f"struct {sn} {{")
        h.append(f"    static constexpr uint16_t class_id = {cid};")
        h.append(f"    static constexpr uint16_t method_id = {mid};")
        h.append(f'    static constexpr std::string_view name = "{cls}.{m}";')
        h.append(f"    static constexpr bool has_content = {'true' if content else 'false'};")
        for t, n in fields:
            d = DEFAULTS.get((cls, m, n), ZERO.get(t))
            init = f" = {d}" if d is not None else ""
            h.append(f"    {CTYPE[t]} {n}{init};")
        h.append(f"    bool operator==(const {sn}&) const = default;")
        h.append("};\n")
    names = [struct_name(c, m) for c, _, m, _, _, _ in methods()]
    h.append("using method = std::variant<" + ",\n                            ".join(names) + ">;\n")
    h.append("// Arguments only (no class/method ids): one overload per method.")
    for n in names:
        h.append(f"void encode_fields(std::string& out, const {n}& m);")
    h.append("""
// Decodes a method frame payload. Errors: 540 NOT_IMPLEMENTED for an unknown class or method id,
// 501 FRAME_ERROR for truncated or malformed arguments (trailing bytes included), like RabbitMQ.
core::result<method> decode_method(std::string_view payload);
// Appends class id, method id and arguments (a method frame's payload).
void encode_method(std::string& out, const method& m);

// "basic.publish", for logs and errors.
std::string_view method_name(const method& m);
// Name for ids that may be unknown ("unknown method 60/999" style names are not returned: empty).
std::string_view method_name(uint16_t class_id, uint16_t method_id);
uint16_t method_class_id(const method& m);
uint16_t method_method_id(const method& m);

// Whether the method is followed by a content header and body (basic.publish/return/deliver/
// get-ok).
bool has_content(const method& m);
bool has_content(uint16_t class_id, uint16_t method_id);

// Reads the class and method ids of a method payload without decoding it.
bool peek_method_ids(std::string_view payload, uint16_t& class_id, uint16_t& method_id);

template <typename M>
    requires requires { M::class_id; M::method_id; }
void append_method_frame(std::string& out, uint16_t channel, const M& m) {
    size_t start = begin_frame(out, frame_type::method, channel);
    const char ids[4] = {char(M::class_id >> 8), char(M::class_id & 0xff), char(M::method_id >> 8),
                         char(M::method_id & 0xff)};
    out.append(ids, 4);
    encode_fields(out, m);
    end_frame(out, start);
}
void append_method_frame(std::string& out, uint16_t channel, const method& m);

}  // namespace warren::amqp
""")
    return "\n".join(h)


def gen_source():
    s = ["// GENERATED by gen.py. Do not edit by hand.\n",
         '#include "proto/amqp091/codec/methods.h"\n',
         '#include "proto/amqp091/codec/field_table.h"',
         '#include "proto/amqp091/codec/wire.h"\n',
         "namespace warren::amqp {\n", "namespace {\n"]
    # decoders
    for cls, cid, m, mid, content, fields in methods():
        sn = struct_name(cls, m)
        s.append(f"bool decode_fields(wire_reader& r, {sn}& m) {{")
        i = 0
        while i < len(fields):
            t, n = fields[i]
            if t == "b":
                bits = []
                while i < len(fields) and fields[i][0] == "b" and len(bits) < 8:
                    bits.append(fields[i][1])
                    i += 1
                s.append("    {")
                s.append("        uint8_t bits = r.u8();")
                for k, bn in enumerate(bits):
                    s.append(f"        m.{bn} = (bits & {1 << k}) != 0;")
                s.append("    }")
                continue
            fn = {"o": "m.{n} = r.u8();", "s": "m.{n} = r.u16();", "l": "m.{n} = r.u32();",
                  "L": "m.{n} = r.u64();", "T": "m.{n} = r.u64();",
                  "ss": "r.shortstr(m.{n});", "ls": "r.longstr(m.{n});",
                  "t": "r.table(m.{n});"}[t]
            s.append("    " + fn.format(n=n))
            i += 1
        s.append("    return r.ok() && r.empty();")
        s.append("}\n")
    s.append("}  // namespace\n")
    # encoders
    for cls, cid, m, mid, content, fields in methods():
        sn = struct_name(cls, m)
        arg = "m" if fields else "/*m*/"
        s.append(f"void encode_fields(std::string& out, const {sn}& {arg}) {{")
        i = 0
        while i < len(fields):
            t, n = fields[i]
            if t == "b":
                bits = []
                while i < len(fields) and fields[i][0] == "b" and len(bits) < 8:
                    bits.append(fields[i][1])
                    i += 1
                s.append("    {")
                s.append("        uint8_t bits = 0;")
                for k, bn in enumerate(bits):
                    s.append(f"        if (m.{bn}) bits |= {1 << k};")
                s.append("        put_u8(out, bits);")
                s.append("    }")
                continue
            fn = {"o": "put_u8(out, m.{n});", "s": "put_u16(out, m.{n});",
                  "l": "put_u32(out, m.{n});", "L": "put_u64(out, m.{n});",
                  "T": "put_u64(out, m.{n});", "ss": "put_shortstr(out, m.{n});",
                  "ls": "put_longstr(out, m.{n});", "t": "encode_table(out, m.{n});"}[t]
            s.append("    " + fn.format(n=n))
            i += 1
        s.append("}\n")
    # decode_method
    s.append("""namespace {
template <typename M>
core::result<method> decode_as(wire_reader& r) {
    M m;
    if (!decode_fields(r, m))
        return core::error{core::reply_code::frame_error,
                           "cannot decode " + std::string(M::name) + " method frame"};
    return method{std::move(m)};
}
}  // namespace

core::result<method> decode_method(std::string_view payload) {
    uint16_t cid = 0, mid = 0;
    if (!peek_method_ids(payload, cid, mid))
        return core::error{core::reply_code::frame_error,
                           "method frame too short (" +
                               std::to_string(payload.size()) + " octets)"};
    wire_reader r(payload.substr(4));
    switch ((uint32_t(cid) << 16) | mid) {""")
    for cls, cid, m, mid, content, fields in methods():
        s.append(f"        case ({cid}u << 16) | {mid}u: return decode_as<{struct_name(cls, m)}>(r);")
    s.append("""        default:
            return core::error{core::reply_code::not_implemented,
                               "unknown method class_id=" + std::to_string(cid) +
                                   " method_id=" + std::to_string(mid)};
    }
}

std::string_view method_name(uint16_t class_id, uint16_t method_id) {
    switch ((uint32_t(class_id) << 16) | method_id) {""")
    for cls, cid, m, mid, content, fields in methods():
        s.append(f'        case ({cid}u << 16) | {mid}u: return "{cls}.{m}";')
    s.append("""        default: return {};
    }
}

bool has_content(uint16_t class_id, uint16_t method_id) {
    switch ((uint32_t(class_id) << 16) | method_id) {""")
    for cls, cid, m, mid, content, fields in methods():
        if content:
            s.append(f"        case ({cid}u << 16) | {mid}u:")
    s.append("""            return true;
        default:
            return false;
    }
}

}  // namespace warren::amqp
""")
    return "\n".join(s)


def gen_samples():
    """Test data: for every method, one instance with every field set to a non-default value."""
    s = ["// GENERATED by gen.py: one filled-in instance of every method, for the round-trip tests.",
         "// Included by codec tests only.\n",
         "inline std::vector<warren::amqp::method> filled_methods() {",
         "    using namespace warren::amqp;",
         "    std::vector<method> v;"]
    counter = 1
    for cls, cid, m, mid, content, fields in methods():
        sn = struct_name(cls, m)
        s.append("    {")
        s.append(f"        {sn} m;")
        for k, (t, n) in enumerate(fields):
            counter += 1
            if t == "b":
                val = "true" if (k % 2 == 0 or len(fields) == 1) else "false"
                s.append(f"        m.{n} = {val};")
            elif t in ("o",):
                s.append(f"        m.{n} = {200 + counter % 50};")
            elif t == "s":
                s.append(f"        m.{n} = {60000 + counter};")
            elif t == "l":
                s.append(f"        m.{n} = {4000000000 + counter}u;")
            elif t in ("L", "T"):
                s.append(f"        m.{n} = {0x0102030405060708 + counter}ull;")
            elif t == "ss":
                s.append(f'        m.{n} = "{cls}.{m}.{n}";')
            elif t == "ls":
                s.append(f'        m.{n} = std::string("long\\0{n}", {len(n) + 5});')
            elif t == "t":
                s.append(f'        m.{n} = {{{{"{n}", warren::core::field_value{{int32_t({counter})}}}},')
                s.append(f'                {{"s", warren::core::field_value{{std::string("x")}}}}}};')
        s.append("        v.emplace_back(std::move(m));")
        s.append("    }")
    s.append("    return v;")
    s.append("}")
    return "\n".join(s) + "\n"


if __name__ == "__main__":
    import os
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    check = "--check" in sys.argv[1:]  # CI: the committed files must be what gen.py writes
    stale = []
    for name, text in (("methods.h", gen_header()), ("methods.cc", gen_source()),
                       ("method_samples.inc", gen_samples())):
        path = os.path.join(here, name)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print(f"out of date with gen.py: {', '.join(stale)}; run python3 {__file__}")
        sys.exit(1)

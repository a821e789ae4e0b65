#include "proto/amqp091/codec/field_table.h"

#include <bit>
#include <cstring>
#include <type_traits>

#include "proto/amqp091/codec/wire.h"

namespace warren::amqp {

namespace {

bool decode_table_at(std::string_view& in, core::field_table& out, int depth);
bool decode_array_at(std::string_view& in, core::field_array& out, int depth);
bool skip_table_at(std::string_view& in, int depth);

// Takes a 32-bit length-prefixed block off the front of `in`.
bool take_block(std::string_view& in, std::string_view& block) {
    wire_reader r(in);
    uint32_t n = r.u32();
    block = r.bytes(n);
    if (!r.ok()) return false;
    in = r.rest();
    return true;
}

bool decode_value_at(std::string_view& in, core::field_value& out, int depth) {
    if (depth > max_field_depth) return false;
    wire_reader r(in);
    char tag = static_cast<char>(r.u8());
    if (!r.ok()) return false;
    switch (tag) {
        case 't': out.v = r.u8() != 0; break;
        case 'b': out.v = static_cast<int8_t>(r.u8()); break;
        case 'B': out.v = r.u8(); break;
        case 's': out.v = static_cast<int16_t>(r.u16()); break;
        case 'u': out.v = r.u16(); break;
        case 'I': out.v = static_cast<int32_t>(r.u32()); break;
        case 'i': out.v = r.u32(); break;
        case 'l': out.v = static_cast<int64_t>(r.u64()); break;
        case 'f': out.v = std::bit_cast<float>(r.u32()); break;
        case 'd': out.v = std::bit_cast<double>(r.u64()); break;
        case 'D': {
            core::decimal_value d;
            d.scale = r.u8();
            d.value = r.u32();
            out.v = d;
            break;
        }
        case 'S': out.v = std::string(r.longstr_view()); break;
        case 'x': out.v = core::bytes_value{std::string(r.longstr_view())}; break;
        case 'T': out.v = core::timestamp_value{r.u64()}; break;
        case 'V': out.v = core::void_value{}; break;
        case 'A': {
            std::string_view rest = r.rest();
            auto a = std::make_shared<core::field_array>();
            if (!decode_array_at(rest, *a, depth + 1)) return false;
            out.v = std::move(a);
            in = rest;
            return true;
        }
        case 'F': {
            std::string_view rest = r.rest();
            auto t = std::make_shared<core::field_table>();
            if (!decode_table_at(rest, *t, depth + 1)) return false;
            out.v = std::move(t);
            in = rest;
            return true;
        }
        default: return false;
    }
    if (!r.ok()) return false;
    in = r.rest();
    return true;
}

bool decode_table_at(std::string_view& in, core::field_table& out, int depth) {
    if (depth > max_field_depth) return false;
    std::string_view block;
    if (!take_block(in, block)) return false;
    out.clear();
    while (!block.empty()) {
        wire_reader r(block);
        std::string_view key = r.shortstr_view();
        if (!r.ok()) return false;
        block = r.rest();
        core::field_value v;
        if (!decode_value_at(block, v, depth)) return false;
        out.emplace_back(std::string(key), std::move(v));
    }
    return true;
}

bool decode_array_at(std::string_view& in, core::field_array& out, int depth) {
    if (depth > max_field_depth) return false;
    std::string_view block;
    if (!take_block(in, block)) return false;
    out.clear();
    while (!block.empty()) {
        core::field_value v;
        if (!decode_value_at(block, v, depth)) return false;
        out.push_back(std::move(v));
    }
    return true;
}

// Fixed widths of scalar tags; 0 for variable-length or unknown tags.
size_t scalar_width(char tag) {
    switch (tag) {
        case 't': case 'b': case 'B': return 1;
        case 's': case 'u': return 2;
        case 'I': case 'i': case 'f': return 4;
        case 'l': case 'd': case 'T': return 8;
        case 'D': return 5;
        default: return 0;
    }
}

bool skip_value_at(std::string_view& in, int depth) {
    if (depth > max_field_depth || in.empty()) return false;
    char tag = in[0];
    in.remove_prefix(1);
    if (size_t w = scalar_width(tag)) {
        if (in.size() < w) return false;
        in.remove_prefix(w);
        return true;
    }
    std::string_view block;
    switch (tag) {
        case 'V': return true;
        case 'S':
        case 'x': return take_block(in, block);
        case 'F': return skip_table_at(in, depth + 1);
        case 'A': {
            if (!take_block(in, block)) return false;
            while (!block.empty())
                if (!skip_value_at(block, depth + 1)) return false;
            return true;
        }
        default: return false;
    }
}

bool skip_table_at(std::string_view& in, int depth) {
    if (depth > max_field_depth) return false;
    std::string_view block;
    if (!take_block(in, block)) return false;
    while (!block.empty()) {
        size_t klen = static_cast<uint8_t>(block[0]);
        if (block.size() < 1 + klen) return false;
        block.remove_prefix(1 + klen);
        if (!skip_value_at(block, depth)) return false;
    }
    return true;
}

void encode_value_body(std::string& out, const core::field_value& v);

}  // namespace

bool decode_table(std::string_view& in, core::field_table& out) {
    return decode_table_at(in, out, 0);
}
bool decode_array(std::string_view& in, core::field_array& out) {
    return decode_array_at(in, out, 0);
}
bool decode_field_value(std::string_view& in, core::field_value& out) {
    return decode_value_at(in, out, 0);
}
bool skip_table(std::string_view& in) { return skip_table_at(in, 0); }

char field_tag(const core::field_value& v) {
    static constexpr char tags[] = {'V', 't', 'b', 'B', 's', 'u', 'I', 'i', 'l',
                                    'f', 'd', 'D', 'S', 'x', 'T', 'A', 'F'};
    static_assert(sizeof(tags) == std::variant_size_v<core::field_value::variant_type>);
    return tags[v.v.index()];
}

void encode_table(std::string& out, const core::field_table& t) {
    size_t len_pos = out.size();
    put_u32(out, 0);
    for (const auto& [k, v] : t) {
        put_shortstr(out, k);
        encode_field_value(out, v);
    }
    patch_u32(out, len_pos, static_cast<uint32_t>(out.size() - len_pos - 4));
}

void encode_array(std::string& out, const core::field_array& a) {
    size_t len_pos = out.size();
    put_u32(out, 0);
    for (const auto& v : a) encode_field_value(out, v);
    patch_u32(out, len_pos, static_cast<uint32_t>(out.size() - len_pos - 4));
}

void encode_field_value(std::string& out, const core::field_value& v) {
    put_u8(out, static_cast<uint8_t>(field_tag(v)));
    encode_value_body(out, v);
}

namespace {

void encode_value_body(std::string& out, const core::field_value& fv) {
    std::visit(
        [&out](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, core::void_value>) {
            } else if constexpr (std::is_same_v<T, bool>) {
                put_u8(out, x ? 1 : 0);
            } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
                put_u8(out, static_cast<uint8_t>(x));
            } else if constexpr (std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t>) {
                put_u16(out, static_cast<uint16_t>(x));
            } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>) {
                put_u32(out, static_cast<uint32_t>(x));
            } else if constexpr (std::is_same_v<T, int64_t>) {
                put_u64(out, static_cast<uint64_t>(x));
            } else if constexpr (std::is_same_v<T, float>) {
                put_u32(out, std::bit_cast<uint32_t>(x));
            } else if constexpr (std::is_same_v<T, double>) {
                put_u64(out, std::bit_cast<uint64_t>(x));
            } else if constexpr (std::is_same_v<T, core::decimal_value>) {
                put_u8(out, x.scale);
                put_u32(out, x.value);
            } else if constexpr (std::is_same_v<T, std::string>) {
                put_longstr(out, x);
            } else if constexpr (std::is_same_v<T, core::bytes_value>) {
                put_longstr(out, x.data);
            } else if constexpr (std::is_same_v<T, core::timestamp_value>) {
                put_u64(out, x.seconds);
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_array>>) {
                if (x) encode_array(out, *x); else put_u32(out, 0);
            } else if constexpr (std::is_same_v<T, std::shared_ptr<core::field_table>>) {
                if (x) encode_table(out, *x); else put_u32(out, 0);
            } else {
                static_assert(sizeof(T) == 0, "unhandled field_value alternative");
            }
        },
        fv.v);
}

}  // namespace

}  // namespace warren::amqp

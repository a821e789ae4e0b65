#include "core/properties_codec.h"

#include <bit>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <variant>

#include "base/wire.h"

namespace warren::core {

namespace {

// Property flag bits of the basic class, in spec order (bit 15 first; bit 0 is "more flags").
enum : uint16_t {
    f_content_type = 1 << 15,
    f_content_encoding = 1 << 14,
    f_headers = 1 << 13,
    f_delivery_mode = 1 << 12,
    f_priority = 1 << 11,
    f_correlation_id = 1 << 10,
    f_reply_to = 1 << 9,
    f_expiration = 1 << 8,
    f_message_id = 1 << 7,
    f_timestamp = 1 << 6,
    f_type = 1 << 5,
    f_user_id = 1 << 4,
    f_app_id = 1 << 3,
    f_cluster_id = 1 << 2,
    f_continuation = 1 << 0,
};

bool decode_table_at(std::string_view& in, field_table& out, int depth);
bool decode_array_at(std::string_view& in, field_array& out, int depth);
bool skip_table_at(std::string_view& in, int depth);

// Takes a 32-bit length-prefixed block off the front of `in`.
bool take_block(std::string_view& in, std::string_view& block) {
    wire::reader r(in);
    uint32_t n = r.u32();
    block = r.bytes(n);
    if (!r.ok()) return false;
    in = r.rest();
    return true;
}

bool decode_value_at(std::string_view& in, field_value& out, int depth) {
    if (depth > max_field_depth) return false;
    wire::reader r(in);
    char tag = static_cast<char>(r.u8());
    if (!r.ok()) return false;
    switch (tag) {
        case 't':
            out.v = r.u8() != 0;
            break;
        case 'b':
            out.v = static_cast<int8_t>(r.u8());
            break;
        case 'B':
            out.v = r.u8();
            break;
        case 's':
            out.v = static_cast<int16_t>(r.u16());
            break;
        case 'u':
            out.v = r.u16();
            break;
        case 'I':
            out.v = static_cast<int32_t>(r.u32());
            break;
        case 'i':
            out.v = r.u32();
            break;
        case 'l':
            out.v = static_cast<int64_t>(r.u64());
            break;
        case 'f':
            out.v = std::bit_cast<float>(r.u32());
            break;
        case 'd':
            out.v = std::bit_cast<double>(r.u64());
            break;
        case 'D': {
            decimal_value d;
            d.scale = r.u8();
            d.value = r.u32();
            out.v = d;
            break;
        }
        case 'S':
            out.v = std::string(r.longstr_view());
            break;
        case 'x':
            out.v = bytes_value{std::string(r.longstr_view())};
            break;
        case 'T':
            out.v = timestamp_value{r.u64()};
            break;
        case 'V':
            out.v = void_value{};
            break;
        case 'A': {
            std::string_view rest = r.rest();
            auto a = std::make_shared<field_array>();
            if (!decode_array_at(rest, *a, depth + 1)) return false;
            out.v = std::move(a);
            in = rest;
            return true;
        }
        case 'F': {
            std::string_view rest = r.rest();
            auto t = std::make_shared<field_table>();
            if (!decode_table_at(rest, *t, depth + 1)) return false;
            out.v = std::move(t);
            in = rest;
            return true;
        }
        default:
            return false;
    }
    if (!r.ok()) return false;
    in = r.rest();
    return true;
}

bool decode_table_at(std::string_view& in, field_table& out, int depth) {
    if (depth > max_field_depth) return false;
    std::string_view block;
    if (!take_block(in, block)) return false;
    out.clear();
    while (!block.empty()) {
        wire::reader r(block);
        std::string_view key = r.shortstr_view();
        if (!r.ok()) return false;
        block = r.rest();
        field_value v;
        if (!decode_value_at(block, v, depth)) return false;
        out.emplace_back(std::string(key), std::move(v));
    }
    return true;
}

bool decode_array_at(std::string_view& in, field_array& out, int depth) {
    if (depth > max_field_depth) return false;
    std::string_view block;
    if (!take_block(in, block)) return false;
    out.clear();
    while (!block.empty()) {
        field_value v;
        if (!decode_value_at(block, v, depth)) return false;
        out.push_back(std::move(v));
    }
    return true;
}

// Fixed widths of scalar tags; 0 for variable-length or unknown tags.
size_t scalar_width(char tag) {
    switch (tag) {
        case 't':
        case 'b':
        case 'B':
            return 1;
        case 's':
        case 'u':
            return 2;
        case 'I':
        case 'i':
        case 'f':
            return 4;
        case 'l':
        case 'd':
        case 'T':
            return 8;
        case 'D':
            return 5;
        default:
            return 0;
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
        case 'V':
            return true;
        case 'S':
        case 'x':
            return take_block(in, block);
        case 'F':
            return skip_table_at(in, depth + 1);
        case 'A': {
            if (!take_block(in, block)) return false;
            while (!block.empty())
                if (!skip_value_at(block, depth + 1)) return false;
            return true;
        }
        default:
            return false;
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

void encode_value_body(std::string& out, const field_value& v);

// Walks a property list; with `p` null it only validates (no allocation).
bool read_properties(std::string_view raw, basic_properties* p) {
    wire::reader r(raw);
    uint16_t flags = r.u16();
    if (!r.ok() || (flags & f_continuation) || (flags & 0x0002)) return false;
    auto str = [&](uint16_t bit, std::optional<std::string>* dst) {
        if (!(flags & bit)) return;
        std::string_view v = r.shortstr_view();
        if (p && r.ok()) dst->emplace(v);
    };
    str(f_content_type, p ? &p->content_type : nullptr);
    str(f_content_encoding, p ? &p->content_encoding : nullptr);
    if (flags & f_headers) {
        std::string_view rest = r.rest();
        bool ok = p ? decode_field_table(rest, p->headers.emplace()) : skip_field_table(rest);
        if (!ok) return false;
        r = wire::reader(rest);
    }
    if (flags & f_delivery_mode) {
        uint8_t v = r.u8();
        if (p) p->delivery_mode = v;
    }
    if (flags & f_priority) {
        uint8_t v = r.u8();
        if (p) p->priority = v;
    }
    str(f_correlation_id, p ? &p->correlation_id : nullptr);
    str(f_reply_to, p ? &p->reply_to : nullptr);
    str(f_expiration, p ? &p->expiration : nullptr);
    str(f_message_id, p ? &p->message_id : nullptr);
    if (flags & f_timestamp) {
        uint64_t v = r.u64();
        if (p) p->timestamp = v;
    }
    str(f_type, p ? &p->type : nullptr);
    str(f_user_id, p ? &p->user_id : nullptr);
    str(f_app_id, p ? &p->app_id : nullptr);
    str(f_cluster_id, p ? &p->cluster_id : nullptr);
    return r.ok() && r.empty();
}

}  // namespace

bool decode_field_table(std::string_view& in, field_table& out) {
    return decode_table_at(in, out, 0);
}
bool decode_field_array(std::string_view& in, field_array& out) {
    return decode_array_at(in, out, 0);
}
bool decode_field_value(std::string_view& in, field_value& out) {
    return decode_value_at(in, out, 0);
}
bool skip_field_table(std::string_view& in) {
    return skip_table_at(in, 0);
}

char field_tag(const field_value& v) {
    static constexpr char tags[] = {'V', 't', 'b', 'B', 's', 'u', 'I', 'i', 'l',
                                    'f', 'd', 'D', 'S', 'x', 'T', 'A', 'F'};
    static_assert(sizeof(tags) == std::variant_size_v<field_value::variant_type>);
    return tags[v.v.index()];
}

void encode_field_table(std::string& out, const field_table& t) {
    size_t len_pos = out.size();
    wire::put_u32(out, 0);
    for (const auto& [k, v] : t) {
        wire::put_shortstr(out, k);
        encode_field_value(out, v);
    }
    wire::patch_u32(out, len_pos, static_cast<uint32_t>(out.size() - len_pos - 4));
}

void encode_field_array(std::string& out, const field_array& a) {
    size_t len_pos = out.size();
    wire::put_u32(out, 0);
    for (const auto& v : a) encode_field_value(out, v);
    wire::patch_u32(out, len_pos, static_cast<uint32_t>(out.size() - len_pos - 4));
}

void encode_field_value(std::string& out, const field_value& v) {
    wire::put_u8(out, static_cast<uint8_t>(field_tag(v)));
    encode_value_body(out, v);
}

void encode_properties(std::string& out, const basic_properties& p) {
    uint16_t flags = 0;
    if (p.content_type) flags |= f_content_type;
    if (p.content_encoding) flags |= f_content_encoding;
    if (p.headers) flags |= f_headers;
    if (p.delivery_mode) flags |= f_delivery_mode;
    if (p.priority) flags |= f_priority;
    if (p.correlation_id) flags |= f_correlation_id;
    if (p.reply_to) flags |= f_reply_to;
    if (p.expiration) flags |= f_expiration;
    if (p.message_id) flags |= f_message_id;
    if (p.timestamp) flags |= f_timestamp;
    if (p.type) flags |= f_type;
    if (p.user_id) flags |= f_user_id;
    if (p.app_id) flags |= f_app_id;
    if (p.cluster_id) flags |= f_cluster_id;
    wire::put_u16(out, flags);
    if (p.content_type) wire::put_shortstr(out, *p.content_type);
    if (p.content_encoding) wire::put_shortstr(out, *p.content_encoding);
    if (p.headers) encode_field_table(out, *p.headers);
    if (p.delivery_mode) wire::put_u8(out, *p.delivery_mode);
    if (p.priority) wire::put_u8(out, *p.priority);
    if (p.correlation_id) wire::put_shortstr(out, *p.correlation_id);
    if (p.reply_to) wire::put_shortstr(out, *p.reply_to);
    if (p.expiration) wire::put_shortstr(out, *p.expiration);
    if (p.message_id) wire::put_shortstr(out, *p.message_id);
    if (p.timestamp) wire::put_u64(out, *p.timestamp);
    if (p.type) wire::put_shortstr(out, *p.type);
    if (p.user_id) wire::put_shortstr(out, *p.user_id);
    if (p.app_id) wire::put_shortstr(out, *p.app_id);
    if (p.cluster_id) wire::put_shortstr(out, *p.cluster_id);
}

std::optional<basic_properties> decode_properties(std::string_view raw) {
    basic_properties p;
    if (!read_properties(raw, &p)) return std::nullopt;
    return p;
}

bool decode_properties(std::string_view raw, basic_properties& out) {
    return read_properties(raw, &out);
}

bool valid_properties(std::string_view raw) {
    return read_properties(raw, nullptr);
}

namespace {

void encode_value_body(std::string& out, const field_value& fv) {
    std::visit(
        [&out](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, void_value>) {
            } else if constexpr (std::is_same_v<T, bool>) {
                wire::put_u8(out, x ? 1 : 0);
            } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
                wire::put_u8(out, static_cast<uint8_t>(x));
            } else if constexpr (std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t>) {
                wire::put_u16(out, static_cast<uint16_t>(x));
            } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>) {
                wire::put_u32(out, static_cast<uint32_t>(x));
            } else if constexpr (std::is_same_v<T, int64_t>) {
                wire::put_u64(out, static_cast<uint64_t>(x));
            } else if constexpr (std::is_same_v<T, float>) {
                wire::put_u32(out, std::bit_cast<uint32_t>(x));
            } else if constexpr (std::is_same_v<T, double>) {
                wire::put_u64(out, std::bit_cast<uint64_t>(x));
            } else if constexpr (std::is_same_v<T, decimal_value>) {
                wire::put_u8(out, x.scale);
                wire::put_u32(out, x.value);
            } else if constexpr (std::is_same_v<T, std::string>) {
                wire::put_longstr(out, x);
            } else if constexpr (std::is_same_v<T, bytes_value>) {
                wire::put_longstr(out, x.data);
            } else if constexpr (std::is_same_v<T, timestamp_value>) {
                wire::put_u64(out, x.seconds);
            } else if constexpr (std::is_same_v<T, std::shared_ptr<field_array>>) {
                if (x)
                    encode_field_array(out, *x);
                else
                    wire::put_u32(out, 0);
            } else if constexpr (std::is_same_v<T, std::shared_ptr<field_table>>) {
                if (x)
                    encode_field_table(out, *x);
                else
                    wire::put_u32(out, 0);
            } else {
                static_assert(sizeof(T) == 0, "unhandled field_value alternative");
            }
        },
        fv.v);
}

}  // namespace

}  // namespace warren::core

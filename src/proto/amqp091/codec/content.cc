#include "proto/amqp091/codec/content.h"

#include "core/properties_codec.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/wire.h"

namespace warren::amqp {

namespace {

core::error header_error(const char* what) {
    return core::error{core::reply_code::frame_error,
                       std::string("cannot decode content header: ") + what};
}

size_t clamp_short(std::string_view s) {
    return s.size() > 255 ? 255 : s.size();
}

// Appends a frame's 7-byte header with a known payload size.
void put_frame_header(std::string& out, frame_type t, uint16_t channel, uint32_t size) {
    const char h[frame_header_size] = {
        static_cast<char>(t),          static_cast<char>(channel >> 8),
        static_cast<char>(channel),    static_cast<char>(size >> 24),
        static_cast<char>(size >> 16), static_cast<char>(size >> 8),
        static_cast<char>(size)};
    out.append(h, frame_header_size);
}

size_t body_chunk(uint32_t frame_max) {
    if (frame_max == 0) return SIZE_MAX;
    return frame_max > frame_overhead ? frame_max - frame_overhead : 1;
}

// Bytes append_content_header_frame + append_body_frames will add.
size_t content_size(std::string_view props_raw, std::string_view body, uint32_t frame_max) {
    size_t n = frame_overhead + content_header_prefix + props_raw.size();
    if (!body.empty()) {
        size_t chunk = body_chunk(frame_max);
        size_t frames = body.size() / chunk + (body.size() % chunk ? 1 : 0);
        n += body.size() + frames * frame_overhead;
    }
    return n;
}

void put_content(std::string& out, uint16_t channel, std::string_view props_raw,
                 std::string_view body, uint32_t frame_max) {
    append_content_header_frame(out, channel, body.size(), props_raw);
    append_body_frames(out, channel, body, frame_max);
}

}  // namespace

core::result<content_header> decode_content_header(std::string_view payload, bool decode_props) {
    wire_reader r(payload);
    content_header h;
    h.class_id = r.u16();
    r.u16();  // weight, unused
    h.body_size = r.u64();
    if (!r.ok()) return header_error("too short");
    h.props_raw = r.rest();
    // Properties are core's binary form (core/properties_codec.h): decoded, or only checked.
    if (decode_props) {
        if (!core::decode_properties(h.props_raw, h.props))
            return header_error("malformed properties");
    } else if (!core::valid_properties(h.props_raw)) {
        return header_error("malformed properties");
    }
    return h;
}

core::result<core::basic_properties> decode_properties(std::string_view props_raw) {
    core::basic_properties p;
    if (!core::decode_properties(props_raw, p)) return header_error("malformed properties");
    return p;
}

void encode_properties(std::string& out, const core::basic_properties& p) {
    core::encode_properties(out, p);
}

void append_content_header_frame(std::string& out, uint16_t channel, uint64_t body_size,
                                 std::string_view props_raw, uint16_t class_id) {
    put_frame_header(out, frame_type::header, channel,
                     static_cast<uint32_t>(content_header_prefix + props_raw.size()));
    put_u16(out, class_id);
    put_u16(out, 0);
    put_u64(out, body_size);
    out.append(props_raw);
    out.push_back(static_cast<char>(frame_end));
}

void append_body_frames(std::string& out, uint16_t channel, std::string_view body,
                        uint32_t frame_max) {
    size_t chunk = body_chunk(frame_max);
    while (!body.empty()) {
        std::string_view part = body.substr(0, chunk);
        put_frame_header(out, frame_type::body, channel, static_cast<uint32_t>(part.size()));
        out.append(part);
        out.push_back(static_cast<char>(frame_end));
        body.remove_prefix(part.size());
    }
}

void append_deliver(std::string& out, uint16_t channel, std::string_view consumer_tag,
                    uint64_t delivery_tag, bool redelivered, std::string_view exchange,
                    std::string_view routing_key, std::string_view props_raw, std::string_view body,
                    uint32_t frame_max) {
    size_t method_size = 4 + 1 + clamp_short(consumer_tag) + 8 + 1 + 1 + clamp_short(exchange) + 1 +
                         clamp_short(routing_key);
    out.reserve(out.size() + frame_overhead + method_size +
                content_size(props_raw, body, frame_max));
    put_frame_header(out, frame_type::method, channel, static_cast<uint32_t>(method_size));
    out.append("\x00\x3c\x00\x3c", 4);  // basic (60) . deliver (60)
    put_shortstr(out, consumer_tag);
    put_u64(out, delivery_tag);
    put_u8(out, redelivered ? 1 : 0);
    put_shortstr(out, exchange);
    put_shortstr(out, routing_key);
    out.push_back(static_cast<char>(frame_end));
    put_content(out, channel, props_raw, body, frame_max);
}

void append_get_ok(std::string& out, uint16_t channel, uint64_t delivery_tag, bool redelivered,
                   std::string_view exchange, std::string_view routing_key, uint32_t message_count,
                   std::string_view props_raw, std::string_view body, uint32_t frame_max) {
    size_t method_size = 4 + 8 + 1 + 1 + clamp_short(exchange) + 1 + clamp_short(routing_key) + 4;
    out.reserve(out.size() + frame_overhead + method_size +
                content_size(props_raw, body, frame_max));
    put_frame_header(out, frame_type::method, channel, static_cast<uint32_t>(method_size));
    out.append("\x00\x3c\x00\x47", 4);  // basic (60) . get-ok (71)
    put_u64(out, delivery_tag);
    put_u8(out, redelivered ? 1 : 0);
    put_shortstr(out, exchange);
    put_shortstr(out, routing_key);
    put_u32(out, message_count);
    out.push_back(static_cast<char>(frame_end));
    put_content(out, channel, props_raw, body, frame_max);
}

void append_return(std::string& out, uint16_t channel, uint16_t reply_code,
                   std::string_view reply_text, std::string_view exchange,
                   std::string_view routing_key, std::string_view props_raw, std::string_view body,
                   uint32_t frame_max) {
    size_t method_size = 4 + 2 + 1 + clamp_short(reply_text) + 1 + clamp_short(exchange) + 1 +
                         clamp_short(routing_key);
    out.reserve(out.size() + frame_overhead + method_size +
                content_size(props_raw, body, frame_max));
    put_frame_header(out, frame_type::method, channel, static_cast<uint32_t>(method_size));
    out.append("\x00\x3c\x00\x32", 4);  // basic (60) . return (50)
    put_u16(out, reply_code);
    put_shortstr(out, reply_text);
    put_shortstr(out, exchange);
    put_shortstr(out, routing_key);
    out.push_back(static_cast<char>(frame_end));
    put_content(out, channel, props_raw, body, frame_max);
}

bool decode_publish(std::string_view payload, publish_view& out) {
    wire_reader r(payload);
    if (r.u16() != 60 || r.u16() != 40) return false;
    out.ticket = r.u16();
    out.exchange = r.shortstr_view();
    out.routing_key = r.shortstr_view();
    uint8_t bits = r.u8();
    out.mandatory = (bits & 1) != 0;
    out.immediate = (bits & 2) != 0;
    return r.ok() && r.empty();
}

}  // namespace warren::amqp

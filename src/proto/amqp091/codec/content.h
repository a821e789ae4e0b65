#pragma once
// AMQP 0-9-1 content: the content-header frame (class, body size, basic properties) and the
// hot-path builders that emit a whole delivery (method + header + body frames) in one append.
//
// Properties travel in wire form: a message keeps `props_raw` (property flags + property list, as
// the publisher sent them) and deliveries copy those bytes back out unchanged. They are decoded
// into core::basic_properties only when the broker needs a value (TTL, priority, headers).
//
//   auto h = amqp::decode_content_header(frame.payload);      // header frame payload
//   if (!h) return close(h.error());
//   store(h->body_size, std::string(h->props_raw));
//   ...
//   amqp::append_deliver(out, ch, ctag, tag, false, "ex", "rk", props_raw, body, frame_max);

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/fields.h"

namespace warren::amqp {

// class-id (2) + weight (2) + body-size (8).
constexpr size_t content_header_prefix = 12;

struct content_header {
    uint16_t class_id = 0;
    uint64_t body_size = 0;
    core::basic_properties props;  // decoded unless decode_props was false
    std::string_view props_raw;    // flags + list bytes, a view into the payload
};

// Decodes a content-header frame payload. With decode_props == false the property list is only
// validated (no allocation) and `props` stays empty. Errors: 501 FRAME_ERROR for malformed input.
core::result<content_header> decode_content_header(std::string_view payload,
                                                   bool decode_props = true);
// Decodes a flags + list block (a content_header's props_raw) into properties.
core::result<core::basic_properties> decode_properties(std::string_view props_raw);
// Appends property flags + property list (what props_raw holds).
void encode_properties(std::string& out, const core::basic_properties& p);
// Encodes an empty property set (flags 0): what props_raw is for a message without properties.
constexpr std::string_view empty_properties = {"\x00\x00", 2};

void append_content_header_frame(std::string& out, uint16_t channel, uint64_t body_size,
                                 std::string_view props_raw, uint16_t class_id = 60);
// Appends body frames for `body`, split so that no frame exceeds frame_max (0 = no limit).
// An empty body produces no frames.
void append_body_frames(std::string& out, uint16_t channel, std::string_view body,
                        uint32_t frame_max);

// Hot path: one basic.deliver method frame + header frame + body frames (split at
// frame_max - 8), appended to `out` with a single reserve and no other allocation.
void append_deliver(std::string& out, uint16_t channel, std::string_view consumer_tag,
                    uint64_t delivery_tag, bool redelivered, std::string_view exchange,
                    std::string_view routing_key, std::string_view props_raw, std::string_view body,
                    uint32_t frame_max);
// Same shape for basic.get-ok.
void append_get_ok(std::string& out, uint16_t channel, uint64_t delivery_tag, bool redelivered,
                   std::string_view exchange, std::string_view routing_key, uint32_t message_count,
                   std::string_view props_raw, std::string_view body, uint32_t frame_max);
// Same shape for basic.return.
void append_return(std::string& out, uint16_t channel, uint16_t reply_code,
                   std::string_view reply_text, std::string_view exchange,
                   std::string_view routing_key, std::string_view props_raw, std::string_view body,
                   uint32_t frame_max);

// basic.publish fields viewed in place (no allocation). The views point into the payload.
struct publish_view {
    uint16_t ticket = 0;
    std::string_view exchange;
    std::string_view routing_key;
    bool mandatory = false;
    bool immediate = false;
};

// Decodes a method-frame payload (class id and method id included) that must be basic.publish.
// Returns false if it is another method or malformed.
bool decode_publish(std::string_view payload, publish_view& out);

}  // namespace warren::amqp

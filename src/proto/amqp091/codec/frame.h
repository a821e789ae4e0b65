#pragma once
// AMQP 0-9-1 framing: the 7-byte frame header (type, channel, payload size), the payload and the
// frame-end octet 0xCE. parse_frame is a pull parser over a caller-owned buffer: it never copies,
// and the frame it returns views into that buffer. Pure functions, no I/O.
//
//   for (;;) {
//       auto r = amqp::parse_frame(buf, frame_max);
//       if (r.k == amqp::parse_result::need_more) break;          // read more bytes
//       if (r.k == amqp::parse_result::error) return close(r.err); // 501 FRAME_ERROR
//       handle(r.frame);
//       buf.remove_prefix(r.consumed);
//   }

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace warren::amqp {

enum class frame_type : uint8_t { method = 1, header = 2, body = 3, heartbeat = 8 };

constexpr uint8_t frame_end = 0xCE;
// type (1) + channel (2) + payload size (4).
constexpr size_t frame_header_size = 7;
// Header plus frame-end: what a frame costs beyond its payload.
constexpr size_t frame_overhead = frame_header_size + 1;
// The smallest frame_max a peer may negotiate (spec constant FRAME-MIN-SIZE).
constexpr uint32_t frame_min_size = 4096;

// The 8-byte header a client sends before anything else.
constexpr std::string_view protocol_header = {"AMQP\x00\x00\x09\x01", 8};

struct frame_view {
    frame_type type = frame_type::heartbeat;
    uint16_t channel = 0;
    std::string_view payload;  // views into the buffer given to parse_frame
};

struct parse_result {
    enum kind { need_more, ok, error } k = need_more;
    frame_view frame;
    size_t consumed = 0;  // bytes of the buffer the frame used (only when k == ok)
    core::error err;      // only when k == error
};

// Parses the first frame in `buf`. Errors (reply code 501 FRAME_ERROR, RabbitMQ-like text): bad
// frame-end octet, unknown frame type, payload larger than frame_max (frame_max 0 = no limit;
// like RabbitMQ we tolerate a payload of up to frame_max bytes, i.e. 8 bytes of slack for clients
// that forget the frame overhead). need_more when the frame is incomplete; an over-long size is
// reported as soon as the header is in, without waiting for the payload.
parse_result parse_frame(std::string_view buf, uint32_t frame_max);

// Appends one complete frame.
void append_frame(std::string& out, frame_type t, uint16_t channel, std::string_view payload);
// Appends the 8-byte heartbeat frame (type 8, channel 0, empty payload).
void append_heartbeat(std::string& out);

// Building a frame in place: begin_frame writes the header with a size placeholder and returns
// the offset of the frame start; end_frame patches the size and appends the frame-end octet.
size_t begin_frame(std::string& out, frame_type t, uint16_t channel);
void end_frame(std::string& out, size_t frame_start);

}  // namespace warren::amqp

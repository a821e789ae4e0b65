#include "proto/amqp091/codec/frame.h"

#include <cstdio>

#include "proto/amqp091/codec/wire.h"

namespace warren::amqp {

namespace {

// RabbitMQ reports frame errors as "type T, first 16 octets = <<...>>: reason".
core::error frame_error(uint8_t type, std::string_view head, const std::string& reason) {
    std::string text = "type " + std::to_string(type) + ", first 16 octets = <<";
    head = head.substr(0, 16);
    for (size_t i = 0; i < head.size(); ++i) {
        if (i) text += ',';
        text += std::to_string(static_cast<uint8_t>(head[i]));
    }
    text += ">>: " + reason;
    return core::error{core::reply_code::frame_error, std::move(text)};
}

bool known_type(uint8_t t) {
    return t == uint8_t(frame_type::method) || t == uint8_t(frame_type::header) ||
           t == uint8_t(frame_type::body) || t == uint8_t(frame_type::heartbeat);
}

}  // namespace

parse_result parse_frame(std::string_view buf, uint32_t frame_max) {
    parse_result r;
    if (buf.size() < frame_header_size) return r;
    auto b = reinterpret_cast<const uint8_t*>(buf.data());
    uint8_t type = b[0];
    uint16_t channel = static_cast<uint16_t>((b[1] << 8) | b[2]);
    uint32_t size = (uint32_t(b[3]) << 24) | (uint32_t(b[4]) << 16) | (uint32_t(b[5]) << 8) | b[6];
    if (!known_type(type)) {
        r.k = parse_result::error;
        r.err = frame_error(type, {}, "unknown_frame");
        return r;
    }
    if (frame_max != 0 && size > frame_max) {
        r.k = parse_result::error;
        r.err = frame_error(type, {},
                            "{frame_too_large," + std::to_string(size) + "," +
                                std::to_string(int64_t(frame_max) - int64_t(frame_overhead)) + "}");
        return r;
    }
    uint64_t total = uint64_t(frame_header_size) + size + 1;
    if (buf.size() < total) return r;
    std::string_view payload = buf.substr(frame_header_size, size);
    uint8_t end = b[frame_header_size + size];
    if (end != frame_end) {
        r.k = parse_result::error;
        r.err =
            frame_error(type, payload, "{invalid_frame_end_marker," + std::to_string(end) + "}");
        return r;
    }
    r.k = parse_result::ok;
    r.frame = frame_view{static_cast<frame_type>(type), channel, payload};
    r.consumed = static_cast<size_t>(total);
    return r;
}

size_t begin_frame(std::string& out, frame_type t, uint16_t channel) {
    size_t start = out.size();
    const char h[frame_header_size] = {static_cast<char>(t),
                                       static_cast<char>(channel >> 8),
                                       static_cast<char>(channel),
                                       0,
                                       0,
                                       0,
                                       0};
    out.append(h, frame_header_size);
    return start;
}

void end_frame(std::string& out, size_t frame_start) {
    patch_u32(out, frame_start + 3,
              static_cast<uint32_t>(out.size() - frame_start - frame_header_size));
    out.push_back(static_cast<char>(frame_end));
}

void append_frame(std::string& out, frame_type t, uint16_t channel, std::string_view payload) {
    out.reserve(out.size() + payload.size() + frame_overhead);
    const char h[frame_header_size] = {static_cast<char>(t),
                                       static_cast<char>(channel >> 8),
                                       static_cast<char>(channel),
                                       static_cast<char>(payload.size() >> 24),
                                       static_cast<char>(payload.size() >> 16),
                                       static_cast<char>(payload.size() >> 8),
                                       static_cast<char>(payload.size())};
    out.append(h, frame_header_size);
    out.append(payload);
    out.push_back(static_cast<char>(frame_end));
}

void append_heartbeat(std::string& out) {
    out.append("\x08\x00\x00\x00\x00\x00\x00\xCE", 8);
}

}  // namespace warren::amqp

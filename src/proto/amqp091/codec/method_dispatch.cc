// The hand-written half of methods.h: operations over the whole `method` variant.

#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/codec/wire.h"

namespace warren::amqp {

void encode_method(std::string& out, const method& m) {
    std::visit(
        [&out](const auto& x) {
            using M = std::decay_t<decltype(x)>;
            put_u16(out, M::class_id);
            put_u16(out, M::method_id);
            encode_fields(out, x);
        },
        m);
}

void append_method_frame(std::string& out, uint16_t channel, const method& m) {
    size_t start = begin_frame(out, frame_type::method, channel);
    encode_method(out, m);
    end_frame(out, start);
}

std::string_view method_name(const method& m) {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::name; }, m);
}

uint16_t method_class_id(const method& m) {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::class_id; }, m);
}

uint16_t method_method_id(const method& m) {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::method_id; }, m);
}

bool has_content(const method& m) {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::has_content; }, m);
}

bool peek_method_ids(std::string_view payload, uint16_t& class_id, uint16_t& method_id) {
    wire_reader r(payload);
    class_id = r.u16();
    method_id = r.u16();
    return r.ok();
}

}  // namespace warren::amqp

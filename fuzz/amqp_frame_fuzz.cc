// Fuzz target: the AMQP 0-9-1 codec (proto/amqp091/codec) on untrusted bytes. Frames are parsed
// from the input as a client's stream; every method payload is decoded, and every content
// header decoded both fully and validate-only. Properties checked beyond "no crash":
//  - parse_frame consumes no more than it was given and never returns an empty ok frame;
//  - a decoded method re-encodes to bytes that decode and re-encode to the same bytes;
//  - the validate-only content-header path agrees with the full decode, and decoded properties
//    survive an encode/decode round trip.
// The first input byte picks frame_max (0 = none, or 4096 << k).

#include <string>

#include "fuzz/fuzz_input.h"
#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"

using namespace warren;

namespace {

void check_method(std::string_view payload) {
    uint16_t cls = 0, mid = 0;
    bool ids = amqp::peek_method_ids(payload, cls, mid);
    auto m = amqp::decode_method(payload);
    if (!m) return;
    FUZZ_CHECK(ids);
    FUZZ_CHECK(amqp::method_class_id(*m) == cls && amqp::method_method_id(*m) == mid);
    FUZZ_CHECK(amqp::has_content(*m) == amqp::has_content(cls, mid));
    (void)amqp::method_name(*m);
    std::string once;
    amqp::encode_method(once, *m);
    auto again = amqp::decode_method(once);
    FUZZ_CHECK(again);
    std::string twice;
    amqp::encode_method(twice, *again);
    FUZZ_CHECK(once == twice);
    amqp::publish_view pv;
    if (amqp::decode_publish(payload, pv)) FUZZ_CHECK(cls == 60 && mid == 40);
    std::string framed;
    amqp::append_method_frame(framed, 1, *m);
    auto r = amqp::parse_frame(framed, 0);
    FUZZ_CHECK(r.k == amqp::parse_result::ok && r.consumed == framed.size());
}

void check_header(std::string_view payload) {
    auto full = amqp::decode_content_header(payload, true);
    auto lean = amqp::decode_content_header(payload, false);
    FUZZ_CHECK(bool(full) == bool(lean));
    if (!full) return;
    FUZZ_CHECK(full->props_raw == lean->props_raw && full->body_size == lean->body_size);
    auto p = amqp::decode_properties(full->props_raw);
    FUZZ_CHECK(p);
    std::string once;
    amqp::encode_properties(once, *p);
    auto q = amqp::decode_properties(once);
    FUZZ_CHECK(q);
    std::string twice;
    amqp::encode_properties(twice, *q);
    FUZZ_CHECK(once == twice);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    uint8_t k = in.byte();
    uint32_t frame_max = (k & 7) == 0 ? 0 : uint32_t(amqp::frame_min_size) << (k & 7);
    std::string_view buf = in.rest();
    while (!buf.empty()) {
        auto r = amqp::parse_frame(buf, frame_max);
        if (r.k != amqp::parse_result::ok) break;
        FUZZ_CHECK(r.consumed >= amqp::frame_overhead && r.consumed <= buf.size());
        FUZZ_CHECK(r.frame.payload.size() == r.consumed - amqp::frame_overhead);
        switch (r.frame.type) {
            case amqp::frame_type::method:
                check_method(r.frame.payload);
                break;
            case amqp::frame_type::header:
                check_header(r.frame.payload);
                break;
            default:
                break;
        }
        buf.remove_prefix(r.consumed);
    }
    return 0;
}

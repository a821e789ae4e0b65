#include "durability/message_record.h"

#include "core/properties_codec.h"

namespace warren::durability {

store::message_fields record_fields(const core::message& m, std::string_view exchange,
                                    uint64_t published_ms, std::string& scratch) {
    std::string_view props = m.props_raw;
    if (props.empty()) {
        scratch.clear();
        core::encode_properties(scratch, m.props);
        props = scratch;
    }
    store::message_fields f{exchange, m.routing_key, props, m.body};
    f.published_ms = published_ms;
    return f;
}

basic_result<decoded_record, std::string> decode_record(std::string_view bytes, uint64_t disk_id) {
    auto f = store::decode_message(bytes);
    if (!f) return "does not decode: " + f.error().text;
    auto m = std::make_shared<core::message>();
    if (!core::decode_properties(f->properties, m->props))
        return std::string("has malformed properties");
    m->exchange.assign(f->exchange);
    m->routing_key.assign(f->routing_key);
    m->props_raw.assign(f->properties);
    m->body.assign(f->body);
    m->id = disk_id;
    return decoded_record{std::move(m), f->published_ms};
}

}  // namespace warren::durability

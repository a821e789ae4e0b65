#pragma once
// The bytes a broker stores for one persistent message in the segment log (the log itself
// treats them as opaque). Everything needed to rebuild the message after a restart: the
// exchange and routing key it was published with, its content properties in AMQP wire form
// (the content-header property flags and list), and the body.
//
//   layout (little-endian): u8 version (2), u64 published_ms (wall clock, ms since the
//                           epoch; absent in version 1), u16 exchange length, exchange,
//                           u16 routing key length, routing key,
//                           u32 properties length, properties, body (the rest)
//
//   std::string bytes = store::encode_message({m.exchange, m.routing_key, props_raw, m.body});
//   auto fields = store::decode_message(bytes);   // views into `bytes`
//
// Untrusted input (bytes read back from disk already passed their checksum, but may come from
// a newer version): decode returns corruption / unsupported_version, never crashes.

#include <string>
#include <string_view>

#include "store/error.h"

namespace warren::store {

struct message_fields {
    std::string_view exchange;
    std::string_view routing_key;
    std::string_view properties;  // AMQP basic content properties, wire form
    std::string_view body;
    uint64_t published_ms = 0;  // when the broker took it (for TTL across restarts); 0 = unknown
};

inline constexpr uint8_t message_codec_version = 2;  // decodes 1 and 2

// Exactly how many bytes encode_message produces.
size_t encoded_size(const message_fields& m);
std::string encode_message(const message_fields& m);
void encode_message(const message_fields& m, std::string& out);  // appends
result<message_fields> decode_message(std::string_view bytes);

}  // namespace warren::store

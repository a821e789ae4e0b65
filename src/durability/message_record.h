#pragma once
// message_record: a core::message <-> the bytes the segment log stores for it
// (store/message_codec.h: exchange, routing key, properties, body, publish time). Properties
// are stored in the form core keeps in props_raw (core/properties_codec.h): a publisher's bytes
// are written as they came, and a message without them (a STOMP SEND, a dead-lettered copy) is
// encoded here. No protocol codec is involved.
//
//   std::string scratch;
//   auto f = durability::record_fields(m, m.exchange, now_wall_ms, scratch);
//   log.append_message(m.id, queue_ids, f);
//   ...
//   auto back = durability::decode_record(bytes, disk_id);   // error text on failure
//
// Pure functions; run on the broker thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "core/message.h"
#include "store/message_codec.h"

namespace warren::durability {

// The fields to store for `m`, published through `exchange` (a delayed message is stored with
// the delayed exchange). Views into `m` or `scratch` (which holds encoded properties when
// m.props_raw is empty): keep both alive until the fields are written.
store::message_fields record_fields(const core::message& m, std::string_view exchange,
                                    uint64_t published_ms, std::string& scratch);

struct decoded_record {
    std::shared_ptr<core::message> msg;  // not yet shared: the caller may still change it
    uint64_t published_ms = 0;           // wall clock; 0 if unknown (version 1 record)
};
// Rebuilds the message stored under `disk_id` (which becomes its id).
basic_result<decoded_record, std::string> decode_record(std::string_view bytes, uint64_t disk_id);

}  // namespace warren::durability

#pragma once
// STOMP destinations as RabbitMQ's STOMP plugin names them, parsed into what the broker needs,
// and the reverse mapping used for the `destination` header of MESSAGE frames.
//
//   /queue/<name>              queue declared by STOMP (durable by default); SEND goes through
//                              the default exchange with routing key <name>
//   /amq/queue/<name>          an existing queue, never declared
//   /topic/<key>               amq.topic with routing key <key>; SUBSCRIBE makes a queue
//   /exchange/<name>[/<key>]   any exchange; SUBSCRIBE makes an exclusive queue bound with <key>
//   /temp-queue/<x>            only valid in reply-to: a private reply queue per session
//   /reply-queue/<name>        the real reply queue (as seen in a MESSAGE's reply-to); <name>
//                              is everything after the prefix, '/' included
//   <name>                     (no '/' at all) a queue, like /queue/<name>
//
// As in RabbitMQ (rabbit_routing_util), the text is split at every '/', so a name holding a '/'
// must be written %2F; parsing decodes only %2F, formatting encodes '/', '%' and bytes outside
// 32..127. Errors carry RabbitMQ's texts (errors.h). Pure functions: no broker access.

#include <optional>
#include <string>
#include <string_view>

#include "proto/stomp/errors.h"

namespace warren::stomp {

enum class dest_kind { queue, amq_queue, topic, exchange, temp_queue, reply_queue };

struct destination {
    dest_kind kind = dest_kind::queue;
    std::string name;  // queue name, exchange name, or temp-queue label (decoded)
    std::string key;   // routing key / binding pattern (topic, exchange); decoded
};

// The destination, or the ERROR to send (Unknown destination, Invalid destination).
basic_result<destination, failure> parse_destination(std::string_view text);

// The destination header for a message published to `exchange` with `routing_key`.
std::string format_destination(std::string_view exchange, std::string_view routing_key);

// %-encoding of a single name component, and its (RabbitMQ-sized) inverse: only %2F.
std::string encode_component(std::string_view s);
std::string decode_component(std::string_view s);

}  // namespace warren::stomp

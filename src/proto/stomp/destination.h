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
//   /reply-queue/<name>        the real reply queue (as seen in a MESSAGE's reply-to)
//
// Names may be %-encoded (%2F for '/'); parsing decodes them, formatting encodes '/', '%' and
// non-ASCII bytes. Pure functions: no broker access.

#include <optional>
#include <string>
#include <string_view>

namespace warren::stomp {

enum class dest_kind { queue, amq_queue, topic, exchange, temp_queue, reply_queue };

struct destination {
    dest_kind kind = dest_kind::queue;
    std::string name;  // queue name, exchange name, or temp-queue label (decoded)
    std::string key;   // routing key / binding pattern (topic, exchange); decoded
};

struct destination_error {
    std::string message;  // short, for the ERROR frame's message header
    std::string detail;   // body
};

// nullopt plus `err` filled on failure.
std::optional<destination> parse_destination(std::string_view text, destination_error& err);

// The destination header for a message published to `exchange` with `routing_key`.
std::string format_destination(std::string_view exchange, std::string_view routing_key);

// %-encoding of a single name component.
std::string encode_component(std::string_view s);
bool decode_component(std::string_view s, std::string& out);

}  // namespace warren::stomp

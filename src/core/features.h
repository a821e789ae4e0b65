#pragma once
// Queue and message features that need no queue state: x-argument validation, CC/BCC,
// x-delivery-count.
//
// Validation of queue.declare x-arguments, as RabbitMQ does it (rabbit_amqqueue's check_*
// functions and rabbit_channel's DLX check): a bad-typed or out-of-range value is refused with
// 406 PRECONDITION_FAILED and RabbitMQ's text, e.g.
//   invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}
// Only a queue being created is validated (an existing queue is checked for equivalence only,
// like RabbitMQ). Unknown arguments are accepted.

#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/fields.h"

namespace warren::core {

// RabbitMQ's AMQP type name of a field value: long, signedint, longstr, bool, ...
std::string_view field_type_name(const field_value& v);

// `resource` is RabbitMQ's rs(): "queue 'q' in vhost '/'". Ok when all arguments are valid.
result<void> validate_queue_args(const field_table& args, std::string_view resource);

}  // namespace warren::core

namespace warren::core {
// exchange.declare of a new exchange: a non-string `alternate-exchange` is refused like
// rabbit_channel does ("invalid type 'long' for arg 'alternate-exchange' in exchange ...").
result<void> validate_exchange_args(const field_table& args, std::string_view resource);
}  // namespace warren::core

#include "core/message.h"

namespace warren::core {
// A copy of m with header x-delivery-count = count (long), as RabbitMQ quorum queues mark a
// redelivered message; props_raw is cleared so the front end re-encodes the properties.
message_ptr with_delivery_count(const message_ptr& m, uint32_t count);
}  // namespace warren::core

#include <string>
#include <vector>

namespace warren::core {
// Sender-selected distribution (RabbitMQ's CC / BCC headers, arrays of longstr): appends their
// routing keys to `keys` and returns the message to deliver, which is m itself, or a copy
// without the BCC header if it had one. Values that are not arrays of strings are ignored.
message_ptr sender_selected(message_ptr m, std::vector<std::string>& keys);
}  // namespace warren::core

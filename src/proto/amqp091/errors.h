#pragma once
// AMQP error construction for the session layer: one place that turns a reply code and an
// explanation into RabbitMQ's reply text ("NOT_FOUND - no queue 'q' in vhost '/'"), and says
// whether a code closes the channel or the whole connection.
//
//   return amqp::make_error(core::reply_code::precondition_failed,
//                           fmt::format("unknown delivery tag {}", tag));

#include <string>
#include <string_view>

#include "core/error.h"

namespace warren::amqp {

// "NOT_FOUND", "PRECONDITION_FAILED", ...: the name RabbitMQ prefixes reply texts with.
std::string_view reply_name(core::reply_code c);

// {code, "<NAME> - <explanation>"}.
core::error make_error(core::reply_code c, std::string_view explanation);

// An error bound to the method that caused it (class/method ids go into channel.close and
// connection.close).
struct method_error {
    core::error err;
    uint16_t class_id = 0;
    uint16_t method_id = 0;
};

}  // namespace warren::amqp

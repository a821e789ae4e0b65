#pragma once
// AMQP errors for the session layer, and the one place where an error becomes AMQP reply text:
// reply_text() renders a core::error as RabbitMQ does, "<NAME> - <text>"
// ("NOT_FOUND - no queue 'q' in vhost '/'"), for channel.close and connection.close.
// Whether a code closes the channel or the connection: core::is_connection_error.
//
//   return amqp::make_error(core::reply_code::precondition_failed,
//                           fmt::format("unknown delivery tag {}", tag));
//   send(channel_close{uint16_t(e.code), reply_text(e), class_id, method_id});

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace warren::amqp {

// {code, explanation}: an error the AMQP layer itself finds (the text carries no NAME prefix;
// reply_text adds it).
core::error make_error(core::reply_code c, std::string_view explanation);

// "<NAME> - <text>": the reply-text of channel.close / connection.close.
std::string reply_text(const core::error& e);

// An error bound to the method that caused it (class/method ids go into channel.close and
// connection.close).
struct method_error {
    core::error err;
    uint16_t class_id = 0;
    uint16_t method_id = 0;
};

}  // namespace warren::amqp

#pragma once
// The one error type of core and the protocol front ends: a reply code (AMQP 0-9-1 values, as
// RabbitMQ uses them), RabbitMQ's explanation text and the resource it is about. Core returns it
// in result<T> / result<void>; each protocol renders it once, at the edge:
//   - AMQP (proto/amqp091/errors.h, reply_text): "<NAME> - <text>" in channel.close or
//     connection.close, e.g. "NOT_FOUND - no queue 'q' in vhost '/'";
//   - STOMP (proto/stomp/errors.h, render): an ERROR frame with message "not_found" and that
//     same "<NAME> - <text>" as its body, as RabbitMQ's STOMP adapter writes it.
// Core never writes the "<NAME> - " prefix itself. No exceptions on the data path.
//
//   if (!q) return error{reply_code::not_found, "no queue 'q' in vhost '/'",
//                        "queue 'q' in vhost '/'"};

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace warren::core {

enum class reply_code : uint16_t {
    ok = 200,
    content_too_large = 311,    // soft: message too large
    no_route = 312,             // basic.return for mandatory, unroutable
    no_consumers = 313,         // basic.return for immediate (unused: immediate gets 540)
    connection_forced = 320,    // broker shutting down / admin closed connection
    invalid_path = 402,         // unknown vhost (RabbitMQ uses 530 for connection.open)
    access_refused = 403,       // reserved names (amq.*), auth, exclusive consumer taken
    not_found = 404,            // exchange / queue does not exist
    resource_locked = 405,      // exclusive queue owned by another connection
    precondition_failed = 406,  // redeclare with other args, if-unused/if-empty, unknown tag
    frame_error = 501,          // malformed frame
    syntax_error = 502,         // bad field values
    command_invalid = 503,      // method not allowed now
    channel_error = 504,        // channel not open / already open
    unexpected_frame = 505,     // frame out of sequence
    resource_error = 506,       // server out of a resource
    not_allowed = 530,          // vhost access / channel_max / unsupported
    not_implemented = 540,      // immediate=true and other unimplemented features
    internal_error = 541,       // our bug: never crash, say so
};

// RabbitMQ's name of a code, as both protocols print it: "NOT_FOUND", "PRECONDITION_FAILED".
// (STOMP's `message` header is the same name in lower case.)
std::string_view reply_name(reply_code c);

// Codes at or above 500 (and 320, 402, 530, 540, 541) close the connection; the rest close
// the channel only.
inline bool is_connection_error(reply_code c) {
    switch (c) {
        case reply_code::connection_forced:
        case reply_code::invalid_path:
        case reply_code::frame_error:
        case reply_code::syntax_error:
        case reply_code::command_invalid:
        case reply_code::channel_error:
        case reply_code::unexpected_frame:
        case reply_code::resource_error:
        case reply_code::not_allowed:
        case reply_code::not_implemented:
        case reply_code::internal_error:
            return true;
        default:
            return false;
    }
}

struct error {
    reply_code code = reply_code::internal_error;
    // RabbitMQ's explanation, without the code's name: "no queue 'q' in vhost '/'".
    std::string text;
    // What it is about, as RabbitMQ names it ("queue 'q' in vhost '/'"); empty when the error
    // is about no resource in particular. For logs and the management API; never rendered.
    std::string resource;
};

template <typename T>
using result = basic_result<T, error>;

// RabbitMQ's channel texts that both front ends send: 406 "unknown delivery tag 7" (an ack,
// nack or reject of a tag the channel or subscription does not hold).
error unknown_delivery_tag(uint64_t tag);
error unknown_delivery_tag(int64_t tag);  // STOMP passes a negative tag through as written

}  // namespace warren::core

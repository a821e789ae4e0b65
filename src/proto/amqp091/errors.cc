#include "proto/amqp091/errors.h"

namespace warren::amqp {

std::string_view reply_name(core::reply_code c) {
    using rc = core::reply_code;
    switch (c) {
        case rc::ok: return "OK";
        case rc::content_too_large: return "CONTENT_TOO_LARGE";
        case rc::no_route: return "NO_ROUTE";
        case rc::no_consumers: return "NO_CONSUMERS";
        case rc::connection_forced: return "CONNECTION_FORCED";
        case rc::invalid_path: return "INVALID_PATH";
        case rc::access_refused: return "ACCESS_REFUSED";
        case rc::not_found: return "NOT_FOUND";
        case rc::resource_locked: return "RESOURCE_LOCKED";
        case rc::precondition_failed: return "PRECONDITION_FAILED";
        case rc::frame_error: return "FRAME_ERROR";
        case rc::syntax_error: return "SYNTAX_ERROR";
        case rc::command_invalid: return "COMMAND_INVALID";
        case rc::channel_error: return "CHANNEL_ERROR";
        case rc::unexpected_frame: return "UNEXPECTED_FRAME";
        case rc::resource_error: return "RESOURCE_ERROR";
        case rc::not_allowed: return "NOT_ALLOWED";
        case rc::not_implemented: return "NOT_IMPLEMENTED";
        case rc::internal_error: return "INTERNAL_ERROR";
    }
    return "INTERNAL_ERROR";
}

core::error make_error(core::reply_code c, std::string_view explanation) {
    std::string text(reply_name(c));
    text += " - ";
    text += explanation;
    return core::error{c, std::move(text)};
}

}  // namespace warren::amqp

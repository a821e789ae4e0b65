#include "proto/amqp091/errors.h"

namespace warren::amqp {

core::error make_error(core::reply_code c, std::string_view explanation) {
    return core::error{c, std::string(explanation), {}};
}

std::string reply_text(const core::error& e) {
    std::string text(core::reply_name(e.code));
    text += " - ";
    text += e.text;
    return text;
}

}  // namespace warren::amqp

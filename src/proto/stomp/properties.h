#pragma once
// STOMP headers <-> AMQP basic properties, as RabbitMQ's STOMP plugin maps them, so a message
// keeps its metadata when it crosses protocols (STOMP SEND -> AMQP consumer and back).
//
//   content-type, content-encoding, priority, correlation-id, reply-to, expiration,
//   timestamp, type, user-id, app-id      <-> the property of the same name
//   persistent:true                       <-> delivery_mode 2
//   amqp-message-id                       <-> message_id   (STOMP's message-id is the server's)
//   any other header                      <-> an entry of the `headers` table (long string)
//
// Frame-control headers (destination, receipt, transaction, content-length, message-id, ...)
// never become message headers. Pure functions.

#include <string>
#include <string_view>

#include "core/fields.h"
#include "proto/stomp/codec/frame.h"
#include "proto/stomp/codec/writer.h"
#include "proto/stomp/errors.h"

namespace warren::stomp {

// Fills `props` from a SEND frame's headers. Fails (with RabbitMQ's ERROR texts) on a value
// RabbitMQ refuses, e.g. a non-numeric priority or expiration.
status headers_to_properties(const frame& f, core::basic_properties& props);

// Writes MESSAGE headers for `props` (after the frame-control headers the caller wrote).
void properties_to_headers(const core::basic_properties& props, writer& w);

// Headers the server writes itself on MESSAGE frames, or that only control a frame; these are
// never copied to or from the AMQP headers table.
bool is_reserved_header(std::string_view name);

}  // namespace warren::stomp

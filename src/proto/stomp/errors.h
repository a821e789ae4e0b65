#pragma once
// Every ERROR the STOMP front end sends, in one place: the `message` header and the body, word
// for word as RabbitMQ 3.10's STOMP adapter writes them (rabbit_stomp_processor), including the
// trailing newline where RabbitMQ's text has one. Each function is one error path; the table in
// docs/compatibility.md (## STOMP) lists them with the frame that triggers each.
//
//   return errors::missing_destination("SEND");   // a `failure` for the session's status
//
// A core::error (core/error.h) is rendered by render() alone, as RabbitMQ's adapter reports an
// AMQP error: `message` is the code's name in lower case ("not_found"), the body RabbitMQ's
// reply text ("NOT_FOUND - no queue 'q' in vhost '/'").
//
// RabbitMQ prints some values with Erlang's ~p, which quotes strings ("SEND"); erlang_quoted()
// does the same. Pure functions, no state.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "core/error.h"

namespace warren::stomp {

// ERROR frame contents.
struct failure {
    std::string message;  // the `message` header
    std::string detail;   // the body
};

// What a frame handler returns: ok, or the ERROR frame to send.
using status = basic_result<void, failure>;

// The ERROR frame of a core error: {"not_found", "NOT_FOUND - no queue 'q' in vhost '/'"}.
failure render(const core::error& e);

// `s` as Erlang's ~p prints a string: in double quotes, with " and \ escaped.
std::string erlang_quoted(std::string_view s);

namespace errors {

// Connection and commands.
failure illegal_command();                            // any frame before CONNECT
failure bad_command(std::string_view command);        // unknown or server-only command
failure version_mismatch();                           // no common version in accept-version
failure missing_login();                              // no login and no default user
failure access_refused(std::string_view user);        // bad credentials
failure vhost_access_denied(std::string_view vhost);  // also: a connection limit
failure non_loopback();  // a loopback_users user (guest) from another host
// Warren's connection_max (RabbitMQ's STOMP adapter has no such check): "Bad CONNECT" with the
// text RabbitMQ's AMQP listener sends, "connection refused: node connection limit (N) is
// reached".
failure node_connection_limit(uint64_t connection_max);
// consumer_max_per_channel reached by a SUBSCRIBE: RabbitMQ's channel error as its adapter
// reports one, {"not_allowed", "NOT_ALLOWED - reached maximum (N) of consumers per channel"}.
failure consumer_limit(uint64_t max);
// A header RabbitMQ parses without checking (heart-beat, ack, prefetch-count, priority,
// timestamp, integer queue arguments, a message-id's delivery tag): the processor crashes
// and reports only this.
failure processing_error();

// Destinations.
failure missing_destination(std::string_view command);
failure unknown_destination(std::string_view text);
// `content` is what follows the type prefix ("/bah/baz" for /queue/bah/baz); `type` is
// RabbitMQ's atom: queue, amqqueue, topic, exchange, temp_queue, reply_queue.
failure invalid_destination(std::string_view content, std::string_view type);
failure blank_destination();
failure destination_not_allowed(std::string_view text, std::string_view command);  // temp-queue
failure header_not_allowed(std::string_view header, std::string_view command);

// Subscriptions. `consumer_tag` is T_<id>, or Q_<destination> for a SUBSCRIBE without id;
// `description` is id='<id>' or destination='<destination>'.
failure duplicate_subscription(std::string_view consumer_tag);
failure durable_subscription_without_id();
failure unsubscribe_temp_queue_id();
failure unsubscribe_without_id();
failure no_subscription_found(std::string_view description);
std::string subscription_cancelled_detail(std::string_view description);  // body of that ERROR

// ACK / NACK. `header` is the ack header of the session's version: id (1.2) or message-id.
failure missing_ack_header(std::string_view command, std::string_view header);
failure invalid_ack_header(std::string_view command, std::string_view header);
failure ack_without_subscription(std::string_view ack_value);

// Transactions.
failure missing_transaction(std::string_view command);
failure bad_transaction(std::string_view transaction);

// An expiration RabbitMQ's channel refuses; `reason` as Erlang prints it (no_integer, ...).
failure invalid_expiration(std::string_view value, std::string_view reason);

// A body above max_message_size (RabbitMQ's channel check, reported as precondition_failed).
failure message_too_large(uint64_t size, uint64_t max);

}  // namespace errors
}  // namespace warren::stomp

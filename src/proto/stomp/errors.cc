#include "proto/stomp/errors.h"

#include <fmt/format.h>

namespace warren::stomp {

std::string erlang_quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

failure render(const core::error& e) {
    std::string_view name = core::reply_name(e.code);
    failure f;
    f.message.reserve(name.size());
    for (char c : name) f.message.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
    f.detail = fmt::format("{} - {}", name, e.text);
    return f;
}

namespace errors {

failure illegal_command() {
    return {"Illegal command", "You must log in using CONNECT first"};
}

failure bad_command(std::string_view command) {
    return {"Bad command", fmt::format("Could not interpret command {}\n", erlang_quoted(command))};
}

failure version_mismatch() {
    return {"Version mismatch", "Supported versions are 1.0,1.1,1.2\n"};
}

failure missing_login() {
    return {"Bad CONNECT", "Missing login or passcode header(s)"};
}

failure access_refused(std::string_view user) {
    return {"Bad CONNECT", fmt::format("Access refused for user '{}'\n", user)};
}

failure vhost_access_denied(std::string_view vhost) {
    return {"Bad CONNECT", fmt::format("Virtual host '{}' access denied", vhost)};
}

failure non_loopback() {
    return {"Bad CONNECT", "non-loopback access denied"};
}

failure node_connection_limit(uint64_t connection_max) {
    return {"Bad CONNECT", fmt::format("connection refused: node connection limit ({}) is reached",
                                       connection_max)};
}

failure consumer_limit(uint64_t max) {
    return render(core::error{core::reply_code::not_allowed,
                              fmt::format("reached maximum ({}) of consumers per channel", max)});
}

failure processing_error() {
    return {"Processing error", "Processing error"};
}

failure missing_destination(std::string_view command) {
    return {"Missing destination",
            fmt::format("{} must include a 'destination' header\n", erlang_quoted(command))};
}

failure unknown_destination(std::string_view text) {
    return {"Unknown destination",
            fmt::format("'{}' is not a valid destination.\nValid destination types are: "
                        "/temp-queue, /exchange, /topic, /queue, /amq/queue, /reply-queue/.\n",
                        text)};
}

failure invalid_destination(std::string_view content, std::string_view type) {
    return {"Invalid destination",
            fmt::format("'{}' is not a valid {} destination\n", content, type)};
}

failure blank_destination() {
    return {"Invalid destination", "Destination cannot be blank"};
}

failure destination_not_allowed(std::string_view text, std::string_view command) {
    return {"Invalid destination",
            fmt::format("'{}' is not a valid destination for '{}'\n", text, command)};
}

failure header_not_allowed(std::string_view header, std::string_view command) {
    return {"Invalid header", fmt::format("'{}' is not allowed on '{}'.\n", header, command)};
}

failure duplicate_subscription(std::string_view consumer_tag) {
    return {"Duplicated subscription identifier",
            fmt::format("A subscription identified by '{}' already exists.", consumer_tag)};
}

failure durable_subscription_without_id() {
    return {"Missing Header", "Header 'id' is required for durable subscriptions"};
}

failure unsubscribe_temp_queue_id() {
    return {"Invalid id", "UNSUBSCRIBE 'id' may not start with /temp-queue/\n"};
}

failure unsubscribe_without_id() {
    return {"Missing destination or id", "UNSUBSCRIBE must include a 'destination' or 'id' header"};
}

failure no_subscription_found(std::string_view description) {
    return {"No subscription found",
            fmt::format("UNSUBSCRIBE must refer to an existing subscription.\n"
                        "Subscription to {} not found.\n",
                        erlang_quoted(description))};
}

std::string subscription_cancelled_detail(std::string_view description) {
    return fmt::format(
        "The server has canceled a subscription.\nNo more messages will be delivered for {}.\n",
        erlang_quoted(description));
}

failure missing_ack_header(std::string_view command, std::string_view header) {
    return {"Missing header", fmt::format("{} must include the {} header\n", erlang_quoted(command),
                                          erlang_quoted(header))};
}

failure invalid_ack_header(std::string_view command, std::string_view header) {
    return {"Invalid header", fmt::format("{} must include a valid {} header\n",
                                          erlang_quoted(command), erlang_quoted(header))};
}

failure ack_without_subscription(std::string_view ack_value) {
    return {"Subscription not found",
            fmt::format("Message with id {} has no subscription", erlang_quoted(ack_value))};
}

failure missing_transaction(std::string_view command) {
    return {"Missing transaction",
            fmt::format("{} must include a 'transaction' header\n", erlang_quoted(command))};
}

failure bad_transaction(std::string_view transaction) {
    return {"Bad transaction",
            fmt::format("Invalid transaction identifier: {}\n", erlang_quoted(transaction))};
}

failure invalid_expiration(std::string_view value, std::string_view reason) {
    return render({core::reply_code::precondition_failed,
                   fmt::format("invalid expiration '{}': {}", value, reason)});
}

failure message_too_large(uint64_t size, uint64_t max) {
    // RabbitMQ drops "configured" when the limit is its hard maximum (512 MiB).
    std::string_view which = max == 536870912 ? "max size" : "configured max size";
    return render({core::reply_code::precondition_failed,
                   fmt::format("message size {} is larger than {} {}", size, which, max)});
}

}  // namespace errors
}  // namespace warren::stomp

#pragma once
// Checks a WebSocket upgrade request against RFC 6455 section 4.2.1 before it is accepted: the
// Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes (24 characters ending in
// "=="), and Sec-WebSocket-Version must be 13. Boost.Beast checks only the key's length, so a
// key that is not base64 would otherwise get 101 Switching Protocols. Pure, no I/O.
//
//   if (auto refusal = mgmt::check_websocket_upgrade(req)) {
//       WLOG_INFO("websocket upgrade refused: {}", refusal->reason);
//       return write(std::move(refusal->res));   // 400, or 426 for another version
//   }

#include <optional>
#include <string>
#include <string_view>

#include "mgmt/http_server.h"

namespace warren::mgmt {

// Whether `key` is base64 (standard alphabet, padded) of exactly 16 bytes.
bool valid_websocket_key(std::string_view key);

struct upgrade_refusal {
    response res;        // 400 Bad Request, or 426 Upgrade Required with Sec-WebSocket-Version: 13
    std::string reason;  // for the log line
};

// nullopt when the request may be upgraded. The response closes the connection.
std::optional<upgrade_refusal> check_websocket_upgrade(const request& req);

}  // namespace warren::mgmt

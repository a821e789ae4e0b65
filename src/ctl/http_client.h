#pragma once
// The HTTP(S) client warrenctl talks to the management API through. `http_transport` is the seam:
// commands see only send(method, target, body) and a reply or a transport error, so their tests
// run against a fake; `make_http_transport` is the real one, Boost.Beast over TCP or TLS, one
// connection per request, every request bounded by the endpoint's timeout.
//
//   auto http = make_http_transport({.host = "127.0.0.1", .port = 15672, .user = "guest", ...});
//   auto r = http->send("GET", "/api/overview", "");
//   if (!r) report(r.error().code, r.error().text); else use(r->status, r->body);

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "ctl/exit_code.h"

namespace warren::ctl {

struct http_reply {
    int status = 0;
    std::string body;
};

// The request never got an HTTP reply: unreachable (69), timed out (75), or broken (70).
struct transport_error {
    exit_code code = exit_code::unavailable;
    std::string text;
};

using http_result = basic_result<http_reply, transport_error>;
using http_headers = std::vector<std::pair<std::string, std::string>>;

struct endpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 15672;
    bool tls = false;
    std::string cacert;     // PEM file to verify the server with; empty: the system's store
    bool insecure = false;  // TLS without verifying the server's certificate
    std::string user = "guest";
    std::string password = "guest";
    std::chrono::milliseconds timeout{30000};
};

// Owned by the command being run; single-threaded, one request at a time.
class http_transport {
public:
    virtual ~http_transport() = default;
    // `target` is the path and query, already URL-encoded. Sends basic auth for the endpoint's
    // user; a non-empty body goes as application/json.
    virtual http_result send(std::string_view method, std::string_view target,
                             std::string_view body, const http_headers& headers = {}) = 0;
    // Bound the next requests to `t` (await_startup shortens them to what time is left).
    virtual void set_timeout(std::chrono::milliseconds t) = 0;
};

std::unique_ptr<http_transport> make_http_transport(endpoint ep);

// Percent-encodes one path segment ("/" becomes %2F, as RabbitMQ's API expects for vhosts).
std::string encode_segment(std::string_view s);
std::string base64(std::string_view s);

}  // namespace warren::ctl

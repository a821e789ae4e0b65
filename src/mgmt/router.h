#pragma once
// Routes HTTP requests by method and path pattern, as RabbitMQ's management API lays out its
// paths: a pattern is '/'-separated segments, each a literal or a `{parameter}` that matches one
// segment, URL-decoded ("%2F" is the vhost "/"). A path that matches some pattern but none with
// the request's method gets 405 with an Allow header; a path that matches nothing gets
// RabbitMQ's 404 body {"error":"Object Not Found","reason":"Not Found"}. When several patterns
// match, the one with the most literal segments wins (/api/users/bulk-delete over
// /api/users/{name}).
//
//   mgmt::router r;
//   r.add("GET", "/api/queues/{vhost}/{name}", [](const mgmt::call& c) {
//       return mgmt::make_response(c.req, http::status::ok, c.param("name"));
//   });
//   response res = r.dispatch(req, "10.0.0.5:4242");
//
// Handlers get the request, the peer's address (for the login back-off and logs), the path
// parameters and the query string's parameters. Owned by http_server; broker thread only.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast.hpp>

namespace warren::mgmt {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// "a%2Fb" -> "a/b"; with plus_is_space (query strings) "+" -> " ". A malformed escape is kept
// as it is.
std::string url_decode(std::string_view s, bool plus_is_space = false);

// One routed request.
struct call {
    const request& req;
    std::string_view peer;                                         // "127.0.0.1:4242", "[::1]:4242"
    std::vector<std::pair<std::string_view, std::string>> params;  // {name} -> decoded value
    std::vector<std::pair<std::string, std::string>> query;        // decoded, in order

    // The path parameter (empty if the pattern has none of that name).
    const std::string& param(std::string_view name) const;
    // The first query parameter of that name.
    std::optional<std::string_view> query_value(std::string_view name) const;
};

class router {
public:
    using handler = std::function<response(const call&)>;

    // `pattern` must start with '/'. Registering the same method and pattern twice keeps the
    // first.
    void add(std::string method, std::string_view pattern, handler h);
    response dispatch(const request& req, std::string_view peer) const;

private:
    struct segment {
        std::string text;  // the literal, or the parameter's name
        bool is_param = false;
    };
    struct route {
        std::string method;
        std::vector<segment> segments;
        size_t literals = 0;
        handler h;
    };
    std::vector<route> _routes;
};

}  // namespace warren::mgmt

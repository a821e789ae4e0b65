#include "mgmt/router.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mgmt/http_server.h"

namespace warren::mgmt {
namespace {

request make_request(http::verb v, std::string target) {
    request r{v, target, 11};
    return r;
}

// Each handler answers with a tag and what it saw, so a test can tell which route ran.
router make_router() {
    router r;
    auto echo = [](std::string tag) {
        return [tag](const call& c) {
            std::string body = tag;
            for (auto& [k, v] : c.params) body += fmt::format("|{}={}", k, v);
            for (auto& [k, v] : c.query) body += fmt::format("|?{}={}", k, v);
            body += fmt::format("|peer={}", c.peer);
            return make_response(c.req, http::status::ok, body, "text/plain");
        };
    };
    r.add("GET", "/api/queues", echo("queues"));
    r.add("GET", "/api/queues/{vhost}", echo("queues-vhost"));
    r.add("GET", "/api/queues/{vhost}/{name}", echo("queue"));
    r.add("PUT", "/api/queues/{vhost}/{name}", echo("queue-put"));
    r.add("GET", "/api/queues/{vhost}/{name}/bindings", echo("queue-bindings"));
    r.add("GET", "/api/users/{name}", echo("user"));
    r.add("POST", "/api/users/bulk-delete", echo("bulk-delete"));
    r.add("GET", "/api/bindings/{vhost}/e/{src}/q/{dst}", echo("b-eq"));
    r.add("GET", "/api/bindings/{vhost}/e/{src}/e/{dst}", echo("b-ee"));
    return r;
}

TEST(Router, PathParametersAreUrlDecoded) {
    auto r = make_router();
    auto res = r.dispatch(make_request(http::verb::get, "/api/queues/%2F/a%20b/bindings"), "p");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), "queue-bindings|vhost=/|name=a b|peer=p");
}

TEST(Router, QueryStringIsParsedAndDecoded) {
    auto r = make_router();
    auto res =
        r.dispatch(make_request(http::verb::get, "/api/queues?page=2&name=a+b%21&use_regex"), "p");
    EXPECT_EQ(res.body(), "queues|?page=2|?name=a b!|?use_regex=|peer=p");
}

TEST(Router, WrongMethodOnAKnownPathIs405WithAllow) {
    auto r = make_router();
    auto res = r.dispatch(make_request(http::verb::delete_, "/api/queues/%2F/q"), "p");
    EXPECT_EQ(res.result(), http::status::method_not_allowed);
    EXPECT_EQ(std::string(res[http::field::allow]), "GET, PUT");
}

TEST(Router, UnknownPathIsRabbitMQs404Body) {
    auto r = make_router();
    for (const char* t : {"/api/nothing", "/api/queues/%2F/q/x/y", "/", "/api/queues/"}) {
        auto res = r.dispatch(make_request(http::verb::get, t), "p");
        EXPECT_EQ(res.result(), http::status::not_found) << t;
        EXPECT_EQ(res.body(), R"({"error":"Object Not Found","reason":"Not Found"})") << t;
    }
}

TEST(Router, LiteralSegmentsBeatParameters) {
    auto r = make_router();
    auto res = r.dispatch(make_request(http::verb::post, "/api/users/bulk-delete"), "p");
    EXPECT_EQ(res.body(), "bulk-delete|peer=p");
    res = r.dispatch(make_request(http::verb::get, "/api/users/bulk-delete"), "p");
    EXPECT_EQ(res.body(), "user|name=bulk-delete|peer=p");
}

TEST(Router, LiteralsInsidePatternsSelectTheRoute) {
    auto r = make_router();
    auto res = r.dispatch(make_request(http::verb::get, "/api/bindings/v/e/x/q/y"), "p");
    EXPECT_EQ(res.body(), "b-eq|vhost=v|src=x|dst=y|peer=p");
    res = r.dispatch(make_request(http::verb::get, "/api/bindings/v/e/x/e/y"), "p");
    EXPECT_EQ(res.body(), "b-ee|vhost=v|src=x|dst=y|peer=p");
    res = r.dispatch(make_request(http::verb::get, "/api/bindings/v/q/x/e/y"), "p");
    EXPECT_EQ(res.result(), http::status::not_found);
}

TEST(Router, EmptySegmentDoesNotMatchAParameter) {
    auto r = make_router();
    auto res = r.dispatch(make_request(http::verb::get, "/api/queues//q"), "p");
    EXPECT_EQ(res.result(), http::status::not_found);
}

TEST(UrlDecode, MalformedEscapesAreKept) {
    EXPECT_EQ(url_decode("%2F"), "/");
    EXPECT_EQ(url_decode("%2f%41"), "/A");
    EXPECT_EQ(url_decode("%"), "%");
    EXPECT_EQ(url_decode("%4"), "%4");
    EXPECT_EQ(url_decode("%zz"), "%zz");
    EXPECT_EQ(url_decode("a+b"), "a+b");
    EXPECT_EQ(url_decode("a+b", true), "a b");
}

}  // namespace
}  // namespace warren::mgmt

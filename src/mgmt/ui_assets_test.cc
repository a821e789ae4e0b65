#include "mgmt/ui_assets.h"

#include <gtest/gtest.h>

#include "mgmt/http_server.h"

namespace warren::mgmt {
namespace {

request make_request(http::verb v, std::string target) {
    return request{v, target, 11};
}

// A header's value as a std::string (Beast hands out boost::string_view).
template <typename Field>
std::string hdr(const response& res, Field f) {
    auto v = res[f];
    return std::string(v.data(), v.size());
}

router ui_router() {
    router r;
    install_ui(r);
    r.add("GET", "/api/overview",
          [](const call& c) { return make_response(c.req, http::status::ok, R"({"api":true})"); });
    return r;
}

TEST(UiAssets, RootServesIndexHtml) {
    auto r = ui_router();
    auto res = r.dispatch(make_request(http::verb::get, "/"), "peer");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(hdr(res, http::field::content_type), "text/html; charset=utf-8");
    EXPECT_NE(res.body().find("<!doctype html>"), std::string::npos);
    EXPECT_EQ(hdr(res, http::field::cache_control), "no-cache");
    EXPECT_FALSE(hdr(res, http::field::etag).empty());
    EXPECT_FALSE(hdr(res, "Content-Security-Policy").empty());
    // With a query string too (a bookmarked "/?x=1").
    EXPECT_EQ(r.dispatch(make_request(http::verb::get, "/?x=1"), "peer").body(), res.body());
}

TEST(UiAssets, EveryFileIsServedWithItsContentType) {
    ASSERT_GT(ui_asset_count, 2u);
    auto r = ui_router();
    for (size_t i = 0; i < ui_asset_count; ++i) {
        const ui_asset& a = ui_asset_table[i];
        auto res = r.dispatch(make_request(http::verb::get, std::string(a.path)), "peer");
        EXPECT_EQ(res.result(), http::status::ok) << a.path;
        EXPECT_EQ(hdr(res, http::field::content_type), std::string(a.content_type)) << a.path;
        EXPECT_EQ(res.body(), std::string(a.bytes())) << a.path;
    }
    EXPECT_EQ(std::string(find_ui_asset("/js/app.js")->content_type),
              "text/javascript; charset=utf-8");
    EXPECT_EQ(std::string(find_ui_asset("/style.css")->content_type), "text/css; charset=utf-8");
}

TEST(UiAssets, UnknownPathIs404AndApiIsNotShadowed) {
    auto r = ui_router();
    auto res = r.dispatch(make_request(http::verb::get, "/no-such-page.html"), "peer");
    EXPECT_EQ(res.result(), http::status::not_found);
    EXPECT_EQ(res.body(), R"({"error":"Object Not Found","reason":"Not Found"})");
    EXPECT_EQ(r.dispatch(make_request(http::verb::get, "/api/overview"), "peer").body(),
              R"({"api":true})");
    EXPECT_EQ(find_ui_asset("/api"), nullptr);
}

TEST(UiAssets, MatchingIfNoneMatchIs304WithoutBody) {
    auto r = ui_router();
    auto first = r.dispatch(make_request(http::verb::get, "/"), "peer");
    auto req = make_request(http::verb::get, "/");
    req.set(http::field::if_none_match, std::string(hdr(first, http::field::etag)));
    auto res = r.dispatch(req, "peer");
    EXPECT_EQ(res.result(), http::status::not_modified);
    EXPECT_TRUE(res.body().empty());
    EXPECT_EQ(hdr(res, http::field::etag), hdr(first, http::field::etag));
    req.set(http::field::if_none_match,
            "\"0000000000000000\", W/" + std::string(hdr(first, http::field::etag)));
    EXPECT_EQ(r.dispatch(req, "peer").result(), http::status::not_modified);
    req.set(http::field::if_none_match, "\"0000000000000000\"");
    EXPECT_EQ(r.dispatch(req, "peer").result(), http::status::ok);
}

TEST(UiAssets, HeadHasTheLengthButNoBody) {
    auto r = ui_router();
    auto res = r.dispatch(make_request(http::verb::head, "/"), "peer");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_TRUE(res.body().empty());
    EXPECT_EQ(hdr(res, http::field::content_length), std::to_string(find_ui_asset("/")->size));
}

}  // namespace
}  // namespace warren::mgmt

#include "mgmt/ui_assets.h"

#include <string>

#include "mgmt/http_server.h"

namespace warren::mgmt {

namespace {

// Scripts, styles and images from the page's own origin only; fetch() to the API on the same
// origin. No inline script, no framing by other sites.
constexpr std::string_view content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// If-None-Match is a list of ETags or "*".
bool etag_matches(std::string_view header, std::string_view etag) {
    if (header == "*") return true;
    size_t at = 0;
    while ((at = header.find(etag, at)) != std::string_view::npos) {
        size_t end = at + etag.size();
        bool starts = at == 0 || header[at - 1] == ' ' || header[at - 1] == ',' ||
                      (at >= 2 && header.substr(at - 2, 2) == "W/");
        bool ends = end == header.size() || header[end] == ',' || header[end] == ' ';
        if (starts && ends) return true;
        at = end;
    }
    return false;
}

}  // namespace

const ui_asset* find_ui_asset(std::string_view path) {
    if (path == "/") path = "/index.html";
    for (size_t i = 0; i < ui_asset_count; ++i)
        if (ui_asset_table[i].path == path) return &ui_asset_table[i];
    return nullptr;
}

response serve_ui_asset(const request& req, const ui_asset& a) {
    auto inm = req.find(http::field::if_none_match);
    bool not_modified =
        inm != req.end() &&
        etag_matches(std::string_view(inm->value().data(), inm->value().size()), a.etag);
    response res = make_response(
        req, not_modified ? http::status::not_modified : http::status::ok,
        not_modified || req.method() == http::verb::head ? std::string() : std::string(a.bytes()),
        a.content_type);
    res.set(http::field::etag, std::string(a.etag));
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Content-Security-Policy", std::string(content_security_policy));
    if (not_modified) {
        res.erase(http::field::content_type);
    } else if (req.method() == http::verb::head) {
        res.content_length(a.size);
    }
    return res;
}

void install_ui(router& r) {
    auto add = [&](std::string_view pattern, const ui_asset& a) {
        for (const char* method : {"GET", "HEAD"})
            r.add(method, pattern, [&a](const call& c) { return serve_ui_asset(c.req, a); });
    };
    if (const ui_asset* index = find_ui_asset("/")) add("/", *index);
    for (size_t i = 0; i < ui_asset_count; ++i) add(ui_asset_table[i].path, ui_asset_table[i]);
}

}  // namespace warren::mgmt

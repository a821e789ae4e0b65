#pragma once
// The web management UI: the files of the source tree's www/ directory, compiled into warrend
// by cmake/embed_files.cmake (a table of path, Content-Type, ETag and bytes, regenerated when a
// file changes), and the routes that serve them on the HTTP listener. GET / is index.html; every
// file is also at its own path (/app.js, /style.css, ...). Anything else falls through to the
// router's 404, so the UI never shadows /api, /ws or /metrics. No login: the page is public, as
// RabbitMQ's is; its script logs in to the API with HTTP basic auth.
//
//   mgmt::install_ui(http.routes());
//
// Responses carry the file's ETag and `Cache-Control: no-cache`: a browser revalidates on each
// load and gets 304 while the binary is unchanged, and a new binary's UI is never stale. A
// Content-Security-Policy keeps the page to its own scripts and the API.

#include <cstddef>
#include <string_view>

#include "mgmt/router.h"

namespace warren::mgmt {

// One embedded file. The table is constant data, built at compile time.
struct ui_asset {
    std::string_view path;          // "/index.html"
    std::string_view content_type;  // "text/html; charset=utf-8"
    std::string_view etag;          // "\"0123456789abcdef\"", quoted as the header wants it
    const unsigned char* data;
    size_t size;

    std::string_view bytes() const { return {reinterpret_cast<const char*>(data), size}; }
};

// The generated table (ui_assets_data.cc): ui_asset_count entries, in path order.
extern const ui_asset ui_asset_table[];
extern const size_t ui_asset_count;

// The file served at a request path ("/" is "/index.html"); null when there is none.
const ui_asset* find_ui_asset(std::string_view path);

// 200 with the file (an empty body for HEAD), or 304 when If-None-Match names its ETag.
response serve_ui_asset(const request& req, const ui_asset& a);

// GET and HEAD routes for "/" and each file's path.
void install_ui(router& r);

}  // namespace warren::mgmt

#include "mgmt/websocket_handshake.h"

namespace warren::mgmt {

namespace {

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

upgrade_refusal refuse(const request& req, http::status status, std::string reason) {
    std::string_view error =
        status == http::status::upgrade_required ? "upgrade_required" : "bad_request";
    auto res = make_response(
        req, status, R"({"error":")" + std::string(error) + R"(","reason":")" + reason + "\"}");
    res.keep_alive(false);
    if (status == http::status::upgrade_required) res.set(http::field::sec_websocket_version, "13");
    return {std::move(res), std::move(reason)};
}

}  // namespace

bool valid_websocket_key(std::string_view key) {
    // 16 bytes are 5 groups of 3 and one byte left: 22 characters of data, then "==".
    if (key.size() != 24 || key.substr(22) != "==") return false;
    for (char c : key.substr(0, 22))
        if (!is_base64_char(c)) return false;
    return true;
}

std::optional<upgrade_refusal> check_websocket_upgrade(const request& req) {
    auto version = req[http::field::sec_websocket_version];
    if (version.empty())
        return refuse(req, http::status::bad_request, "missing Sec-WebSocket-Version");
    if (version != "13")
        return refuse(req, http::status::upgrade_required,
                      "unsupported Sec-WebSocket-Version (only 13 is supported)");
    auto key = req[http::field::sec_websocket_key];
    if (!valid_websocket_key(std::string_view(key.data(), key.size())))
        return refuse(req, http::status::bad_request,
                      "Sec-WebSocket-Key is not the base64 encoding of 16 bytes");
    return std::nullopt;
}

}  // namespace warren::mgmt

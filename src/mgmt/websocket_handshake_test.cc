// WebSocket upgrade checks (RFC 6455 4.2.1 and 4.4): table-driven over keys and versions.

#include "mgmt/websocket_handshake.h"

#include <gtest/gtest.h>

namespace warren::mgmt {
namespace {

request upgrade(std::string_view key, std::string_view version) {
    request req{http::verb::get, "/ws", 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "Upgrade");
    if (!key.empty()) req.set(http::field::sec_websocket_key, std::string(key));
    if (!version.empty()) req.set(http::field::sec_websocket_version, std::string(version));
    return req;
}

TEST(WebSocketHandshake, KeyMustBeBase64Of16Bytes) {
    struct {
        std::string_view key;
        bool valid;
    } cases[] = {
        {"dGhlIHNhbXBsZSBub25jZQ==", true},   // RFC 6455's example
        {"AAAAAAAAAAAAAAAAAAAAAA==", true},   // 16 zero bytes
        {"+/+/+/+/+/+/+/+/+/+/+w==", true},   // the two non-alphanumeric characters
        {"", false},                          // missing
        {"not base64 at all!!!!!==", false},  // spaces and '!'
        {"dGhlIHNhbXBsZSBub25jZQ", false},    // unpadded
        {"dGhlIHNhbXBsZSBub25jZQ=", false},   // half padded
        {"dGhlIHNhbXBsZSBub25j", false},      // 15 bytes
        {"dGhlIHNhbXBsZSBub25jZXM=", false},  // 17 bytes
        {"dGhlIHNhbXBsZSBub25jZQ==AAAA", false},
        {"dGhlIHNhbXBsZSBub25jZ===", false},  // padding where data belongs
        {"dGhlIHNhbXBsZSBub25jZQ-_", false},  // base64url, not base64
        {"dGhlIHNhbXBsZSBub25jZ\x80==", false},
    };
    for (auto& c : cases) EXPECT_EQ(valid_websocket_key(c.key), c.valid) << c.key;
}

TEST(WebSocketHandshake, ValidUpgradeIsAccepted) {
    EXPECT_FALSE(check_websocket_upgrade(upgrade("dGhlIHNhbXBsZSBub25jZQ==", "13")));
}

TEST(WebSocketHandshake, BadKeyIs400) {
    auto r = check_websocket_upgrade(upgrade("%%%%%%%%%%%%%%%%%%%%%%==", "13"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->res.result(), http::status::bad_request);
    EXPECT_FALSE(r->res.keep_alive());
    EXPECT_NE(r->reason.find("Sec-WebSocket-Key"), std::string::npos);
}

TEST(WebSocketHandshake, MissingKeyIs400) {
    auto r = check_websocket_upgrade(upgrade("", "13"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->res.result(), http::status::bad_request);
}

TEST(WebSocketHandshake, OtherVersionIs426WithVersion13) {
    for (std::string_view v : {"8", "12", "14", "13, 8", "abc"}) {
        auto r = check_websocket_upgrade(upgrade("dGhlIHNhbXBsZSBub25jZQ==", v));
        ASSERT_TRUE(r) << v;
        EXPECT_EQ(r->res.result(), http::status::upgrade_required) << v;
        EXPECT_EQ(r->res[http::field::sec_websocket_version], "13") << v;
    }
}

TEST(WebSocketHandshake, MissingVersionIs400) {
    auto r = check_websocket_upgrade(upgrade("dGhlIHNhbXBsZSBub25jZQ==", ""));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->res.result(), http::status::bad_request);
}

}  // namespace
}  // namespace warren::mgmt

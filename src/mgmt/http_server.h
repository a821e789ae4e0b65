#pragma once
// The HTTP listener's protocol: a small Boost.Beast HTTP/1.1 server (over TCP, or over TLS:
// HTTPS and WSS) for the management API and the WebSocket upgrade at /ws (STOMP over WebSocket with
// subprotocols v12.stomp, v11.stomp, v10.stomp; AMQP 0-9-1 over WebSocket with subprotocol amqp).
// Lives on the broker thread. Routes are registered by the server wiring; the upgrade is handed to
// a callback with the subprotocol chosen, which picks the protocol's server.
//
//   mgmt::http_server http(io);
//   http.routes().add("GET", "/api/health", [](const mgmt::call& c) { return ...; });
//   http.on_websocket("/ws", {"v12.stomp", "amqp"},
//                     [&](ws_stream ws, const std::string& subprotocol) { ... });
//   listener l(io, "http", ep, [&](tcp::socket s) { http.accept(std::move(s)); });
//   listener t(io, "https", ep2, [&](tcp::socket s) { http.accept_tls(std::move(s), tls.current());
//   });

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mgmt/router.h"
#include "net/connection.h"
#include "net/tls_context.h"

namespace warren::mgmt {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using ws_stream = net::ws_stream;
using wss_stream = net::wss_stream;

response make_response(const request& req, http::status status, std::string body,
                       std::string_view content_type = "application/json");

class http_server {
public:
    using ws_handler = std::function<void(ws_stream, const std::string& subprotocol)>;
    // WebSocket over TLS: the stream and the TLS context it was accepted with.
    using wss_handler =
        std::function<void(wss_stream, net::tls_context_ptr, const std::string& subprotocol)>;

    explicit http_server(boost::asio::io_context& io);
    ~http_server();
    // The routes (router.h): method + path pattern -> handler, given the peer's address.
    router& routes() { return _router; }
    // WebSocket upgrade at `path`; subprotocols offered by the client are matched against
    // `subprotocols` in the server's order of preference.
    void on_websocket(std::string path, std::vector<std::string> subprotocols, ws_handler h,
                      wss_handler hs = {});
    void accept(boost::asio::ip::tcp::socket s);
    // HTTPS: the TLS handshake (within ctx->handshake_timeout_ms; failures are logged and
    // closed), then the same routes, and WSS upgrades to the wss_handler.
    void accept_tls(boost::asio::ip::tcp::socket s, net::tls_context_ptr ctx);
    void shutdown();
    // HTTP(S) connections open now, request or not (a WebSocket upgrade hands its connection
    // to the protocol's server, which counts it from then on).
    size_t connection_count() const;

    // Internals used by the per-connection session.
    response dispatch(const request& req, std::string_view peer) const {
        return _router.dispatch(req, peer);
    }
    bool is_websocket_path(std::string_view target) const;
    template <typename Ws>
    void upgrade(Ws ws, const request& req, net::tls_context_ptr ctx);
    std::string pick_subprotocol(std::string_view offered) const;

private:
    struct session;
    template <typename Stream>
    struct stream_session;
    void track(std::shared_ptr<session> s);
    boost::asio::io_context& _io;
    router _router;
    std::string _ws_path;
    std::vector<std::string> _ws_subprotocols;
    ws_handler _ws_handler;
    wss_handler _wss_handler;
    std::vector<std::weak_ptr<session>> _sessions;
};

}  // namespace warren::mgmt

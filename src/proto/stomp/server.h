#pragma once
// The STOMP front end's entry point. net/ accepts TCP sockets (the STOMP port) and mgmt/
// upgrades HTTP requests at /ws to WebSocket; both hand the result here, and each becomes a
// net::connection (the transport: reads, batched writes, closing) driving a stomp::session.
// A WebSocket connection writes one message per STOMP frame, as @stomp/stompjs expects.
//
// Lives on the broker thread, which runs the io_context and all of core; nothing is locked.
//
//   stomp::server stomp(io, broker, stomp::settings{});
//   listener l(io, "stomp", ep, [&](tcp::socket s) { stomp.accept(std::move(s)); });
//   http.on_websocket("/ws", {"v12.stomp", "v11.stomp", "v10.stomp"},
//                     [&](mgmt::ws_stream ws) { stomp.accept_websocket(std::move(ws)); });
//   ...
//   stomp.shutdown();   // ERROR to every client, then close; keep running io briefly

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/broker.h"
#include "net/connection.h"
#include "proto/stomp/session.h"

namespace warren::stomp {

struct settings {
    // Command + headers; more: ERROR "Frame too large". Bodies are limited by max_message_size
    // instead (more: ERROR precondition_failed, RabbitMQ's text).
    uint32_t max_frame_size = 4 * 1024 * 1024;
    uint64_t max_message_size = 128 * 1024 * 1024;  // RabbitMQ's max_message_size default
    size_t max_connections = 0;                     // most open STOMP connections; 0 = no limit
    uint64_t connection_max = 0;                    // session_settings::connection_max
    std::function<size_t()> node_connections;
    uint64_t consumer_max = 0;  // subscriptions per connection (consumer_max_per_channel)
    uint32_t max_headers = 1000;
    uint32_t max_header_length = 64 * 1024;
    // Heart-beats: the broker honours the client's CONNECT heart-beat request (as RabbitMQ
    // does). heartbeat_ms is the longest interval the broker will agree to send at: a client
    // asking for slower heart-beats gets them every heartbeat_ms instead (0 = no cap).
    uint32_t heartbeat_ms = 10000;
    uint32_t heartbeat_min_ms = 100;     // faster requests are slowed down to this
    std::string default_user = "guest";  // CONNECT without login (empty = login required)
    std::string default_pass = "guest";
    std::string default_vhost = "/";
    std::string server_name = "Warren/0.1.0";
};

// A live connection, for the management API.
struct connection_info {
    uint64_t id = 0;  // core connection id (also in the CONNECTED session header)
    std::string peer;
    std::string user;  // empty until CONNECT succeeded
    std::string vhost;
    std::string protocol;  // "STOMP 1.2"
    bool websocket = false;
    size_t subscriptions = 0;
};

class server {
public:
    server(boost::asio::io_context& io, core::broker& b, auth::authority& a, settings s);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Plain TCP STOMP.
    void accept(boost::asio::ip::tcp::socket s);
    // An already-upgraded WebSocket (subprotocol v10/v11/v12.stomp): one STOMP frame per
    // WebSocket message, text or binary, in both directions.
    void accept_websocket(net::ws_stream ws);
    // STOMP over TLS: the TLS handshake first (net::connection_set::accept_tls). A CONNECT
    // without login on a connection with a verified client certificate logs in as the
    // certificate's user (tls.login_from), like RabbitMQ's stomp.use_ssl_cert_login.
    void accept_tls(boost::asio::ip::tcp::socket s, net::tls_context_ptr ctx);
    // STOMP over WSS (the HTTPS listener's upgrade).
    void accept_websocket_tls(net::wss_stream ws, net::tls_context_ptr ctx);
    // Sends ERROR "connection_forced" to every client, releases subscriptions (unacked messages
    // requeued) and closes each connection once the ERROR is flushed. New connections are
    // refused afterwards.
    void shutdown();
    size_t connection_count() const { return _connections.size(); }
    std::vector<connection_info> connections() const;
    // Admin close: ERROR with `reason`, then close. False if no such connection.
    bool close_connection(uint64_t id, const std::string& reason);

    core::broker& broker() { return _broker; }
    const session_settings& session_config() const { return _session_settings; }

private:
    std::unique_ptr<net::session> make_session(net::session_io& io, const net::peer_info& p);

    core::broker& _broker;
    auth::authority& _auth;
    settings _settings;
    session_settings _session_settings;
    net::connection_set _connections;
};

}  // namespace warren::stomp

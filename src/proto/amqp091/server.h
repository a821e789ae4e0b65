#pragma once
// The AMQP 0-9-1 front end's entry point. net/ accepts TCP sockets (and mgmt/ upgrades
// WebSocket requests with subprotocol "amqp") and hands them here; each becomes a
// net::connection (the transport) driving an amqp::session (session.h). The server owns the
// connection set and the direct reply-to registry, and closes every connection at shutdown.
//
// Lives on the broker thread, which runs the io_context and all of core; nothing is locked.
//
//   amqp::server amqp(io, broker, amqp::settings{});
//   acceptor.async_accept([&](auto ec, tcp::socket s) { if (!ec) amqp.accept(std::move(s)); });
//   ...
//   amqp.shutdown();   // then keep running io until connection_count() == 0 (or ~2 s)

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "auth/authority.h"
#include "core/broker.h"
#include "net/connection.h"

namespace warren::amqp {

inline constexpr uint64_t default_max_message_size = 128ull << 20;

struct settings {
    uint32_t frame_max = 131072;
    uint16_t channel_max = 2047;
    uint16_t heartbeat_s = 60;
    // Largest message body accepted (RabbitMQ's max_message_size; its default, 128 MiB).
    uint64_t max_message_size = default_max_message_size;
    // Most open AMQP connections (all listeners of the protocol count apart); 0 = no limit.
    size_t max_connections = 0;
    // RabbitMQ's connection_max (server/connection_cap.h): connection.open is refused with 530
    // NOT_ALLOWED "connection refused: node connection limit (N) is reached" while
    // node_connections() (every protocol's connections on the node, this one included) is
    // above it. 0 or no count = no limit.
    uint64_t connection_max = 0;
    std::function<size_t()> node_connections;
    // RabbitMQ's consumer_max_per_channel: basic.consume on a channel that has this many
    // consumers gets 530 NOT_ALLOWED "reached maximum (N) of consumers per channel" (0 = none).
    uint64_t consumer_max_per_channel = 0;
    // RabbitMQ's consumer_timeout: a channel whose oldest unacknowledged delivery is older than
    // this is closed with 406 PRECONDITION_FAILED (0 = never). RabbitMQ's default, 30 minutes.
    uint64_t consumer_timeout_ms = 1'800'000;
    std::string product = "Warren";
    std::string version = "0.1.0";
};

class session;
class channel;

class server {
public:
    server(boost::asio::io_context& io, core::broker& b, auth::authority& a, settings s);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Takes over a freshly accepted socket and starts the AMQP handshake on it.
    void accept(boost::asio::ip::tcp::socket s);
    // AMQP over WebSocket (subprotocol "amqp"): the same session, frames in binary messages.
    void accept_websocket(net::ws_stream ws);
    // AMQPS: the TLS handshake first (net::connection_set::accept_tls), then the session, which
    // offers SASL EXTERNAL when the client presented a verified certificate.
    void accept_tls(boost::asio::ip::tcp::socket s, net::tls_context_ptr ctx);
    // AMQP over WSS (the HTTPS listener's upgrade).
    void accept_websocket_tls(net::wss_stream ws, net::tls_context_ptr ctx);
    // Sends connection.close 320 CONNECTION_FORCED to every client, releases their channels and
    // exclusive queues at once, and closes each socket once the close is flushed (or after a
    // short grace period). New connections are refused afterwards.
    void shutdown();
    size_t connection_count() const { return _connections.size(); }

    // ---- used by connections ----
    boost::asio::io_context& io() { return _io; }
    core::broker& broker() { return _broker; }
    auth::authority& auth() { return _auth; }
    const settings& config() const { return _settings; }
    // Direct reply-to (amq.rabbitmq.reply-to): the channels consuming replies, by the suffix of
    // their reply address "amq.rabbitmq.reply-to.<suffix>".
    void add_reply_channel(const std::string& suffix, channel* ch) { _reply[suffix] = ch; }
    void remove_reply_channel(const std::string& suffix) { _reply.erase(suffix); }
    channel* find_reply_channel(std::string_view suffix) {
        auto it = _reply.find(std::string(suffix));
        return it == _reply.end() ? nullptr : it->second;
    }

private:
    boost::asio::io_context& _io;
    core::broker& _broker;
    auth::authority& _auth;
    settings _settings;
    net::connection_set _connections;
    std::unordered_map<std::string, channel*> _reply;
};

}  // namespace warren::amqp

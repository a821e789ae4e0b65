#pragma once
// The node-wide connection cap (RabbitMQ's connection_max) and the file descriptors it keeps
// free for the store, so that a flood of sockets can never leave the message store unable to
// open a segment file (issue #16: 20,000 silent STOMP sockets did).
//
// Two thresholds over the connections of every listener (TCP, TLS, WebSocket) together:
//   - connection_max: a connection that opens (AMQP connection.open, STOMP CONNECT) while the
//     node holds more than connection_max connections, itself included, is refused by its
//     protocol with RabbitMQ's error (amqp::settings / stomp::session_settings carry the cap and
//     a count; RabbitMQ: rabbit_reader's node connection limit check).
//   - connection_max + handshake_slack: a socket accepted while the node already holds that
//     many (AMQP and STOMP open or still in their handshake, and HTTP connections) is closed
//     at once, before any protocol byte, and an HTTP client gets a 503. The slack lets clients just
//     over the cap read the protocol's error instead of a reset; sockets that never speak cannot
//     hold more descriptors than this.
//
// default_connection_max(): with the descriptor limit L (warrend raises its soft limit to the
// hard one at start) the store and the rest of the process keep descriptor_reserve(L) =
// min(L / 2, 16384) descriptors: the store needs one for the segment being written, one per
// segment it reads paged-out messages from (64 MiB each), the metadata log and the data dir;
// the process also has its listeners, epoll, timers and the log. connection_max = L - reserve -
// handshake_slack (at least 1).
//
//   server::connection_gate gate(cfg_max, [&] { return amqp.connection_count() + ...; });
//   listener(..., [&](tcp::socket s) { if (gate.admit("amqp", now_ms())) amqp.accept(...); });
//
// Lives on the broker thread (listener callbacks); not thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace warren::server {

inline constexpr uint64_t handshake_slack = 64;

uint64_t descriptor_reserve(uint64_t descriptor_limit);
uint64_t default_connection_max(uint64_t descriptor_limit);

class connection_gate {
public:
    // connection_max 0 = no limit. open(): the connections the node holds now (AMQP and STOMP,
    // every listener, handshakes included, and HTTP).
    connection_gate(uint64_t connection_max, std::function<size_t()> open);

    // At accept: false when the node already holds connection_max + handshake_slack
    // connections; the caller then closes the socket. Logged at most once a second, with the
    // number refused since the last line.
    bool admit(std::string_view listener, uint64_t now_ms);

    uint64_t connection_max() const { return _max; }
    uint64_t refused_total() const { return _refused_total; }

private:
    uint64_t _max;
    std::function<size_t()> _open;
    uint64_t _refused = 0;  // since the last log line
    uint64_t _refused_total = 0;
    uint64_t _logged_ms = 0;
    bool _logged = false;
};

// "connection refused: node connection limit (N) is reached": RabbitMQ's text, after its
// "NOT_ALLOWED - " prefix on AMQP.
std::string node_limit_text(uint64_t connection_max);

// An HTTP client over the cap: "503 Service Unavailable" with node_limit_text as the body, then
// the socket is closed (no request is read).
void refuse_http(boost::asio::ip::tcp::socket s, uint64_t connection_max);

}  // namespace warren::server

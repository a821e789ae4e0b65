#include "proto/amqp091/server.h"

#include "proto/amqp091/session.h"

namespace warren::amqp {

namespace {
net::transport_settings transport_for_amqp(const settings& s) {
    net::transport_settings t;
    t.max_connections = s.max_connections;
    t.read_pause_bytes = 16 << 20;  // above a consumer's 4 MB output limit (session.h)
    t.ws_text_when_utf8 = false;    // AMQP frames are binary
    return t;
}
}  // namespace

server::server(boost::asio::io_context& io, core::broker& b, auth::authority& a, settings s)
    : _io(io),
      _broker(b),
      _auth(a),
      _settings(std::move(s)),
      _connections(io, "amqp", transport_for_amqp(_settings)) {
    if (_settings.frame_max != 0 && _settings.frame_max < frame_min_size)
        _settings.frame_max = frame_min_size;
}

server::~server() = default;  // the connection set abandons every connection

void server::accept(boost::asio::ip::tcp::socket s) {
    _connections.accept(std::move(s), [this](net::session_io& io, const net::peer_info& p) {
        return std::make_unique<session>(*this, io, p, _broker.next_connection_id());
    });
}

void server::accept_websocket(net::ws_stream ws) {
    _connections.accept_websocket(
        std::move(ws), [this](net::session_io& io, const net::peer_info& p) {
            return std::make_unique<session>(*this, io, p, _broker.next_connection_id());
        });
}

void server::accept_tls(boost::asio::ip::tcp::socket s, net::tls_context_ptr ctx) {
    _connections.accept_tls(
        std::move(s), std::move(ctx), [this](net::session_io& io, const net::peer_info& p) {
            return std::make_unique<session>(*this, io, p, _broker.next_connection_id());
        });
}

void server::accept_websocket_tls(net::wss_stream ws, net::tls_context_ptr ctx) {
    _connections.accept_websocket_tls(
        std::move(ws), std::move(ctx), [this](net::session_io& io, const net::peer_info& p) {
            return std::make_unique<session>(*this, io, p, _broker.next_connection_id());
        });
}

void server::shutdown() {
    _connections.shutdown("shutdown");
}

}  // namespace warren::amqp

#include "proto/stomp/server.h"

#include <string_view>
#include <vector>

namespace warren::stomp {

namespace {
net::transport_settings transport_for_stomp(const settings& s) {
    net::transport_settings t;
    t.max_connections = s.max_connections;
    // Above a subscription's 1 MB output high water (session_settings::output_high_water).
    t.read_pause_bytes = 16 << 20;
    t.close_grace_ms = 1000;
    // One WebSocket message is one STOMP frame: headers and body, each within its own limit.
    t.ws_max_message =
        static_cast<size_t>(s.max_frame_size) + static_cast<size_t>(s.max_message_size) + 4096;
    t.ws_text_when_utf8 = true;  // browsers want text frames for text
    return t;
}
}  // namespace

server::server(boost::asio::io_context& io, core::broker& b, auth::authority& a, settings s)
    : _broker(b),
      _auth(a),
      _settings(std::move(s)),
      _connections(io, "stomp", transport_for_stomp(_settings)) {
    _session_settings.frame_limits.max_frame_size = _settings.max_frame_size;
    _session_settings.frame_limits.max_body_size = static_cast<size_t>(_settings.max_message_size);
    _session_settings.frame_limits.max_headers = _settings.max_headers;
    _session_settings.frame_limits.max_header_length = _settings.max_header_length;
    _session_settings.heartbeat_min_ms = _settings.heartbeat_min_ms;
    _session_settings.heartbeat_max_ms = _settings.heartbeat_ms;
    _session_settings.default_user = _settings.default_user;
    _session_settings.default_pass = _settings.default_pass;
    _session_settings.default_vhost = _settings.default_vhost;
    _session_settings.server_name = _settings.server_name;
    _session_settings.connection_max = _settings.connection_max;
    _session_settings.node_connections = _settings.node_connections;
    _session_settings.consumer_max = _settings.consumer_max;
}

server::~server() = default;  // the connection set abandons every connection

std::unique_ptr<net::session> server::make_session(net::session_io& io, const net::peer_info& p) {
    std::string peer = p.websocket ? (p.tls ? "wss:" : "ws:") + p.address
                                   : (p.tls ? "tls:" + p.address : p.address);
    return std::make_unique<session>(_broker, _auth, _session_settings, io, std::move(peer),
                                     p.cert_login, p.local_address);
}

void server::accept(boost::asio::ip::tcp::socket s) {
    _connections.accept(std::move(s), [this](net::session_io& io, const net::peer_info& p) {
        return make_session(io, p);
    });
}

void server::accept_websocket(net::ws_stream ws) {
    _connections.accept_websocket(
        std::move(ws),
        [this](net::session_io& io, const net::peer_info& p) { return make_session(io, p); });
}

void server::accept_tls(boost::asio::ip::tcp::socket s, net::tls_context_ptr ctx) {
    _connections.accept_tls(
        std::move(s), std::move(ctx),
        [this](net::session_io& io, const net::peer_info& p) { return make_session(io, p); });
}

void server::accept_websocket_tls(net::wss_stream ws, net::tls_context_ptr ctx) {
    _connections.accept_websocket_tls(
        std::move(ws), std::move(ctx),
        [this](net::session_io& io, const net::peer_info& p) { return make_session(io, p); });
}

void server::shutdown() {
    _connections.shutdown("Broker shutting down");
}

std::vector<connection_info> server::connections() const {
    std::vector<connection_info> out;
    out.reserve(_connections.size());
    _connections.for_each([&](const net::connection& c) {
        const auto& s = static_cast<const session&>(c.sess());
        connection_info i;
        i.id = s.connection_id();
        i.peer = s.peer();
        i.user = s.user();
        i.vhost = s.vhost_name();
        i.protocol = "STOMP " + std::string(version_name(s.negotiated_version()));
        i.websocket = c.peer().websocket;
        i.subscriptions = s.subscription_count();
        out.push_back(std::move(i));
    });
    return out;
}

bool server::close_connection(uint64_t id, const std::string& reason) {
    std::shared_ptr<net::connection> keep;
    _connections.for_each([&](net::connection& c) {
        if (static_cast<const session&>(c.sess()).connection_id() == id)
            keep = c.shared_from_this();
    });
    if (!keep) return false;
    keep->force_close(reason);
    return true;
}

}  // namespace warren::stomp

#pragma once
// The protocol-agnostic transport: one client connection over TCP, TLS, WebSocket or WebSocket
// over TLS, driving one net::session (session.h). It owns everything a protocol should not have to
// write again:
//   - reading: waits for readability without holding a buffer, reads into one buffer per thread
//     shared by all connections, hands every byte to the session at once (one batch), keeps only
//     an incomplete frame; after a read that filled the buffer the next is tried at once (from a
//     posted handler, so other connections get their turn);
//   - writing: the session's output is taken in one swap per batch and written with one
//     async_write while new output accumulates in the session (double buffering);
//   - backpressure: reading pauses while more than read_pause_bytes are being written;
//   - timers: the session's timer (heart-beats, handshake timeouts) with time passed in;
//   - closing without a reset: pending output is written, the sending side shut down, input
//     discarded until the peer closes or the session's grace period passes.
// TLS (accept_tls) is one more stream type, for every protocol: the handshake runs with a
// deadline before the session exists, so a plain-TCP client, an untrusted or expired client
// certificate or a stalled handshake is closed with a log line and no protocol ever sees it.
// An SSL read must own its buffer while it is pending, so a TLS connection reads into a buffer
// of its own (16 KiB, one TLS record's plaintext; OpenSSL and the asio engine already hold ~34
// KiB per TLS stream) instead of the per-thread one; a frame spanning reads is offered to the
// session only once the session's read_size_hint says it is complete. Closing sends
// close_notify, then waits for the peer's (or discards its bytes until it closes).
//
// connection_set owns the live connections of one protocol listener: accept, a connection
// limit, shutdown (each session's own close) and abandon (the broker is going away).
//
// Threading: everything runs on the broker thread's io_context; nothing is locked. Lifetime: a
// connection is owned by its connection_set (shared_ptr; in-flight handlers hold another) and
// owns its session, which it destroys only after session::connection_closed().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/session.h"
#include "net/tls_context.h"

namespace warren::net {

using ws_stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;
// WebSocket over TLS (WSS), as the HTTPS listener upgrades it.
using wss_stream =
    boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

struct transport_settings {
    // Most open connections of this set (TCP, TLS and WebSocket together); a connection beyond
    // it is closed at once with a log line, so file descriptors cannot run out (0 = no limit).
    size_t max_connections = 0;
    // Reading pauses while more output than this is being written to a slow peer.
    size_t read_pause_bytes = 16 << 20;
    // How long a closing connection waits for its peer to close (session::close_grace_ms()
    // overrides per session).
    uint64_t close_grace_ms = 3000;
    // Largest WebSocket message accepted.
    size_t ws_max_message = 4 << 20;
    // WebSocket output: a text message when the bytes are UTF-8 (STOMP in browsers), else
    // binary. False: always binary (AMQP over WebSocket).
    bool ws_text_when_utf8 = true;
};

class connection_set;

class connection : public std::enable_shared_from_this<connection>, public session_io {
public:
    using session_factory = std::function<std::unique_ptr<session>(session_io&, const peer_info&)>;

    connection(connection_set& owner, peer_info peer);
    ~connection() override;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void start(const session_factory& make);

    // session_io
    void output_ready() override;
    void close_requested() override;
    void close_now() override;
    size_t bytes_in_flight() const override { return _in_flight; }
    void pause_input() override { _input_held = true; }
    void resume_input() override;

    // The session's own close (broker shutdown, admin close).
    void force_close(std::string_view reason);
    // The owner is going away (its io_context may not run again): release the session's broker
    // state now and close the socket, without callbacks.
    void abandon();

    // False while a TLS handshake runs (no session yet); connection_set::for_each skips those.
    bool started() const { return _session != nullptr; }
    session& sess() { return *_session; }
    const session& sess() const { return *_session; }
    const peer_info& peer() const { return _peer; }

protected:
    uint64_t now_ms() const;
    // Bytes from the peer: prepends the kept partial frame, hands everything to the session,
    // keeps the unconsumed rest. `data` may live in a buffer that is reused afterwards.
    void deliver_input(std::string_view data);
    void after_input();
    void flush();
    void write_done(const boost::system::error_code& ec);
    void finish();  // idempotent: session released, socket closed, removed from the set
    bool reading_paused() const { return _read_paused || _input_held; }
    void resume_reading_if_drained();

    // Transport specifics.
    virtual void start_reading() = 0;
    virtual void write_output(output_batch& b) = 0;  // calls write_done when finished
    virtual void begin_close() = 0;                  // graceful: ends in finish()
    virtual void close_transport() = 0;              // immediate

    connection_set& _owner;
    peer_info _peer;
    std::unique_ptr<session> _session;
    std::vector<char> _in;  // an incomplete frame kept between reads (usually empty)
    output_batch _writing;
    size_t _in_flight = 0;
    bool _write_in_flight = false;
    bool _flush_posted = false;
    bool _close_wanted = false;  // session asked to close: flush, then begin_close
    bool _closing = false;       // begin_close done: input is discarded
    bool _finished = false;
    bool _read_paused = false;  // output backpressure
    bool _input_held = false;   // the session's pause_input()
    bool _finish_posted = false;

private:
    void arm_timer();
    void start_grace_timer();

    boost::asio::steady_timer _timer;
    boost::asio::steady_timer _grace_timer;
    bool _timer_armed = false;
    uint64_t _timer_period = 0;
};

// The connections of one listener.
class connection_set {
public:
    connection_set(boost::asio::io_context& io, std::string protocol, transport_settings s);
    ~connection_set();  // abandons every connection
    connection_set(const connection_set&) = delete;
    connection_set& operator=(const connection_set&) = delete;

    void accept(boost::asio::ip::tcp::socket s, const connection::session_factory& make);
    void accept_websocket(ws_stream ws, const connection::session_factory& make);
    // TLS: the handshake runs first (within ctx->handshake_timeout_ms); the session is created
    // only once it succeeded, with the client certificate in its peer_info. A failed or stalled
    // handshake is logged and closed. The connection keeps `ctx` for its life (reloads do not
    // touch it).
    void accept_tls(boost::asio::ip::tcp::socket s, tls_context_ptr ctx,
                    const connection::session_factory& make);
    // WebSocket over TLS, upgraded by the HTTPS listener (TLS and WebSocket handshakes done).
    void accept_websocket_tls(wss_stream ws, tls_context_ptr ctx,
                              const connection::session_factory& make);
    // Every session closes itself with `reason`; new connections are refused afterwards.
    void shutdown(std::string_view reason);
    size_t size() const { return _connections.size(); }
    // The connections with a session (a TLS handshake in progress is not one yet).
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& [k, c] : _connections)
            if (c->started()) f(static_cast<const connection&>(*c));
    }
    template <typename F>
    void for_each(F&& f) {
        for (auto& [k, c] : _connections)
            if (c->started()) f(*c);
    }

    boost::asio::io_context& io() { return _io; }
    const transport_settings& settings() const { return _settings; }
    const std::string& protocol() const { return _protocol; }
    void remove(const connection* c);

private:
    void add(std::shared_ptr<connection> c, const connection::session_factory& make);
    // Shutting down, or max_connections reached (logged, at most once a second).
    bool refuse_new();

    boost::asio::io_context& _io;
    std::string _protocol;
    transport_settings _settings;
    bool _shutting_down = false;
    uint64_t _refused = 0;            // refused at max_connections since the last log line
    uint64_t _refused_logged_ms = 0;  // when that line was written
    std::unordered_map<const connection*, std::shared_ptr<connection>> _connections;
};

}  // namespace warren::net

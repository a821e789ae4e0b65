#pragma once
// The seam between the transport (net::connection: TCP, TLS, WebSocket) and a protocol
// session (AMQP 0-9-1, STOMP, ...). A session is a state machine without sockets: bytes and time
// go in, output bytes and core calls come out. The transport owns the socket, the read buffer,
// the double-buffered writes, backpressure, and closing without resetting the peer; it knows no
// protocol. This is the shape of Redpanda's `net::server` + `apply(connection)` and of Envoy's
// codec callbacks.
//
//   class my_session final : public net::session { ... };
//   net::connection_set conns(io, limits);
//   conns.accept(std::move(socket), [&](net::session_io& io, const net::peer_info& p) {
//       return std::make_unique<my_session>(broker, io, p);
//   });
//
// Threading: a session and its transport live on one event-loop thread; nothing is locked.
// Lifetime: the transport owns the session and destroys it after connection_closed().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warren::net {

// Output handed from a session to its transport. frame_ends marks message boundaries for
// message-oriented transports (WebSocket writes one message per frame); empty = one message.
struct output_batch {
    std::string bytes;
    std::vector<size_t> frame_ends;
};

// Who is on the other end, for logs, the management API and certificate logins.
struct peer_info {
    std::string address;  // "127.0.0.1:5555"
    bool websocket = false;
    bool tls = false;
    // A TLS client certificate that verified against tls.ca_file (net/tls_context.h): its
    // subject's CN and DN, and the name it logs in as (tls.login_from; SASL EXTERNAL, STOMP
    // certificate login). All empty without such a certificate.
    std::string cert_cn;
    std::string cert_dn;
    std::string cert_login;
    std::string local_address;  // "127.0.0.1:5672": the listener's side (management API)
};

// Reasons a session holds its peer's input (session_io::hold_input), as bits.
enum class input_hold : uint8_t {
    alarm = 1,  // a resource alarm blocked this publisher (core/alarms.h)
    flow = 2,   // a queue it publishes to is behind its consumers (core/flow.h)
};

// What the transport offers its session.
class session_io {
public:
    virtual ~session_io() = default;
    // The session has output (take_output()); the transport writes it soon, once per batch.
    virtual void output_ready() = 0;
    // The session is done: the transport writes what is pending, shuts down its sending side,
    // discards input until the peer closes (or a grace period passes), then closes. The peer is
    // never reset, so it always reads the last frame (close-ok, ERROR, RECEIPT).
    virtual void close_requested() = 0;
    // Close at once, pending output dropped (missed heart-beats, handshake timeout).
    virtual void close_now() = 0;
    // Output taken by the transport and not yet written (for the session's backpressure).
    virtual size_t bytes_in_flight() const = 0;
    // Why a session holds its peer's input: the transport stops reading after the read in
    // hand while any reason is set, and reads again once none is. Output, timers and closing
    // go on. Every protocol sets its reasons here and never pauses or resumes by itself.
    void hold_input(input_hold why, bool on) {
        const uint8_t was = _holds;
        _holds = on ? uint8_t(was | uint8_t(why)) : uint8_t(was & ~uint8_t(why));
        if (!was && _holds)
            pause_input();
        else if (was && !_holds)
            resume_input();
    }
    bool input_held() const { return _holds != 0; }

protected:
    // The transport's side of hold_input: stop reading, read again.
    virtual void pause_input() = 0;
    virtual void resume_input() = 0;

private:
    uint8_t _holds = 0;  // input_hold bits
};

// What a protocol implements.
class session {
public:
    virtual ~session() = default;

    // Called once, right after the transport created the session.
    virtual void on_start(uint64_t now_ms) { (void)now_ms; }

    // Bytes from the peer (a TCP read, or one WebSocket message). Returns how many were
    // consumed; the transport keeps the rest (an incomplete frame) and offers it again with the
    // next read, so a session that parses in place needs no buffer of its own.
    virtual size_t on_bytes(std::string_view data, uint64_t now_ms) = 0;
    // Room the next read should have for the unconsumed rest `pending` to complete (a large
    // frame whose header is in): 0 = the transport's default.
    virtual size_t read_size_hint(std::string_view pending) const { return 0; }

    // Time: on_timer runs every timer_interval_ms() (0 = no timer needed right now); the
    // transport asks again after every call and after every batch of input.
    virtual void on_timer(uint64_t now_ms) = 0;
    virtual uint64_t timer_interval_ms() const = 0;

    // Output: the transport takes it (a swap, no copy) and hands the buffer back after the
    // write, so its capacity is reused.
    virtual bool has_output() const = 0;
    virtual output_batch take_output() = 0;
    virtual void recycle(std::string&& written) { (void)written; }
    // A write finished: deliveries paused by backpressure may resume.
    virtual void on_output_drained() = 0;

    // How long a closing connection waits for the peer to close after our last output
    // (0 = the transport's default).
    virtual uint64_t close_grace_ms() const { return 0; }

    // A message-oriented transport (WebSocket) received a message above its size limit.
    virtual void on_message_too_large() { force_close("message too large"); }

    // Broker shutdown or an admin close: the protocol's own close (connection.close 320,
    // STOMP ERROR), then close_requested().
    virtual void force_close(std::string_view reason) = 0;
    // The transport is gone or going: release everything held in the broker (unacked messages
    // back to their queues, exclusive queues). Called exactly once, before destruction.
    virtual void connection_closed() = 0;
};

}  // namespace warren::net

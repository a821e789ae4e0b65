#pragma once
// One AMQP 0-9-1 client connection as a state machine without sockets: bytes and time in,
// output bytes and core calls out (net::session). The transport (net/connection.h: TCP or
// WebSocket) owns the socket, reads, writes and closing; this class owns the connection state
// machine (protocol header, start/start-ok with PLAIN and AMQPLAIN, and EXTERNAL on a TLS
// connection with a verified client certificate, tune/tune-ok, open, close),
// heartbeats, connection-level errors, and the channels (channel.h) that carry everything else.
//
//   amqp::session s(server, io, peer, id);   // io: the transport's net::session_io
//   s.on_start(now_ms);
//   size_t used = s.on_bytes(data, now_ms);  // every complete frame handled; the rest is kept
//   auto out = s.take_output();              // by the transport: bytes to write
//   s.on_timer(now_ms);                      // every timer_interval_ms(): heartbeats, timeouts
//
// Output is batch-shaped: every frame of a read is handled, and all output produced meanwhile
// (replies, and deliveries that other connections' publishes route to our consumers) goes to
// one buffer that the transport takes in one swap. Unit tests drive it with a fake session_io
// (session_test.cc).
//
// Errors: a channel-level error closes the channel (channel.close); a connection-level one sends
// connection.close, releases every channel (unacked messages back to their queues) and the
// connection's exclusive queues, then closes once the client answers close-ok or a timeout.
// Lives on the broker thread; owned by its transport connection.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/user_access.h"
#include "core/alarms.h"
#include "core/broker.h"
#include "core/error.h"
#include "core/fields.h"
#include "core/flow.h"
#include "net/session.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/errors.h"

namespace warren::amqp {

class server;
class channel;

// The open channels of one connection, by number. RabbitMQ limits how many channels are open
// (channel_max), not which numbers they use, so any number 1..65535 may be opened. Clients use
// low numbers: those index a vector directly (one lookup per frame); higher ones go to a small
// sorted side table, so a lone channel 65535 costs one entry, not a 64K-slot vector.
class channel_table {
public:
    static constexpr uint16_t direct_limit = 256;

    channel* find(uint16_t id) const {
        if (id < _direct.size()) return _direct[id].get();
        if (id < direct_limit) return nullptr;
        auto it = lower(id);
        return it != _high.end() && it->first == id ? it->second.get() : nullptr;
    }
    channel& insert(uint16_t id, std::unique_ptr<channel> c);
    void erase(uint16_t id);
    void clear();
    template <typename F>
    void for_each(F&& f) {
        for (auto& c : _direct)
            if (c) f(*c);
        for (auto& [id, c] : _high) f(*c);
    }

private:
    using entry = std::pair<uint16_t, std::unique_ptr<channel>>;
    std::vector<entry>::const_iterator lower(uint16_t id) const;
    std::vector<std::unique_ptr<channel>> _direct;
    std::vector<entry> _high;  // sorted by id
};

class session final : public net::session, public core::alarm_listener {
public:
    // Consumers stop receiving deliveries while more than this much output is pending.
    static constexpr size_t output_limit = 4 << 20;

    session(server& srv, net::session_io& io, const net::peer_info& peer, uint64_t id);
    ~session() override;
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // ---- net::session ----
    void on_start(uint64_t now_ms) override;
    size_t on_bytes(std::string_view data, uint64_t now_ms) override;
    size_t read_size_hint(std::string_view pending) const override;
    void on_timer(uint64_t now_ms) override;
    uint64_t timer_interval_ms() const override;
    bool has_output() const override { return !_out.empty(); }
    net::output_batch take_output() override;
    void recycle(std::string&& written) override;
    void on_output_drained() override;
    uint64_t close_grace_ms() const override;
    // Broker shutdown or admin close: connection.close 320 CONNECTION_FORCED, then close once
    // the client answers close-ok (or after a short grace period).
    void force_close(std::string_view reason) override;
    // connection.close 320 CONNECTION_FORCED with exactly this text (vhost deletion).
    void close_forced(std::string_view explanation);
    void connection_closed() override;

    // ---- core::alarm_listener ----
    // A resource alarm came or went: with none left, a blocked connection is unblocked
    // (connection.unblocked if connection.blocked was sent) and read again.
    void alarms_changed(core::alarm_set now) override;

    uint64_t id() const { return _id; }
    const std::string& peer() const { return _peer; }
    // RabbitMQ's connection state for flow: "blocked" (not read: it published under an alarm),
    // "blocking" (an alarm is on; blocked at its next publish), "flow" (not read: a queue it
    // publishes to is behind its consumers, core/flow.h), else "running".
    std::string_view flow_state() const;
    bool open() const { return _state == state::open; }
    size_t channel_count() const { return _channel_count; }
    // For the management API (registered with the vhost at connection.open).
    core::connection_info info();
    core::io_counters io() const { return {_recv_oct, _recv_cnt, _send_oct, _send_cnt}; }

    // ---- used by channels ----
    std::string& out() { return _out; }
    // Call after appending to out(): makes sure a flush happens soon (once per batch).
    void output_appended();
    bool output_full() const { return _out.size() + _io.bytes_in_flight() > output_limit; }
    // A consumer was refused for output_full(): resume consumers when the output drains.
    void note_consumer_blocked() { _consumers_blocked = true; }
    uint32_t frame_max() const { return _frame_max; }
    const std::string& user() const { return _user; }
    core::vhost& vhost() { return *_vhost; }
    // The user's permissions in the vhost (core/access.h), for every vhost operation.
    const core::access* access() const { return _access.get(); }
    core::vhost* vhost_if_open() { return _vhost; }
    core::broker& broker();
    amqp::server& owner() { return _server; }
    bool client_capability(std::string_view name) const;
    // Connection-level error (reply code >= 500 or 320/530/540...): connection.close.
    void connection_error(const method_error& e);
    // A publish arrived (after it is handled): under a resource alarm the connection is blocked
    // now, as RabbitMQ's reader does: no more input is read, connection.blocked is sent to a
    // client with that capability, and missed heartbeats are not held against it.
    void publish_received() {
        if (!_alarms.empty()) block();
    }
    // Credit flow (core/flow.h): a queue this publish reached is behind its consumers; the
    // connection is not read after this input batch until it catches up.
    void note_flow(core::queue_ptr q) { _flow.note(std::move(q)); }
    // Scratch buffer for encoding properties of messages that have no wire form.
    std::string& scratch() { return _scratch; }
    // Channel finished closing (close-ok sent or received): forget it at the end of the frame.
    void channel_finished(uint16_t id);

private:
    enum class state {
        awaiting_header,
        awaiting_start_ok,
        awaiting_tune_ok,
        awaiting_open,
        open,
        closing,  // we sent connection.close; waiting for close-ok
        closed,   // closing or closed by the transport; input is ignored
    };

    bool handle_header(std::string_view& in);
    void handle_frame(const frame_view& f);
    void handle_channel0(const frame_view& f);
    void handle_connection_method(const method& m);
    void on_start_ok(const connection_start_ok& m);
    void refuse_login(std::string_view mechanism);  // ACCESS_REFUSED, then close
    void logged_in(const std::string& user, std::string_view mechanism);  // on to connection.tune
    void on_tune_ok(const connection_tune_ok& m);
    void on_open(const connection_open& m);
    void on_close(const connection_close& m);
    void end_of_batch();

    void send_start();
    template <typename M>
    void send(const M& m) {
        append_method_frame(_out, 0, m);
        output_appended();
    }
    void resume_consumers();
    bool holds_unacked() const;  // any channel holds an unacknowledged delivery
    void block();
    void unblock();
    // Credit flow held or let go of this connection: the input hold (net::session_io::hold_input;
    // alarms hold it in block/unblock) and the heart-beat clock.
    void flow_changed();
    void trim_idle_buffers();
    // Tells the transport there is output (net::session_io::output_ready).
    void signal_output();

    // Releases channels (requeueing unacked messages) and exclusive queues. Idempotent.
    void release();
    // Asks the transport to close: gracefully (pending output written, peer never reset) or
    // at once (`now`).
    void close_socket(bool now);
    void handshake_failed(const core::error& e);

    server& _server;
    net::session_io& _io;
    uint64_t _id;
    std::string _peer;
    std::string _cert_login;  // the verified TLS client certificate's user (EXTERNAL), or empty
    state _state = state::awaiting_header;
    bool _in_batch = false;
    bool _input_dead = false;  // framing lost or closing: ignore further input

    // Output: _out accumulates until the transport takes it; _spare is the buffer of the
    // previous write, reused.
    std::string _out;
    std::string _spare;
    bool _consumers_blocked = false;
    // output_ready() was called and take_output() has not run since: the transport will take
    // the output (after the write in flight, if any), so appending more need not tell it again.
    bool _output_signalled = false;
    std::string _scratch;

    // Negotiated parameters.
    uint32_t _frame_max;
    uint16_t _channel_max;
    uint16_t _heartbeat = 0;
    core::field_table _client_properties;
    std::string _user;
    core::vhost* _vhost = nullptr;
    bool _opened = false;                        // connection.open succeeded
    std::unique_ptr<auth::user_access> _access;  // from connection.open on
    bool _counted = false;                       // counted in the user's connections
    uint32_t _user_channels = 0;                 // channels counted in the user's channels
    bool _released = false;

    channel_table _channels;
    size_t _channel_count = 0;
    std::vector<uint16_t> _finished;  // channels to destroy after the current frame
    std::vector<uint16_t> _active;    // open channel numbers, for end-of-batch work

    // Time in milliseconds of the transport's monotonic clock, as last passed in.
    uint64_t _now = 0;
    uint64_t _started = 0;
    uint64_t _connected_at_ms = 0;  // wall clock, at construction
    std::string _peer_address;      // without the "tls:"/"ws:" prefix of _peer
    std::string _local;             // the listener's address
    bool _tls = false, _websocket = false;
    uint64_t _recv_oct = 0, _recv_cnt = 0, _send_oct = 0, _send_cnt = 0;
    uint64_t _last_recv = 0;
    uint64_t _last_send = 0;
    uint64_t _closing_deadline = 0;

    // Resource alarms (core/alarms.h), heard from connection.open on.
    core::alarm_set _alarms;
    bool _alarm_listening = false;
    bool _blocked = false;       // input paused by an alarm
    bool _blocked_sent = false;  // connection.blocked sent: connection.unblocked follows
    core::publisher_flow _flow{_id, [this] { flow_changed(); }};
};

}  // namespace warren::amqp

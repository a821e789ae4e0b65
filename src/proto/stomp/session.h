#pragma once
// One STOMP connection's state machine: turns client frames into protocol-neutral core calls
// (publish, declare, bind, consume, ack, requeue) and core deliveries into MESSAGE frames.
// It does no I/O: the transport (server.h, TCP or WebSocket) feeds it bytes and drains its
// output; time is passed in, so tests drive it directly.
//
//   stomp::session s(broker, settings, io, "127.0.0.1:5555");
//   s.on_bytes(data, now_ms);         // parse every complete frame, act, append replies
//   auto batch = s.take_output();     // bytes to write (frame ends for WebSocket messages)
//   s.on_timer(now_ms);               // heart-beats out, silent peers closed
//   s.connection_closed();            // transport gone: cancel subscriptions, requeue unacked
//
// Owned by its transport connection; lives on the broker thread; never outlives the broker.
// Errors (bad frame, unknown command, missing header, bad destination, core refusals) produce
// an ERROR frame with RabbitMQ's `message` header and body (errors.h), after which the session
// is closing: the transport writes the remaining output and closes the socket.
//
// Subscriptions are keyed as RabbitMQ keys its consumers: T_<id>, or Q_<destination> for a
// SUBSCRIBE without an id; message-ids are <that tag>@@<session>@@<delivery tag>. Frames inside
// a transaction (SEND, ACK, NACK) are buffered with their receipt requests, which are answered
// when COMMIT applies them and dropped by ABORT.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/authority.h"
#include "auth/user_access.h"
#include "base/result.h"
#include "core/alarms.h"
#include "core/broker.h"
#include "core/flow.h"
#include "core/message.h"
#include "core/persistence.h"
#include "core/queue.h"
#include "core/settle.h"
#include "net/session.h"
#include "proto/stomp/codec/frame.h"
#include "proto/stomp/codec/parser.h"
#include "proto/stomp/codec/writer.h"
#include "proto/stomp/destination.h"
#include "proto/stomp/errors.h"

namespace warren::stomp {

struct session_settings {
    limits frame_limits;
    // Used when CONNECT carries no login (RabbitMQ's stomp.default_user); empty = login required.
    std::string default_user = "guest";
    std::string default_pass = "guest";
    std::string default_vhost = "/";
    std::string server_name = "Warren/0.1.0";
    // Heart-beats honour the client's CONNECT request (as RabbitMQ does), clamped: we never
    // send or expect them more often than heartbeat_min_ms, and never send less often than
    // heartbeat_max_ms (0 = no cap). The CONNECTED reply states the result, so the spec's
    // max(ours, theirs) rule gives both sides the same intervals.
    uint32_t heartbeat_min_ms = 100;
    uint32_t heartbeat_max_ms = 0;
    // A connection that has not sent CONNECT by then is closed (0 = never).
    uint64_t connect_timeout_ms = 10'000;
    // Output bytes buffered before subscriptions stop taking deliveries (backpressure).
    size_t output_high_water = 1 << 20;
    // The node's connection cap (server/connection_cap.h): CONNECT is refused with ERROR "Bad
    // CONNECT" while node_connections() (this one included) is above it. 0 or no count = none.
    uint64_t connection_max = 0;
    std::function<size_t()> node_connections;
    // Most subscriptions per connection, RabbitMQ's consumer_max_per_channel (its STOMP
    // subscriptions share one channel); one more: ERROR not_allowed (0 = no limit).
    uint64_t consumer_max = 0;
};

// What the transport implements (net/session.h); output_batch.frame_ends marks the end of each
// frame (and heart-beat), so a WebSocket transport writes one message per frame.
using net::output_batch;
using net::session_io;

class session final : public net::session,
                      public core::durable_waiter,
                      public core::alarm_listener {
public:
    // cert_login: the user a verified TLS client certificate names (net::peer_info), used by a
    // CONNECT without login (RabbitMQ's stomp.use_ssl_cert_login); empty = none.
    session(core::broker& b, auth::authority& a, const session_settings& s, session_io& io,
            std::string peer, std::string cert_login = {}, std::string local_address = {});
    ~session() override;
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Bytes from the client: a TCP read, or one WebSocket message.
    // Returns data.size(): the parser keeps an incomplete frame itself.
    size_t on_bytes(std::string_view data, uint64_t now_ms) override;
    // Heart-beat housekeeping; call at least every timer_interval_ms().
    void on_start(uint64_t now_ms) override;
    // Heart-beats, and closing a connection that sent no CONNECT within connect_timeout_ms.
    void on_timer(uint64_t now_ms) override;
    uint64_t timer_interval_ms() const override;  // 0 = no timer needed
    // After a write completed: resumes subscriptions paused by backpressure.
    void on_output_drained() override;

    output_batch take_output() override;
    // Hands a written output buffer back, so its capacity is reused for later batches.
    void recycle(std::string&& buffer) override;
    bool has_output() const override { return !_out.bytes.empty(); }
    // After our last frame, how long the transport waits for the client to close.
    uint64_t close_grace_ms() const override { return 1000; }
    bool closing() const { return _closing; }
    bool connected() const { return _connected; }
    version negotiated_version() const { return _version; }
    uint64_t connection_id() const { return _conn_id; }
    const std::string& user() const { return _user; }
    const std::string& vhost_name() const { return _vhost_name; }
    const std::string& peer() const { return _peer; }
    // For the management API (registered with the vhost at CONNECT).
    core::connection_info info() const;
    core::io_counters io() const { return {_recv_oct, _recv_cnt, _send_oct, _send_cnt}; }
    size_t subscription_count() const { return _subs.size(); }

    // Broker shutdown or an admin close: ERROR with this message, release everything at once;
    // the transport still flushes the ERROR before closing.
    void force_close(const failure& why);
    // net::session: broker shutdown or admin close (ERROR connection_forced, `reason`).
    void force_close(std::string_view reason) override;
    // A WebSocket message above the limit: ERROR "Frame too large".
    void on_message_too_large() override;

    // The transport is gone (or closing): cancel subscriptions, requeue unacked messages,
    // delete exclusive queues. Idempotent.
    void connection_closed() override;

    // Resource alarms (core/alarms.h): a connection that SENDs while one is on stops being read
    // (RabbitMQ's STOMP adapter blocks the same way; STOMP has no frame to say so) until every
    // alarm has cleared. Missed heart-beats are not held against it meanwhile.
    void alarms_changed(core::alarm_set now) override;
    bool blocked() const { return _blocked; }

    // The store reached durable_seq: send the receipts waiting for it.
    void durable_advanced(uint64_t durable_seq) override;
    void durable_failed() override;  // ERROR frame, close

private:
    // Receipts wait until every persistent message published before them is on disk (and stay
    // in order). A DISCONNECT with receipts still held closes after sending them.
    struct held_receipt {
        std::string id;
        uint64_t store_seq;
    };
    std::deque<held_receipt> _held_receipts;
    uint64_t _store_seq = 0;  // highest store seq of this session's publishes
    bool _waiting_durable = false;
    bool _close_after_receipts = false;  // DISCONNECT seen: input ignored, close when sent
    core::persistence* persist() const;
    void write_receipt(const std::string& id);
    enum class ack_mode { auto_ack, client, client_individual };

    class subscription;
    struct unacked {
        uint64_t sub_serial;
        core::queue_ptr q;
        uint64_t seq;
    };

    void handle(frame& f);
    status dispatch(frame& f);
    status handle_connect(const frame& f);
    status handle_send(frame& f);
    status handle_subscribe(const frame& f);
    status handle_unsubscribe(const frame& f);
    status handle_ack(const frame& f, bool is_ack);
    status check_durable_id(const frame& f) const;
    status buffer_in_transaction(const std::string& tx, frame&& f);
    status handle_begin(const frame& f);
    status handle_commit(const frame& f);
    status handle_abort(const frame& f);
    status handle_disconnect(const frame& f);

    status publish(frame& f);
    status ensure_temp_queue(const std::string& label, std::string& queue_name);
    status queue_args(const frame& f, core::field_table& args) const;
    status settle(uint64_t tag, const subscription* sub, bool cumulative, bool ack, bool requeue);

    // Called by subscriptions (core consumer callbacks).
    void deliver(subscription& s, core::delivery d);
    void subscription_cancelled(subscription& s);

    void send_receipt(const frame& f);
    void send_error(const failure& e, const frame* cause, const header* extra = nullptr);
    void begin_output();
    void end_output();
    void close();

    core::broker& _broker;
    auth::authority& _auth;
    const session_settings& _settings;
    session_io& _io;
    std::string _peer;
    std::string _cert_login;
    std::string _local;  // the listener's address
    uint64_t _connected_at_ms = 0;
    uint64_t _recv_oct = 0, _recv_cnt = 0, _send_oct = 0, _send_cnt = 0;  // management API
    parser _parser;

    bool _connected = false;
    bool _closing = false;
    bool _closed = false;  // connection_closed() ran
    core::alarm_set _alarms;
    bool _alarm_listening = false;
    bool _blocked = false;  // input paused by a resource alarm
    // Credit flow (core/flow.h): input paused while a queue it publishes to is behind.
    core::publisher_flow _flow{0, [this] { flow_changed(); }};
    void flow_changed();
    version _version = version::v1_0;
    uint64_t _conn_id = 0;
    std::string _session_id;
    std::string _user;
    std::string _vhost_name;
    core::vhost* _vhost = nullptr;
    std::unique_ptr<auth::user_access> _access;  // the user's permissions, from CONNECT on
    bool _counted = false;                       // counted in the user's connections

    output_batch _out;
    std::string _spare;    // a recycled output buffer
    bool _paused = false;  // a subscription refused a delivery for lack of buffer space

    // heart-beats (0 = off)
    uint64_t _send_interval = 0;
    uint64_t _recv_interval = 0;
    uint64_t _last_read_ms = 0;
    uint64_t _last_write_ms = 0;
    uint64_t _now_ms = 0;  // latest time seen from the transport
    uint64_t _started_ms = 0;

    std::map<std::string, std::unique_ptr<subscription>> _subs;  // by consumer tag (T_id, Q_dest)
    // Subscriptions cancelled by the broker, kept alive until the queue that cancelled them has
    // returned (it may still be iterating); freed at the next input or timer tick.
    std::vector<std::unique_ptr<subscription>> _graveyard;
    uint64_t _next_sub_serial = 1;
    std::map<uint64_t, unacked> _unacked;  // by delivery tag (the message-id's tail)
    core::settle_batch _settle_batch;      // scratch for ACK / NACK
    uint64_t _next_tag = 1;
    std::map<std::string, std::vector<frame>> _transactions;  // buffered SEND/ACK/NACK
    std::set<std::string> _declared_queues;                   // /queue/x declared on SEND
    std::map<std::string, std::string> _temp_queues;          // label -> queue name
};

}  // namespace warren::stomp

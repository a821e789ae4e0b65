#pragma once
// One warren-perf AMQP connection on an Asio io_context: a producer (publishes in pipelined
// batches, one socket write per batch, optionally under a publisher-confirm window and a fixed
// rate), a consumer (parses every frame of each socket read, records end-to-end latency from the
// timestamp in the body's first 8 bytes, acks with multiple=true once per read or every N), or an
// idle connection (handshake, then nothing: the broker-memory scenario).
//
// Threading: every member is touched only on the io_context's thread; the runner talks to it
// through post() (start, begin_publishing, finish) and reads the atomic status fields.
// Lifetime: shared_ptr; pending asynchronous operations keep it alive until the socket closes.
// TLS: given an ssl::context the connection runs a TLS handshake after connecting and then reads
// and writes through an ssl::stream over the same socket; a plain connection pays one
// predictable branch per socket read and write for it, nothing per message.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "tools/perf/amqp_client.h"
#include "tools/perf/options.h"
#include "tools/perf/stats.h"

namespace warren::perf {

// Run-wide settings the connections read; written by the runner before it posts to them.
struct run_control {
    std::atomic<bool> stop_publishing{false};
    uint64_t epoch_ns = 0;          // process start: older body timestamps are not ours
    uint64_t publish_start_ns = 0;  // set before begin_publishing is posted
};

enum class conn_role { producer, consumer, idle };

class perf_connection : public std::enable_shared_from_this<perf_connection> {
public:
    enum class status { connecting, ready, closing, closed, failed };

    // `tls`: TLS context (shared, outlives the connection), or nullptr for plain TCP.
    perf_connection(boost::asio::io_context& io, const perf_options& o, run_control& rc,
                    shared_stats& st, conn_role role, int index,
                    boost::asio::ssl::context* tls = nullptr);

    // All three post to the connection's io_context; callable from any thread.
    void start(const boost::asio::ip::tcp::endpoint& ep);
    void begin_publishing();
    void finish();  // graceful connection.close (forced after 3 s)

    status state() const { return _state.load(std::memory_order_acquire); }
    conn_role role() const { return _role; }
    // A producer that has published its count and had every message confirmed (or was told to
    // stop publishing).
    bool producer_done() const { return _done.load(std::memory_order_acquire); }
    uint64_t published() const { return _published_pub.load(std::memory_order_relaxed); }
    // A consumer's own numbers (monotonic ns, 0 = not yet): deliveries read in full; when
    // basic.consume was sent; when its first delivery arrived (the frame's socket read); when it
    // had read --cmessages.
    uint64_t received() const { return _received_pub.load(std::memory_order_relaxed); }
    uint64_t consume_sent_ns() const { return _consume_sent_ns.load(std::memory_order_acquire); }
    uint64_t first_delivery_ns() const {
        return _first_delivery_ns.load(std::memory_order_acquire);
    }
    uint64_t count_reached_ns() const { return _count_reached_ns.load(std::memory_order_acquire); }

private:
    void do_start(boost::asio::ip::tcp::endpoint ep);
    void on_transport_ready();
    void read_more();
    void on_read(size_t n);
    bool on_frame(const amqp::frame_view& f, uint64_t now);
    bool on_method(uint16_t channel, const amqp::method& m);
    bool on_handshake_done();
    void set_ready();
    void send_consume();
    void message_complete(uint64_t now);
    void on_confirm(uint64_t tag, bool multiple, bool nack, uint64_t now);
    void send_now();
    void pump();
    void schedule_tick();
    void on_tick();
    void append_publishes(uint64_t n, uint64_t first_ts, double interval_ns);
    void build_template();
    void check_done();
    void do_finish();
    void fail(const std::string& why);
    void close_socket(status final_state);

    boost::asio::io_context& _io;
    const perf_options& _o;
    run_control& _rc;
    shared_stats& _stats;
    conn_role _role;
    int _index;
    std::string _name;  // "producer 3", for errors
    boost::asio::ip::tcp::socket _socket;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> _tls;  // over _socket
    boost::asio::steady_timer _timer;
    boost::asio::steady_timer _close_timer;
    std::atomic<status> _state{status::connecting};
    std::atomic<bool> _done{false};
    std::atomic<uint64_t> _published_pub{0};
    std::atomic<uint64_t> _received_pub{0};
    std::atomic<uint64_t> _consume_sent_ns{0};
    std::atomic<uint64_t> _first_delivery_ns{0};
    std::atomic<uint64_t> _count_reached_ns{0};

    client_handshake _hs;
    bool _handshaking = true;
    uint32_t _frame_max = wanted_frame_max;

    // Reading.
    std::vector<char> _rbuf;
    size_t _rlen = 0;
    // Writing: _out is in flight, _pending collects what comes next.
    std::string _out, _pending;
    bool _writing = false;

    // Consumer state: where we are within a delivery.
    enum class content_state { method, header, body } _cstate = content_state::method;
    uint64_t _delivery_tag = 0;   // of the delivery being read
    uint64_t _completed_tag = 0;  // of the last delivery read in full: what acks cover
    uint64_t _body_remaining = 0;
    uint64_t _body_seen = 0;
    uint64_t _body_ts = 0;
    uint64_t _unacked = 0;  // received since the last ack
    uint64_t _ack_every = 0;
    uint64_t _batch_received = 0;
    uint64_t _received = 0;  // in total
    std::vector<uint64_t> _latencies;

    // Producer state.
    std::string _template;  // one publish: method + header + body frames
    size_t _ts_offset = 0;  // where the body's timestamp lives within _template
    bool _publishing = false;
    uint64_t _published = 0;
    uint64_t _batch_published = 0;
    double _interval_ns = 0;       // fixed-rate: ns between two publishes of this producer
    bool _window_blocked = false;  // fixed-rate producer waiting for confirms
    // Publisher confirms: send time of every unconfirmed message, by sequence number from
    // _confirm_base; 0 marks an entry confirmed out of order.
    std::deque<uint64_t> _inflight;
    uint64_t _confirm_base = 1;
    uint64_t _unconfirmed = 0;
    std::vector<uint64_t> _confirm_latencies;
};

}  // namespace warren::perf

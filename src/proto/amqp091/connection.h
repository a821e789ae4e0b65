#pragma once
// One AMQP 0-9-1 client connection: the socket, its input and output buffers, the connection
// state machine (protocol header, start/start-ok, tune/tune-ok, open, close), heartbeats, and
// the channels (channel.h) that carry everything else.
//
// Owned by the server (shared_ptr; in-flight async operations hold another reference) and lives
// on the broker thread. I/O is batch-shaped: one async read fills a large buffer, every complete
// frame in it is handled, and all output produced meanwhile (replies, and deliveries that other
// connections' publishes route to our consumers) accumulates in one buffer that is written with
// a single async_write; while that write is in flight new output goes to a second buffer.
//
// Errors: a channel-level error closes the channel (channel.close); a connection-level one sends
// connection.close, releases every channel (unacked messages back to their queues) and the
// connection's exclusive queues, then closes the socket after close-ok or a timeout.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/broker.h"
#include "core/error.h"
#include "core/fields.h"
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

class connection : public std::enable_shared_from_this<connection> {
public:
    // Consumers stop receiving deliveries while more than this much output is pending.
    static constexpr size_t output_limit = 4 << 20;
    // Reading from the socket pauses while more than this much output is pending.
    static constexpr size_t read_pause_limit = 16 << 20;

    connection(server& srv, boost::asio::ip::tcp::socket s, uint64_t id);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void start();
    // Server shutdown: connection.close 320 CONNECTION_FORCED, then close once the client
    // answers close-ok (or after a grace period).
    void force_close(std::string_view reason);
    // The server is going away: release everything and close the socket now, without calling
    // back into the server.
    void abandon();

    uint64_t id() const { return _id; }

    // ---- used by channels ----
    std::string& out() { return _out; }
    // Call after appending to out(): makes sure a flush happens soon (once per batch).
    void output_appended();
    bool output_full() const { return _out.size() + _writing.size() > output_limit; }
    // A consumer was refused for output_full(): resume consumers when the output drains.
    void note_consumer_blocked() { _consumers_blocked = true; }
    uint32_t frame_max() const { return _frame_max; }
    const std::string& user() const { return _user; }
    core::vhost& vhost() { return *_vhost; }
    core::vhost* vhost_if_open() { return _vhost; }
    core::broker& broker();
    amqp::server& owner() { return _server; }
    bool client_capability(std::string_view name) const;
    // Connection-level error (reply code >= 500 or 320/530/540...): connection.close.
    void connection_error(const method_error& e);
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
        closed,   // socket closed or closing after flush
    };

    void read_more();
    void read_now();
    void on_read(const boost::system::error_code& ec, char* data, size_t n);
    void process_input(char* data, size_t n);
    void trim_idle_buffers();
    bool handle_header(std::string_view& in);
    void handle_frame(const frame_view& f);
    void handle_channel0(const frame_view& f);
    void handle_connection_method(const method& m);
    void on_start_ok(const connection_start_ok& m);
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
    void flush();
    void on_write(const boost::system::error_code& ec, size_t n);
    void resume_consumers();

    // Releases channels (requeueing unacked messages) and exclusive queues. Idempotent.
    void release();
    // Closes the socket once pending output is written (or right away if `now`).
    void close_socket(bool now);
    void do_close_socket();
    void start_linger();
    std::chrono::milliseconds linger_timeout() const;
    void handshake_failed(const core::error& e);

    void start_timer();
    void on_tick();

    server& _server;
    boost::asio::ip::tcp::socket _socket;
    boost::asio::steady_timer _timer;
    uint64_t _id;
    std::string _peer;
    state _state = state::awaiting_header;

    // Input: reads go into a buffer shared by all connections of the thread (see read_now), so
    // an idle connection holds no read buffer; _in keeps only a partial frame left over from the
    // last read (usually empty).
    std::vector<char> _in;
    bool _reading = false;
    bool _read_speculative = false;  // the last read returned data: try the next before waiting
    bool _read_paused = false;
    bool _in_batch = false;

    // Output double buffer: _writing is in flight, _out accumulates.
    std::string _out;
    std::string _writing;
    bool _write_in_flight = false;
    bool _flush_posted = false;
    bool _close_after_flush = false;
    bool _lingering = false;  // closed: output shut down, discarding input until the client closes
    bool _consumers_blocked = false;
    std::string _scratch;

    // Negotiated parameters.
    uint32_t _frame_max;
    uint16_t _channel_max;
    uint16_t _heartbeat = 0;
    core::field_table _client_properties;
    std::string _user;
    core::vhost* _vhost = nullptr;
    bool _released = false;
    bool _detached = false;   // server gone: do not call back into it
    bool _input_dead = false; // framing lost: ignore further input

    channel_table _channels;
    size_t _channel_count = 0;
    std::vector<uint16_t> _finished;  // channels to destroy after the current frame
    std::vector<uint16_t> _active;    // open channel numbers, for end-of-batch work

    using clock = std::chrono::steady_clock;
    clock::time_point _started;
    clock::time_point _last_recv;
    clock::time_point _last_send;
    clock::time_point _closing_deadline;
    bool _timer_running = false;
};

}  // namespace warren::amqp

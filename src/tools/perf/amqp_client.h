#pragma once
// The client side of AMQP 0-9-1 that warren-perf needs, built on the codec in
// proto/amqp091/codec:
//  - client_handshake: the connection.start / tune / open exchange as a small state machine that
//    consumes server methods and appends the client's replies (no I/O, shared by both clients).
//  - sync_client: a blocking connection for set-up and tear-down (declare exchanges, queues and
//    bindings, read queue depths with passive declares, delete). Not on the hot path; it throws
//    std::runtime_error on failure (start-up time, where exceptions are allowed).
//
//   perf::sync_client c(uri);
//   uint32_t depth = c.declare_queue("q", false, {}, false);
//   c.close();

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "core/fields.h"
#include "proto/amqp091/codec/methods.h"
#include "tools/perf/options.h"

namespace warren::perf {

// The frame_max warren-perf asks for (RabbitMQ's default); the server may lower it.
constexpr uint32_t wanted_frame_max = 131072;

class client_handshake {
public:
    enum class step { more, open, failed };

    explicit client_handshake(const amqp_uri& uri) : _uri(uri) {}

    // Appends the protocol header: the first bytes a client sends.
    void begin(std::string& out) const;
    // Feeds one channel-0 method from the server; appends replies to `out`.
    step on_method(const amqp::method& m, std::string& out);

    uint32_t frame_max() const { return _frame_max; }
    const std::string& error() const { return _error; }
    const std::string& server_product() const { return _product; }
    const std::string& server_version() const { return _version; }

private:
    amqp_uri _uri;
    uint32_t _frame_max = wanted_frame_max;
    std::string _error;
    std::string _product, _version;
};

// A message for the log when the server closes a connection or channel.
std::string describe_close(uint16_t code, std::string_view text, uint16_t class_id,
                           uint16_t method_id);

class sync_client {
public:
    // Connects (over TLS when `tls` is given: uri.tls) and opens channel 1; throws on failure.
    // timeout_s bounds every blocking read.
    explicit sync_client(const amqp_uri& uri, boost::asio::ssl::context* tls = nullptr,
                         double timeout_s = 15);
    ~sync_client();
    sync_client(const sync_client&) = delete;
    sync_client& operator=(const sync_client&) = delete;

    // Returns the queue's message count. A failed passive declare throws (and the channel is
    // reopened, so the client stays usable).
    uint32_t declare_queue(const std::string& name, bool durable, const core::field_table& args,
                           bool passive);
    void declare_exchange(const std::string& name, const std::string& type, bool durable,
                          const core::field_table& args = {});
    void bind_queue(const std::string& queue, const std::string& exchange, const std::string& key);
    // queue.declare and queue.bind with nowait: queued like publish() (written by flush() or the
    // next call that waits); a failure closes the channel, which the next waiting call reports.
    void declare_queue_nowait(const std::string& name, bool durable, const core::field_table& args);
    void bind_queue_nowait(const std::string& queue, const std::string& exchange,
                           const std::string& key);
    // Waits until everything queued before it has been processed (a passive declare's round
    // trip); throws if one of them failed.
    void sync();
    uint32_t delete_queue(const std::string& name);
    void delete_exchange(const std::string& name);
    void close();

    // Publishing with publisher confirms (warren-outbox). confirm_select() puts the channel in
    // confirm mode; publish() queues one message (frames built here, nothing written yet) and
    // returns its confirm seq (1, 2, ...); flush() writes what is queued in one write;
    // wait_confirms(seq) reads until every publish up to seq is acked. A nack, or a channel or
    // connection close, throws (the caller reconnects and publishes again).
    void confirm_select();
    uint64_t publish(std::string_view exchange, std::string_view routing_key,
                     const core::basic_properties& props, std::string_view body);
    void flush();
    void wait_confirms(uint64_t seq);

    const std::string& server_product() const { return _server_product; }
    const std::string& server_version() const { return _server_version; }
    // "TLSv1.3 TLS_AES_256_GCM_SHA384", or empty on a plain connection.
    const std::string& tls_description() const { return _tls_description; }

private:
    void write_all(std::string_view bytes);
    void write_all(std::string_view bytes, boost::system::error_code& ec);
    size_t read_some(char* buf, size_t size, boost::system::error_code& ec);
    template <typename M>
    void send(uint16_t channel, const M& m);
    // Reads frames until a method arrives on `channel`; handles channel/connection close.
    amqp::method read_method(uint16_t channel);
    template <typename R, typename M>
    R call(const M& m);
    void open_channel();

    boost::asio::io_context _io;
    boost::asio::ip::tcp::socket _socket;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> _tls;  // over _socket
    std::string _tls_description;
    std::string _rbuf;
    uint32_t _frame_max = wanted_frame_max;
    uint16_t _channel = 0;
    std::string _wbuf;                // publishes queued by publish(), written by flush()
    uint64_t _published = 0;          // confirm seq of the last publish
    uint64_t _confirmed = 0;          // every seq up to this one is acked
    std::set<uint64_t> _acked_ahead;  // single acks above _confirmed
    bool _open = false;
    std::string _server_product, _server_version;
};

}  // namespace warren::perf

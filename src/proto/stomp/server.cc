#include "proto/stomp/server.h"

#include <chrono>
#include <string_view>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "base/log.h"

namespace warren::stomp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

uint64_t now_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

// After the last output of a closing session, how long we wait for the peer to close.
constexpr auto k_close_grace = std::chrono::milliseconds(1000);
constexpr size_t k_read_size = 64 * 1024;
// A WebSocket read buffer above this size is shrunk once its message is handled.
constexpr size_t k_ws_keep_buffer = 64 * 1024;

// TCP reads go into one buffer per thread, shared by all its connections: the session's parser
// copies what it keeps, so an idle connection holds no read buffer.
std::vector<char>& shared_read_buffer() {
    thread_local std::vector<char> buf(k_read_size);
    return buf;
}

bool is_utf8(std::string_view s) {
    size_t i = 0;
    const size_t n = s.size();
    auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    while (i < n) {
        unsigned char c = at(i);
        size_t len;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((at(i + k) & 0xC0) != 0x80) return false;
        }
        unsigned char c1 = at(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
            (c == 0xF4 && c1 > 0x8F)) {
            return false;  // overlong, surrogate or beyond U+10FFFF
        }
        i += len;
    }
    return true;
}

std::string peer_of(const tcp::socket& s) {
    error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

// One client connection: owns its session and runs the read loop, the write pump and the
// heart-beat timer. Transport specifics (TCP or WebSocket) are in the subclasses.
class connection : public std::enable_shared_from_this<connection>, public session_io {
public:
    connection(server& srv, std::string peer)
        : _srv(srv), _peer(std::move(peer)), _timer(srv.io()), _close_timer(srv.io()) {}
    ~connection() override = default;

    void init() {
        _session = std::make_unique<session>(_srv.broker(), _srv.session_config(), *this, _peer);
    }
    virtual void start() = 0;

    void output_ready() override { schedule_flush(); }
    void close_requested() override { schedule_flush(); }

    const session& sess() const { return *_session; }

    // The server is going away (its io_context may never run again): release broker state now,
    // while the broker still exists, and close the socket without any callbacks.
    void abandon() {
        if (_finished) return;
        _finished = true;
        _timer.cancel();
        _close_timer.cancel();
        _session->connection_closed();
        close_transport();
    }
    virtual bool websocket() const = 0;

    void force_close(const failure& why) {
        if (_finished) return;
        _session->force_close(why);
        schedule_flush();
    }

protected:
    void schedule_flush() {
        if (_flush_posted || _writing || _finished) return;
        _flush_posted = true;
        asio::post(_srv.io(), [self = shared_from_this()] {
            self->_flush_posted = false;
            self->flush();
        });
    }

    void flush() {
        if (_writing || _finished || _closing_transport) return;
        if (_session->has_output()) {
            _writing = true;
            write_batch(_session->take_output());
            return;
        }
        if (_session->closing()) {
            _closing_transport = true;
            _close_timer.expires_after(k_close_grace);
            _close_timer.async_wait([self = shared_from_this()](const error_code& ec) {
                if (!ec) self->finish();
            });
            begin_close();
        }
    }

    void on_write_done(const error_code& ec) {
        _writing = false;
        if (ec) {
            finish();
            return;
        }
        if (_finished) return;
        _session->on_output_drained();
        flush();
    }

    void on_data(std::string_view data) {
        _session->on_bytes(data, now_ms());
        arm_timer();
    }

    void arm_timer() {
        if (_timer_armed || _finished) return;
        uint64_t iv = _session->timer_interval_ms();
        if (!iv) return;
        _timer_armed = true;
        _timer.expires_after(std::chrono::milliseconds(iv));
        _timer.async_wait([self = shared_from_this()](const error_code& ec) {
            self->_timer_armed = false;
            if (ec || self->_finished) return;
            self->_session->on_timer(now_ms());
            self->arm_timer();
        });
    }

    // Idempotent: releases the session's broker state and drops the connection.
    void finish() {
        if (_finished) return;
        auto self = shared_from_this();
        _finished = true;
        _timer.cancel();
        _close_timer.cancel();
        _session->connection_closed();
        close_transport();
        _srv.remove(this);
    }

    virtual void write_batch(output_batch b) = 0;  // calls on_write_done when done
    virtual void begin_close() = 0;                // graceful close; ends in finish()
    virtual void close_transport() = 0;            // immediate

    server& _srv;
    std::string _peer;
    std::unique_ptr<session> _session;
    asio::steady_timer _timer;
    asio::steady_timer _close_timer;
    bool _flush_posted = false;
    bool _writing = false;
    bool _timer_armed = false;
    bool _closing_transport = false;
    bool _finished = false;
};

namespace {

class tcp_connection final : public connection {
public:
    tcp_connection(server& srv, tcp::socket s)
        : connection(srv, peer_of(s)), _sock(std::move(s)) {}

    bool websocket() const override { return false; }

    void start() override {
        error_code ec;
        _sock.set_option(tcp::no_delay(true), ec);
        _sock.non_blocking(true, ec);  // read_now reads without blocking
        do_read();
    }

private:
    // Waits for input without holding a buffer (async_wait), then reads into the shared buffer.
    // After a read that filled the buffer the next one is tried at once, from a posted handler so
    // other connections get their turn.
    void do_read() {
        if (_read_speculative) {
            asio::post(_srv.io(), [self = shared_self()] { self->read_now(); });
            return;
        }
        _sock.async_wait(tcp::socket::wait_read, [self = shared_self()](const error_code& ec) {
            if (ec) {
                self->finish();
                return;
            }
            self->read_now();
        });
    }

    void read_now() {
        if (_finished) return;
        std::vector<char>& buf = shared_read_buffer();
        error_code ec;
        size_t n = _sock.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            _read_speculative = false;
            do_read();
            return;
        }
        if (ec) {
            finish();
            return;
        }
        _read_speculative = n == buf.size();  // a short read drained the socket
        if (!_closing_transport) on_data(std::string_view(buf.data(), n));
        // Keep reading while closing: unread input would turn our close into a reset and could
        // destroy the ERROR frame.
        if (!_finished) do_read();
    }

    void write_batch(output_batch b) override {
        _wbuf = std::move(b.bytes);
        asio::async_write(_sock, asio::buffer(_wbuf),
                          [self = shared_self()](const error_code& ec, size_t) {
                              if (!self->_finished) self->_session->recycle(std::move(self->_wbuf));
                              self->on_write_done(ec);
                          });
    }

    void begin_close() override {
        error_code ec;
        _sock.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) finish();
        // The read loop sees the peer's EOF and finishes; the grace timer covers silent peers.
    }

    void close_transport() override {
        // Input still unread at close() makes the kernel send a reset, which discards output
        // the peer has not received yet (the last RECEIPT or ERROR): drain what has arrived.
        error_code ec;
        std::vector<char>& buf = shared_read_buffer();
        for (int i = 0; i < 16; ++i) {
            if (_sock.read_some(asio::buffer(buf), ec) == 0 || ec) break;
        }
        _sock.shutdown(tcp::socket::shutdown_both, ec);
        _sock.close(ec);
    }

    std::shared_ptr<tcp_connection> shared_self() {
        return std::static_pointer_cast<tcp_connection>(shared_from_this());
    }

    tcp::socket _sock;
    bool _read_speculative = false;
    std::string _wbuf;
};

class ws_connection final : public connection {
public:
    ws_connection(server& srv, websocket::stream<beast::tcp_stream> ws, size_t max_message)
        : connection(srv, "ws:" + peer_of(beast::get_lowest_layer(ws).socket())),
          _ws(std::move(ws)) {
        _ws.read_message_max(max_message);
        _ws.auto_fragment(false);
    }

    bool websocket() const override { return true; }

    void start() override {
        beast::get_lowest_layer(_ws).expires_never();
        do_read();
    }

private:
    void do_read() {
        _ws.async_read(_rbuf, [self = shared_self()](const error_code& ec, size_t) {
            if (ec) {
                if (ec == websocket::error::message_too_big && !self->_finished) {
                    self->force_close(
                        {"Frame too large", "WebSocket message exceeds the frame size limit"});
                    return;
                }
                self->finish();
                return;
            }
            auto data = self->_rbuf.cdata();
            if (!self->_closing_transport) {
                self->on_data(std::string_view(static_cast<const char*>(data.data()), data.size()));
            }
            self->_rbuf.consume(self->_rbuf.size());
            if (self->_rbuf.capacity() > k_ws_keep_buffer) self->_rbuf.shrink_to_fit();
            if (!self->_finished && !self->_closing_transport) self->do_read();
        });
    }

    void write_batch(output_batch b) override {
        _batch = std::move(b);
        _index = 0;
        _offset = 0;
        write_next();
    }

    void write_next() {
        if (_index >= _batch.frame_ends.size()) {
            if (!_finished) _session->recycle(std::move(_batch.bytes));
            on_write_done({});
            return;
        }
        size_t end = _batch.frame_ends[_index];
        std::string_view msg(_batch.bytes.data() + _offset, end - _offset);
        // Text frames must be UTF-8 for browsers; anything else goes as binary.
        _ws.text(is_utf8(msg));
        _ws.async_write(asio::buffer(msg.data(), msg.size()),
                        [self = shared_self(), end](const error_code& ec, size_t) {
                            if (ec) {
                                self->on_write_done(ec);
                                return;
                            }
                            self->_offset = end;
                            ++self->_index;
                            self->write_next();
                        });
    }

    void begin_close() override {
        _ws.async_close(websocket::close_code::normal,
                        [self = shared_self()](const error_code&) { self->finish(); });
    }

    void close_transport() override {
        error_code ec;
        beast::get_lowest_layer(_ws).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(_ws).socket().close(ec);
    }

    std::shared_ptr<ws_connection> shared_self() {
        return std::static_pointer_cast<ws_connection>(shared_from_this());
    }

    websocket::stream<beast::tcp_stream> _ws;
    beast::flat_buffer _rbuf;
    output_batch _batch;
    size_t _index = 0;
    size_t _offset = 0;
};

}  // namespace

server::server(asio::io_context& io, core::broker& b, settings s)
    : _io(io), _broker(b), _settings(std::move(s)) {
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
}

server::~server() {
    // Pending handlers may keep connections alive after we are gone (until the io_context is
    // destroyed, possibly after the broker): detach them from the broker now.
    auto conns = std::move(_connections);
    _connections.clear();
    for (auto& [k, c] : conns) c->abandon();
}

void server::add(std::shared_ptr<connection> c) {
    c->init();
    _connections.emplace(c.get(), c);
    c->start();
}

void server::accept(tcp::socket s) {
    if (_shutting_down) {
        error_code ec;
        s.close(ec);
        return;
    }
    add(std::make_shared<tcp_connection>(*this, std::move(s)));
}

void server::accept_websocket(websocket::stream<beast::tcp_stream> ws) {
    if (_shutting_down) {
        error_code ec;
        beast::get_lowest_layer(ws).socket().close(ec);
        return;
    }
    // One WebSocket message is one STOMP frame: headers and body, each within its own limit.
    add(std::make_shared<ws_connection>(
        *this, std::move(ws),
        static_cast<size_t>(_settings.max_frame_size) +
            static_cast<size_t>(_settings.max_message_size) + 4096));
}

void server::shutdown() {
    _shutting_down = true;
    std::vector<std::shared_ptr<connection>> conns;
    conns.reserve(_connections.size());
    for (auto& [k, c] : _connections) conns.push_back(c);
    for (auto& c : conns) c->force_close({"connection_forced", "Broker shutting down"});
}

void server::remove(const connection* c) {
    _connections.erase(c);
}

std::vector<connection_info> server::connections() const {
    std::vector<connection_info> out;
    out.reserve(_connections.size());
    for (const auto& [k, c] : _connections) {
        const session& s = c->sess();
        connection_info i;
        i.id = s.connection_id();
        i.peer = s.peer();
        i.user = s.user();
        i.vhost = s.vhost_name();
        i.protocol = "STOMP " + std::string(version_name(s.negotiated_version()));
        i.websocket = c->websocket();
        i.subscriptions = s.subscription_count();
        out.push_back(std::move(i));
    }
    return out;
}

bool server::close_connection(uint64_t id, const std::string& reason) {
    for (const auto& [k, c] : _connections) {
        if (c->sess().connection_id() == id) {
            auto keep = c;
            keep->force_close({"connection_forced", reason});
            return true;
        }
    }
    return false;
}

}  // namespace warren::stomp

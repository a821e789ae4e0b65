#include "net/connection.h"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "base/log.h"

namespace warren::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// Reads go into one buffer per thread, shared by all its connections (a read is handed to the
// session completely before the next read starts); a connection keeps only an incomplete frame.
// So an idle connection holds no read buffer, and the buffer the hot path reads into stays in
// cache.
constexpr size_t shared_read_size = 128 * 1024;
constexpr size_t min_read_space = 16 * 1024;
// A connection's kept-partial buffer above this size is freed once it is empty again.
constexpr size_t keep_in_capacity = 1024;
// A WebSocket read buffer above this size is shrunk once its message is handled.
constexpr size_t ws_keep_buffer = 64 * 1024;
// A TLS read returns at most one record's plaintext (16 KiB): a larger buffer gains nothing.
constexpr size_t tls_read_size = 16 * 1024;

// The transport's one clock: milliseconds of the monotonic clock, passed to sessions as `now`.
uint64_t steady_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

std::vector<char>& shared_read_buffer() {
    thread_local std::vector<char> buf;
    return buf;
}

std::string label(const tcp::endpoint& ep) {
    // "[::1]:5672" for IPv6, so the port can be told from the address.
    if (ep.address().is_v6())
        return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string local_of(const tcp::socket& s) {
    error_code ec;
    auto ep = s.local_endpoint(ec);
    return ec ? "?" : label(ep);
}

std::string address_of(const tcp::socket& s) {
    error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? "?" : label(ep);
}

// The peer's address; the local one goes into p.local_address.
peer_info peer_of(const tcp::socket& s, bool websocket, bool tls) {
    peer_info p;
    p.address = address_of(s);
    p.websocket = websocket;
    p.tls = tls;
    p.local_address = local_of(s);
    return p;
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
        for (size_t k = 1; k < len; ++k)
            if ((at(i + k) & 0xC0) != 0x80) return false;
        unsigned char c1 = at(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
            (c == 0xF4 && c1 > 0x8F))
            return false;  // overlong, surrogate or beyond U+10FFFF
        i += len;
    }
    return true;
}

// ---- TCP -------------------------------------------------------------------------------------

class tcp_connection final : public connection {
public:
    tcp_connection(connection_set& owner, tcp::socket s)
        : connection(owner, peer_of(s, false, false)), _sock(std::move(s)) {
        error_code ec;
        _sock.set_option(tcp::no_delay(true), ec);
        // Reads are synchronous and non-blocking once the socket reports readable (read_now).
        _sock.non_blocking(true, ec);
    }

private:
    void start_reading() override { read_more(); }

    std::shared_ptr<tcp_connection> self() {
        return std::static_pointer_cast<tcp_connection>(shared_from_this());
    }

    // Waits for input without holding a buffer: async_wait(wait_read), then read_now.
    void read_more() {
        if (_reading || _finished || (reading_paused() && !_closing)) return;
        _reading = true;
        if (_read_speculative) {
            asio::post(_owner.io(), [s = self()] {
                s->_reading = false;
                s->read_now();
            });
            return;
        }
        _sock.async_wait(tcp::socket::wait_read, [s = self()](const error_code& ec) {
            s->_reading = false;
            if (ec) {
                s->finish();
                return;
            }
            s->read_now();
        });
    }

    void read_now() {
        if (_reading || _finished || (reading_paused() && !_closing)) return;
        std::vector<char>& buf = shared_read_buffer();
        // Room for the kept partial frame, the rest of it if the session can tell its size, and
        // a good read's worth.
        size_t keep = _closing ? 0 : _in.size();
        size_t need = std::max(shared_read_size, keep + min_read_space);
        if (keep && !_closing) {
            size_t hint = _session->read_size_hint(std::string_view(_in.data(), _in.size()));
            need = std::max(need, hint + min_read_space);
        }
        if (buf.size() < need) buf.resize(need);
        error_code ec;
        size_t n = _sock.read_some(asio::buffer(buf.data() + keep, buf.size() - keep), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            _read_speculative = false;
            read_more();
            return;
        }
        if (ec) {  // EOF or reset: the peer is gone (or done, if we were closing)
            if (!_closing)
                WLOG_DEBUG("{} connection peer={} read ended: {}", _owner.protocol(), _peer.address,
                           ec.message());
            finish();
            return;
        }
        // A read that filled the buffer probably left more behind; a shorter one drained the
        // socket (asio's own heuristic), so the next read waits for epoll first.
        _read_speculative = n == buf.size() - keep;
        if (_closing) {  // discard: unread input would turn our close into a reset
            read_more();
            return;
        }
        if (keep) std::memcpy(buf.data(), _in.data(), keep);
        _in.clear();
        deliver_input(std::string_view(buf.data(), keep + n));
        after_input();
        read_more();
    }

    void write_output(output_batch& b) override {
        asio::async_write(_sock, asio::buffer(b.bytes),
                          [s = self()](const error_code& ec, size_t) { s->write_done(ec); });
    }

    void begin_close() override {
        error_code ec;
        _sock.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) {
            finish();
            return;
        }
        read_more();  // the read loop sees the peer's EOF and finishes
    }

    void close_transport() override {
        error_code ec;
        _sock.shutdown(tcp::socket::shutdown_both, ec);
        _sock.close(ec);
    }

    tcp::socket _sock;
    bool _reading = false;
    bool _read_speculative = false;
};

// ---- TLS -------------------------------------------------------------------------------------

// Fills the certificate part of a TLS peer_info from the connection's SSL*, after the handshake.
void add_certificate(peer_info& p, void* ssl, const tls_server_context& ctx) {
    peer_certificate c = verified_peer_certificate(ssl);
    if (!c.verified) return;
    p.cert_login = certificate_login(c, ctx.login_from);
    p.cert_cn = std::move(c.cn);
    p.cert_dn = std::move(c.dn);
}

class tls_connection final : public connection {
public:
    tls_connection(connection_set& owner, tcp::socket s, tls_context_ptr ctx)
        : connection(owner, peer_of(s, false, true)),
          _ctx(std::move(ctx)),
          _stream(std::move(s), _ctx->ssl),
          _handshake_timer(owner.io()) {
        error_code ec;
        _stream.lowest_layer().set_option(tcp::no_delay(true), ec);
    }

    // The TLS handshake, bounded by the context's timeout; the session is created after it.
    void handshake(connection::session_factory make) {
        _handshake_timer.expires_after(std::chrono::milliseconds(_ctx->handshake_timeout_ms));
        _handshake_timer.async_wait([s = self()](const error_code& ec) {
            if (ec || s->_finished || !s->_handshaking) return;
            WLOG_WARN("{} TLS handshake failed peer={} error=\"timed out after {} ms\"",
                      s->_owner.protocol(), s->_peer.address, s->_ctx->handshake_timeout_ms);
            s->finish();  // closes the socket: the handshake's handler sees _finished
        });
        _stream.async_handshake(
            asio::ssl::stream_base::server,
            [s = self(), make = std::move(make)](const error_code& ec) {
                s->_handshaking = false;
                s->_handshake_timer.cancel();
                if (s->_finished) return;  // timed out, shut down or abandoned meanwhile
                if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof) {
                    // Closed before saying anything: a port probe or a health check.
                    WLOG_INFO("{} TLS handshake: peer={} closed the connection",
                              s->_owner.protocol(), s->_peer.address);
                    s->finish();
                    return;
                }
                if (ec) {
                    WLOG_WARN("{} TLS handshake failed peer={} error=\"{}\"", s->_owner.protocol(),
                              s->_peer.address,
                              handshake_error_text(s->_stream.native_handle(), ec));
                    s->finish();
                    return;
                }
                add_certificate(s->_peer, s->_stream.native_handle(), *s->_ctx);
                WLOG_DEBUG("{} TLS established peer={} version={} cipher={} client_cert=\"{}\"",
                           s->_owner.protocol(), s->_peer.address,
                           SSL_get_version(s->_stream.native_handle()),
                           SSL_get_cipher_name(s->_stream.native_handle()), s->_peer.cert_dn);
                s->start(make);
            });
    }

private:
    std::shared_ptr<tls_connection> self() {
        return std::static_pointer_cast<tls_connection>(shared_from_this());
    }

    void start_reading() override { read_more(); }

    // An SSL read owns its buffer until it completes, so it cannot use the per-thread buffer
    // (other connections' reads are pending at the same time): each connection has _rbuf.
    void read_more() {
        if (_reading || _finished || _closing || reading_paused()) return;
        _reading = true;
        if (_rbuf.size() < tls_read_size) _rbuf.resize(tls_read_size);
        _stream.async_read_some(asio::buffer(_rbuf), [s = self()](const error_code& ec, size_t n) {
            s->_reading = false;
            s->on_read(ec, n);
        });
    }

    void on_read(const error_code& ec, size_t n) {
        if (_finished) return;
        if (_closing) {  // begin_close cancelled this read to send close_notify
            if (_shutdown_after_read) start_shutdown();
            return;
        }
        if (ec) {  // EOF, close_notify, a reset or a TLS error: the peer is gone
            WLOG_DEBUG("{} connection peer={} read ended: {}", _owner.protocol(), _peer.address,
                       ec.message());
            finish();
            return;
        }
        std::string_view data(_rbuf.data(), n);
        if (_in.empty()) {
            deliver_input(data);
        } else {
            _in.insert(_in.end(), data.begin(), data.end());
            // A large frame arrives a record at a time: offer it once it is complete, not after
            // every record (that would copy it again each time).
            size_t whole = _session->read_size_hint(std::string_view(_in.data(), _in.size()));
            if (whole > _in.size()) {
                read_more();
                return;
            }
            std::vector<char> joined = std::move(_in);
            _in.clear();
            deliver_input(std::string_view(joined.data(), joined.size()));
        }
        after_input();
        read_more();
    }

    void write_output(output_batch& b) override {
        asio::async_write(_stream, asio::buffer(b.bytes),
                          [s = self()](const error_code& ec, size_t) { s->write_done(ec); });
    }

    // Every write is done (flush() begins the close only then). An SSL shutdown reads from
    // the socket itself, so a pending read is cancelled first and its handler starts it.
    void begin_close() override {
        if (_reading) {
            _shutdown_after_read = true;
            error_code ec;
            _stream.lowest_layer().cancel(ec);
            return;
        }
        start_shutdown();
    }

    // close_notify out, then the peer's close_notify in. Application data the peer was still
    // sending makes OpenSSL give up waiting: then its bytes are discarded raw until it closes,
    // so it is never reset. The grace timer bounds both.
    void start_shutdown() {
        _shutdown_after_read = false;
        _stream.async_shutdown([s = self()](const error_code& ec) {
            if (s->_finished) return;
            if (!ec || ec == asio::error::eof) {
                s->finish();
                return;
            }
            error_code ignore;
            s->_stream.lowest_layer().shutdown(tcp::socket::shutdown_send, ignore);
            s->_stream.lowest_layer().non_blocking(true, ignore);
            s->drain();
        });
    }

    void drain() {
        _stream.lowest_layer().async_wait(
            tcp::socket::wait_read, [s = self()](const error_code& ec) {
                if (s->_finished) return;
                if (ec) {
                    s->finish();
                    return;
                }
                std::vector<char>& buf = shared_read_buffer();
                if (buf.size() < shared_read_size) buf.resize(shared_read_size);
                error_code rec;
                for (;;) {
                    s->_stream.next_layer().read_some(asio::buffer(buf), rec);
                    if (rec) break;
                }
                if (rec == asio::error::would_block || rec == asio::error::try_again) {
                    s->drain();
                    return;
                }
                s->finish();  // EOF or reset
            });
    }

    void close_transport() override {
        error_code ec;
        _handshake_timer.cancel();
        _stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
        _stream.lowest_layer().close(ec);
    }

    tls_context_ptr _ctx;  // before _stream: the SSL* refers to its context
    asio::ssl::stream<tcp::socket> _stream;
    asio::steady_timer _handshake_timer;
    std::vector<char> _rbuf;
    bool _handshaking = true;
    bool _reading = false;
    bool _shutdown_after_read = false;
};

// ---- WebSocket -------------------------------------------------------------------------------

// Over TCP (ws_stream) or TLS (wss_stream: the TLS context is kept alive with the stream).
template <typename Ws>
class ws_connection final : public connection {
public:
    ws_connection(connection_set& owner, Ws ws, peer_info peer, tls_context_ptr ctx = {})
        : connection(owner, std::move(peer)), _ctx(std::move(ctx)), _ws(std::move(ws)) {
        _ws.read_message_max(owner.settings().ws_max_message);
        _ws.auto_fragment(false);
        beast::get_lowest_layer(_ws).expires_never();
    }

private:
    std::shared_ptr<ws_connection> self() {
        return std::static_pointer_cast<ws_connection>(shared_from_this());
    }

    void start_reading() override { read_more(); }

    void read_more() {
        if (_reading || _finished || _closing || reading_paused()) return;
        _reading = true;
        _ws.async_read(_rbuf, [s = self()](const error_code& ec, size_t) {
            s->_reading = false;
            if (s->_finished) return;
            if (ec) {
                if (ec == websocket::error::message_too_big) {
                    s->_session->on_message_too_large();
                    s->flush();
                    return;
                }
                s->finish();
                return;
            }
            auto data = s->_rbuf.cdata();
            std::string_view msg(static_cast<const char*>(data.data()), data.size());
            if (!s->_closing) {
                if (s->_in.empty()) {
                    s->deliver_input(msg);
                } else {  // a frame spanning messages (AMQP over WebSocket)
                    std::vector<char> joined = std::move(s->_in);
                    s->_in.clear();
                    joined.insert(joined.end(), msg.begin(), msg.end());
                    s->deliver_input(std::string_view(joined.data(), joined.size()));
                }
                s->after_input();
            }
            s->_rbuf.consume(s->_rbuf.size());
            if (s->_rbuf.capacity() > ws_keep_buffer) s->_rbuf.shrink_to_fit();
            s->read_more();
        });
    }

    // One WebSocket message per frame the session marked (STOMP), or the whole batch as one.
    void write_output(output_batch& b) override {
        _index = 0;
        _offset = 0;
        if (b.frame_ends.empty()) b.frame_ends.push_back(b.bytes.size());
        write_next();
    }

    void write_next() {
        if (_index >= _writing.frame_ends.size()) {
            write_done({});
            return;
        }
        size_t end = _writing.frame_ends[_index];
        std::string_view msg(_writing.bytes.data() + _offset, end - _offset);
        _ws.text(_owner.settings().ws_text_when_utf8 && is_utf8(msg));
        _ws.async_write(asio::buffer(msg.data(), msg.size()),
                        [s = self(), end](const error_code& ec, size_t) {
                            if (ec) {
                                s->write_done(ec);
                                return;
                            }
                            s->_offset = end;
                            ++s->_index;
                            s->write_next();
                        });
    }

    void begin_close() override {
        _ws.async_close(websocket::close_code::normal,
                        [s = self()](const error_code&) { s->finish(); });
    }

    void close_transport() override {
        error_code ec;
        beast::get_lowest_layer(_ws).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(_ws).socket().close(ec);
    }

    tls_context_ptr _ctx;
    Ws _ws;
    beast::flat_buffer _rbuf;
    bool _reading = false;
    size_t _index = 0;
    size_t _offset = 0;
};

}  // namespace

// ---- connection ------------------------------------------------------------------------------

connection::connection(connection_set& owner, peer_info peer)
    : _owner(owner), _peer(std::move(peer)), _timer(owner.io()), _grace_timer(owner.io()) {}

connection::~connection() {
    if (_session && !_finished) _session->connection_closed();
}

uint64_t connection::now_ms() const {
    return steady_ms();
}

void connection::start(const session_factory& make) {
    _session = make(*this, _peer);
    _session->on_start(now_ms());
    arm_timer();
    start_reading();
    if (_session->has_output() || _close_wanted) flush();
}

void connection::deliver_input(std::string_view data) {
    size_t used = _session->on_bytes(data, now_ms());
    if (_closing || _finished) return;
    if (used < data.size()) {
        _in.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
    } else if (_in.capacity() > keep_in_capacity) {
        std::vector<char>().swap(_in);
    }
}

void connection::after_input() {
    if (_finished) return;
    flush();
    arm_timer();
}

void connection::output_ready() {
    if (_flush_posted || _write_in_flight || _finished) return;
    _flush_posted = true;
    asio::post(_owner.io(), [self = shared_from_this()] {
        self->_flush_posted = false;
        self->flush();
    });
}

void connection::close_requested() {
    if (_close_wanted || _finished) return;
    _close_wanted = true;
    output_ready();
}

void connection::close_now() {
    if (_finish_posted || _finished) return;
    // The session may be on the stack: finish from a fresh handler.
    _finish_posted = true;
    asio::post(_owner.io(), [self = shared_from_this()] { self->finish(); });
}

void connection::flush() {
    if (_write_in_flight || _finished || _closing) return;
    if (_session->has_output()) {
        _writing = _session->take_output();
        _in_flight = _writing.bytes.size();
        _write_in_flight = true;
        if (_in_flight > _owner.settings().read_pause_bytes) _read_paused = true;
        write_output(_writing);
        return;
    }
    if (_close_wanted) {
        _closing = true;
        _read_paused = false;
        _input_held = false;  // input is read (and discarded) until the peer closes
        _timer.cancel();
        std::vector<char>().swap(_in);
        start_grace_timer();
        begin_close();
    }
}

void connection::write_done(const error_code& ec) {
    _write_in_flight = false;
    _in_flight = 0;
    if (_finished) return;
    _writing.frame_ends.clear();
    _session->recycle(std::move(_writing.bytes));
    _writing.bytes = std::string();
    if (ec) {
        WLOG_DEBUG("{} connection peer={} write failed: {}", _owner.protocol(), _peer.address,
                   ec.message());
        finish();
        return;
    }
    _session->on_output_drained();
    flush();
    resume_reading_if_drained();
    arm_timer();  // output may have given the session something to time (consumer_timeout)
}

void connection::resume_reading_if_drained() {
    if (!_read_paused || _in_flight > _owner.settings().read_pause_bytes / 2) return;
    _read_paused = false;
    if (!_input_held) start_reading();
}

void connection::resume_input() {
    if (!_input_held) return;
    _input_held = false;
    if (!_read_paused && !_finished && _session) start_reading();
}

void connection::arm_timer() {
    if (_finished || _closing) return;
    uint64_t iv = _session->timer_interval_ms();
    if (iv == 0) return;
    if (_timer_armed) {
        if (iv >= _timer_period) return;
        _timer.cancel();  // a shorter period now (e.g. heart-beats negotiated): re-arm
    }
    _timer_armed = true;
    _timer_period = iv;
    _timer.expires_after(std::chrono::milliseconds(iv));
    _timer.async_wait([self = shared_from_this(), this](const error_code& ec) {
        if (ec == asio::error::operation_aborted) {
            // Cancelled to re-arm (the newer wait owns _timer_armed) or because we closed.
            return;
        }
        _timer_armed = false;
        if (_finished || _closing) return;
        _session->on_timer(now_ms());
        flush();
        arm_timer();
    });
}

void connection::start_grace_timer() {
    uint64_t ms = _session->close_grace_ms();
    if (ms == 0) ms = _owner.settings().close_grace_ms;
    _grace_timer.expires_after(std::chrono::milliseconds(ms));
    _grace_timer.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec) return;
        WLOG_DEBUG("{} connection peer={}: peer did not close after our close; closing it",
                   self->_owner.protocol(), self->_peer.address);
        self->finish();
    });
}

void connection::finish() {
    if (_finished) return;
    auto keep = shared_from_this();
    _finished = true;
    _timer.cancel();
    _grace_timer.cancel();
    if (_session) _session->connection_closed();
    close_transport();
    _owner.remove(this);
}

void connection::force_close(std::string_view reason) {
    if (_finished || _closing) return;
    if (!_session) {  // still in its TLS handshake: nothing to tell a protocol
        finish();
        return;
    }
    _session->force_close(reason);
    flush();
}

void connection::abandon() {
    if (_finished) return;
    _finished = true;
    _timer.cancel();
    _grace_timer.cancel();
    if (_session) _session->connection_closed();
    close_transport();
}

// ---- connection_set --------------------------------------------------------------------------

connection_set::connection_set(asio::io_context& io, std::string protocol, transport_settings s)
    : _io(io), _protocol(std::move(protocol)), _settings(s) {}

connection_set::~connection_set() {
    // Pending handlers may keep connections alive after we are gone (until the io_context is
    // destroyed, possibly after the broker): detach them from the broker now.
    auto conns = std::move(_connections);
    _connections.clear();
    for (auto& [k, c] : conns) c->abandon();
}

bool connection_set::refuse_new() {
    if (_shutting_down) return true;
    if (_settings.max_connections == 0 || _connections.size() < _settings.max_connections)
        return false;
    ++_refused;
    uint64_t now = steady_ms();
    if (now - _refused_logged_ms >= 1000) {
        WLOG_WARN("{} connection refused: {} connections open (max_connections); {} refused",
                  _protocol, _connections.size(), _refused);
        _refused = 0;
        _refused_logged_ms = now;
    }
    return true;
}

void connection_set::add(std::shared_ptr<connection> c, const connection::session_factory& make) {
    _connections.emplace(c.get(), c);
    c->start(make);
}

void connection_set::accept(tcp::socket s, const connection::session_factory& make) {
    if (refuse_new()) {
        error_code ec;
        s.close(ec);
        return;
    }
    add(std::make_shared<tcp_connection>(*this, std::move(s)), make);
}

void connection_set::accept_websocket(ws_stream ws, const connection::session_factory& make) {
    if (refuse_new()) {
        error_code ec;
        beast::get_lowest_layer(ws).socket().close(ec);
        return;
    }
    peer_info p = peer_of(beast::get_lowest_layer(ws).socket(), true, false);
    add(std::make_shared<ws_connection<ws_stream>>(*this, std::move(ws), std::move(p)), make);
}

void connection_set::accept_tls(tcp::socket s, tls_context_ptr ctx,
                                const connection::session_factory& make) {
    if (refuse_new()) {
        error_code ec;
        s.close(ec);
        return;
    }
    auto c = std::make_shared<tls_connection>(*this, std::move(s), std::move(ctx));
    _connections.emplace(c.get(), c);
    c->handshake(make);
}

void connection_set::accept_websocket_tls(wss_stream ws, tls_context_ptr ctx,
                                          const connection::session_factory& make) {
    if (refuse_new()) {
        error_code ec;
        beast::get_lowest_layer(ws).socket().close(ec);
        return;
    }
    peer_info p = peer_of(beast::get_lowest_layer(ws).socket(), true, true);
    add_certificate(p, ws.next_layer().native_handle(), *ctx);
    add(std::make_shared<ws_connection<wss_stream>>(*this, std::move(ws), std::move(p),
                                                    std::move(ctx)),
        make);
}

void connection_set::shutdown(std::string_view reason) {
    _shutting_down = true;
    std::vector<std::shared_ptr<connection>> conns;
    conns.reserve(_connections.size());
    for (auto& [k, c] : _connections) conns.push_back(c);
    for (auto& c : conns) c->force_close(reason);
}

void connection_set::remove(const connection* c) {
    // May run inside one of c's handlers: the caller holds a reference until it returns.
    _connections.erase(c);
}

}  // namespace warren::net

#include "mgmt/http_server.h"
#include <algorithm>

#include <optional>
#include <type_traits>

#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "base/log.h"
#include "mgmt/websocket_handshake.h"

namespace warren::mgmt {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::asio::ip::tcp;

response make_response(const request& req, http::status status, std::string body,
                       std::string_view content_type) {
    response res{status, req.version()};
    res.set(http::field::server, "Warren");
    res.set(http::field::content_type, std::string(content_type));
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// One HTTP connection: read a request, answer it, repeat; or upgrade to WebSocket. Over TCP
// (beast::tcp_stream) or TLS (beast::ssl_stream: the TLS handshake first, within the context's
// handshake timeout).
struct http_server::session {
    virtual ~session() = default;
    virtual void close() = 0;
};

namespace {

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

template <typename Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

}  // namespace

template <typename Stream>
struct http_server::stream_session final
    : http_server::session,
      std::enable_shared_from_this<http_server::stream_session<Stream>> {
    stream_session(http_server& srv, Stream s, net::tls_context_ptr c)
        : server(srv), stream(std::move(s)), ctx(std::move(c)), address(remote_address()) {}

    void start() {
        if constexpr (is_tls<Stream>) {
            beast::get_lowest_layer(stream).expires_after(
                std::chrono::milliseconds(ctx->handshake_timeout_ms));
            stream.async_handshake(
                boost::asio::ssl::stream_base::server,
                [self = this->shared_from_this()](beast::error_code ec) {
                    if (ec == boost::asio::ssl::error::stream_truncated ||
                        ec == boost::asio::error::eof) {
                        WLOG_INFO(
                            "http TLS handshake: peer={} closed the "
                            "connection",
                            self->peer());
                        self->close_socket();
                        return;
                    }
                    if (ec) {
                        WLOG_WARN(
                            "http TLS handshake failed peer={} "
                            "error=\"{}\"",
                            self->peer(),
                            ec == beast::error::timeout
                                ? std::string("timed out")
                                : net::handshake_error_text(self->stream.native_handle(), ec));
                        self->close_socket();
                        return;
                    }
                    self->read();
                });
        } else {
            read();
        }
    }

    void read() {
        req = {};
        parser.emplace();
        parser->body_limit(1024 * 1024);
        parser->header_limit(16 * 1024);
        // The first request must arrive within first_request_timeout (a socket that never
        // sends one is closed like a silent AMQP or STOMP handshake); later ones within
        // keep_alive_timeout of the last answer.
        beast::get_lowest_layer(stream).expires_after(requests == 0 ? first_request_timeout
                                                                    : keep_alive_timeout);
        ++requests;
        http::async_read(
            stream, buffer, *parser,
            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == boost::asio::error::operation_aborted) {
            close();
            return;
        }
        if (ec) {
            // Malformed request: a 400 and close.
            WLOG_INFO("http bad request peer={} error={}", peer(), ec.message());
            request dummy;
            dummy.version(11);
            auto res = make_response(dummy, http::status::bad_request,
                                     R"({"error":"bad_request","reason":")" + ec.message() + "\"}");
            res.keep_alive(false);
            write(std::move(res));
            return;
        }
        req = parser->release();
        if (websocket::is_upgrade(req) &&
            server.is_websocket_path(std::string_view(req.target().data(), req.target().size()))) {
            if (auto refusal = check_websocket_upgrade(req)) {
                WLOG_INFO("websocket upgrade refused peer={} status={} reason=\"{}\"", peer(),
                          refusal->res.result_int(), refusal->reason);
                write(std::move(refusal->res));
                return;
            }
            beast::get_lowest_layer(stream).expires_never();
            websocket::stream<Stream> ws(std::move(stream));
            server.upgrade(std::move(ws), req, std::move(ctx));
            return;
        }
        response res = server.dispatch(req, peer());
        // A response to HEAD has the header GET would get and no content (RFC 9110 9.3.2),
        // whatever the route answered (the 404 and 405 bodies): on a kept-alive connection the
        // client would read a body as the start of the next response.
        if (req.method() == http::verb::head && !res.body().empty()) {
            const size_t length = res.body().size();
            res.body().clear();
            res.content_length(length);
        }
        write(std::move(res));
    }

    void write(response res) {
        auto sp = std::make_shared<response>(std::move(res));
        bool keep = sp->keep_alive();
        http::async_write(
            stream, *sp, [self = this->shared_from_this(), sp, keep](beast::error_code ec, size_t) {
                if (ec || !keep) {
                    self->close();
                    return;
                }
                self->read();
            });
    }

    static constexpr auto first_request_timeout = std::chrono::seconds(10);
    static constexpr auto keep_alive_timeout = std::chrono::seconds(60);
    uint64_t requests = 0;  // reads started

    const std::string& peer() const { return address; }
    std::string remote_address() {
        beast::error_code ec;
        auto ep = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
        if (ec) return "?";
        // "[::1]:4242" for IPv6, as net/ labels peers: the login back-off keys by host
        // (login_throttle::host_of), which needs the brackets to tell the port apart.
        std::string host = ep.address().to_string();
        if (ep.address().is_v6()) host = "[" + host + "]";
        return host + ":" + std::to_string(ep.port());
    }

    // TLS: close_notify first (bounded: a peer that does not answer is not waited for).
    void close() override {
        if constexpr (is_tls<Stream>) {
            if (closing) return;
            closing = true;
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
            stream.async_shutdown(
                [self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
        } else {
            close_socket();
        }
    }

    void close_socket() {
        beast::error_code ec;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(stream).close();
    }

    http_server& server;
    Stream stream;
    net::tls_context_ptr ctx;  // TLS: the context this connection was accepted with
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    request req;
    std::string address;  // the peer, for logs (known even after the socket is closed)
    bool closing = false;
};

http_server::http_server(boost::asio::io_context& io) : _io(io) {}
http_server::~http_server() = default;

void http_server::on_websocket(std::string path, std::vector<std::string> subprotocols,
                               ws_handler h, wss_handler hs) {
    _ws_path = std::move(path);
    _ws_subprotocols = std::move(subprotocols);
    _ws_handler = std::move(h);
    _wss_handler = std::move(hs);
}

void http_server::track(std::shared_ptr<session> s) {
    // Forget sessions that are gone, so the list stays as long as the live set.
    std::erase_if(_sessions, [](auto& w) { return w.expired(); });
    _sessions.push_back(std::move(s));
}

void http_server::accept(tcp::socket s) {
    auto sp = std::make_shared<stream_session<beast::tcp_stream>>(
        *this, beast::tcp_stream(std::move(s)), nullptr);
    track(sp);
    sp->start();
}

void http_server::accept_tls(tcp::socket s, net::tls_context_ptr ctx) {
    tls_stream stream(beast::tcp_stream(std::move(s)), ctx->ssl);
    auto sp =
        std::make_shared<stream_session<tls_stream>>(*this, std::move(stream), std::move(ctx));
    track(sp);
    sp->start();
}

size_t http_server::connection_count() const {
    return static_cast<size_t>(
        std::count_if(_sessions.begin(), _sessions.end(), [](auto& w) { return !w.expired(); }));
}

void http_server::shutdown() {
    for (auto& w : _sessions)
        if (auto s = w.lock()) s->close();
    _sessions.clear();
}

bool http_server::is_websocket_path(std::string_view target) const {
    if (_ws_path.empty() || !_ws_handler) return false;
    auto q = target.find('?');
    return target.substr(0, q) == _ws_path;
}

std::string http_server::pick_subprotocol(std::string_view offered) const {
    // offered: "v10.stomp, v11.stomp, v12.stomp"
    std::vector<std::string_view> items;
    while (!offered.empty()) {
        auto c = offered.find(',');
        auto item = offered.substr(0, c);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) items.push_back(item);
        if (c == std::string_view::npos) break;
        offered.remove_prefix(c + 1);
    }
    for (auto& mine : _ws_subprotocols)
        for (auto& o : items)
            if (o == mine) return mine;
    return {};
}

template <typename Ws>
void http_server::upgrade(Ws ws, const request& req, net::tls_context_ptr ctx) {
    auto offered = req[http::field::sec_websocket_protocol];
    std::string proto = pick_subprotocol(std::string_view(offered.data(), offered.size()));
    ws.set_option(websocket::stream_base::decorator([proto](websocket::response_type& res) {
        res.set(http::field::server, "Warren");
        if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
    }));
    auto wsp = std::make_shared<Ws>(std::move(ws));
    wsp->async_accept(req, [this, wsp, proto, ctx = std::move(ctx)](beast::error_code ec) {
        if (ec) {
            WLOG_INFO("websocket handshake failed: {}", ec.message());
            return;
        }
        if constexpr (std::is_same_v<Ws, wss_stream>) {
            if (_wss_handler) _wss_handler(std::move(*wsp), ctx, proto);
        } else {
            _ws_handler(std::move(*wsp), proto);
        }
    });
}

}  // namespace warren::mgmt

#include "server/connection_cap.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "base/log.h"

namespace warren::server {

uint64_t descriptor_reserve(uint64_t descriptor_limit) {
    return std::min<uint64_t>(descriptor_limit / 2, 16384);
}

uint64_t default_connection_max(uint64_t descriptor_limit) {
    const uint64_t keep = descriptor_reserve(descriptor_limit) + handshake_slack;
    return descriptor_limit > keep + 1 ? descriptor_limit - keep : 1;
}

connection_gate::connection_gate(uint64_t connection_max, std::function<size_t()> open)
    : _max(connection_max), _open(std::move(open)) {}

bool connection_gate::admit(std::string_view listener, uint64_t now_ms) {
    if (_max == 0 || !_open) return true;
    const uint64_t open = _open();
    if (open < _max + handshake_slack) return true;
    ++_refused;
    ++_refused_total;
    if (!_logged || now_ms - _logged_ms >= 1000) {
        WLOG_WARN(
            "{} connection refused: {} connections open on the node (connection_max {} + {} in "
            "handshake); {} refused",
            listener, open, _max, handshake_slack, _refused);
        _refused = 0;
        _logged_ms = now_ms;
        _logged = true;
    }
    return false;
}

std::string node_limit_text(uint64_t connection_max) {
    return fmt::format("connection refused: node connection limit ({}) is reached", connection_max);
}

namespace {
// One refused HTTP client: the 503 is written, the sending side shut down, and what the client
// sent is read and dropped until it closes (closing with unread input would reset the
// connection, and the client might lose the response), for at most two seconds.
struct http_refusal : std::enable_shared_from_this<http_refusal> {
    boost::asio::ip::tcp::socket sock;
    boost::asio::steady_timer timer;
    std::string text;
    char sink[4096];

    http_refusal(boost::asio::ip::tcp::socket s, std::string t)
        : sock(std::move(s)), timer(sock.get_executor()), text(std::move(t)) {}

    void start() {
        auto self = shared_from_this();
        timer.expires_after(std::chrono::seconds(2));
        timer.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->close();
        });
        boost::asio::async_write(
            sock, boost::asio::buffer(text), [self](boost::system::error_code ec, size_t) {
                if (ec) return self->close();
                self->sock.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
                self->drain();
            });
    }
    void drain() {
        auto self = shared_from_this();
        sock.async_read_some(boost::asio::buffer(sink),
                             [self](boost::system::error_code ec, size_t) {
                                 if (ec) return self->close();
                                 self->drain();
                             });
    }
    void close() {
        boost::system::error_code ec;
        timer.cancel();
        sock.close(ec);
    }
};
}  // namespace

void refuse_http(boost::asio::ip::tcp::socket s, uint64_t connection_max) {
    const std::string body = node_limit_text(connection_max) + "\n";
    std::make_shared<http_refusal>(
        std::move(s),
        fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                    "Content-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{}",
                    body.size(), body))
        ->start();
}

}  // namespace warren::server

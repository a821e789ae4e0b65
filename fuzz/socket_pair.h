#pragma once
// An in-process client for the targets that drive Warren's real socket code (the HTTP server,
// WebSocket connections) without TCP: a socketpair(AF_UNIX) whose server end is adopted by a
// boost::asio::ip::tcp::socket, so the product code (Beast's parsers, net::connection) runs
// unchanged over it; only the peer address is unknown ("?"). The client end is a plain
// non-blocking descriptor the target writes and reads itself, between runs of the io_context:
//
//   fuzz::socket_pair sp(io);
//   http.accept(sp.take_server());
//   sp.send(bytes);  sp.settle();          // the server has read and answered what it could
//   sp.output();                            // everything the server wrote so far
//   sp.shutdown_send();  sp.settle();  sp.eof();
//
// settle() runs ready handlers (io_context::poll) until nothing more happens; timers are not
// waited for, so one input costs no sleeping. Each write and settle() is a few system calls,
// the main cost of these targets: write_size() bounds how many writes an input makes.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fuzz/fuzz_input.h"

namespace warren::fuzz {

class socket_pair {
public:
    explicit socket_pair(boost::asio::io_context& io) : _io(io) {
        int fds[2];
        FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        _client = fds[0];
        _server = fds[1];
        FUZZ_CHECK(::fcntl(_client, F_SETFL, ::fcntl(_client, F_GETFL) | O_NONBLOCK) == 0);
    }
    ~socket_pair() {
        if (_client >= 0) ::close(_client);
        if (_server >= 0) ::close(_server);
    }
    socket_pair(const socket_pair&) = delete;
    socket_pair& operator=(const socket_pair&) = delete;

    // The server end, as the listener would hand it over.
    boost::asio::ip::tcp::socket take_server() {
        boost::asio::ip::tcp::socket s(_io);
        s.assign(boost::asio::ip::tcp::v4(), _server);
        _server = -1;
        return s;
    }

    // Runs the io_context until no handler is ready, reading what the server wrote meanwhile.
    // Done when a read found nothing and then no handler ran: reading frees socket buffer space
    // (a server write waiting for it becomes ready), so a read that found bytes means another
    // round.
    void settle() {
        for (;;) {
            bool got = receive();
            _io.restart();
            if (_io.poll() == 0 && !got) return;
        }
    }

    // The write size for sending `total` bytes in writes of `chunk`, raised so that there are
    // at most `max_writes` (each write costs a settle(), a few system calls): the read splits
    // stay spread over the whole input, and a long input costs no more than a short one.
    static size_t write_size(size_t chunk, size_t total, size_t max_writes = 64) {
        return std::max(chunk, (total + max_writes - 1) / max_writes);
    }

    // Writes all of `bytes` (settling while the socket buffer is full). False if the server
    // stopped reading or closed, so that the rest cannot be delivered.
    bool send(std::string_view bytes) {
        int stalled = 0;
        while (!bytes.empty()) {
            ssize_t n = ::send(_client, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) {
                bytes.remove_prefix(size_t(n));
                stalled = 0;
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
            if (++stalled > 2) return false;
            settle();
        }
        return true;
    }

    void shutdown_send() { ::shutdown(_client, SHUT_WR); }

    // Everything the server wrote so far, and whether it closed its end.
    const std::string& output() const { return _out; }
    bool eof() const { return _eof; }

private:
    // Reads what the server wrote; true if there was anything (bytes or the end).
    bool receive() {
        char buf[16384];
        bool got = false;
        for (;;) {
            ssize_t n = ::recv(_client, buf, sizeof buf, 0);
            if (n > 0) {
                _out.append(buf, size_t(n));
                got = true;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                got |= !_eof;
                _eof = true;
            }
            return got;
        }
    }

    boost::asio::io_context& _io;
    int _client = -1;
    int _server = -1;
    std::string _out;
    bool _eof = false;
};

}  // namespace warren::fuzz

#pragma once
// Keeps Boost.Asio's per-socket reactor states in pages of their own, so that memory is given
// back after a flood of connections has closed.
//
// Boost.Asio's epoll reactor gives every registered descriptor a descriptor_state (about 170
// bytes) from a pool it never frees: a closed socket's state goes on a free list for the next
// one. When the pool grows one state per accepted socket, each state lands among that
// connection's own allocations; once the connections close, the states stay and pin a page of
// freed memory each, which neither the allocator nor malloc_trim can return. 9,000 idle AMQP
// connections, opened and closed, left warrend at 38 MiB resident against 12 MiB before (4.9
// MiB of it in use), and the long-lived benchmark's RSS could not come back (issue #15).
//
// reactor_reserve grows the pool ahead of need, `batch` states at a time allocated back to
// back: at each accept, when fewer than batch/2 free states are left for the sockets open now,
// it registers `batch` placeholder descriptors (dups of one eventfd) at once and closes them,
// which leaves their states on the pool's free list. Accepted sockets then take states from
// those runs, and the connections' own memory no longer has states in its pages.
//
//   net::reactor_reserve states(io, connection_max + slack);
//   listener(..., [&](tcp::socket s) { states.ensure(open_sockets()); ... });
//
// Lives on the broker thread; not thread-safe. Needs a free descriptor per placeholder for a
// moment: a batch is at most a sixteenth of the descriptor limit, and one that runs out of
// descriptors (EMFILE) stops there (the pool then grows by itself, as without this).

#include <boost/asio/io_context.hpp>

#include <cstddef>

namespace warren::net {

class reactor_reserve {
public:
    // limit: the most sockets worth reserving for (0: no limit); batch: states per growth,
    // lowered to a sixteenth of the descriptor limit.
    explicit reactor_reserve(boost::asio::io_context& io, size_t limit = 0, size_t batch = 1024);

    // Called with the number of sockets open now (accepted ones included): grows the pool
    // when fewer than batch/2 states are free for more.
    void ensure(size_t open_sockets);

    // States the pool holds at least (placeholders and sockets counted at their peak).
    size_t reserved() const { return _reserved; }
    size_t batch() const { return _batch; }

private:
    // Registers up to `n` placeholder descriptors at once, then closes them; returns how many.
    size_t register_placeholders(size_t n);

    boost::asio::io_context& _io;
    size_t _limit;
    size_t _batch;
    size_t _reserved = 0;
};

}  // namespace warren::net

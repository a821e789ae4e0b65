#include "net/reactor_reserve.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace warren::net {

namespace {

size_t batch_for_descriptor_limit(size_t batch) {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return batch;
    return std::max<size_t>(1, std::min<size_t>(batch, static_cast<size_t>(rl.rlim_cur) / 16));
}

}  // namespace

reactor_reserve::reactor_reserve(boost::asio::io_context& io, size_t limit, size_t batch)
    : _io(io), _limit(limit), _batch(batch_for_descriptor_limit(std::max<size_t>(batch, 2))) {}

void reactor_reserve::ensure(size_t open_sockets) {
    if (open_sockets + _batch / 2 <= _reserved) return;
    if (_limit && _reserved >= _limit) return;
    // While the open sockets hold their states, `n` more descriptors at once make the pool
    // hold at least open_sockets + n: the free states first, then new ones, back to back.
    const size_t n = _batch;
    _reserved = std::max(_reserved, open_sockets + register_placeholders(n));
}

size_t reactor_reserve::register_placeholders(size_t n) {
    const int source = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (source < 0) return 0;
    std::vector<boost::asio::posix::stream_descriptor> held;
    held.reserve(n);
    while (held.size() < n) {
        const int fd = ::fcntl(source, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) break;  // out of descriptors: the rest grows as sockets come
        boost::system::error_code ec;
        boost::asio::posix::stream_descriptor d(_io);
        d.assign(fd, ec);
        if (ec) {
            ::close(fd);
            break;
        }
        held.push_back(std::move(d));
    }
    const size_t registered = held.size();
    held.clear();  // closes each: its state goes to the pool's free list
    ::close(source);
    return registered;
}

}  // namespace warren::net

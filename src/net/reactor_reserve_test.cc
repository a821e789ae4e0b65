#include "net/reactor_reserve.h"

#include <dirent.h>

#include <gtest/gtest.h>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace warren::net {
namespace {

size_t open_descriptors() {
    size_t n = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return 0;
    while (readdir(d)) ++n;
    closedir(d);
    return n;
}

TEST(ReactorReserve, GrowsABatchAheadOfTheOpenSocketsAndClosesItsPlaceholders) {
    boost::asio::io_context io;
    boost::asio::posix::stream_descriptor unused(io);  // the reactor's own descriptors, now
    reactor_reserve r(io, 0, 64);
    ASSERT_EQ(r.batch(), 64u);
    const size_t fds = open_descriptors();
    r.ensure(0);
    EXPECT_EQ(r.reserved(), 64u);
    EXPECT_EQ(open_descriptors(), fds);  // every placeholder closed again
    r.ensure(32);                        // 32 free: enough
    EXPECT_EQ(r.reserved(), 64u);
    r.ensure(33);  // fewer than batch/2 free: 33 open + 64 placeholders
    EXPECT_EQ(r.reserved(), 97u);
    EXPECT_EQ(open_descriptors(), fds);
}

TEST(ReactorReserve, StopsAtItsLimit) {
    boost::asio::io_context io;
    reactor_reserve r(io, 100, 64);
    r.ensure(50);
    EXPECT_EQ(r.reserved(), 114u);
    r.ensure(90);  // at the limit already: no more
    EXPECT_EQ(r.reserved(), 114u);
}

}  // namespace
}  // namespace warren::net

#include "store/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "store/env.h"

namespace warren::store {

result<std::unique_ptr<data_dir>> data_dir::open(const std::string& root_in) {
    std::string root = root_in;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    env* e = posix_env();
    for (const auto& d : {root, root + "/msgs", root + "/meta"}) {
        if (auto s = e->create_dirs(d); !s) return s.error();
    }
    std::string lock = root + "/LOCK";
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(errc::io_error, "open " + lock + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK)
            return make_error(
                errc::io_error,
                "data dir " + root + " is in use by another process (" + lock + " is locked)");
        return make_error(errc::io_error, "flock " + lock + ": " + std::strerror(err));
    }
    // The pid, for a human looking at the directory.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) (void)!::write(fd, pid.data(), pid.size());
    return std::unique_ptr<data_dir>(new data_dir(root, fd));
}

data_dir::~data_dir() {
    if (_lock_fd >= 0) ::close(_lock_fd);  // releases the flock
}

}  // namespace warren::store

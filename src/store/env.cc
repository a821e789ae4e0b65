#include "store/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace warren::store {
namespace {

error io_error(std::string_view what, const std::string& path, int err) {
    errc code = err == ENOENT ? errc::not_found : errc::io_error;
    return make_error(code, std::string(what) + " " + path + ": " + std::strerror(err));
}

class posix_writable_file final : public writable_file {
public:
    posix_writable_file(std::string path, int fd) : _path(std::move(path)), _fd(fd) {}
    ~posix_writable_file() override {
        if (_fd >= 0) ::close(_fd);
    }
    status append(std::string_view data) override {
        const char* p = data.data();
        size_t left = data.size();
        while (left > 0) {
            ssize_t n = ::write(_fd, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                return io_error("write", _path, errno);
            }
            p += n;
            left -= static_cast<size_t>(n);
        }
        return {};
    }
    status sync() override {
        if (::fdatasync(_fd) != 0) return io_error("fdatasync", _path, errno);
        return {};
    }
    status close() override {
        if (_fd < 0) return {};
        int fd = _fd;
        _fd = -1;
        if (::close(fd) != 0) return io_error("close", _path, errno);
        return {};
    }

private:
    std::string _path;
    int _fd;
};

class posix_random_access_file final : public random_access_file {
public:
    posix_random_access_file(std::string path, int fd) : _path(std::move(path)), _fd(fd) {}
    ~posix_random_access_file() override { ::close(_fd); }
    result<size_t> read(uint64_t offset, size_t n, char* scratch) const override {
        size_t got = 0;
        while (got < n) {
            ssize_t r = ::pread(_fd, scratch + got, n - got, static_cast<off_t>(offset + got));
            if (r < 0) {
                if (errno == EINTR) continue;
                return io_error("pread", _path, errno);
            }
            if (r == 0) break;
            got += static_cast<size_t>(r);
        }
        return got;
    }

private:
    std::string _path;
    int _fd;
};

class posix_env_impl final : public env {
public:
    result<std::unique_ptr<writable_file>> new_writable_file(const std::string& path) override {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return io_error("open", path, errno);
        return std::unique_ptr<writable_file>(new posix_writable_file(path, fd));
    }
    result<std::unique_ptr<writable_file>> appendable_file(const std::string& path) override {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) return io_error("open", path, errno);
        return std::unique_ptr<writable_file>(new posix_writable_file(path, fd));
    }
    result<std::unique_ptr<random_access_file>> new_random_access_file(
        const std::string& path) override {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return io_error("open", path, errno);
        return std::unique_ptr<random_access_file>(new posix_random_access_file(path, fd));
    }
    result<uint64_t> file_size(const std::string& path) override {
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) return io_error("stat", path, errno);
        return static_cast<uint64_t>(st.st_size);
    }
    bool file_exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
    result<std::vector<std::string>> list_dir(const std::string& path) override {
        DIR* d = ::opendir(path.c_str());
        if (!d) return io_error("opendir", path, errno);
        std::vector<std::string> out;
        while (struct dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n != "." && n != "..") out.emplace_back(n);
        }
        ::closedir(d);
        return out;
    }
    status create_dirs(const std::string& path) override {
        if (path.empty()) return {};
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) return {};
            return make_error(errc::io_error, "not a directory: " + path);
        }
        std::string parent = dir_name(path);
        if (!parent.empty() && parent != path) {
            if (auto s = create_dirs(parent); !s) return s;
        }
        if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
            return io_error("mkdir", path, errno);
        return {};
    }
    status remove_file(const std::string& path) override {
        if (::unlink(path.c_str()) != 0) return io_error("unlink", path, errno);
        return {};
    }
    status rename_file(const std::string& from, const std::string& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0) return io_error("rename", from, errno);
        return {};
    }
    status truncate_file(const std::string& path, uint64_t size) override {
        if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0)
            return io_error("truncate", path, errno);
        return {};
    }
    status sync_dir(const std::string& path) override {
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return io_error("open dir", path, errno);
        int rc = ::fsync(fd);
        int err = errno;
        ::close(fd);
        if (rc != 0) return io_error("fsync dir", path, err);
        return {};
    }
};

}  // namespace

result<std::string> env::read_file(const std::string& path) {
    std::string out;
    if (auto s = read_file(path, out); !s) return s.error();
    return out;
}

status env::read_file(const std::string& path, std::string& out) {
    auto f = new_random_access_file(path);
    if (!f) return f.error();
    auto size = file_size(path);
    if (!size) return size.error();
    out.resize(*size);  // zero-fills only beyond what the buffer held before
    auto n = (*f)->read(0, out.size(), out.data());
    if (!n) return n.error();
    out.resize(*n);
    return {};
}

status env::write_file(const std::string& path, std::string_view data, bool sync) {
    auto f = new_writable_file(path);
    if (!f) return f.error();
    if (auto s = (*f)->append(data); !s) return s;
    if (sync) {
        if (auto s = (*f)->sync(); !s) return s;
    }
    return (*f)->close();
}

env* posix_env() {
    static posix_env_impl* e = new posix_env_impl();
    return e;
}

std::string join_path(std::string_view dir, std::string_view name) {
    std::string out(dir);
    if (!out.empty() && out.back() != '/') out.push_back('/');
    out.append(name);
    return out;
}

std::string dir_name(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return ".";
    if (slash == 0) return "/";
    return std::string(path.substr(0, slash));
}

}  // namespace warren::store

#pragma once
// data_dir: the broker's data directory as a whole. Creates <root>, <root>/msgs and
// <root>/meta, and holds an exclusive lock on <root>/LOCK (flock) for the life of the object,
// so two brokers never share one directory (the second gets a clear error instead of
// corrupting the first's log).
//
//   auto dd = store::data_dir::open(cfg.data_dir);
//   if (!dd) fail(dd.error().text);     // "data dir /x is in use by another process (...)"
//   store::metadata_store meta(store::posix_env(), dd->meta_dir());
//   auto log = store::segment_log::open(store::posix_env(), dd->msgs_dir(), opts, &rec);
//
// Owned by server/ for the process lifetime. Uses the real file system (locks are per process).

#include <memory>
#include <string>

#include "store/error.h"

namespace warren::store {

class data_dir {
public:
    static result<std::unique_ptr<data_dir>> open(const std::string& root);
    ~data_dir();
    data_dir(const data_dir&) = delete;
    data_dir& operator=(const data_dir&) = delete;

    const std::string& root() const { return _root; }
    std::string msgs_dir() const { return _root + "/msgs"; }
    std::string meta_dir() const { return _root + "/meta"; }
    std::string streams_dir() const { return _root + "/streams"; }  // one directory per stream

private:
    data_dir(std::string root, int fd) : _root(std::move(root)), _lock_fd(fd) {}
    std::string _root;
    int _lock_fd = -1;
};

}  // namespace warren::store
